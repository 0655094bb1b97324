"""The research tables: fills and candles, written straight into DuckDB (never on a batch's
critical path) and read back as typed DataFrames.

Both are bulk data fetched from the exchange's REST API, so they skip the journal: each fetch is
written in one DuckDB unit of work (the file held for that write only), idempotent by its natural
key -- a fill by its trade id, a candle by its open time -- so a repeated or overlapping fetch
changes nothing.

- ``fills``: this account's trades (``myTrades`` / ``userTrades``), fetched per symbol from the
  last trade id known (or, the first time, from the earliest stored order of the symbol on).
  ``tk.fills()`` joins them to the orders, so each fill carries its client order id, batch and
  key; once a sync has run, an order's fills add up to its ``filled_qty``.
- ``candles``: klines, fetched incrementally -- only what is missing before the first and after
  the last stored candle of the range (the last one again: it may have been still open).

Example::

    await tk.sync_fills()
    tk.fills(symbol="BTCUSDT")
    await tk.candles(["BTCUSDT", "ETHUSDT"], "1m", start="2026-11-01")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import duckdb
import pandas as pd

from ..binance._marketdata import (
    INTERVALS,
    KLINE_DTYPES,
    TRADE_DTYPES,
    check_interval,
    kline_page_size,
)
from ..core._adapter import ExchangeAdapter
from ..core._exceptions import InputError

__all__ = [
    "CANDLES_DDL",
    "FILLS_DDL",
    "FILL_COLUMNS",
    "PAGES_FOR_A_BAR",
    "LoadProgress",
    "candle_ranges",
    "checked_interval",
    "default_start",
    "fills_query",
    "load_candles",
    "read_candles",
    "read_fills",
    "sync_fills",
    "to_millis",
    "write_candles",
    "write_fills",
]

_TEXT = pd.StringDtype()
_TIME = pd.DatetimeTZDtype(unit="ns", tz="UTC")

#: The fills table: the fills frame's columns, plus the server it was fetched from.
FILLS_DDL = """CREATE TABLE IF NOT EXISTS fills (
    trade_id VARCHAR NOT NULL, order_id VARCHAR, exchange VARCHAR NOT NULL,
    market VARCHAR NOT NULL, venue VARCHAR NOT NULL, symbol VARCHAR NOT NULL, side VARCHAR,
    price DOUBLE, qty DOUBLE, quote_qty DOUBLE, commission DOUBLE, commission_asset VARCHAR,
    maker BOOLEAN, realized_pnl DOUBLE, time TIMESTAMPTZ,
    PRIMARY KEY (venue, market, symbol, trade_id)
)"""
#: The candles table: the candle frame's columns, plus the server they came from.
CANDLES_DDL = """CREATE TABLE IF NOT EXISTS candles (
    exchange VARCHAR NOT NULL, market VARCHAR NOT NULL, venue VARCHAR NOT NULL,
    symbol VARCHAR NOT NULL, interval VARCHAR NOT NULL, open_time TIMESTAMPTZ NOT NULL,
    close_time TIMESTAMPTZ, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE,
    quote_volume DOUBLE, trades BIGINT, taker_buy_volume DOUBLE, taker_buy_quote_volume DOUBLE,
    PRIMARY KEY (venue, market, symbol, interval, open_time)
)"""

#: ``tk.fills()`` columns and dtypes: the fill, and the order it belongs to.
FILL_COLUMNS: dict[str, Any] = {
    "trade_id": _TEXT, "order_id": _TEXT, "client_order_id": _TEXT, "batch_id": _TEXT,
    "key": _TEXT, "exchange": _TEXT, "market": _TEXT, "symbol": _TEXT, "side": _TEXT,
    "price": "float64", "qty": "float64", "quote_qty": "float64", "commission": "float64",
    "commission_asset": _TEXT, "maker": "boolean", "realized_pnl": "float64", "time": _TIME,
}  # fmt: skip


def to_millis(value: Any) -> int:
    """Milliseconds since the epoch of a time (naive: UTC), as the exchange's APIs take them."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.value // 1_000_000)


def _typed(frame: pd.DataFrame, dtypes: dict[str, Any]) -> pd.DataFrame:
    out = frame.reset_index(drop=True)
    for col, dtype in dtypes.items():
        if dtype is _TIME:
            out[col] = pd.to_datetime(out[col], utc=True).astype(dtype)
        else:
            out[col] = out[col].astype(dtype)
    result: pd.DataFrame = out[list(dtypes)]
    return result


def write_fills(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, venue: str) -> int:
    """Insert a fills frame (``TRADE_DTYPES``) for ``venue``; trades already stored are left as
    they are. Returns the rows new to the table."""
    con.execute(FILLS_DDL)
    if frame.empty:
        return 0
    stage = frame[list(TRADE_DTYPES)].assign(venue=venue)
    con.register("_tk_fills", stage)
    try:
        before = _count(con, "fills")
        cols = ", ".join([*TRADE_DTYPES, "venue"])
        con.execute(
            f"INSERT INTO fills ({cols}) SELECT {cols} FROM _tk_fills ON CONFLICT DO NOTHING"
        )
        return _count(con, "fills") - before
    finally:
        con.unregister("_tk_fills")


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchall()
    return int(rows[0][0]) if rows else 0


def fills_query(**filters: Any) -> tuple[str, list[Any]]:
    """The ``tk.fills()`` query (fills joined to their orders) and its parameters."""
    allowed = {"symbol", "key", "batch_id", "order_ids", "since", "exchange", "market", "venue"}
    unknown = sorted(set(filters) - allowed)
    if unknown:
        raise InputError(
            f"unknown fill filter {', '.join(map(repr, unknown))}; the filters are:"
            f" {', '.join(sorted(allowed))}"
        )
    where, params = [], []
    for column, value in filters.items():
        if value is None:
            continue
        if column == "since":
            where.append("f.time >= ?")
            params.append(pd.Timestamp(value, tz="UTC") if pd.Timestamp(value).tzinfo is None
                          else pd.Timestamp(value))  # fmt: skip
        elif column == "order_ids":
            where.append("(f.order_id IN (SELECT unnest(?::VARCHAR[]))"
                         " OR o.client_order_id IN (SELECT unnest(?::VARCHAR[])))")  # fmt: skip
            ids = [str(v) for v in value]
            params += [ids, ids]
        elif column == "symbol":
            values = [value] if isinstance(value, str) else list(value)
            where.append("f.symbol IN (SELECT unnest(?::VARCHAR[]))")
            params.append(values)
        else:
            prefix = "o." if column in ("key", "batch_id") else "f."
            where.append(f"{prefix}{column} = ?")
            params.append(value)
    cols = ", ".join(
        f"o.{c}" if c in ("client_order_id", "batch_id", "key") else f"f.{c}" for c in FILL_COLUMNS
    )
    query = (
        f"SELECT {cols} FROM fills AS f LEFT JOIN orders AS o ON o.order_id = f.order_id"
        " AND o.symbol = f.symbol AND o.market = f.market AND o.venue = f.venue"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY f.time, f.symbol, f.trade_id"
    )
    return query, params


def read_fills(con: duckdb.DuckDBPyConnection, **filters: Any) -> pd.DataFrame:
    """``tk.fills()``: fills with their orders' ids, fixed columns and dtypes."""
    con.execute(FILLS_DDL)
    query, params = fills_query(**filters)
    return _typed(con.execute(query, params).df(), FILL_COLUMNS)


def candle_ranges(
    con: duckdb.DuckDBPyConnection,
    *,
    venue: str,
    market: str,
    symbol: str,
    interval: str,
    start: int,
    end: int,
) -> list[tuple[int, int]]:
    """The ranges (ms, inclusive) of ``[start, end]`` still to fetch: before the first stored
    candle, and from the last stored one on (again: it may have been open when stored)."""
    con.execute(CANDLES_DDL)
    rows = con.execute(
        "SELECT epoch_ms(min(open_time)), epoch_ms(max(open_time)) FROM candles WHERE venue = ?"
        " AND market = ? AND symbol = ? AND interval = ? AND open_time BETWEEN"
        " make_timestamp(?::BIGINT * 1000) AND make_timestamp(?::BIGINT * 1000)",
        [venue, market, symbol, interval, start, end],
    ).fetchall()
    first, last = rows[0] if rows else (None, None)
    if first is None or last is None:
        return [(start, end)]
    ranges = []
    step = INTERVALS[interval]
    # before the first stored candle: only if a candle can open there (they open on multiples
    # of the interval; months are irregular, so for "1M" any gap is asked for)
    boundary = -(-start // step) * step if interval != "1M" else start
    if first > start and boundary < first:
        ranges.append((start, int(first) - 1))
    ranges.append((int(last), end))
    return ranges


def write_candles(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, venue: str) -> None:
    """Upsert a candle frame (``KLINE_DTYPES``) for ``venue`` (a stored candle is replaced: the
    last one may have been still open)."""
    con.execute(CANDLES_DDL)
    if frame.empty:
        return
    stage = frame[list(KLINE_DTYPES)].assign(venue=venue)
    con.register("_tk_candles", stage)
    try:
        cols = [*KLINE_DTYPES, "venue"]
        keys = {"venue", "market", "symbol", "interval", "open_time"}
        sets = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in keys)
        con.execute(
            f"INSERT INTO candles ({', '.join(cols)}) SELECT {', '.join(cols)} FROM _tk_candles"
            f" ON CONFLICT DO UPDATE SET {sets}"
        )
    finally:
        con.unregister("_tk_candles")


def read_candles(
    con: duckdb.DuckDBPyConnection,
    *,
    venue: str,
    market: str,
    symbols: Sequence[str],
    interval: str,
    start: int,
    end: int,
) -> pd.DataFrame:
    """Stored candles of ``symbols`` opening in ``[start, end]`` (ms) as the candle frame."""
    con.execute(CANDLES_DDL)
    cols = ", ".join(KLINE_DTYPES)
    frame = con.execute(
        f"SELECT {cols} FROM candles WHERE venue = ? AND market = ? AND interval = ?"
        " AND symbol IN (SELECT unnest(?::VARCHAR[])) AND open_time BETWEEN"
        " make_timestamp(?::BIGINT * 1000) AND make_timestamp(?::BIGINT * 1000)"
        " ORDER BY symbol, open_time",
        [venue, market, interval, list(symbols), start, end],
    ).df()
    return _typed(frame, KLINE_DTYPES)


def default_start(interval: str, end: int, count: int = 1000) -> int:
    """When no start is given: the last ``count`` candles."""
    return end - INTERVALS[interval] * count


def checked_interval(interval: str, market: str) -> str:
    """``interval`` if the market has it, else ``InputError`` listing the valid ones."""
    check_interval(interval, market)
    return interval


# -- fetching (the adapter) and storing (the store's DuckDB), off any batch's critical path -----

#: Longest ``startTime``..``endTime`` window of a trades request (Binance: spot 24 h, USD-M 7 d).
_TRADE_WINDOW_MS = {"spot": 24 * 3_600_000, "usdm": 7 * 24 * 3_600_000}


async def sync_fills(
    adapter: ExchangeAdapter, db: Any, *, venue: str, exchange: str, market: str, now_ms: int
) -> int:
    """Fetch this account's fills of every symbol the store has filled orders of, from the last
    trade id known (the first time: from that symbol's earliest filled order); store them.
    ``db(work)`` runs ``work(con)`` on the DuckDB file off the loop. Returns the fills added."""

    def known(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int | None, int]]:
        con.execute(FILLS_DDL)
        rows = con.execute(
            "SELECT o.symbol, (SELECT max(CAST(f.trade_id AS BIGINT)) FROM fills AS f"
            " WHERE f.venue = o.venue AND f.market = o.market AND f.symbol = o.symbol),"
            " epoch_ms(min(o.created_at)) FROM orders AS o WHERE o.venue = ? AND o.market = ?"
            " AND o.exchange = ? AND coalesce(o.filled_qty, 0) > 0 GROUP BY o.symbol, o.venue,"
            " o.market ORDER BY o.symbol",
            [venue, market, exchange],
        ).fetchall()
        return [
            (str(s), None if last is None else int(last), int(first)) for s, last, first in rows
        ]

    frames = []
    for symbol, last_id, first_ms in await db(known):
        if last_id is not None:
            frames.append(await adapter.my_trades(symbol, from_id=last_id + 1))
            continue
        window = _TRADE_WINDOW_MS[market]
        start = first_ms - 60_000  # a little before: the order's own fills come after it
        while start <= now_ms:
            page = await adapter.my_trades(symbol, start=start, end=start + window - 1)
            if len(page) >= 1000:  # a full page: go on by trade id, to the present
                last = int(page["trade_id"].astype("int64").max())
                frames += [page, await adapter.my_trades(symbol, from_id=last + 1)]
                break
            frames.append(page)
            start += window
    frames = [f for f in frames if not f.empty]
    if not frames:
        return 0
    frame = pd.concat(frames, ignore_index=True)

    def write(con: duckdb.DuckDBPyConnection) -> int:
        return write_fills(con, frame, venue)

    added: int = await db(write)
    return added


#: A candle load of more pages than this asks its caller for a progress bar.
PAGES_FOR_A_BAR = 5


class LoadProgress(Protocol):
    """What a candle load reports to: the caller's bar (the session hands in the batch's
    :class:`~toolkit.runtime._progress.Progress`, counting candles). The store draws nothing."""

    def advance(self, n: int) -> None:
        """``n`` more candles are in."""

    def close(self) -> None:
        """The load is over (done or failed)."""


async def load_candles(
    adapter: ExchangeAdapter,
    db: Any,
    *,
    venue: str,
    symbols: Sequence[str],
    interval: str,
    start: int,
    end: int,
    progress: Callable[[int], LoadProgress | None] | None = None,
) -> pd.DataFrame:
    """Candles of ``symbols`` opening in ``[start, end]`` (ms): what the store lacks is fetched
    (paged at the exchange's page size) and written, then all of it is read back.

    A load of more than :data:`PAGES_FOR_A_BAR` pages calls ``progress(expected candles)``;
    what that returns (``None``: nothing to report to) hears of every page and the end."""
    market = adapter.market.value
    todo: list[tuple[str, int, int]] = []
    for symbol in symbols:

        def ranges(con: duckdb.DuckDBPyConnection, symbol: str = symbol) -> list[tuple[int, int]]:
            return candle_ranges(con, venue=venue, market=market, symbol=symbol,
                                 interval=interval, start=start, end=end)  # fmt: skip

        todo += [(symbol, a, b) for a, b in await db(ranges)]
    step = INTERVALS[interval]
    expected = sum((b - a) // step + 1 for _, a, b in todo)
    bar: LoadProgress | None = None
    if progress is not None and expected > PAGES_FOR_A_BAR * kline_page_size(market):
        bar = progress(expected)
    try:
        for symbol, a, b in todo:
            done = 0

            def advance(rows: int) -> None:
                nonlocal done
                if bar is not None:
                    bar.advance(rows - done)
                done = rows

            frame = await adapter.klines(symbol, interval, start=a, end=b, progress=advance)

            def write(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame = frame) -> None:
                write_candles(con, frame, venue)

            await db(write)
    finally:
        if bar is not None:
            bar.close()

    def read(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
        return read_candles(con, venue=venue, market=market, symbols=symbols,
                            interval=interval, start=start, end=end)  # fmt: skip

    result: pd.DataFrame = await db(read)
    return result
