"""Binance market data and account trades as typed DataFrames (pure parsing, no I/O).

Every function turns one kind of Binance JSON into a frame with fixed columns and dtypes, also for
no rows: text is pandas' string dtype, numbers float64, counts nullable ``Int64``, times UTC
timestamps. The wire names live in one table per kind (``*_FIELDS``), so a reader sees at once
which Binance key becomes which column. Paging limits and request weights are here too, next to
the shapes they belong to; :class:`~toolkit.binance.adapter.BinanceAdapter` does the requests.

Example::

    >>> rows = [[1706630400000, "43519.34", "43936.00", "43171.00", "43488.71", "20.55",
    ...          1706633999999, "891428.42", 3743, "10.91", "473782.95", "0"]]
    >>> frame = klines_frame(rows, exchange="binance", market="spot", symbol="BTCUSDT",
    ...                      interval="1h")
    >>> float(frame.loc[0, "close"]), str(frame.loc[0, "open_time"])
    (43488.71, '2024-01-30 16:00:00+00:00')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..core._exceptions import InputError

__all__ = [
    "DEPTH_DTYPES",
    "INTERVALS",
    "KLINE_DTYPES",
    "TICKER_DTYPES",
    "TRADE_DTYPES",
    "check_interval",
    "depth_frame",
    "depth_weight",
    "kline_page_size",
    "kline_weight",
    "klines_frame",
    "tickers_frame",
    "trades_frame",
]

_TEXT = pd.StringDtype()
_TIME = pd.DatetimeTZDtype(unit="ns", tz="UTC")  # like the order frame

#: Kline intervals Binance lists (``1s`` on spot only), in milliseconds (``1M``: a month).
INTERVALS: dict[str, int] = {
    "1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000,
    "30m": 1_800_000, "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000,
    "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000, "3d": 259_200_000,
    "1w": 604_800_000, "1M": 2_592_000_000,
}

KLINE_DTYPES: dict[str, Any] = {
    "exchange": _TEXT, "market": _TEXT, "symbol": _TEXT, "interval": _TEXT,
    "open_time": _TIME, "close_time": _TIME, "open": "float64", "high": "float64",
    "low": "float64", "close": "float64", "volume": "float64", "quote_volume": "float64",
    "trades": "Int64", "taker_buy_volume": "float64", "taker_buy_quote_volume": "float64",
}
#: Kline array position -> column.
KLINE_FIELDS: dict[int, str] = {
    0: "open_time", 1: "open", 2: "high", 3: "low", 4: "close", 5: "volume", 6: "close_time",
    7: "quote_volume", 8: "trades", 9: "taker_buy_volume", 10: "taker_buy_quote_volume",
}

TRADE_DTYPES: dict[str, Any] = {
    "trade_id": _TEXT, "order_id": _TEXT, "exchange": _TEXT, "market": _TEXT, "symbol": _TEXT,
    "side": _TEXT, "price": "float64", "qty": "float64", "quote_qty": "float64",
    "commission": "float64", "commission_asset": _TEXT, "maker": "boolean",
    "realized_pnl": "float64", "time": _TIME,
}
#: ``myTrades`` / ``userTrades`` key -> column (``side`` and ``maker`` are derived per market).
TRADE_FIELDS: dict[str, str] = {
    "id": "trade_id", "orderId": "order_id", "symbol": "symbol", "price": "price", "qty": "qty",
    "quoteQty": "quote_qty", "commission": "commission", "commissionAsset": "commission_asset",
    "realizedPnl": "realized_pnl", "time": "time",
}

DEPTH_DTYPES: dict[str, Any] = {
    "exchange": _TEXT, "market": _TEXT, "symbol": _TEXT, "side": _TEXT, "level": "int64",
    "price": "float64", "qty": "float64", "last_update_id": "Int64",
}

TICKER_DTYPES: dict[str, Any] = {
    "exchange": _TEXT, "market": _TEXT, "symbol": _TEXT, "last_price": "float64",
    "open_price": "float64", "high_price": "float64", "low_price": "float64",
    "price_change": "float64", "price_change_pct": "float64", "weighted_avg_price": "float64",
    "volume": "float64", "quote_volume": "float64", "bid_price": "float64",
    "ask_price": "float64", "open_time": _TIME, "close_time": _TIME, "trades": "Int64",
}
#: ``ticker/24hr`` key -> column (USD-M has no bid/ask: those stay NaN).
TICKER_FIELDS: dict[str, str] = {
    "symbol": "symbol", "lastPrice": "last_price", "openPrice": "open_price",
    "highPrice": "high_price", "lowPrice": "low_price", "priceChange": "price_change",
    "priceChangePercent": "price_change_pct", "weightedAvgPrice": "weighted_avg_price",
    "volume": "volume", "quoteVolume": "quote_volume", "bidPrice": "bid_price",
    "askPrice": "ask_price", "openTime": "open_time", "closeTime": "close_time",
    "count": "trades",
}


def check_interval(interval: str, market: str) -> int:
    """The interval's length in ms; an unknown interval raises :class:`InputError` listing the
    valid ones."""
    valid = [i for i in INTERVALS if market == "spot" or i != "1s"]
    if interval not in valid:
        raise InputError(f"unknown interval {interval!r} for {market}; valid: {', '.join(valid)}")
    return INTERVALS[interval]


def kline_page_size(market: str) -> int:
    """Klines per paged request: 1000 on both markets.

    USD-M answers up to 1500, but a 1500-row page weighs 10 and a 1000-row page 5: under the
    weight limit, 1000-row pages load half again as many candles a minute.
    """
    return 1000


def kline_weight(market: str, limit: int) -> int:
    """Request weight of one klines request (spot 2; USD-M by ``limit``)."""
    if market == "spot":
        return 2
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


def depth_weight(market: str, limit: int) -> int:
    """Request weight of one depth request, by ``limit``."""
    if market == "spot":
        return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
    return 2 if limit < 100 else 5 if limit < 500 else 10 if limit < 1000 else 20


def _frame(columns: Mapping[str, Any], dtypes: Mapping[str, Any], n: int) -> pd.DataFrame:
    data = {}
    for name, dtype in dtypes.items():
        values = columns.get(name)
        if values is None:
            values = [None] * n
        if dtype is _TIME:
            stamps = pd.to_datetime(np.asarray(values, dtype="int64"), unit="ms", utc=True)
            series = pd.Series(stamps).astype(_TIME)
        elif dtype == "float64":
            series = pd.Series(np.asarray([np.nan if v is None else float(v) for v in values],
                                          dtype="float64"))
        else:
            series = pd.Series(values, dtype=dtype)
        data[name] = series.reset_index(drop=True)
    frame: pd.DataFrame = pd.DataFrame(data, index=pd.RangeIndex(n))
    return frame


def klines_frame(rows: Sequence[Sequence[Any]], *, exchange: str, market: str, symbol: str,
                 interval: str) -> pd.DataFrame:
    """``GET /api/v3/klines`` / ``/fapi/v1/klines`` rows -> the candle frame."""
    n = len(rows)
    columns: dict[str, Any] = {
        name: [row[i] for row in rows] for i, name in KLINE_FIELDS.items()
    }
    columns["trades"] = [int(v) for v in columns["trades"]]
    columns.update(exchange=[exchange] * n, market=[market] * n, symbol=[symbol] * n,
                   interval=[interval] * n)
    return _frame(columns, KLINE_DTYPES, n)


def trades_frame(rows: Sequence[Mapping[str, Any]], *, exchange: str, market: str
                 ) -> pd.DataFrame:
    """``GET /api/v3/myTrades`` / ``/fapi/v1/userTrades`` -> the fills frame (``side`` is
    ``buy``/``sell``; ``realized_pnl`` is NaN on spot)."""
    n = len(rows)
    columns: dict[str, Any] = {
        col: [row.get(key) for row in rows] for key, col in TRADE_FIELDS.items()
    }
    columns["trade_id"] = [str(v) for v in columns["trade_id"]]
    columns["order_id"] = [str(v) for v in columns["order_id"]]
    buyer_key, maker_key = ("isBuyer", "isMaker") if market == "spot" else ("buyer", "maker")
    columns["side"] = ["buy" if row.get(buyer_key) else "sell" for row in rows]
    columns["maker"] = [bool(row.get(maker_key)) for row in rows]
    columns["time"] = [int(v) for v in columns["time"]]
    columns.update(exchange=[exchange] * n, market=[market] * n)
    return _frame(columns, TRADE_DTYPES, n)


def depth_frame(payload: Mapping[str, Any], *, exchange: str, market: str, symbol: str
                ) -> pd.DataFrame:
    """``GET depth`` -> one row per level: bids (best first), then asks (best first)."""
    bids, asks = payload.get("bids") or [], payload.get("asks") or []
    levels = [("bid", i, p, q) for i, (p, q) in enumerate(bids)]
    levels += [("ask", i, p, q) for i, (p, q) in enumerate(asks)]
    n = len(levels)
    columns: dict[str, Any] = {
        "side": [lv[0] for lv in levels], "level": [lv[1] for lv in levels],
        "price": [lv[2] for lv in levels], "qty": [lv[3] for lv in levels],
        "last_update_id": [int(payload["lastUpdateId"])] * n,
        "exchange": [exchange] * n, "market": [market] * n, "symbol": [symbol] * n,
    }
    return _frame(columns, DEPTH_DTYPES, n)


def tickers_frame(payload: Mapping[str, Any] | Sequence[Mapping[str, Any]], *, exchange: str,
                  market: str) -> pd.DataFrame:
    """``GET ticker/24hr`` (one object or a list) -> one row per symbol."""
    rows = [payload] if isinstance(payload, Mapping) else list(payload)
    n = len(rows)
    columns: dict[str, Any] = {
        col: [row.get(key) for row in rows] for key, col in TICKER_FIELDS.items()
    }
    columns["trades"] = [None if v is None else int(v) for v in columns["trades"]]
    columns.update(exchange=[exchange] * n, market=[market] * n)
    return _frame(columns, TICKER_DTYPES, n)
