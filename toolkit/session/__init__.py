"""The session: settings, reconciliation, the ledger, the batch procedure, order
operations, the thin Session facade and the registry of sessions."""

from __future__ import annotations

__all__: list[str] = []
