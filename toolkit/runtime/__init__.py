"""The runtime: the I/O loop thread, publish/subscribe, the embedded paper exchange,
and the batch's progress bar (drawn on the caller's side)."""

from __future__ import annotations

__all__: list[str] = []
