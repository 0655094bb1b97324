"""The DuckDB schema of the store and the pure conversions between ``Order`` records and its rows.

No connection is opened here: :mod:`toolkit._store` owns the I/O. This module holds the DDL (see
the schema in :mod:`toolkit._store`'s docstring), the staging frame that carries a sequence of
orders into DuckDB as one vectorized scan, the way back from query results to ``Order`` records,
and the defensive removal of secrets from JSON payloads.

Example::

    >>> from toolkit._store_schema import strip_secrets
    >>> strip_secrets({"symbol": "BTCUSDT", "apiKey": "k", "nested": {"signature": "s"}})
    {'symbol': 'BTCUSDT', 'nested': {}}
"""

from __future__ import annotations

import enum
import functools
import json
import math
import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd

from ._frame import COLUMNS, DTYPES
from ._models import Order, OrderStatus

__all__ = [
    "DDL",
    "EVENT_SQL",
    "ORDER_FIELDS",
    "SCHEMA_VERSION",
    "SOURCES",
    "STAGE_SELECT",
    "BatchRecord",
    "batch_from_row",
    "na_to_none",
    "orders_from_frame",
    "stage_frame",
    "strip_secrets",
    "to_json",
    "to_order_frame",
    "to_utc",
]

#: Bumped whenever the DDL changes; stored in ``toolkit_meta``. Version 2 added ``venue`` to
#: ``orders`` and ``batches`` (older files are migrated in place on first open).
SCHEMA_VERSION = 2

#: Where an update came from (the ``source`` column of ``order_events``).
SOURCES: frozenset[str] = frozenset(
    {"submit", "response", "query", "stream", "reconcile", "cancel", "refresh"}
)

#: Columns of the ``orders`` table: the order frame's, then the store-only fields of ``Order``.
ORDER_FIELDS: tuple[str, ...] = (*COLUMNS, "position", "placed", "not_after", "raw")

_SQL_TYPES: dict[str, str] = {
    **dict.fromkeys(COLUMNS, "VARCHAR"),
    **dict.fromkeys(("price", "stop_price", "qty", "filled_qty", "avg_price"), "DOUBLE"),
    "reduce_only": "BOOLEAN",
    "error_code": "BIGINT",
    "created_at": "TIMESTAMPTZ",
    "updated_at": "TIMESTAMPTZ",
    "position": "INTEGER",
    "placed": "BOOLEAN",
    "not_after": "TIMESTAMPTZ",
    "raw": "JSON",
}
_TEXT_FIELDS = tuple(c for c in ORDER_FIELDS if _SQL_TYPES[c] == "VARCHAR")
_FLOAT_FIELDS = tuple(c for c in ORDER_FIELDS if _SQL_TYPES[c] == "DOUBLE")
_TIME_FIELDS = tuple(c for c in ORDER_FIELDS if _SQL_TYPES[c] == "TIMESTAMPTZ")


def _order_columns_ddl() -> str:
    lines = []
    for col in ORDER_FIELDS:
        extra = ""
        if col == "client_order_id":
            extra = " PRIMARY KEY"
        elif col in ("exchange", "market", "symbol", "status", "placed"):
            extra = " NOT NULL"
        lines.append(f"    {col} {_SQL_TYPES[col]}{extra}")
    return ",\n".join(lines)


#: Idempotent DDL, run on every first open of a store file.
DDL: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS toolkit_meta (name VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS orders (\n{_order_columns_ddl()}\n)",
    "CREATE SEQUENCE IF NOT EXISTS order_events_seq START 1",
    """CREATE TABLE IF NOT EXISTS order_events (
    event_id BIGINT PRIMARY KEY DEFAULT nextval('order_events_seq'),
    client_order_id VARCHAR NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    event VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    filled_qty DOUBLE,
    source VARCHAR NOT NULL,
    raw JSON
)""",
    """CREATE TABLE IF NOT EXISTS batches (
    batch_id VARCHAR PRIMARY KEY,
    key VARCHAR UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    n_orders INTEGER NOT NULL,
    fingerprint VARCHAR,
    exchange VARCHAR,
    market VARCHAR,
    params JSON,
    papermill JSON,
    counts JSON,
    finished_at TIMESTAMPTZ
)""",
    # version 2: the server an order was sent to (not a column of the order frame)
    "ALTER TABLE orders ADD COLUMN IF NOT EXISTS venue VARCHAR",
    "ALTER TABLE batches ADD COLUMN IF NOT EXISTS venue VARCHAR",
)

#: Typed projection of the registered staging frame ``_tk_df`` (an all-NULL object column would
#: otherwise come in with a guessed type).
STAGE_SELECT = (
    "SELECT "
    + ", ".join(f"CAST({c} AS {_SQL_TYPES[c]}) AS {c}" for c in ORDER_FIELDS)
    + ", CAST(_raw_event AS JSON) AS _raw_event, CAST(_seq AS BIGINT) AS _seq FROM _tk_df"
)

#: The event name of a state change; columns ``status``, ``placed``, ``old_status``,
#: ``old_placed`` (NULL for a new row) and the parameter ``$source``.
EVENT_SQL = """CASE
    WHEN NOT placed AND coalesce(old_placed, TRUE) THEN 'not_placed'
    WHEN $source = 'reconcile' THEN 'reconciled'
    WHEN status = 'PENDING' AND coalesce(old_status, '') <> 'PENDING' THEN 'submitted'
    WHEN status = 'PENDING' THEN 'unknown'
    WHEN status = 'NEW' THEN 'accepted'
    ELSE lower(status)
END"""

# A key is secret if its name, lower-cased with separators removed, contains one of these.
_SECRET_PARTS = ("apikey", "secret", "signature", "password", "passphrase", "privatekey")
_SEPARATORS = re.compile(r"[^a-z0-9]")


@functools.lru_cache(maxsize=4096)  # payload keys repeat: check each name once
def _is_secret(name: str) -> bool:
    flat = _SEPARATORS.sub("", name.lower())
    return any(part in flat for part in _SECRET_PARTS)


def strip_secrets(value: Any) -> Any:
    """``value`` with every mapping key named like a secret removed (recursively); NaN -> None.

    Binance payloads carry no keys, but a payload is stored as given, so this is the last guard.
    """
    if isinstance(value, Mapping):
        return {str(k): strip_secrets(v) for k, v in value.items() if not _is_secret(str(k))}
    if isinstance(value, (list, tuple)):
        return [strip_secrets(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def to_json(value: Any) -> str | None:
    """JSON text of ``value`` with secrets stripped; ``None`` stays ``None`` (SQL NULL)."""
    if value is None:
        return None
    return json.dumps(strip_secrets(value), default=_json_default, separators=(",", ":"))


_GET_FIELDS = operator.attrgetter(*ORDER_FIELDS)


def stage_frame(orders: Sequence[Order]) -> pd.DataFrame:
    """The orders as one DataFrame for a DuckDB scan (``raw`` as JSON text, ``_seq`` = input order).

    ``_raw_event`` is the raw payload of this update only (the ``raw`` column may later be
    coalesced with the stored one).
    """
    rows = [_GET_FIELDS(o) for o in orders]
    data: dict[str, Any] = {}
    for i, col in enumerate(ORDER_FIELDS):
        values = [row[i] for row in rows]
        if col == "raw":
            data[col] = pd.Series([to_json(v) for v in values], dtype=object)
        elif col in _TEXT_FIELDS:
            data[col] = pd.Series(
                [v.value if isinstance(v, enum.Enum) else v for v in values], dtype=object
            )
        elif col in _FLOAT_FIELDS:
            data[col] = pd.Series(values, dtype=object).astype("float64")
        elif col in _TIME_FIELDS:
            data[col] = pd.to_datetime(pd.Series(values, dtype=object), utc=True)
        elif col in ("error_code", "position"):
            data[col] = pd.Series(values, dtype=object).astype("Int64")
        else:  # reduce_only, placed
            data[col] = pd.Series(values, dtype=object).astype("boolean")
    data["_raw_event"] = data["raw"]
    data["_seq"] = pd.RangeIndex(len(rows))
    frame: pd.DataFrame = pd.DataFrame(data, index=pd.RangeIndex(len(rows)))
    return frame


def na_to_none(value: Any) -> Any:
    """``None`` for any missing value (None, NaN, NaT, pd.NA); other values unchanged."""
    if value is None or value is pd.NaT:
        return None
    try:
        return None if bool(pd.isna(value)) else value
    except (TypeError, ValueError):
        return value


def orders_from_frame(frame: pd.DataFrame) -> list[Order]:
    """``Order`` records (store-only fields included) from a query over all ``ORDER_FIELDS``."""
    orders: list[Order] = []
    for rec in frame.to_dict("records"):
        kw: dict[str, Any] = {str(k): na_to_none(v) for k, v in rec.items()}
        kw["status"] = OrderStatus(kw["status"])
        for col in _FLOAT_FIELDS:
            if kw[col] is not None:
                kw[col] = float(kw[col])
        for col in ("error_code", "position"):
            if kw[col] is not None:
                kw[col] = int(kw[col])
        for col in ("reduce_only", "placed"):
            if kw[col] is not None:
                kw[col] = bool(kw[col])
        for col in _TIME_FIELDS:
            kw[col] = None if kw[col] is None else to_utc(kw[col])
        kw["raw"] = None if kw["raw"] is None else json.loads(kw["raw"])
        kw["placed"] = True if kw["placed"] is None else kw["placed"]
        orders.append(Order(**kw))
    return orders


@dataclass(frozen=True, kw_only=True)
class BatchRecord:
    """One row of the ``batches`` table.

    ``params`` are the caller's parameters of ``tk.batch`` (JSON-able, secrets stripped on
    write), ``papermill`` the notebook's papermill parameters when run under papermill, ``counts``
    the outcome counts by status once the batch is finished.

    Example::

        >>> import pandas as pd
        >>> rec = BatchRecord(batch_id="b1", key="rebalance", n_orders=2,
        ...                   created_at=pd.Timestamp("2026-11-25", tz="UTC"))
        >>> rec.finished_at is None
        True
    """

    batch_id: str
    key: str | None = None
    created_at: pd.Timestamp
    n_orders: int
    fingerprint: str | None = None
    exchange: str | None = None
    market: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    papermill: Mapping[str, Any] | None = None
    counts: Mapping[str, int] | None = None
    finished_at: pd.Timestamp | None = None
    #: The server the batch is sent to (see ``Session.venue``); ``None`` in stores older than
    #: schema version 2.
    venue: str | None = None


def to_utc(value: Any) -> pd.Timestamp:
    """``value`` as a UTC timestamp (naive times are taken as UTC)."""
    ts = pd.Timestamp(value)
    out: pd.Timestamp = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return out


def to_order_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A query result over ``COLUMNS`` in the order frame's exact dtypes, with a RangeIndex."""
    out = frame.reset_index(drop=True)
    for col, dtype in DTYPES.items():
        if col in ("created_at", "updated_at"):
            out[col] = pd.to_datetime(out[col], utc=True).astype(dtype)
        elif col == "error_code":
            out[col] = pd.to_numeric(out[col]).astype(dtype)
        else:
            out[col] = out[col].astype(dtype)
    result: pd.DataFrame = out[list(COLUMNS)]
    return result


def batch_from_row(row: Mapping[str, Any]) -> BatchRecord:
    """A ``BatchRecord`` from one row of ``SELECT`` over the ``batches`` columns."""
    clean = na_to_none

    def load(value: Any) -> Any:
        value = clean(value)
        return None if value is None else json.loads(value)

    finished = clean(row["finished_at"])
    return BatchRecord(
        batch_id=str(row["batch_id"]),
        key=clean(row["key"]),
        created_at=to_utc(row["created_at"]),
        n_orders=int(row["n_orders"]),
        fingerprint=clean(row["fingerprint"]),
        exchange=clean(row["exchange"]),
        market=clean(row["market"]),
        params=load(row["params"]) or {},
        papermill=load(row["papermill"]),
        counts=load(row["counts"]),
        finished_at=None if finished is None else to_utc(finished),
        venue=clean(row.get("venue")),
    )
