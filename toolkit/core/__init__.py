"""Core: order models, errors, the order frame, input, rules, validation, ids, guards,
rebalancing, cutoffs and the adapter protocol. Pure: no I/O."""

from __future__ import annotations

__all__: list[str] = []
