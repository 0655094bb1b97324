"""The DuckDB schema of the store and the pure conversions between ``Order`` records and its rows.

No connection is opened here: :mod:`toolkit.store._store` owns the I/O. This module holds the DDL
(see the schema in :mod:`toolkit.store._store`'s docstring), the batch record, the order frame's
dtypes for query results, and the defensive removal of secrets from JSON payloads.

Example::

    >>> from toolkit.store._store_schema import strip_secrets
    >>> strip_secrets({"symbol": "BTCUSDT", "apiKey": "k", "nested": {"signature": "s"}})
    {'symbol': 'BTCUSDT', 'nested': {}}
"""

from __future__ import annotations

import contextlib
import enum
import functools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd

from ..core._exceptions import StoreError
from ..core._frame import COLUMNS, DTYPES

__all__ = [
    "DDL",
    "ORDER_FIELDS",
    "SCHEMA_VERSION",
    "SOURCES",
    "SQL_TYPES",
    "BatchRecord",
    "check_version",
    "strip_secrets",
    "to_json",
    "to_order_frame",
    "to_utc",
]

#: Bumped whenever the DDL or the way the file is written changes; stored in ``toolkit_meta``.
#: Version 2 added ``venue`` to ``orders`` and ``batches``; version 3 moved the write-ahead into
#: the journal beside the file (``toolkit.store._journal``): DuckDB is written only from it, and a
#: release that knows up to version 2 (and would write around the journal) refuses the file.
#: Older files are migrated in place on first open.
SCHEMA_VERSION = 3

#: Where an update came from (the ``source`` column of ``order_events``).
SOURCES: frozenset[str] = frozenset(
    {"submit", "response", "query", "stream", "reconcile", "cancel", "refresh"}
)

#: Columns of the ``orders`` table: the order frame's, then the store-only fields of ``Order``.
ORDER_FIELDS: tuple[str, ...] = (*COLUMNS, "position", "placed", "not_after", "raw", "algo_id")

SQL_TYPES: dict[str, str] = {
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
    "algo_id": "VARCHAR",
}


def _order_columns_ddl() -> str:
    lines = []
    for col in ORDER_FIELDS:
        extra = ""
        if col == "client_order_id":
            extra = " PRIMARY KEY"
        elif col in ("exchange", "market", "symbol", "status", "placed"):
            extra = " NOT NULL"
        lines.append(f"    {col} {SQL_TYPES[col]}{extra}")
    return ",\n".join(lines)


def check_version(found: int) -> int:
    """``found`` if this release can write a store of that schema version, else ``StoreError``."""
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"the store has schema version {found}; this toolkit knows up to {SCHEMA_VERSION}"
            " (upgrade toolkit)"
        )
    return found


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
    key VARCHAR,
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
    # version 3: a USD-M conditional order's algo id beside its (triggered) order id
    "ALTER TABLE orders ADD COLUMN IF NOT EXISTS algo_id VARCHAR",
)

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


@functools.lru_cache(maxsize=1024)  # a payload's keys repeat from answer to answer
def _any_secret_key(keys: tuple[Any, ...]) -> bool:
    return any(not isinstance(k, str) or _is_secret(k) for k in keys)


def _needs_stripping(value: Any) -> bool:
    """True if :func:`strip_secrets` would change ``value`` (a secret key, NaN, a non-dict
    mapping, a tuple): a check that builds nothing, for the common clean payload."""
    if type(value) is dict:
        return _any_secret_key(tuple(value)) or any(
            _needs_stripping(v) for v in value.values() if not isinstance(v, (str, int))
        )
    if type(value) is list:
        return any(_needs_stripping(v) for v in value if not isinstance(v, (str, int)))
    if isinstance(value, float):
        return not math.isfinite(value)
    return isinstance(value, (Mapping, tuple))


def _plain_default(value: Any) -> Any:
    if isinstance(value, Mapping):  # not a dict: the slow path turns it into one
        raise TypeError("mapping")
    return _json_default(value)


_PLAIN = json.JSONEncoder(default=_plain_default, separators=(",", ":"), allow_nan=False)


def to_json(value: Any) -> str | None:
    """JSON text of ``value`` with secrets stripped; ``None`` stays ``None`` (SQL NULL)."""
    if value is None:
        return None
    if not _needs_stripping(value):
        with contextlib.suppress(TypeError, ValueError):  # anything unusual: the slow path
            return _PLAIN.encode(value)
    return json.dumps(strip_secrets(value), default=_json_default, separators=(",", ":"))


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
