"""The DuckDB store: the system of record for orders, their events and batches.

Schema (created idempotently on first open; ``toolkit_meta`` holds ``schema_version``)::

    orders         current state, one row per order
      client_order_id VARCHAR PRIMARY KEY, order_id, exchange, market, symbol, side, type,
      time_in_force VARCHAR, price, stop_price, qty, filled_qty, avg_price DOUBLE,
      status VARCHAR, reduce_only BOOLEAN, error_code BIGINT, error_msg, batch_id, key VARCHAR,
      created_at, updated_at TIMESTAMPTZ,         -- the order frame's columns, in its order
      position INTEGER,                           -- row of the order in its batch (0-based)
      placed BOOLEAN,                             -- false: proven never to reach the exchange
      not_after TIMESTAMPTZ,                      -- the request is never sent after this instant
      raw JSON                                    -- the last exchange payload (secrets stripped)
      venue VARCHAR                               -- the server it was sent to (schema v2)

    order_events   append-only, one row per real state change
      event_id BIGINT PRIMARY KEY (sequence), client_order_id VARCHAR, ts TIMESTAMPTZ,
      event VARCHAR,     -- submitted, invalid, accepted, partially_filled, filled, canceled,
                         -- rejected, expired, unknown (still PENDING), reconciled, not_placed
      status VARCHAR, filled_qty DOUBLE,
      source VARCHAR,    -- submit, response, query, stream, reconcile, cancel, refresh
      raw JSON

    batches        one row per batch
      batch_id VARCHAR PRIMARY KEY, key VARCHAR UNIQUE (NULLs allowed), created_at TIMESTAMPTZ,
      n_orders INTEGER, fingerprint VARCHAR, exchange VARCHAR, market VARCHAR,
      params JSON (the caller's parameters), papermill JSON (the notebook's papermill parameters),
      counts JSON (outcome counts by status), finished_at TIMESTAMPTZ, venue VARCHAR

Two processes, one file: DuckDB lets one process hold a database file at a time, so the store
never keeps the file open between operations. Each method opens a connection, does its work in
one transaction and closes it; a lock conflict is retried with jittered exponential backoff
(:data:`DEFAULT_RETRY`) before :class:`~toolkit.StoreError` names the file. Connecting costs about
20 ms, so every method works on a whole batch of orders at once. ``":memory:"`` keeps one
connection for the life of the store (a memory database vanishes with its connection).

Example::

    >>> from toolkit._store import Store
    >>> store = Store(":memory:")
    >>> store.orders().shape[0]
    0
    >>> store.close()
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import duckdb
import pandas as pd

from ._exceptions import StoreError
from ._frame import COLUMNS
from ._models import OPEN_STATUSES, Order, OrderStatus
from ._store_db import DEFAULT_RETRY, Database, RetryPolicy
from ._store_schema import (
    DDL,
    EVENT_SQL,
    ORDER_FIELDS,
    SCHEMA_VERSION,
    SOURCES,
    STAGE_SELECT,
    BatchRecord,
    batch_from_row,
    orders_from_frame,
    stage_frame,
    to_json,
    to_order_frame,
    to_utc,
)

__all__ = ["DEFAULT_RETRY", "BatchRecord", "RetryPolicy", "Store"]

_T = TypeVar("_T")
_BATCH_FIELDS = (
    "batch_id, key, created_at, n_orders, fingerprint, exchange, market, params, papermill, "
    "counts, finished_at, venue"
)
# Columns compared to decide whether an update is a real change (and gets an event).
_CHANGE_FIELDS = (
    "status", "order_id", "filled_qty", "avg_price", "price", "stop_price", "qty",
    "error_code", "error_msg", "placed", "not_after",
)  # fmt: skip
# Columns an update may leave unknown (NULL): the stored value is kept. The others are replaced.
_KEEP_IF_NULL = frozenset(ORDER_FIELDS) - {
    "client_order_id", "status", "error_code", "error_msg", "placed", "created_at", "updated_at",
}  # fmt: skip
_ORDER_BY = "created_at, batch_id, position, client_order_id"


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, (str, OrderStatus)):
        value = [value]
    return [v.value if isinstance(v, OrderStatus) else v for v in value]


def _filters(
    *,
    status: str | OrderStatus | Iterable[str | OrderStatus] | None = None,
    symbol: str | Iterable[str] | None = None,
    key: str | None = None,
    since: Any = None,
    batch_id: str | None = None,
    open_only: bool = False,
    client_order_ids: Iterable[str] | None = None,
    order_ids: Iterable[str] | None = None,
    exchange: str | None = None,
    market: str | None = None,
    venue: str | None = None,
) -> tuple[list[str], list[Any]]:
    """The WHERE terms (ANDed) and parameters of the order filters of ``orders``/``records``."""
    where: list[str] = []
    params: list[Any] = []

    def any_of(column: str, values: list[Any]) -> None:
        where.append(f"{column} IN (SELECT unnest(?::VARCHAR[]))")
        params.append(values)

    if status is not None:
        any_of("status", _as_list(status))
    if open_only:
        any_of("status", sorted(s.value for s in OPEN_STATUSES))
    if symbol is not None:
        any_of("symbol", _as_list(symbol))
    if client_order_ids is not None:
        any_of("client_order_id", list(client_order_ids))
    if order_ids is not None:
        ids = list(order_ids)
        where.append(
            "(client_order_id IN (SELECT unnest(?::VARCHAR[]))"
            " OR order_id IN (SELECT unnest(?::VARCHAR[])))"
        )
        params.extend([ids, ids])
    for column, value in (
        ("key", key),
        ("batch_id", batch_id),
        ("exchange", exchange),
        ("market", market),
        ("venue", venue),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        where.append("created_at >= ?")
        params.append(to_utc(since))
    return where, params


class Store:
    """The DuckDB store (schema in the module docstring). Sync: call it from a worker thread.

    Every method is one transaction on a short-lived connection, so two processes (a notebook
    and a papermill job) can share one file.

    Example::

        >>> store = Store(":memory:")
        >>> store.sql("select count(*) as n from orders").to_dict("records")
        [{'n': 0}]
        >>> store.close()
    """

    def __init__(self, path: str | os.PathLike[str], *, retry: RetryPolicy = DEFAULT_RETRY) -> None:
        self._db = Database(path, retry=retry)
        #: The store file, or ``None`` for ``":memory:"``.
        self.path = self._db.path
        self._run(self._create_schema, "create the schema")

    def __repr__(self) -> str:
        state = " closed" if self._db.closed else ""
        return f"<Store {self._db.name!r}{state}>"

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the store (idempotent); later calls raise ``StoreError``."""
        self._db.close()

    def _run(
        self,
        work: Callable[[duckdb.DuckDBPyConnection], _T],
        what: str,
        stage: pd.DataFrame | None = None,
    ) -> _T:
        return self._db.run(work, what, stage)

    @staticmethod
    def _create_schema(con: duckdb.DuckDBPyConnection) -> None:
        for statement in DDL:
            con.execute(statement)
        con.execute(
            "INSERT INTO toolkit_meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
            [str(SCHEMA_VERSION)],
        )
        row = con.execute("SELECT value FROM toolkit_meta WHERE name = 'schema_version'").fetchone()
        found = int(row[0]) if row else SCHEMA_VERSION
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"the store has schema version {found}; this toolkit knows up to {SCHEMA_VERSION}"
                " (upgrade toolkit)"
            )
        if found < SCHEMA_VERSION:  # the DDL above migrated it (ADD COLUMN IF NOT EXISTS)
            con.execute(
                "UPDATE toolkit_meta SET value = ? WHERE name = 'schema_version'",
                [str(SCHEMA_VERSION)],
            )

    # -- writes -----------------------------------------------------------------------------------

    def record_batch(self, batch: BatchRecord, orders: Sequence[Order]) -> None:
        """Write-ahead: the batch row, every order row and one event each, in one transaction.

        Orders are written as given (normally ``PENDING``, or ``INVALID`` for rows that failed
        validation), with the batch's id and key where theirs are missing. A key or client order
        id that is already stored raises ``StoreError`` and writes nothing.

        Example::

            store.record_batch(BatchRecord(batch_id=bid, key="rebalance", n_orders=len(orders),
                                           created_at=now), orders)
        """
        stage = stage_frame(orders)

        def work(con: duckdb.DuckDBPyConnection) -> None:
            if batch.key is not None:
                found = con.execute(
                    "SELECT batch_id FROM batches WHERE key = ?", [batch.key]
                ).fetchone()
                if found:
                    raise StoreError(
                        f"batch key {batch.key!r} is already recorded (batch {found[0]})"
                    )
            con.execute(
                f"INSERT INTO batches ({_BATCH_FIELDS}) VALUES ({', '.join(['?'] * 12)})",
                [
                    batch.batch_id,
                    batch.key,
                    to_utc(batch.created_at),
                    batch.n_orders,
                    batch.fingerprint,
                    batch.exchange,
                    batch.market,
                    to_json(dict(batch.params)),
                    to_json(batch.papermill),
                    to_json(batch.counts),
                    None if batch.finished_at is None else to_utc(batch.finished_at),
                    batch.venue,
                ],
            )
            fill = {
                "batch_id": "coalesce(batch_id, $batch_id) AS batch_id",
                "key": "coalesce(key, $key) AS key",
                "created_at": "coalesce(created_at, $created_at) AS created_at",
                "updated_at": "coalesce(updated_at, created_at, $created_at) AS updated_at",
            }
            cols = ", ".join(fill.get(c, c) for c in ORDER_FIELDS)
            params = {
                "batch_id": batch.batch_id,
                "key": batch.key,
                "created_at": to_utc(batch.created_at),
            }
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _tk_new AS SELECT {cols}, _raw_event, _seq"
                f" FROM ({STAGE_SELECT})",
                params,
            )
            names = ", ".join(ORDER_FIELDS)
            con.execute(
                f"INSERT INTO orders ({names}, venue) SELECT {names}, $venue FROM _tk_new",
                {"venue": batch.venue},
            )
            event = EVENT_SQL.replace("old_placed", "NULL").replace("old_status", "NULL")
            con.execute(
                "INSERT INTO order_events (client_order_id, ts, event, status, filled_qty,"
                f" source, raw) SELECT client_order_id, updated_at, {event}, status,"
                " filled_qty, $source, _raw_event FROM _tk_new ORDER BY _seq",
                {"source": "submit"},
            )
            con.execute("DROP TABLE _tk_new")  # a failure rolls it back with the rest

        self._run(work, "record the batch", stage)

    def apply(
        self,
        orders: Sequence[Order],
        *,
        source: str,
        venue: str | None = None,
        finish: str | None = None,
    ) -> None:
        """Upsert the current state of ``orders`` and append one event per real change.

        A field left ``None`` by the update (order id, symbol data, batch, position, raw...)
        keeps its stored value; ``status``, ``error_code``, ``error_msg`` and ``placed`` are
        always replaced. An update that changes nothing writes nothing. If one client order id
        appears several times, its last state wins. ``venue`` is recorded for orders new to the
        store (a stored order keeps its venue). ``finish`` (a batch id) also finishes that
        batch in the same transaction: its outcome counts by status and its finish time, as
        :meth:`finish_batch` does -- one store round trip instead of two.

        Example::

            store.apply(accepted_orders, source="response", finish=batch_id)
        """
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}; expected one of {sorted(SOURCES)}")
        if not orders:
            if finish is not None:
                self._run(lambda con: self._finish(con, finish, None), "finish the batch")
            return
        stage = stage_frame(orders).drop_duplicates("client_order_id", keep="last")

        merged = ", ".join(
            f"coalesce(i.{c}, o.{c}) AS {c}" if c in _KEEP_IF_NULL else f"i.{c} AS {c}"
            for c in ORDER_FIELDS
            if c not in ("created_at", "updated_at")
        )
        changed = " OR ".join(f"m.{c} IS DISTINCT FROM m.old_{c}" for c in _CHANGE_FIELDS)
        old = ", ".join(f"o.{c} AS old_{c}" for c in _CHANGE_FIELDS)
        names = ", ".join(ORDER_FIELDS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in ORDER_FIELDS if c != "client_order_id")

        def work(con: duckdb.DuckDBPyConnection) -> None:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _tk_changed AS SELECT m.* FROM ("
                f" SELECT {merged},"
                " coalesce(o.created_at, i.created_at, i.updated_at, now()) AS created_at,"
                " coalesce(i.updated_at, now()) AS updated_at,"
                f" {old}, o.client_order_id IS NULL AS is_new, i._raw_event, i._seq"
                f" FROM ({STAGE_SELECT}) AS i LEFT JOIN orders AS o"
                " ON o.client_order_id = i.client_order_id"
                f") AS m WHERE m.is_new OR {changed}"
            )
            con.execute(
                "INSERT INTO order_events (client_order_id, ts, event, status, filled_qty,"
                f" source, raw) SELECT client_order_id, updated_at, {EVENT_SQL}, status,"
                " filled_qty, $source, _raw_event FROM _tk_changed ORDER BY _seq",
                {"source": source},
            )
            con.execute(
                f"INSERT INTO orders ({names}, venue) SELECT {names}, $venue FROM _tk_changed"
                f" ON CONFLICT (client_order_id) DO UPDATE SET {updates}",
                {"venue": venue},
            )
            con.execute("DROP TABLE _tk_changed")
            if finish is not None:
                self._finish(con, finish, None)

        self._run(work, "apply order updates", stage)

    def claim_unplaced(
        self, batch_id: str, client_order_ids: Sequence[str], not_after: pd.Timestamp
    ) -> list[str]:
        """Re-arm orders of a batch proven not placed, atomically; returns the ids claimed.

        In one transaction, each of ``client_order_ids`` that is still ``placed = FALSE`` becomes
        ``PENDING``, ``placed = TRUE`` with the new ``not_after`` (a ``submitted`` event each).
        Two re-runs of one key -- in one process or two -- race here: an order is claimed by
        exactly one of them, and only the claimer may send it.

        Example::

            for cid in store.claim_unplaced(bid, ids, not_after): ...  # send these only
        """
        if not client_order_ids:
            return []
        ids = list(dict.fromkeys(client_order_ids))

        def work(con: duckdb.DuckDBPyConnection) -> list[str]:
            rows = con.execute(
                "UPDATE orders SET placed = TRUE, status = 'PENDING', error_code = NULL,"
                " error_msg = NULL, not_after = ?, updated_at = now()"
                " WHERE batch_id = ? AND NOT placed"
                " AND client_order_id IN (SELECT unnest(?::VARCHAR[]))"
                " RETURNING client_order_id",
                [to_utc(not_after), batch_id, ids],
            ).fetchall()
            claimed = [str(r[0]) for r in rows]
            if claimed:
                con.execute(
                    "INSERT INTO order_events (client_order_id, ts, event, status, filled_qty,"
                    " source, raw) SELECT client_order_id, updated_at, 'submitted', status,"
                    " filled_qty, 'submit', NULL FROM orders"
                    " WHERE client_order_id IN (SELECT unnest(?::VARCHAR[]))",
                    [claimed],
                )
            order = {cid: i for i, cid in enumerate(ids)}
            return sorted(claimed, key=order.__getitem__)

        return self._run(work, "claim orders not placed")

    def _finish(
        self, con: duckdb.DuckDBPyConnection, batch_id: str, counts: Mapping[str, int] | None
    ) -> None:
        """Record a batch's outcome counts (by default: of its stored rows) and finish time."""
        if counts is None:
            rows = con.execute(
                "SELECT status, count(*) FROM orders WHERE batch_id = ? GROUP BY status"
                " ORDER BY status",
                [batch_id],
            ).fetchall()
            counts = {str(status): int(n) for status, n in rows}
        row = con.execute(
            "UPDATE batches SET counts = ?, finished_at = now() WHERE batch_id = ?",
            [to_json(dict(counts)), batch_id],
        ).fetchone()
        if not row or not row[0]:
            raise StoreError(f"no batch {batch_id!r} in the store {self._db.name}")

    def finish_batch(self, batch_id: str, counts: Mapping[str, int]) -> None:
        """Store the batch's outcome counts (e.g. ``{"NEW": 98, "REJECTED": 2}``) and finish time.

        Example::

            store.finish_batch(bid, {"NEW": 98, "REJECTED": 2})
        """

        self._run(lambda con: self._finish(con, batch_id, counts), "finish the batch")

    # -- reads ------------------------------------------------------------------------------------

    def find_batch(self, key: str) -> BatchRecord | None:
        """The batch recorded with ``key``, or ``None``.

        Example::

            if (prev := store.find_batch("rebalance-2026-11-25")) is not None:
                stored = store.batch_orders(prev.batch_id)
        """
        return self._batch("key", key)

    def get_batch(self, batch_id: str) -> BatchRecord | None:
        """The batch with ``batch_id``, or ``None``.

        Example::

            store.get_batch(bid).counts
        """
        return self._batch("batch_id", batch_id)

    def _batch(self, column: str, value: str) -> BatchRecord | None:
        def work(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
            return con.execute(
                f"SELECT {_BATCH_FIELDS} FROM batches WHERE {column} = ?", [value]
            ).df()

        frame = self._run(work, "read a batch")
        if frame.empty:
            return None
        return batch_from_row({str(k): v for k, v in frame.iloc[0].to_dict().items()})

    def batch_orders(self, batch_id: str) -> list[Order]:
        """The stored orders of a batch, in input order (by position).

        Example::

            [o.status for o in store.batch_orders(bid)]
        """
        return self._orders("batch_id = ?", [batch_id], "position, client_order_id")

    def pending(
        self,
        *,
        exchange: str | None = None,
        market: str | None = None,
        venue: str | None = None,
    ) -> list[Order]:
        """Orders still ``PENDING`` (outcome unknown), oldest first: the ones to reconcile.

        ``venue`` keeps the orders sent to that server only (testnet and mainnet are both
        ``"binance"``; only the server an order went to can say what became of it).

        Example::

            for order in store.pending(exchange="paper", market="spot", venue=url): ...
        """
        return self.records(
            status=OrderStatus.PENDING, exchange=exchange, market=market, venue=venue
        )

    def records(self, **filters: Any) -> list[Order]:
        """Stored orders as ``Order`` records (store-only fields included), oldest first.

        Takes the filters of :meth:`orders`; ``order_ids`` matches client order ids *or* order
        ids given in it.

        Example::

            store.records(open_only=True, exchange="paper", market="spot")
        """
        where, params = _filters(**filters)
        return self._orders(" AND ".join(where) or "TRUE", params, _ORDER_BY)

    def _orders(self, where: str, params: list[Any], order_by: str) -> list[Order]:
        query = f"SELECT {', '.join(ORDER_FIELDS)} FROM orders WHERE {where} ORDER BY {order_by}"
        frame = self._run(lambda con: con.execute(query, params).df(), "read orders")
        return orders_from_frame(frame)

    def orders(
        self,
        *,
        status: str | OrderStatus | Iterable[str | OrderStatus] | None = None,
        symbol: str | Iterable[str] | None = None,
        key: str | None = None,
        since: Any = None,
        batch_id: str | None = None,
        open_only: bool = False,
        client_order_ids: Iterable[str] | None = None,
        **more: Any,
    ) -> pd.DataFrame:
        """Stored orders as an order frame (RangeIndex), oldest first.

        ``since`` keeps orders created at or after it (naive times are UTC); ``open_only`` keeps
        NEW and PARTIALLY_FILLED orders. Also: ``exchange``, ``market``, ``venue``, ``order_ids``.

        Example::

            store.orders(status="FILLED", symbol="BTCUSDT", since="2026-11-25")
        """
        where, params = _filters(
            status=status,
            symbol=symbol,
            key=key,
            since=since,
            batch_id=batch_id,
            open_only=open_only,
            client_order_ids=client_order_ids,
            **more,
        )
        query = f"SELECT {', '.join(COLUMNS)} FROM orders"
        if where:
            query += " WHERE " + " AND ".join(where)
        query += f" ORDER BY {_ORDER_BY}"
        frame = self._run(lambda con: con.execute(query, params).df(), "read orders")
        return to_order_frame(frame)

    def sql(
        self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """Run any SQL on the store and return the result as a DataFrame (empty if none).

        Example::

            store.sql("select status, count(*) as n from orders group by status")
        """

        def work(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
            cursor = con.execute(query, params)
            description: Any = cursor.description
            if description is None:
                empty: pd.DataFrame = pd.DataFrame(index=pd.RangeIndex(0))
                return empty
            result: pd.DataFrame = cursor.df()
            return result

        frame: pd.DataFrame = self._run(work, "run the query").reset_index(drop=True)
        return frame

    def export(self, path: str | os.PathLike[str]) -> Path:
        """Write ``orders``, ``order_events`` and ``batches`` as Parquet partitioned by UTC date.

        Layout: ``path/orders/date=YYYY-MM-DD/*.parquet`` (by ``created_at``),
        ``path/order_events/date=.../`` (by ``ts``), ``path/batches/date=.../`` (by
        ``created_at``). A table's previous export under ``path`` is replaced. Returns ``path``.

        Example::

            duckdb.sql("select * from read_parquet('out/orders/*/*.parquet', hive_partitioning=1)")
        """
        root = Path(path).expanduser().absolute()
        root.mkdir(parents=True, exist_ok=True)
        scratch = root / f".export-{uuid.uuid4().hex}"
        tables = {"orders": "created_at", "order_events": "ts", "batches": "created_at"}

        def work(con: duckdb.DuckDBPyConnection) -> None:
            for table, column in tables.items():
                target = str(scratch / table).replace("'", "''")
                con.execute(
                    f"COPY (SELECT *, CAST({column} AS DATE) AS date FROM {table}) TO '{target}'"
                    " (FORMAT PARQUET, PARTITION_BY (date), OVERWRITE_OR_IGNORE)"
                )

        try:
            scratch.mkdir()
            self._run(work, "export to Parquet")
            for table in tables:
                final = root / table
                if final.exists():
                    shutil.rmtree(final)
                if (scratch / table).exists():
                    (scratch / table).rename(final)
                else:  # an empty table writes no partition
                    final.mkdir()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return root
