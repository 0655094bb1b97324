"""Positions and balances: what the account holds, as a frame and as snapshots in the store.

``await tk.positions()`` asks the exchange (spot: the account's balances valued at the last
prices; USD-M: the open positions) and returns a frame with fixed columns and dtypes:

- spot (``SPOT_DTYPES``): ``asset, free, locked, total, price`` (in USDT), ``value`` (USDT),
  ``weight`` (of the valued total);
- USD-M (``POSITION_DTYPES``): ``symbol, side`` (``long``/``short``), ``qty, entry_price,
  mark_price, unrealized_pnl, leverage, notional, liquidation_price``.

Every such answer is also kept as a **snapshot**: a row of ``position_snapshots`` (id, time,
venue, market, the batch it follows, source) and its rows in ``positions``. Snapshots are taken
by ``tk.positions()``, in the background when a session opens (the "before" of its first
batch), and, off every batch's critical path, by the session's background step a couple of
seconds after a batch (the one that also syncs the fills). The view ``batch_positions``
pairs every batch with the last snapshot taken before it was created (``phase = 'before'``)
and the first one taken after it finished (``'after'``), so a batch's before and after is::

    tk.sql("select phase, asset, total, value from batch_positions where key = 'rebalance'")

Example::

    await tk.positions()
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import duckdb
import pandas as pd

from ..binance._account import BALANCE_DTYPES, POSITION_DTYPES
from ..core._adapter import ExchangeAdapter

__all__ = [
    "POSITIONS_DDL",
    "QUOTE",
    "SPOT_DTYPES",
    "snapshot",
    "spot_positions",
    "write_snapshot",
]

#: The currency spot holdings are valued in.
QUOTE = "USDT"

#: ``tk.positions()`` columns on spot.
SPOT_DTYPES: dict[str, Any] = {
    **BALANCE_DTYPES, "total": "float64", "price": "float64", "value": "float64",
    "weight": "float64",
}  # fmt: skip

#: The ``positions`` table's columns after ``snapshot_id``: spot's, then USD-M's.
_ROW_COLUMNS = [*SPOT_DTYPES, *(c for c in POSITION_DTYPES if c not in SPOT_DTYPES)]
_TEXT_COLUMNS = ("asset", "symbol", "side")
_ROWS_SQL = ", ".join(f"{c} {'VARCHAR' if c in _TEXT_COLUMNS else 'DOUBLE'}" for c in _ROW_COLUMNS)

#: The snapshot tables, and the view pairing each batch with the snapshots around it.
POSITIONS_DDL: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS position_snapshots (snapshot_id VARCHAR PRIMARY KEY,"
    " taken_at TIMESTAMPTZ NOT NULL, exchange VARCHAR NOT NULL, market VARCHAR NOT NULL,"
    " venue VARCHAR NOT NULL, batch_id VARCHAR, source VARCHAR NOT NULL)",
    # one table for both markets: spot rows fill asset..weight, USD-M rows symbol..liquidation
    f"CREATE TABLE IF NOT EXISTS positions (snapshot_id VARCHAR NOT NULL, {_ROWS_SQL})",
    """CREATE VIEW IF NOT EXISTS batch_positions AS
WITH around AS (
    SELECT b.batch_id, b.key, 'before' AS phase, (
        SELECT s.snapshot_id FROM position_snapshots AS s
        WHERE s.venue = b.venue AND s.market = b.market AND s.taken_at <= b.created_at
        ORDER BY s.taken_at DESC LIMIT 1) AS snapshot_id
    FROM batches AS b
    UNION ALL
    SELECT b.batch_id, b.key, 'after' AS phase, (
        SELECT s.snapshot_id FROM position_snapshots AS s
        WHERE s.venue = b.venue AND s.market = b.market
          AND s.taken_at >= coalesce(b.finished_at, b.created_at)
        ORDER BY s.taken_at LIMIT 1) AS snapshot_id
    FROM batches AS b
)
SELECT a.batch_id, a.key, a.phase, s.taken_at, s.market, p.* EXCLUDE (snapshot_id)
FROM around AS a JOIN position_snapshots AS s USING (snapshot_id)
JOIN positions AS p USING (snapshot_id)""",
)


def spot_positions(balances: pd.DataFrame, prices: Mapping[str, Decimal]) -> pd.DataFrame:
    """Spot balances (``BALANCE_DTYPES``) valued in :data:`QUOTE` at ``prices`` (symbol ->
    last price): ``total``, ``price``, ``value`` and ``weight`` (NaN for an asset without a
    ``QUOTE`` market; the weights of the others add up to 1)."""
    out = balances.reset_index(drop=True).copy()
    out["total"] = out["free"] + out["locked"]
    price = [
        1.0 if a == QUOTE else float(prices[f"{a}{QUOTE}"]) if f"{a}{QUOTE}" in prices
        else float("nan")
        for a in out["asset"]
    ]  # fmt: skip
    out["price"] = pd.Series(price, dtype="float64")
    out["value"] = out["total"] * out["price"]
    total = out["value"].sum(skipna=True)
    out["weight"] = out["value"] / total if total else float("nan")
    typed: pd.DataFrame = out.astype(SPOT_DTYPES)[list(SPOT_DTYPES)]
    return typed


def write_snapshot(
    con: duckdb.DuckDBPyConnection,
    frame: pd.DataFrame,
    *,
    exchange: str,
    market: str,
    venue: str,
    taken_at: pd.Timestamp,
    batch_id: str | None = None,
    source: str = "positions",
) -> str:
    """Store one snapshot (the frame of :func:`snapshot`); returns its id."""
    for statement in POSITIONS_DDL:
        con.execute(statement)
    snapshot_id = uuid.uuid4().hex
    stage = frame.reindex(columns=_ROW_COLUMNS).assign(snapshot_id=snapshot_id)
    for col in _ROW_COLUMNS:  # the other market's columns: all NULL, typed for the insert
        if col in _TEXT_COLUMNS:
            stage[col] = stage[col].astype(object)
        else:
            stage[col] = stage[col].astype("float64")
    con.execute(  # (the caller's unit of work is one transaction)
        "INSERT INTO position_snapshots VALUES (?, ?, ?, ?, ?, ?, ?)",
        [snapshot_id, taken_at.to_pydatetime(), exchange, market, venue, batch_id, source],
    )
    if not stage.empty:
        con.register("_tk_positions", stage)
        try:
            cols = ", ".join(["snapshot_id", *_ROW_COLUMNS])
            con.execute(f"INSERT INTO positions ({cols}) SELECT {cols} FROM _tk_positions")
        finally:
            con.unregister("_tk_positions")
    return snapshot_id


async def snapshot(
    adapter: ExchangeAdapter,
    db: Any,
    *,
    venue: str,
    batch_id: str | None = None,
    source: str = "positions",
) -> pd.DataFrame:
    """Ask the exchange what the account holds (spot: balances and one all-symbols price
    request; USD-M: ``positionRisk``), store it as a snapshot and return the positions frame.
    ``db(work)`` runs ``work(con)`` on the store's DuckDB file off the loop."""
    market = adapter.market.value
    holdings = await adapter.holdings()
    if market == "spot":
        prices = await adapter.prices() if not holdings.empty else {}
        frame = spot_positions(holdings, prices)
    else:
        frame = holdings.astype(POSITION_DTYPES)[list(POSITION_DTYPES)]
    taken_at = pd.Timestamp.now(tz="UTC")

    def write(con: duckdb.DuckDBPyConnection) -> str:
        return write_snapshot(con, frame, exchange=adapter.exchange, market=market, venue=venue,
                              taken_at=taken_at, batch_id=batch_id, source=source)  # fmt: skip

    await db(write)
    return frame
