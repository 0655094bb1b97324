"""Pure conversions between ``Order`` / ``BatchRecord`` values and the journal's SQLite rows.

No connection is opened here: :mod:`toolkit.store._journal` owns the I/O. SQLite has no timestamp or
boolean type, so times are stored as integer microseconds since the epoch (UTC) and booleans as
0/1; ``raw`` payloads and the batch's JSON columns as JSON text with secrets stripped.

Example::

    >>> from toolkit.store._journal_rows import from_micros, to_micros
    >>> import pandas as pd
    >>> t = pd.Timestamp("2026-11-30 12:00", tz="UTC")
    >>> from_micros(to_micros(t)) == t
    True
"""

from __future__ import annotations

import json
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..core._frame import COLUMNS
from ..core._models import Market, Order, OrderStatus, OrderType, Outcome, Side
from ._store_schema import ORDER_FIELDS, BatchRecord, to_json, to_order_frame

__all__ = [
    "BATCH_FIELDS",
    "CHANGE_FIELDS",
    "KEEP_IF_NULL",
    "ROW_FIELDS",
    "batch_from_journal",
    "batch_row",
    "changed",
    "counts_json",
    "event_name",
    "field",
    "frame_from_rows",
    "from_micros",
    "merge_row",
    "order_from_row",
    "order_row",
    "to_micros",
]

#: The order columns of the journal's ``orders`` table, in this order (then ``ver``, ``projected``).
ROW_FIELDS: tuple[str, ...] = (*ORDER_FIELDS, "venue")
#: The columns of the ``batches`` table (journal and DuckDB alike).
BATCH_FIELDS: tuple[str, ...] = (
    "batch_id", "key", "created_at", "n_orders", "fingerprint", "exchange", "market", "params",
    "papermill", "counts", "finished_at", "venue",
)  # fmt: skip
#: Columns compared to decide whether an update is a real change (and gets an event).
CHANGE_FIELDS: tuple[str, ...] = (
    "status", "order_id", "filled_qty", "avg_price", "price", "stop_price", "qty",
    "error_code", "error_msg", "placed", "not_after",
)  # fmt: skip
#: Columns an update may leave unknown (``None``): the stored value is kept. Others are replaced.
KEEP_IF_NULL: frozenset[str] = frozenset(ORDER_FIELDS) - {
    "client_order_id", "status", "error_code", "error_msg", "placed", "created_at", "updated_at",
}  # fmt: skip

_INDEX = {name: i for i, name in enumerate(ROW_FIELDS)}
_TIMES = frozenset({"created_at", "updated_at", "not_after"})
_EPOCH = pd.Timestamp(0, tz="UTC")


def to_micros(value: Any) -> int | None:
    """Integer microseconds since the epoch (UTC) of a time; naive times are UTC."""
    if value is None:
        return None
    ts = value if isinstance(value, pd.Timestamp) else pd.Timestamp(value)
    # .value is nanoseconds since the epoch in UTC (for a naive time: its wall time as UTC)
    return int(ts.value) // 1000


def from_micros(value: int | None) -> pd.Timestamp | None:
    """The UTC timestamp of integer microseconds since the epoch."""
    if value is None:
        return None
    ts: pd.Timestamp = _EPOCH + pd.Timedelta(microseconds=int(value))
    return ts


_GET_ORDER_FIELDS = operator.attrgetter(*ORDER_FIELDS)
_TIME_POSITIONS = tuple(_INDEX[name] for name in ("created_at", "updated_at", "not_after"))
_RAW_POSITION = _INDEX["raw"]
_KEEP_POSITIONS = tuple(sorted(_INDEX[name] for name in KEEP_IF_NULL))
_CHANGE_POSITIONS = tuple(_INDEX[name] for name in CHANGE_FIELDS)
_VENUE, _CREATED, _UPDATED = _INDEX["venue"], _INDEX["created_at"], _INDEX["updated_at"]


def order_row(order: Order, venue: str | None) -> list[Any]:
    """The journal row of ``order`` (``ROW_FIELDS`` order): plain SQLite values.

    Text enums bind as their text and booleans as 0/1 as they are; only times and the raw
    payload need converting.
    """
    out = [*_GET_ORDER_FIELDS(order), venue]
    for i in _TIME_POSITIONS:
        if out[i] is not None:
            out[i] = to_micros(out[i])
    if out[_RAW_POSITION] is not None:
        out[_RAW_POSITION] = to_json(out[_RAW_POSITION])
    return out


def order_from_row(row: Sequence[Any]) -> Order:
    """The ``Order`` of a journal row (``ROW_FIELDS`` order; extra trailing columns ignored)."""
    kw: dict[str, Any] = dict(zip(ORDER_FIELDS, row, strict=False))
    kw["status"] = OrderStatus(kw["status"])
    kw["market"] = Market(kw["market"])
    for name, kind in (("side", Side), ("type", OrderType)):
        if kw[name] is not None:
            kw[name] = kind.from_exchange(kw[name])
    for name in _TIMES:
        if kw[name] is not None:
            kw[name] = from_micros(kw[name])
    if kw["reduce_only"] is not None:
        kw["reduce_only"] = bool(kw["reduce_only"])
    placed = kw.pop("placed")
    kw["outcome"] = Outcome.of(kw["status"], placed is None or bool(placed))
    if kw["raw"] is not None:
        kw["raw"] = json.loads(kw["raw"])
    return Order(**kw)


def merge_row(new: list[Any], old: Sequence[Any] | None, now: int) -> list[Any]:
    """The stored row after an update: ``KEEP_IF_NULL`` columns keep their stored value when the
    update leaves them ``None``, ``created_at`` stays the first one, ``venue`` stays as stored."""
    merged = list(new)
    if old is not None:
        for i in _KEEP_POSITIONS:
            if merged[i] is None:
                merged[i] = old[i]
        merged[_VENUE] = old[_VENUE]
    created, updated = _CREATED, _UPDATED
    if old is not None and old[created] is not None:
        merged[created] = old[created]
    elif merged[created] is None:
        merged[created] = new[updated] if new[updated] is not None else now
    if merged[updated] is None:
        merged[updated] = now
    return merged


def changed(merged: Sequence[Any], old: Sequence[Any] | None) -> bool:
    """True if ``merged`` differs from ``old`` in a ``CHANGE_FIELDS`` column (or is new)."""
    if old is None:
        return True
    return any(merged[i] != old[i] for i in _CHANGE_POSITIONS)


def event_name(status: str, placed: bool, old: Sequence[Any] | None, source: str) -> str:
    """The ``order_events.event`` of a change to ``status``/``placed`` from the ``old`` row."""
    old_status = None if old is None else old[_INDEX["status"]]
    old_placed = None if old is None else old[_INDEX["placed"]]
    if status == "INVALID":
        return "invalid"
    if not placed and (old_placed is None or bool(old_placed)):
        return "not_placed"
    if source == "reconcile":
        return "reconciled"
    if status == "PENDING":
        return "submitted" if old_status != "PENDING" else "unknown"
    if status == "NEW":
        return "accepted"
    return status.lower()


def field(row: Sequence[Any], name: str) -> Any:
    """The value of column ``name`` of a journal order row."""
    return row[_INDEX[name]]


def batch_row(batch: BatchRecord) -> list[Any]:
    """The journal row of a batch (``BATCH_FIELDS`` order)."""
    return [
        batch.batch_id,
        batch.key,
        to_micros(batch.created_at),
        batch.n_orders,
        batch.fingerprint,
        batch.exchange,
        batch.market,
        to_json(dict(batch.params)),
        to_json(batch.papermill),
        to_json(batch.counts),
        to_micros(batch.finished_at),
        batch.venue,
    ]


def batch_from_journal(row: Sequence[Any]) -> BatchRecord:
    """The ``BatchRecord`` of a journal row (``BATCH_FIELDS`` order)."""
    kw: dict[str, Any] = dict(zip(BATCH_FIELDS, row, strict=False))

    def load(text: str | None) -> Any:
        return None if text is None else json.loads(text)

    created = from_micros(kw["created_at"])
    assert created is not None  # NOT NULL
    return BatchRecord(
        batch_id=kw["batch_id"],
        key=kw["key"],
        created_at=created,
        n_orders=int(kw["n_orders"]),
        fingerprint=kw["fingerprint"],
        exchange=kw["exchange"],
        market=kw["market"],
        params=load(kw["params"]) or {},
        papermill=load(kw["papermill"]),
        counts=load(kw["counts"]),
        finished_at=from_micros(kw["finished_at"]),
        venue=kw["venue"],
    )


def counts_json(counts: Mapping[str, int]) -> str | None:
    """The ``counts`` column's JSON text."""
    return to_json(dict(counts))


def frame_from_rows(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """The order frame (``COLUMNS``, exact dtypes, RangeIndex) of journal order rows."""
    data: dict[str, Any] = {}
    for name in COLUMNS:
        values = [r[_INDEX[name]] for r in rows]
        if name in _TIMES:
            data[name] = pd.to_datetime(pd.Series(values, dtype="Int64"), unit="us", utc=True)
        elif name == "reduce_only":
            data[name] = pd.Series(
                [None if v is None else bool(v) for v in values], dtype=object
            )
        else:
            data[name] = pd.Series(values, dtype=object)
    return to_order_frame(pd.DataFrame(data, index=pd.RangeIndex(len(rows))))
