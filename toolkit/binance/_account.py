"""Binance account holdings as typed DataFrames (pure parsing, no I/O).

Spot balances come from ``GET /api/v3/account`` (``balances``: asset, free, locked), USD-M
positions from ``GET /fapi/v2/positionRisk`` (the version that still carries ``leverage``; v3
dropped it). The wire names live in one table per kind, like :mod:`toolkit.binance._marketdata`.

Example::

    >>> frame = positions_frame([{"symbol": "BTCUSDT", "positionAmt": "-0.010",
    ...     "entryPrice": "90000.0", "markPrice": "89000.0", "unRealizedProfit": "10.0",
    ...     "liquidationPrice": "0", "leverage": "20", "notional": "-890.0"}])
    >>> frame.loc[0, "side"], float(frame.loc[0, "qty"])
    ('short', 0.01)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

__all__ = [
    "BALANCE_DTYPES",
    "POSITION_DTYPES",
    "POSITION_FIELDS",
    "balances_frame",
    "positions_frame",
]

_TEXT = pd.StringDtype()

#: Spot balances: one row per asset held (free + locked > 0).
BALANCE_DTYPES: dict[str, Any] = {"asset": _TEXT, "free": "float64", "locked": "float64"}

#: USD-M positions: one row per open position (``qty`` is unsigned; ``side`` says which way).
POSITION_DTYPES: dict[str, Any] = {
    "symbol": _TEXT, "side": _TEXT, "qty": "float64", "entry_price": "float64",
    "mark_price": "float64", "unrealized_pnl": "float64", "leverage": "float64",
    "notional": "float64", "liquidation_price": "float64",
}  # fmt: skip
#: ``positionRisk`` key -> column (``side`` and ``qty`` derive from ``positionAmt``).
POSITION_FIELDS: dict[str, str] = {
    "symbol": "symbol", "entryPrice": "entry_price", "markPrice": "mark_price",
    "unRealizedProfit": "unrealized_pnl", "leverage": "leverage", "notional": "notional",
    "liquidationPrice": "liquidation_price",
}  # fmt: skip


def _typed(rows: list[dict[str, Any]], dtypes: Mapping[str, Any]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(dtypes))
    for col, dtype in dtypes.items():
        frame[col] = (
            pd.to_numeric(frame[col], errors="coerce").astype(dtype)
            if dtype == "float64"
            else frame[col].astype(dtype)
        )
    out: pd.DataFrame = frame.reset_index(drop=True)
    return out


def balances_frame(account: Mapping[str, Any]) -> pd.DataFrame:
    """The spot ``account`` answer's non-zero balances (``BALANCE_DTYPES``), sorted by asset."""
    rows = []
    for entry in account.get("balances", []) or []:
        free, locked = float(entry.get("free", 0)), float(entry.get("locked", 0))
        if free or locked:
            rows.append({"asset": str(entry["asset"]), "free": free, "locked": locked})
    rows.sort(key=lambda r: str(r["asset"]))
    return _typed(rows, BALANCE_DTYPES)


def positions_frame(risk: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The ``positionRisk`` answer's open positions (``POSITION_DTYPES``), sorted by symbol."""
    rows = []
    for entry in risk:
        amount = float(entry.get("positionAmt", 0) or 0)
        if not amount:
            continue
        row: dict[str, Any] = {col: entry.get(key) for key, col in POSITION_FIELDS.items()}
        row["side"] = "long" if amount > 0 else "short"
        row["qty"] = abs(amount)
        rows.append(row)
    rows.sort(key=lambda r: str(r["symbol"]))
    return _typed(rows, POSITION_DTYPES)
