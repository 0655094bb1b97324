"""The notebook pieces: the open-order panel, the papermill job and engine, and the
toolkit kernel's provisioner (IPC sockets)."""

from __future__ import annotations

__all__: list[str] = []
