"""The store: the journal (durable write-ahead, on the critical path) and DuckDB (the record
users query, written from the journal in the background).

Two files per store: ``toolkit.duckdb`` and ``toolkit.duckdb.journal`` (SQLite in WAL mode, see
:mod:`toolkit.store._journal`). Every write -- a batch's write-ahead, an exchange answer, a stream
update, a claim of rows not placed -- is one fsync'd journal transaction (well under a
millisecond; several in flight share one commit). The session's own reads (a key's batch,
pending orders, ``tk.orders()``) read the journal, so they see every write at once. ``sql``
and ``export`` read DuckDB after writing into it what the journal holds (read-your-writes);
the background projection (:mod:`toolkit.store._projection`) keeps DuckDB about a second behind at
most for other programs. A final order leaves the journal once DuckDB holds it and the
retention (``retention``, default 7 days) has passed; reads that may reach it read DuckDB too.

DuckDB schema (created or migrated on first open; ``toolkit_meta`` holds ``schema_version``
and ``journal_id``)::

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
      algo_id VARCHAR                             -- USD-M conditional: the algo id (schema v3)

    order_events   append-only, one row per real state change
      event_id BIGINT PRIMARY KEY (the journal's), client_order_id VARCHAR, ts TIMESTAMPTZ,
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

Several processes, one store: the journal arbitrates keys and claims across processes (SQLite
``BEGIN IMMEDIATE``), and the DuckDB file is held only for one projection flush or one query at
a time. ``":memory:"`` keeps both in memory for the life of the store.

Example::

    >>> from toolkit.store._store import Store
    >>> store = Store(":memory:")
    >>> store.orders().shape[0]
    0
    >>> store.close()
"""

from __future__ import annotations

import concurrent.futures
import inspect
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import duckdb
import pandas as pd

from ..core._exceptions import ConfigError, InputError, StoreError, TradingHalted
from ..core._input import exchange_symbol
from ..core._models import OPEN_STATUSES, Order, OrderStatus
from ._archive import ARCHIVE_EVERY, Archiver
from ._journal import ARCHIVABLE, JSON_IDS, Journal, Refusal, journal_path
from ._journal_rows import ROW_FIELDS, frame_from_rows, order_from_row, to_micros
from ._projection import DEFAULT_DELAY, ORDER_ROWS, Projection, load_journal_rows
from ._store_db import DEFAULT_RETRY, Database, RetryPolicy
from ._store_schema import SOURCES, BatchRecord, to_utc

__all__ = [
    "DEFAULT_RETENTION", "DEFAULT_RETENTION_DAYS", "DEFAULT_RETRY", "MAX_RETENTION_DAYS",
    "BatchRecord", "Halt", "RetryPolicy", "Store", "retention_from_days",
]  # fmt: skip

_ORDER_BY = "created_at, batch_id, position, client_order_id"
_SORT = tuple(ROW_FIELDS.index(c) for c in _ORDER_BY.split(", "))
_IN_BATCH = tuple(ROW_FIELDS.index(c) for c in ("position", "client_order_id"))
#: How long a final order stays in the journal once DuckDB holds it (then it is archived: read
#: from DuckDB, its id kept in the journal).
DEFAULT_RETENTION_DAYS = 7.0
DEFAULT_RETENTION = pd.Timedelta(days=DEFAULT_RETENTION_DAYS)
#: The longest retention, in days (a ``pd.Timedelta`` holds about 292 years).
MAX_RETENTION_DAYS = 100_000


def retention_from_days(days: object, name: str = "journal_days") -> pd.Timedelta | None:
    """``days`` as a retention (``None``: never archive); ``ConfigError`` naming ``name``
    unless it is a number of days from 0 below :data:`MAX_RETENTION_DAYS` (or ``None``).

    Example::

        >>> retention_from_days(7)
        Timedelta('7 days 00:00:00')
    """
    if days is None:
        return None
    if (
        isinstance(days, (int, float))
        and not isinstance(days, bool)
        and 0 <= days < MAX_RETENTION_DAYS
    ):
        kept: pd.Timedelta = pd.Timedelta(days=float(days))
        return kept
    raise ConfigError(
        f"{name} must be a number of days from 0 to {MAX_RETENTION_DAYS:,} (or None: never),"
        f" not {days!r}"
    )
_HALT = "halt"


@dataclass(frozen=True)
class Halt:
    """A halt in force: why, and since when (UTC)."""

    reason: str
    since: pd.Timestamp

    def to_json(self) -> str:
        """The halt as the journal's ``meta`` entry stores it."""
        return json.dumps({"reason": self.reason, "since": self.since.isoformat()})

    @staticmethod
    def from_json(text: str) -> Halt:
        """The halt stored as ``text`` (:meth:`to_json`). An entry this release cannot read
        (another release's, a damaged one) is still a halt: a guard fails closed. Its reason
        says so, and its time is unknown (the epoch); ``tk.resume()`` lifts it as any other."""
        try:
            data = json.loads(text)
            return Halt(reason=str(data["reason"]), since=pd.Timestamp(data["since"]))
        except (ValueError, TypeError, KeyError):
            return Halt(reason=f"unreadable halt entry {text[:80]!r}", since=_EPOCH)


_EPOCH = pd.Timestamp(0, tz="UTC")
_T = TypeVar("_T")
#: Statement types ``sql()`` runs without ``write=True``.
_READS = frozenset({"SELECT", "EXPLAIN", "PRAGMA"})


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
    in_duckdb: bool = False,
) -> tuple[list[str], list[Any]]:
    """The WHERE terms (ANDed) and parameters of the order filters of ``orders``/``records``:
    for the journal (SQLite), or ``in_duckdb`` for :data:`ORDER_ROWS` (the same columns)."""
    where: list[str] = []
    params: list[Any] = []

    def one_of(column: str) -> str:
        return f"list_contains(?, {column})" if in_duckdb else f"{column} IN {JSON_IDS}"

    def values(items: list[Any]) -> Any:
        texts = [str(v) for v in items]  # ids are text: 8 finds "8" in both
        return texts if in_duckdb else json.dumps(texts)

    def any_of(column: str, items: list[Any]) -> None:
        where.append(one_of(column))
        params.append(values(items))

    if status is not None:
        any_of("status", _as_list(status))
    if open_only:
        any_of("status", sorted(s.value for s in OPEN_STATUSES))
    if symbol is not None:  # any spelling an order row accepts: "BTC/USDT", "btcusdt"...
        any_of("symbol", [exchange_symbol(s) for s in _as_list(symbol)])
    if client_order_ids is not None:
        any_of("client_order_id", list(client_order_ids))
    if order_ids is not None:
        ids = values(list(order_ids))
        where.append(f"({one_of('client_order_id')} OR {one_of('order_id')})")
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
            params.append(str(value) if in_duckdb else value)
    if since is not None:
        where.append("created_at >= ?")
        params.append(to_micros(to_utc(since)))
    return where, params


_FILTERS = tuple(p for p in inspect.signature(_filters).parameters if p != "in_duckdb")
#: Filters that take several values: read once (an iterator would be spent by the journal).
_LISTS = ("status", "symbol", "client_order_ids", "order_ids")


def _sort_key(positions: tuple[int, ...]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """A row's sort key on the columns at ``positions``, NULLs first (as SQLite sorts)."""

    def key(row: Sequence[Any]) -> tuple[Any, ...]:
        return tuple((row[i] is not None, row[i] if row[i] is not None else 0) for i in positions)

    return key


_in_order = _sort_key(_SORT)
_in_batch = _sort_key(_IN_BATCH)


def _check_filters(filters: Mapping[str, Any]) -> None:
    unknown = sorted(set(filters) - set(_FILTERS))
    if unknown:
        raise InputError(
            f"unknown order filter {', '.join(map(repr, unknown))}; the filters are:"
            f" {', '.join(_FILTERS)}"
        )


class Store:
    """The store (module docstring). Sync: call it from a worker thread.

    ``retention``: how long a final order stays in the journal once DuckDB holds it (then it
    is archived: :mod:`toolkit.store._archive`); ``None`` keeps every order in the journal.
    ``archive_every``: seconds between the background thread's archiving passes (``None``:
    only ``store.archiver.run()``).

    Example::

        >>> store = Store(":memory:")
        >>> store.sql("select count(*) as n from orders").to_dict("records")
        [{'n': 0}]
        >>> store.close()
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        flush_delay: float = DEFAULT_DELAY,
        retention: pd.Timedelta | None = DEFAULT_RETENTION,
        archive_every: float | None = ARCHIVE_EVERY,
    ) -> None:
        self._db = Database(path, retry=retry)
        #: The DuckDB file, or ``None`` for ``":memory:"``.
        self.path = self._db.path
        #: The journal file beside it, or ``None`` for ``":memory:"``.
        self.journal_path = None if self.path is None else journal_path(self.path)
        try:
            self._journal = Journal(self.journal_path)
        except BaseException:
            self._db.close()
            raise
        try:
            journal_id = self._journal.initialize(lambda jid: load_journal_rows(self._db, jid))
            self._projection = Projection(
                self._journal, self._db, journal_id=journal_id, delay=flush_delay
            )
        except BaseException:
            self._journal.close()
            self._db.close()
            raise
        #: Refuses a write-ahead or a claim while a halt is in force (in its own transaction).
        self._unless_halted = Refusal(
            _HALT, lambda text: self.halted_error(Halt.from_json(text))
        )
        self._archiver = Archiver(
            self._journal, self._projection, retention=retention, every=archive_every
        )
        self._journal.on_commit = self._projection.notify
        self._projection.chores = self._archiver.due
        self._projection.start()

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
        """Write what DuckDB lacks (if its file is free), then close (idempotent); later calls
        raise ``StoreError``. What could not be written stays in the journal for next time."""
        if self._journal.closed:
            return
        try:
            self._projection.stop(flush=True)
        finally:
            self._journal.close()
            self._db.close()

    @property
    def projection(self) -> Projection:
        """The background projection into DuckDB (``flush()`` forces one)."""
        return self._projection

    @property
    def archiver(self) -> Archiver:
        """Moves final orders past the retention out of the journal (``run()``: one pass)."""
        return self._archiver

    @property
    def lock_wait(self) -> float:
        """Seconds this process's journal writes waited for other processes' transactions."""
        return self._journal.lock_wait

    # -- writes -----------------------------------------------------------------------------------

    def record_batch(self, batch: BatchRecord, orders: Sequence[Order]) -> None:
        """Write-ahead: the batch row, every order row and one event each, in one transaction.

        Orders are written as given (normally ``PENDING``, or ``INVALID`` for rows that failed
        validation), with the batch's id and key where theirs are missing. A key or client order
        id that is already stored raises ``StoreError`` and writes nothing; so does a halt in
        force when the write runs (``TradingHalted``: checked in the write's own transaction, so
        a halt by another process can never slip in between). Durable (fsync'd) when it
        returns.

        Example::

            store.record_batch(BatchRecord(batch_id=bid, key="rebalance", n_orders=len(orders),
                                           created_at=now), orders)
        """
        self.submit_record_batch(batch, orders).result()

    def submit_record_batch(
        self,
        batch: BatchRecord,
        orders: Sequence[Order],
        *,
        supersedes: tuple[str, str] | None = None,
    ) -> concurrent.futures.Future[None]:
        """:meth:`record_batch` without waiting: the future resolves once the rows are on disk
        (``asyncio.wrap_future`` awaits it without a worker thread).

        ``supersedes`` ``(batch_id, retired_key)``: that batch (an attempt refused before
        anything was sent) gives up the key to this one, in the same transaction, and keeps
        ``retired_key``; if it no longer holds the key (another process took it first), the
        future fails with ``StoreError`` and nothing is written.
        """
        return self._journal.record_batch(
            batch, orders, supersedes=supersedes, refuse_if=self._unless_halted
        )

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
        batch in the same transaction: its outcome counts by status (of its stored rows) and
        its finish time (``StoreError`` if there is no such batch).

        Example::

            store.apply(accepted_orders, source="response", finish=batch_id)
        """
        self.submit_apply(orders, source=source, venue=venue, finish=finish).result()

    def submit_apply(
        self,
        orders: Sequence[Order],
        *,
        source: str,
        venue: str | None = None,
        finish: str | None = None,
    ) -> concurrent.futures.Future[None]:
        """:meth:`apply` without waiting: the future resolves once it is committed. Writes
        commit in the order they are submitted."""
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}; expected one of {sorted(SOURCES)}")
        if not orders and finish is None:
            done: concurrent.futures.Future[None] = concurrent.futures.Future()
            done.set_result(None)
            return done
        return self._journal.apply(orders, source=source, venue=venue, finish=finish)

    def submit_finish_resolved(
        self, batch_ids: Iterable[str]
    ) -> concurrent.futures.Future[list[str]]:
        """Finish (counts, finish time) the batches of ``batch_ids`` that are unfinished and
        have no PENDING order left -- a batch whose process died, once reconciliation decided
        its orders; the future resolves to the ones finished.

        Example::

            store.submit_finish_resolved(["b1"]).result()
        """
        return self._journal.finish_resolved(batch_ids)

    def claim_unplaced(
        self, batch_id: str, client_order_ids: Sequence[str], not_after: pd.Timestamp
    ) -> list[str]:
        """Re-arm orders of a batch proven not placed, atomically; returns the ids claimed.

        In one transaction, each of ``client_order_ids`` that is still ``placed = FALSE`` becomes
        ``PENDING``, ``placed = TRUE`` with the new ``not_after`` (a ``submitted`` event each).
        Two re-runs of one key -- in one process or two -- race here: an order is claimed by
        exactly one of them, and only the claimer may send it. Refused (``TradingHalted``,
        nothing claimed) while a halt is in force, as :meth:`record_batch` is.

        Example::

            for cid in store.claim_unplaced(bid, ids, not_after): ...  # send these only
        """
        return self.submit_claim_unplaced(batch_id, client_order_ids, not_after).result()

    def submit_claim_unplaced(
        self, batch_id: str, client_order_ids: Sequence[str], not_after: pd.Timestamp
    ) -> concurrent.futures.Future[list[str]]:
        """:meth:`claim_unplaced` without waiting (resolves once the claim is on disk)."""
        return self._journal.claim_unplaced(
            batch_id, client_order_ids, not_after, refuse_if=self._unless_halted
        )

    # -- the halt flag: shared by every process using the store ---------------------------------

    def halt(self, reason: str) -> Halt:
        """Halt trading for every process using this store (durable); returns the halt."""
        state = Halt(reason=str(reason), since=pd.Timestamp.now(tz="UTC"))
        self._journal.set_meta(_HALT, state.to_json())
        return state

    def resume(self) -> None:
        """Lift a halt (idempotent)."""
        self._journal.set_meta(_HALT, None)

    def halted(self) -> Halt | None:
        """The halt in force, or ``None`` (a cheap read of the journal: polled while sending)."""
        text = self._journal.meta(_HALT)
        return None if text is None else Halt.from_json(text)

    def halted_error(self, halt: Halt) -> TradingHalted:
        """The error of a batch refused by ``halt`` (what it says to the user)."""
        return TradingHalted(
            f"trading is halted for the store {self._db.name} since {halt.since}"
            f" ({halt.reason}): nothing is sent; tk.resume() lifts it",
            halt.reason,
        )

    # -- reads of the journal (current at once) ---------------------------------------------------

    def find_batch(self, key: str) -> BatchRecord | None:
        """The batch recorded with ``key``, or ``None``.

        Example::

            if (prev := store.find_batch("rebalance-2026-11-25")) is not None:
                stored = store.batch_orders(prev.batch_id)
        """
        return self._journal.find_batch(key)

    def batch_orders(self, batch_id: str) -> list[Order]:
        """The stored orders of a batch, in input order (by position).

        Raises ``StoreError`` if orders of the batch were archived and the DuckDB file lacks
        them (an older copy of it restored): a partial batch is never shown as the batch.

        Example::

            [o.status for o in store.batch_orders(bid)]
        """
        rows = self._journal.order_rows("batch_id = ?", [batch_id], "position, client_order_id")
        if self._journal.archived_before() is not None:  # some may be in DuckDB only
            batch = self._journal.batch("batch_id", batch_id)
            if batch is not None and len(rows) < batch.n_orders:
                rows = sorted(self._with_archived(rows, {"batch_id": batch_id}), key=_in_batch)
                if len(rows) < batch.n_orders:
                    raise StoreError(
                        f"batch {batch_id} has {batch.n_orders} orders but the store shows"
                        f" {len(rows)}: the DuckDB file lacks orders archived from its journal"
                        " (an older copy of it restored?)"
                    )
        return [order_from_row(r) for r in rows]

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

    def taken_ids(self, client_order_ids: Iterable[str]) -> dict[str, str | None]:
        """Which of ``client_order_ids`` the store holds: id -> its batch id (``None`` for an
        archived order). Reads the journal only (never waits for the DuckDB file).

        Example::

            store.taken_ids(["my-1", "my-2"])  # {"my-1": "b-20261201-..."}
        """
        return self._journal.taken([str(i) for i in client_order_ids])

    def records(self, **filters: Any) -> list[Order]:
        """Stored orders as ``Order`` records (store-only fields included), oldest first.

        Takes the filters of :meth:`orders`; ``order_ids`` matches client order ids *or* order
        ids given in it.

        Example::

            store.records(open_only=True, exchange="paper", market="spot")
        """
        return [order_from_row(r) for r in self._order_rows(filters)]

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
        Read from the journal: current at once. Orders archived out of it (final, older than
        the retention) are read from DuckDB, which then waits while another program holds the
        file -- unless the filters exclude them all (``open_only``, open or pending statuses,
        a ``since`` within the retention, ids none of which is archived).

        Example::

            store.orders(status="FILLED", symbol="BTCUSDT", since="2026-11-25")
        """
        filters = dict(
            status=status,
            symbol=symbol,
            key=key,
            since=since,
            batch_id=batch_id,
            open_only=open_only,
            client_order_ids=client_order_ids,
            **more,
        )
        return frame_from_rows(self._order_rows(filters))

    def _order_rows(self, filters: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The order rows (``ROW_FIELDS``) matching ``filters``, oldest first: the journal's,
        and the archived ones from DuckDB when the filters can match any."""
        _check_filters(filters)
        filters = {
            name: list(v) if name in _LISTS and v is not None and not isinstance(v, str) else v
            for name, v in filters.items()
        }
        where, params = _filters(**filters)
        rows = self._journal.order_rows(" AND ".join(where) or "1", params, _ORDER_BY)
        if not self._may_be_archived(filters):
            return rows
        return sorted(self._with_archived(rows, filters), key=_in_order)

    def _may_be_archived(self, filters: Mapping[str, Any]) -> bool:
        """False when no archived order can match ``filters`` (most reads: recent, open or
        pending orders, ids none of which is archived), so that only the journal is read."""
        before = self._journal.archived_before()
        if before is None or filters.get("open_only"):
            return False
        status = filters.get("status")
        if status is not None and not {str(s) for s in _as_list(status)} & ARCHIVABLE:
            return False
        since = filters.get("since")
        if since is not None and to_utc(since) >= before:
            return False
        for name in ("client_order_ids", "order_ids"):  # (a cancel, a wait: live orders)
            ids = filters.get(name)
            if ids is not None and not self._journal.any_archived(str(i) for i in ids):
                return False
        return True

    def _with_archived(
        self, rows: list[tuple[Any, ...]], filters: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        """``rows`` (the journal's) and the archived orders matching ``filters``, read from
        DuckDB (which holds their final version; waits while another program holds it)."""
        where, params = _filters(**filters, in_duckdb=True)
        query = f"SELECT * FROM ({ORDER_ROWS}) WHERE {' AND '.join(where) or 'true'}"

        def work(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
            return con.execute(query, params).fetchall()

        older = self._projection.read(work, "read archived orders")
        missing = self._journal.missing()
        if missing:
            raise StoreError(
                f"the store file {self._db.name} lacks {missing} orders archived from its"
                " journal (it was replaced, or restored from an older copy), so this read"
                " could show fewer orders than were placed. Put back the file that holds them"
                " (the store looks again when it opens), or read only what the journal holds"
                " (open_only=True, or since= within the retention)"
            )
        if not older:
            return rows
        have = {r[0] for r in rows}  # (archived since the journal was read: in both)
        archived = self._journal.archived(r[0] for r in older if r[0] not in have)
        return rows + [r for r in older if r[0] in archived]

    # -- reads of DuckDB (after writing the journal into it) --------------------------------------

    def sql(
        self,
        query: str,
        params: Sequence[Any] | Mapping[str, Any] | None = None,
        *,
        write: bool = False,
    ) -> pd.DataFrame:
        """Run SQL on the store's DuckDB file and return the result as a DataFrame (empty if none).

        Reads only, unless ``write=True``: the toolkit's tables are its record (a changed or
        deleted row would be rewritten from the journal -- or, for an archived order, lost --
        and a deleted batch would still hold its key), so ``write=True`` is for tables of your
        own beside them. The journal is
        written into DuckDB first, so the result includes every write so far. Waits (saying so
        in the log) while another program holds the file.

        Example::

            store.sql("select status, count(*) as n from orders group by status")
            store.sql("create table notes as select 1 as x", write=True)
        """
        self._projection.flush()

        def work(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
            if not write:
                kinds = {s.type.name for s in con.extract_statements(query)}
                if kinds - _READS:
                    raise StoreError(
                        f"tk.sql reads only, and this query would change the store"
                        f" ({', '.join(sorted(kinds - _READS))}); the toolkit's tables are"
                        " rewritten from its journal. For tables of your own, pass write=True"
                    )
            cursor = con.execute(query, params)
            description: Any = cursor.description
            if description is None:
                empty: pd.DataFrame = pd.DataFrame(index=pd.RangeIndex(0))
                return empty
            result: pd.DataFrame = cursor.df()
            return result

        frame: pd.DataFrame = self._db.run(work, "run the query", read_only=not write)
        result: pd.DataFrame = frame.reset_index(drop=True)
        return result

    def duckdb(self, work: Callable[[duckdb.DuckDBPyConnection], _T], what: str) -> _T:
        """Run ``work(con)`` on the DuckDB file in one transaction, after writing the journal
        into it: for the research tables (fills, candles) that are written straight into DuckDB.

        Example::

            store.duckdb(lambda con: con.execute("select count(*) from fills").fetchone(), "count")
        """
        self._projection.flush()
        return self._db.run(work, what)

    def export(self, path: str | os.PathLike[str]) -> Path:
        """Write ``orders``, ``order_events`` and ``batches`` as Parquet partitioned by UTC date.

        Layout: ``path/orders/date=YYYY-MM-DD/*.parquet`` (by ``created_at``),
        ``path/order_events/date=.../`` (by ``ts``), ``path/batches/date=.../`` (by
        ``created_at``). A table's previous export under ``path`` is replaced. Returns ``path``.

        Example::

            duckdb.sql("select * from read_parquet('out/orders/*/*.parquet', hive_partitioning=1)")
        """
        self._projection.flush()
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
            self._db.run(work, "export to Parquet", read_only=True)
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
