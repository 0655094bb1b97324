"""The order frame: the one DataFrame shape toolkit returns, with fixed columns and dtypes.

DataFrames exist only at the edge; inside, orders are :class:`~toolkit.core._models.Order` records.
Every frame toolkit returns goes through :func:`orders_to_frame`, so the columns and dtypes are
always the same, also for no rows.

Example::

    >>> from toolkit.core._frame import empty_frame, COLUMNS
    >>> list(empty_frame().columns) == list(COLUMNS)
    True
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._models import Market, Order, OrderStatus, OrderType, Side

__all__ = ["COLUMNS", "DTYPES", "empty_frame", "frame_to_orders", "orders_to_frame"]

_TEXT = pd.StringDtype()
_TIME = pd.DatetimeTZDtype(unit="ns", tz="UTC")

#: Column name -> dtype, in the frame's order.
DTYPES: dict[str, Any] = {
    "client_order_id": _TEXT,
    "order_id": _TEXT,
    "exchange": _TEXT,
    "market": _TEXT,
    "symbol": _TEXT,
    "side": _TEXT,
    "type": _TEXT,
    "time_in_force": _TEXT,
    "price": "float64",
    "stop_price": "float64",
    "qty": "float64",
    "filled_qty": "float64",
    "avg_price": "float64",
    "status": _TEXT,
    "reduce_only": "boolean",
    # An exchange error code is an identifier, not a quantity: nullable integer, not float.
    "error_code": "Int64",
    "error_msg": _TEXT,
    "batch_id": _TEXT,
    "key": _TEXT,
    "created_at": _TIME,
    "updated_at": _TIME,
}
COLUMNS: tuple[str, ...] = tuple(DTYPES)


def empty_frame() -> pd.DataFrame:
    """An order frame with no rows (all columns, all dtypes)."""
    return orders_to_frame([])


#: One C-level call per order reads every column's value (21 getattr calls cost as much as
#: building the whole frame).
_ROW = operator.attrgetter(*COLUMNS)
_STATUS = COLUMNS.index("status")
#: Text enum columns: the frame holds their text, not the enum members.
_TEXT_ENUMS = tuple(COLUMNS.index(name) for name in ("market", "side", "type"))


def orders_to_frame(orders: Sequence[Order], index: pd.Index | None = None) -> pd.DataFrame:
    """Build the order frame from ``orders``; ``index`` (same length) keeps the caller's index."""
    if index is not None and len(index) != len(orders):
        raise ValueError(f"index has {len(index)} entries for {len(orders)} orders")
    # Each column is built once with its final dtype (a frame of objects cast afterwards costs
    # several milliseconds even for a handful of rows).
    rows = [_ROW(o) for o in orders]
    columns: list[tuple[Any, ...]] = [()] * len(COLUMNS)
    if rows:  # every row is a tuple of len(COLUMNS)
        columns = list(zip(*rows, strict=True))
    columns[_STATUS] = tuple(status.value for status in columns[_STATUS])
    for i in _TEXT_ENUMS:  # str() of a text enum is its value (of a plain str, itself)
        columns[i] = tuple(None if v is None else str(v) for v in columns[i])
    data = {
        col: _column(list(values), dtype)
        for (col, dtype), values in zip(DTYPES.items(), columns, strict=True)
    }
    frame: pd.DataFrame = pd.DataFrame(  # the columns are new: no copy
        data, index=index if index is not None else pd.RangeIndex(len(orders)), copy=False
    )
    return frame


_NAT = np.iinfo(np.int64).min  # numpy's NaT as int64


def _column(values: list[Any], dtype: Any) -> Any:
    if dtype is _TIME:
        return _times(values)
    if dtype == "float64":
        return np.array(values, dtype="float64")  # None -> NaN
    if dtype == "boolean" and all(v is None or type(v) is bool for v in values):
        mask = np.array([v is None for v in values], dtype=bool)
        return pd.arrays.BooleanArray(np.array([bool(v) for v in values], dtype=bool), mask)
    if dtype == "Int64" and all(v is None or type(v) is int for v in values):
        mask = np.array([v is None for v in values], dtype=bool)
        data = np.array([0 if v is None else v for v in values], dtype="int64")
        return pd.arrays.IntegerArray(data, mask)
    if dtype is _TEXT and _TEXT.storage == "python":
        return _text(values)
    return pd.array(values, dtype=dtype)


def _text(values: list[Any]) -> Any:
    """A string column of ``str``/``None`` values, built directly (``pd.array`` converts every
    value again: a third of the cost of a small frame)."""
    data = np.empty(len(values), dtype=object)
    data[:] = values
    if None in values:
        data[np.array([v is None for v in values], dtype=bool)] = pd.NA
    try:
        return pd.arrays.StringArray(data)
    except ValueError:  # a value that is not text: pandas converts it as it does
        return pd.array(values, dtype=_TEXT)


def _times(values: list[Any]) -> Any:
    """UTC nanosecond timestamps; ``pd.Timestamp``/``None`` the fast way, anything else via
    ``pd.to_datetime`` (parsing each Timestamp again costs ~3 us per row)."""
    try:
        nanos = [
            _NAT if v is None else _utc_nanos(v) if type(v) is pd.Timestamp else None
            for v in values
        ]
    except (OverflowError, ValueError):  # outside the nanosecond range: pandas says how
        nanos = [None]
    if None in nanos:
        return pd.DatetimeIndex(pd.to_datetime(values, utc=True)).astype(_TIME).array
    stamps = np.array(nanos, dtype="int64").view("M8[ns]")
    return pd.DatetimeIndex(stamps, tz="UTC").array


def _utc_nanos(stamp: pd.Timestamp) -> int:
    # .value is nanoseconds since the epoch in UTC (a naive Timestamp counts as UTC, as
    # pd.to_datetime(utc=True) takes it)
    return int(stamp.value)


def frame_to_orders(frame: pd.DataFrame) -> list[Order]:
    """The inverse of :func:`orders_to_frame` (for frames read back from the store)."""
    orders: list[Order] = []
    for rec in frame.to_dict("records"):
        clean: dict[str, Any] = {
            str(k): (None if _isna(v) else v) for k, v in rec.items() if k in DTYPES
        }
        clean["status"] = OrderStatus(clean["status"])
        clean["market"] = Market(clean["market"])
        for name, kind in (("side", Side), ("type", OrderType)):
            if clean.get(name) is not None:
                clean[name] = kind.from_exchange(clean[name])
        for k in ("price", "stop_price", "qty", "filled_qty", "avg_price"):
            if clean.get(k) is not None:
                clean[k] = float(clean[k])
        if clean.get("error_code") is not None:
            clean["error_code"] = int(clean["error_code"])
        if clean.get("reduce_only") is not None:
            clean["reduce_only"] = bool(clean["reduce_only"])
        orders.append(Order(**clean))
    return orders


def _isna(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
