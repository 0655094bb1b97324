"""What a batch cost: arrival price, average fill price, slippage, fees, fill ratio, fill times.

``tk.costs(key=None, batch_id=None)`` reads one batch from the store (its row, its orders, their
fills and the candles stored around it) and returns a :class:`CostReport`: a frame of one row per
order (``COST_DTYPES``), a one-row ``summary`` of the batch (``SUMMARY_DTYPES``) and ``.plot()``,
the fills drawn against the price path (:mod:`toolkit.store._costchart`).

- **arrival price**: the price the session knew when it wrote the batch ahead (the batch row's
  ``params.arrival``: price and age in seconds, from the session's price cache -- no request is
  made for it). Orders of a symbol the session had no price for have none (NaN).
- **average fill price**: the fills' quantity-weighted price (the order's ``avg_price`` when no
  fill is stored yet: run ``tk.sync_fills()`` first, or wait for the background sync).
- **slippage** in basis points, signed by side: positive is a cost (bought above / sold below
  the arrival price).
- **fees** in the quote currency: commissions paid in the quote asset as they are, in the base
  asset at the fill's price; other assets (BNB) are left out and counted in ``fees_unpriced``.
- **fill ratio**: filled / ordered quantity; **time to first / last fill** in seconds after the
  batch was written ahead.

Example::

    report = tk.costs(key="rebalance-2026-11-25")
    report.summary
    report.plot()
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from ..binance._marketdata import INTERVALS, KLINE_DTYPES
from ..core._exceptions import InputError
from ._research import CANDLES_DDL, read_fills

__all__ = ["COST_DTYPES", "SUMMARY_DTYPES", "CostInputs", "CostReport", "compute", "read_inputs"]

_TEXT = pd.StringDtype()
_TIME = pd.DatetimeTZDtype(unit="ns", tz="UTC")

#: One row per order of the batch.
COST_DTYPES: dict[str, Any] = {
    "batch_id": _TEXT, "key": _TEXT, "client_order_id": _TEXT, "symbol": _TEXT, "side": _TEXT,
    "type": _TEXT, "status": _TEXT, "qty": "float64", "filled_qty": "float64",
    "fill_ratio": "float64", "arrival_price": "float64", "arrival_age": "float64",
    "avg_fill_price": "float64", "slippage_bps": "float64", "filled_notional": "float64",
    "fees_quote": "float64", "fees_unpriced": "Int64", "n_fills": "Int64",
    "first_fill_s": "float64", "last_fill_s": "float64",
}  # fmt: skip
#: One row per batch: totals, and slippage weighted by filled notional.
SUMMARY_DTYPES: dict[str, Any] = {
    "batch_id": _TEXT, "key": _TEXT, "created_at": _TIME, "n_orders": "Int64",
    "n_filled": "Int64", "fill_ratio": "float64", "filled_notional": "float64",
    "slippage_bps": "float64", "fees_quote": "float64", "fees_bps": "float64",
    "first_fill_s": "float64", "last_fill_s": "float64",
}  # fmt: skip
#: Minutes of price path drawn before the batch and after its last fill.
_MARGIN = pd.Timedelta(minutes=30)


@dataclass(frozen=True)
class CostInputs:
    """What the report is computed from, as read from the store."""

    batch: Mapping[str, Any]
    orders: pd.DataFrame
    fills: pd.DataFrame
    candles: pd.DataFrame


def _batch_row(
    con: duckdb.DuckDBPyConnection, key: str | None, batch_id: str | None, venue: str, market: str
) -> dict[str, Any]:
    cols = "batch_id, key, created_at, finished_at, params, market, venue"
    if batch_id is not None:
        rows = con.execute(f"SELECT {cols} FROM batches WHERE batch_id = ?", [batch_id])
    elif key is not None:
        rows = con.execute(
            f"SELECT {cols} FROM batches WHERE key = ? ORDER BY created_at DESC LIMIT 1", [key]
        )
    else:
        rows = con.execute(
            f"SELECT {cols} FROM batches WHERE venue = ? AND market = ?"
            " ORDER BY created_at DESC LIMIT 1",
            [venue, market],
        )
    found = rows.fetchall()
    if not found:
        what = (
            f"batch_id {batch_id!r}" if batch_id is not None
            else f"key {key!r}" if key is not None else f"a batch on {market} at {venue}"
        )  # fmt: skip
        raise InputError(f"no batch with {what} in the store")
    row = dict(zip([c.strip() for c in cols.split(",")], found[0], strict=True))
    params = row["params"]
    row["params"] = json.loads(params) if isinstance(params, str) else (params or {})
    row["created_at"] = pd.Timestamp(row["created_at"]).tz_convert("UTC")
    if row["finished_at"] is not None:
        row["finished_at"] = pd.Timestamp(row["finished_at"]).tz_convert("UTC")
    return row


def read_inputs(
    con: duckdb.DuckDBPyConnection,
    *,
    key: str | None,
    batch_id: str | None,
    venue: str,
    market: str,
) -> CostInputs:
    """One batch's row, orders, fills and the candles stored around it (one DuckDB read)."""
    batch = _batch_row(con, key, batch_id, venue, market)
    orders = con.execute(
        "SELECT client_order_id, order_id, symbol, side, type, status, qty, filled_qty,"
        " avg_price, key FROM orders WHERE batch_id = ? ORDER BY position",
        [batch["batch_id"]],
    ).df()
    fills = read_fills(con, batch_id=batch["batch_id"])
    last = fills["time"].max() if not fills.empty else None
    end = max(t for t in (batch["created_at"], batch["finished_at"], last) if t is not None)
    con.execute(CANDLES_DDL)
    candles = con.execute(
        f"SELECT {', '.join(KLINE_DTYPES)} FROM candles WHERE venue = ? AND market = ?"
        " AND symbol IN (SELECT unnest(?::VARCHAR[])) AND open_time BETWEEN ? AND ?"
        " ORDER BY symbol, interval, open_time",
        [batch["venue"], batch["market"], sorted(set(orders["symbol"])),
         (batch["created_at"] - _MARGIN).to_pydatetime(), (end + _MARGIN).to_pydatetime()],
    ).df()  # fmt: skip
    return CostInputs(batch=batch, orders=orders, fills=fills, candles=_finest(candles))


def _finest(candles: pd.DataFrame) -> pd.DataFrame:
    """Per symbol, only the candles of the finest interval stored."""
    if candles.empty:
        empty: pd.DataFrame = candles.astype(KLINE_DTYPES)
        return empty
    step = candles["interval"].map(INTERVALS)
    finest = step.groupby(candles["symbol"]).transform("min")
    out = candles[step == finest].reset_index(drop=True)
    out["open_time"] = pd.to_datetime(out["open_time"], utc=True)
    out["close_time"] = pd.to_datetime(out["close_time"], utc=True)
    typed: pd.DataFrame = out.astype(KLINE_DTYPES)
    return typed


def _fees_in_quote(fills: pd.DataFrame, quote: Mapping[str, str]) -> tuple[pd.Series, pd.Series]:
    """Per fill: the commission in the symbol's quote asset (NaN if in a third asset), and
    whether it could not be priced."""
    q = fills["symbol"].map(lambda s: quote.get(str(s), "")).astype(object)
    base = [str(s)[: -len(qa)] if qa and str(s).endswith(qa) else "" for s, qa in
            zip(fills["symbol"], q, strict=True)]  # fmt: skip
    asset = fills["commission_asset"].astype(object)
    commission = fills["commission"].fillna(0.0)
    in_quote = np.where(asset == q, commission,
                        np.where(asset == pd.Series(base, index=fills.index, dtype=object),
                                 commission * fills["price"], np.nan))  # fmt: skip
    fee = pd.Series(in_quote, index=fills.index, dtype="float64")
    unpriced = fee.isna() & (commission > 0)
    return fee.fillna(0.0), unpriced


def compute(inputs: CostInputs, *, quote: Mapping[str, str]) -> CostReport:
    """The report of ``inputs``; ``quote`` maps each symbol to its quote asset."""
    batch, orders, fills = inputs.batch, inputs.orders, inputs.fills
    created = batch["created_at"]
    arrival: Mapping[str, Any] = batch["params"].get("arrival", {}) or {}
    out = pd.DataFrame({
        "batch_id": batch["batch_id"], "key": batch["key"],
        "client_order_id": orders["client_order_id"], "symbol": orders["symbol"],
        "side": orders["side"], "type": orders["type"], "status": orders["status"],
        "qty": orders["qty"].astype("float64"),
    }, index=pd.RangeIndex(len(orders)))  # fmt: skip
    out["arrival_price"] = [float(arrival[s]["price"]) if s in arrival else np.nan
                            for s in out["symbol"]]  # fmt: skip
    out["arrival_age"] = [float(arrival[s].get("age", np.nan)) if s in arrival else np.nan
                          for s in out["symbol"]]  # fmt: skip
    if not fills.empty:
        f = fills.copy()
        f["fee"], f["unpriced"] = _fees_in_quote(f, quote)
        f["value"] = f["price"] * f["qty"]
        f["after"] = (f["time"] - created).dt.total_seconds()
        per = f.groupby("client_order_id").agg(
            qty=("qty", "sum"), value=("value", "sum"), fees=("fee", "sum"),
            unpriced=("unpriced", "sum"), n=("trade_id", "count"), first=("after", "min"),
            last=("after", "max"),
        )  # fmt: skip
    else:
        per = pd.DataFrame(columns=["qty", "value", "fees", "unpriced", "n", "first", "last"])
    by = per.reindex(out["client_order_id"]).reset_index(drop=True)
    has = by["n"].fillna(0) > 0
    stored_filled = orders["filled_qty"].astype("float64").fillna(0.0)
    out["filled_qty"] = np.where(has, by["qty"], stored_filled)
    avg_fills = by["value"].astype("float64") / by["qty"].astype("float64")
    out["avg_fill_price"] = np.where(has, avg_fills, orders["avg_price"].astype("float64"))
    out.loc[out["filled_qty"] <= 0, "avg_fill_price"] = np.nan
    out["fill_ratio"] = out["filled_qty"] / out["qty"]
    sign = np.where(out["side"] == "sell", -1.0, 1.0)
    out["slippage_bps"] = sign * (out["avg_fill_price"] / out["arrival_price"] - 1.0) * 1e4
    out["filled_notional"] = out["filled_qty"] * out["avg_fill_price"]
    out["fees_quote"] = np.where(has, by["fees"].astype("float64"), np.nan)
    out["fees_unpriced"] = by["unpriced"].fillna(0).astype("int64")
    out["n_fills"] = by["n"].fillna(0).astype("int64")
    out["first_fill_s"] = by["first"].astype("float64")
    out["last_fill_s"] = by["last"].astype("float64")
    frame = out.astype(COST_DTYPES)[list(COST_DTYPES)]
    return CostReport(frame, _summary(frame, batch), fills, inputs.candles, created)


def _summary(frame: pd.DataFrame, batch: Mapping[str, Any]) -> pd.DataFrame:
    filled = frame[frame["filled_qty"] > 0]
    notional = float(filled["filled_notional"].sum())
    priced = filled.dropna(subset=["slippage_bps"])
    weights = priced["filled_notional"]
    slip = np.nan
    if len(priced) and weights.sum():
        slip = float((priced["slippage_bps"] * weights).sum() / weights.sum())
    ordered = (frame["qty"] * frame["arrival_price"]).sum()
    at_arrival = (frame["filled_qty"] * frame["arrival_price"]).sum()
    if ordered > 0:  # by value at the arrival prices
        ratio = float(at_arrival / ordered)
    else:
        total = frame["qty"].sum()
        ratio = float(frame["filled_qty"].sum() / total) if total else np.nan
    fees = float(frame["fees_quote"].sum(skipna=True))
    row = {
        "batch_id": batch["batch_id"], "key": batch["key"], "created_at": batch["created_at"],
        "n_orders": len(frame), "n_filled": len(filled), "fill_ratio": ratio,
        "filled_notional": notional, "slippage_bps": slip, "fees_quote": fees,
        "fees_bps": fees / notional * 1e4 if notional else np.nan,
        "first_fill_s": frame["first_fill_s"].min(), "last_fill_s": frame["last_fill_s"].max(),
    }  # fmt: skip
    summary: pd.DataFrame = pd.DataFrame([row]).astype(SUMMARY_DTYPES)[list(SUMMARY_DTYPES)]
    return summary


class CostReport:
    """What a batch cost: a frame of one row per order (the report itself behaves like it:
    columns, ``len``, indexing, ``.loc``), ``summary`` (one row for the batch), the ``fills``
    and ``candles`` it was computed from, and :meth:`plot`.

    Example::

        report = tk.costs(key="rebalance-2026-11-25")
        report[["symbol", "side", "slippage_bps", "fees_quote"]]
        report.summary["slippage_bps"].iloc[0]
        report.plot()
    """

    def __init__(
        self,
        orders: pd.DataFrame,
        summary: pd.DataFrame,
        fills: pd.DataFrame,
        candles: pd.DataFrame,
        created_at: pd.Timestamp,
    ) -> None:
        #: One row per order (``COST_DTYPES``).
        self.orders = orders
        #: One row for the batch (``SUMMARY_DTYPES``).
        self.summary = summary
        #: The batch's fills (``tk.fills`` columns).
        self.fills = fills
        #: The candles stored around the batch (finest interval per symbol).
        self.candles = candles
        #: When the batch was written ahead.
        self.created_at = created_at

    def __getattr__(self, name: str) -> Any:
        # only public names: IPython's display hooks (``_repr_*_``) and copy/pickle look up
        # private ones, which must not come from the order frame
        if name.startswith("_") or name in ("orders", "summary", "fills", "candles"):
            raise AttributeError(name)
        return getattr(self.orders, name)

    def __getitem__(self, item: Any) -> Any:
        return self.orders[item]

    def __len__(self) -> int:
        return len(self.orders)

    def __repr__(self) -> str:
        return f"{self.summary.to_string(index=False)}\n\n{self.orders.to_string()}"

    def _repr_html_(self) -> str:
        return (
            "<div><b>batch</b>" + self.summary.to_html(index=False)
            + "<b>orders</b>" + self.orders.to_html() + "</div>"
        )  # fmt: skip

    def plot(self, *, width: float = 9.0) -> Any:
        """The fills against the price path around the batch, one panel per symbol: the
        candles' range and close, the arrival price, each fill (▲ buy, ▼ sell; size by qty).
        Returns a :class:`~toolkit.store._costchart.CostChart` (shows as a PNG image in Jupyter and
        in papermill output; ``.figure`` is the matplotlib figure, ``.savefig(path)``).

        Load the candles first for a price path, e.g.
        ``await tk.candles(symbols, "1m", start=report.created_at - pd.Timedelta("30min"))``.
        """
        from ._costchart import draw

        return draw(self, width=width)
