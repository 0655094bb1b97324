"""The store: the SQLite journal on the critical path, DuckDB for queries and research
(fills, candles, position snapshots, what a batch cost)."""

from __future__ import annotations

__all__: list[str] = []
