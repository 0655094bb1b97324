"""The journal: the store's durable write-ahead record, a SQLite file in WAL mode.

Every write of the store lands here first, on the batch's critical path: one SQLite
transaction. A write-ahead (and a claim of rows to re-send) commits with ``synchronous=FULL``:
the WAL is fsync'd before the commit returns, so no order request leaves before its row is on
disk. Other writes (exchange answers, stream updates) commit without their own fsync: a killed
process loses none of them (the WAL is in the OS's cache), they reach the disk with the next
durable commit, and what a power cut could take is an answer that reconciliation gets again
from the exchange (the row is still ``PENDING``). DuckDB, the record users query, is written
from the journal in the background (:mod:`toolkit.store._projection`).

Tables (``<store>.journal``, beside the DuckDB file, shared by every process using the store)::

    meta      name -> value: journal_id, schema_version, halt (the store's halt flag: a
              write-ahead or a claim given a :class:`Refusal` reads it in its own transaction)
    orders    the current state of every order not archived (the DuckDB ``orders`` columns,
              times as integer microseconds), ``ver`` (bumped on each change) and
              ``projected`` (the ``ver`` DuckDB holds): the rows with ``ver > projected`` are
              still to be projected
    batches   one row per batch, ``key`` UNIQUE: the one arbiter of batch keys across processes
    events    the order events not yet projected (deleted once DuckDB holds them: the log is
              compacted by every projection flush)
    archived  the client order id and order id of every order archived
              (:meth:`Journal.archive`): a row final, of a final batch, older than the store's
              retention and seen in the DuckDB file as it is here leaves ``orders``; its ids
              stay, so that it is never written ahead (sent) again, a late update about it is
              not taken for a new order, and a look-up by id knows to read DuckDB

Writes go through one writer thread per journal that commits every write queued meanwhile in
one transaction (group commit, one fsync for several batches in flight); each write runs in a
savepoint, so one refused write (a reused key) does not undo the others. ``BEGIN IMMEDIATE``
serializes writers of different processes; a write holds the file for a fraction of a
millisecond, so no process waits on another's store work.

A small write that finds the journal idle (nothing queued, nothing committing) is committed on
the caller's thread instead, on a connection of its own that never waits for the file: the
two thread hops of the writer cost more than the SQLite transaction itself (a 5-order batch's
write-ahead: ~0.3 ms inline against ~1 ms through the writer, measured). If another process
holds the file at that moment, the write goes to the writer after all. Writes still commit in
the order they were made: a write goes inline only when none is queued before it.

Example::

    >>> j = Journal(None)
    >>> j.find_batch("nope") is None
    True
    >>> j.close()
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import functools
import json
import logging
import queue
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from ..core._exceptions import StoreError
from ..core._models import DONE_STATUSES, Order
from ._journal_rows import (
    BATCH_FIELDS,
    ROW_FIELDS,
    batch_from_journal,
    batch_row,
    changed,
    counts_json,
    event_name,
    from_micros,
    merge_row,
    order_from_row,
    order_row,
    to_micros,
)
from ._store_schema import BatchRecord

__all__ = [
    "ARCHIVABLE", "FLUSHES", "JOURNAL_SCHEMA_VERSION", "JSON_IDS", "MISSING", "Journal",
    "Pending", "Refusal", "journal_path",
]  # fmt: skip

_log = logging.getLogger("toolkit")
_T = TypeVar("_T")

#: The journal's own schema version (``meta.schema_version``). 2: order rows are archived
#: (``archived``); a release that knows only 1 would miss them, so it is refused.
JOURNAL_SCHEMA_VERSION = 2
#: Seconds a write or read waits for another process's transaction on the journal.
_BUSY_TIMEOUT = 30.0
#: The largest write (in order rows) committed on the caller's thread when the journal is idle;
#: larger ones go to the writer (an I/O loop must not block on a long transaction).
_INLINE_MAX_ROWS = 200
#: Marks per transaction (:meth:`Journal.projected`): up to this many order rows, batch rows
#: and events each.
_MARK_ROWS = 100
#: Order rows archived per transaction (:meth:`Journal.archive`).
_ARCHIVE_ROWS = 100
#: The statuses of the order rows that may leave the journal once projected: final, and never
#: to be sent again (a key's re-run sends again only rows not placed that are not INVALID).
ARCHIVABLE: frozenset[str] = frozenset(s.value for s in DONE_STATUSES)
_ARCHIVABLE = (  # and never claimable: placed, or INVALID (claim_unplaced re-arms neither)
    f"(status IN ({', '.join(repr(s) for s in sorted(ARCHIVABLE))})"
    " AND (placed = 1 OR status = 'INVALID'))"
)
#: ``meta``: the instant (microseconds) before which every archived row was created and updated.
_ARCHIVED_BEFORE = "archived_before"

_ORDER_COLS = ", ".join(ROW_FIELDS)
_BATCH_COLS = ", ".join(BATCH_FIELDS)
_SQL_TYPES = {
    "price": "REAL", "stop_price": "REAL", "qty": "REAL", "filled_qty": "REAL",
    "avg_price": "REAL", "reduce_only": "INTEGER", "error_code": "INTEGER",
    "created_at": "INTEGER", "updated_at": "INTEGER", "position": "INTEGER",
    "placed": "INTEGER NOT NULL", "not_after": "INTEGER",
}  # fmt: skip
_DDL = (
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS orders ("
    + ", ".join(
        f"{c} {_SQL_TYPES.get(c, 'TEXT')}" + (" PRIMARY KEY" if c == "client_order_id" else "")
        for c in ROW_FIELDS
    )
    + ", ver INTEGER NOT NULL DEFAULT 1, projected INTEGER NOT NULL DEFAULT 0)",
    "CREATE INDEX IF NOT EXISTS orders_batch ON orders (batch_id, position)",
    "CREATE INDEX IF NOT EXISTS orders_status ON orders (status)",
    "CREATE INDEX IF NOT EXISTS orders_dirty ON orders (client_order_id) WHERE ver > projected",
    "CREATE TABLE IF NOT EXISTS batches (batch_id TEXT PRIMARY KEY, key TEXT UNIQUE,"
    " created_at INTEGER NOT NULL, n_orders INTEGER NOT NULL, fingerprint TEXT, exchange TEXT,"
    " market TEXT, params TEXT, papermill TEXT, counts TEXT, finished_at INTEGER, venue TEXT,"
    " ver INTEGER NOT NULL DEFAULT 1, projected INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS events (event_id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " client_order_id TEXT NOT NULL, ts INTEGER NOT NULL, event TEXT NOT NULL,"
    " status TEXT NOT NULL, filled_qty REAL, source TEXT NOT NULL, raw TEXT)",
    "CREATE TABLE IF NOT EXISTS archived (client_order_id TEXT PRIMARY KEY, order_id TEXT)"
    " WITHOUT ROWID",
)
_INSERT_ORDER = f"INSERT INTO orders ({_ORDER_COLS}) VALUES ({', '.join('?' * len(ROW_FIELDS))})"
_INSERT_EVENT = (
    "INSERT INTO events (client_order_id, ts, event, status, filled_qty, source, raw)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
#: An SQL list of the values of one JSON array parameter (``IN JSON_IDS``).
JSON_IDS = "(SELECT value FROM json_each(?))"
_ARCHIVED_IN = f"SELECT client_order_id FROM archived WHERE client_order_id IN {JSON_IDS}"
#: ``meta``: the projection flushes DuckDB holds (its ``toolkit_meta.flushes``), as last seen.
FLUSHES = "flushes"
#: ``meta``: how many archived orders the DuckDB file was last found to lack (replaced, or an
#: older copy restored); absent when it holds them all.
MISSING = "archived_missing"

_CID, _UPDATED, _STATUS, _PLACED, _FILLED, _RAW = (
    ROW_FIELDS.index(name)
    for name in ("client_order_id", "updated_at", "status", "placed", "filled_qty", "raw")
)
_BATCH_ID, _KEY, _CREATED = (ROW_FIELDS.index(name) for name in ("batch_id", "key", "created_at"))
_ORDER_ID = ROW_FIELDS.index("order_id")
_UPDATABLE = tuple(i for i, name in enumerate(ROW_FIELDS) if name != "client_order_id")


@functools.lru_cache(maxsize=64)
def _update_order(columns: tuple[int, ...]) -> str:
    """The UPDATE of a stored order row that sets only ``columns`` (``ROW_FIELDS`` positions):
    SQLite then leaves the indexes of the other columns alone (a batch answer changes the
    status, ids, fills, times and payload, never the batch and position)."""
    sets = ", ".join(f"{ROW_FIELDS[i]} = ?" for i in columns)
    return f"UPDATE orders SET {sets}, ver = ver + 1 WHERE client_order_id = ?"


def _write_orders(
    con: sqlite3.Connection, rows: Sequence[tuple[list[Any], Sequence[Any] | None]]
) -> None:
    """Store ``(merged, stored)`` order rows: new ones inserted, stored ones updated in the
    columns that differ (what an upsert of every column would leave stored, for less work)."""
    inserts: list[list[Any]] = []
    updates: dict[tuple[int, ...], list[list[Any]]] = {}
    for merged, stored in rows:
        if stored is None:
            inserts.append(merged)
            continue
        columns = tuple(i for i in _UPDATABLE if merged[i] != stored[i]) or _UPDATABLE
        updates.setdefault(columns, []).append([*(merged[i] for i in columns), merged[_CID]])
    if inserts:
        con.executemany(_INSERT_ORDER, inserts)
    for columns, params in updates.items():
        con.executemany(_update_order(columns), params)


@dataclasses.dataclass(frozen=True)
class Refusal:
    """A write refused while the ``meta`` entry ``name`` is set: it fails with
    ``error(value)`` and writes nothing (the store's halt flag: no write-ahead while halted)."""

    name: str
    error: Callable[[str], BaseException]


def _refuse(con: sqlite3.Connection, refuse_if: Refusal | None) -> None:
    """Raise the refusal's error if its ``meta`` entry is set (read inside the write's
    transaction: no other process can set it between this look and the commit)."""
    if refuse_if is None:
        return
    value = _meta(con, refuse_if.name)
    if value is not None:
        raise refuse_if.error(value)


def _set_meta(con: sqlite3.Connection, name: str, value: Any) -> None:
    """Set the ``meta`` entry ``name`` in ``con``'s transaction."""
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [name, value])


def _meta(con: sqlite3.Connection, name: str) -> str | None:
    """The ``meta`` entry ``name`` as ``con`` sees it, or ``None``."""
    row = con.execute("SELECT value FROM meta WHERE name = ?", [name]).fetchone()
    return None if row is None else str(row[0])


def _archived(con: sqlite3.Connection, client_order_ids: Iterable[str]) -> set[str]:
    """Which of ``client_order_ids`` were archived (:meth:`Journal.archive`)."""
    return {str(r[0]) for r in con.execute(_ARCHIVED_IN, [_json_list(client_order_ids)])}


def journal_path(store: Path) -> Path:
    """The journal file of the DuckDB store file ``store``."""
    return store.with_name(store.name + ".journal")


def _json_list(values: Iterable[Any]) -> str:
    return json.dumps(list(values))


class Pending:
    """What the projection still has to write to DuckDB: a snapshot of the journal."""

    def __init__(
        self,
        orders: list[tuple[Any, ...]],
        batches: list[tuple[Any, ...]],
        events: list[tuple[Any, ...]],
    ) -> None:
        #: Order rows (``ROW_FIELDS``, then ``ver``).
        self.orders = orders
        #: Batch rows (``BATCH_FIELDS``, then ``ver``).
        self.batches = batches
        #: Event rows (event_id, client_order_id, ts, event, status, filled_qty, source, raw).
        self.events = events

    def __bool__(self) -> bool:
        return bool(self.orders or self.batches or self.events)

    def __len__(self) -> int:
        return len(self.orders) + len(self.batches) + len(self.events)


def _settle(
    future: concurrent.futures.Future[Any], value: Any, error: BaseException | None
) -> None:
    """Resolve a write's future; the writer thread must never die of a future's state."""
    with contextlib.suppress(concurrent.futures.InvalidStateError):
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)


class _Writer(threading.Thread):
    """The journal's one writer: group commit of every write queued meanwhile."""

    def __init__(self, journal: Journal) -> None:
        super().__init__(name="toolkit-journal", daemon=True)
        self._journal = journal
        self.queue: queue.SimpleQueue[
            tuple[Callable[[sqlite3.Connection], Any], concurrent.futures.Future[Any]] | None
        ] = queue.SimpleQueue()

    def run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            items = [item]
            stop = False
            while True:  # everything queued meanwhile goes into the same commit
                try:
                    more = self.queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                items.append(more)
            try:
                self._journal._commit_group(items)  # the writer is the journal's own
            except Exception as exc:  # never die: every waiter gets the error
                _log.exception("toolkit: the journal writer failed")
                for _, future in items:
                    _settle(future, None, StoreError(f"the journal writer failed: {exc!r}"))
            finally:
                self._journal._written(len(items))
            if stop:
                return


class Journal:
    """The SQLite journal of one store (module docstring); ``None`` keeps it in memory.

    Thread-safe. Writes run on the journal's writer thread (group commit) and block the caller
    until they are durable; reads run on the caller's thread.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.name = str(path) if path is not None else ":memory:"
        self._closed = False
        deadline = time.monotonic() + _BUSY_TIMEOUT
        while True:
            try:
                self._open(path)
                break
            except sqlite3.OperationalError as exc:
                # Processes opening a new store at once: switching it to WAL needs the file to
                # itself for a moment, and SQLite answers "locked" at once instead of waiting.
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise StoreError(f"cannot open the store journal {self.name}: {exc}") from exc
                time.sleep(random.uniform(0.005, 0.05))
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open the store journal {self.name}: {exc}") from exc
        # each write connection's synchronous setting (FULL when made)
        self._durable = {id(self._write): True, id(self._inline): True}
        #: Transactions committed so far (several writes share one under load: group commit).
        self.commits = 0
        #: Of those, the ones committed on the caller's thread (an idle journal, a small write).
        self.inline_commits = 0
        #: Seconds the writer waited for another process's transaction (``BEGIN IMMEDIATE``).
        self.lock_wait = 0.0
        # writes handed to the writer and not committed yet (guarded by _queue_lock): a write
        # goes inline only when this is 0, so writes commit in the order they were made
        self._queue_lock = threading.Lock()
        self._in_writer = 0
        self._writer = _Writer(self)
        self._writer.start()
        #: Called (no arguments) after every commit that changed something: wakes the projection.
        self.on_commit: Callable[[], None] | None = None

    def _open(self, path: Path | None) -> None:
        """The connections and the tables (closed again if anything fails)."""
        opened: list[sqlite3.Connection] = []
        try:
            if path is None:
                # One connection for reads and writes: a memory database lives in it.
                write = self._connect(f"file:tk-{uuid.uuid4().hex}?mode=memory", uri=True)
                opened.append(write)
                read = flags = inline = write
                self._read_lock = threading.Lock()
                self._write_lock = self._flags_lock = self._read_lock
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                write = self._connect(str(path))
                opened.append(write)
                read = self._connect(str(path))
                opened.append(read)
                # the halt flag is read on the I/O loop while batches send: a connection of its
                # own, never waiting behind a long read (a projection's snapshot)
                flags = self._connect(str(path))
                opened.append(flags)
                # inline commits (module docstring): never waits for another process's write
                inline = self._connect(str(path), timeout=0.0)
                opened.append(inline)
                self._read_lock = threading.Lock()
                self._write_lock = threading.Lock()
                self._flags_lock = threading.Lock()
            for statement in _DDL:
                write.execute(statement)
            have = {row[1] for row in write.execute("PRAGMA table_info(orders)")}
            for name in ROW_FIELDS:  # columns added since the journal was made
                if name not in have:
                    write.execute(f"ALTER TABLE orders ADD COLUMN {name} TEXT")
            if "order_id" not in {row[1] for row in write.execute("PRAGMA table_info(archived)")}:
                write.execute("ALTER TABLE archived ADD COLUMN order_id TEXT")  # (a pre-release)
            write.execute("CREATE INDEX IF NOT EXISTS archived_order_id ON archived (order_id)")
        except BaseException:
            for con in opened:
                con.close()
            raise
        self._write, self._read, self._flags, self._inline = write, read, flags, inline

    def _connect(
        self, target: str, *, uri: bool = False, timeout: float = _BUSY_TIMEOUT
    ) -> sqlite3.Connection:
        con = sqlite3.connect(
            target, uri=uri, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        try:
            if not uri:
                con.execute("PRAGMA journal_mode = WAL")
            # FULL: the WAL is fsync'd at every commit -- the write-ahead is on disk before a
            # request leaves (NORMAL would survive a killed process but not a power cut).
            con.execute("PRAGMA synchronous = FULL")
        except BaseException:
            con.close()
            raise
        return con

    def __repr__(self) -> str:
        return f"<Journal {self.name!r}{' closed' if self._closed else ''}>"

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    @property
    def queued(self) -> int:
        """Writes waiting for the writer (they will share the next commit)."""
        return self._writer.queue.qsize()

    def close(self) -> None:
        """Finish the queued writes and close (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._writer.queue.put(None)
        self._writer.join()
        self._close_connections()

    def _close_connections(self) -> None:
        for con in {
            id(c): c
            for c in (
                getattr(self, "_write", None),
                getattr(self, "_read", None),
                getattr(self, "_flags", None),
                getattr(self, "_inline", None),
            )
            if c is not None
        }.values():
            con.close()

    # -- the writer ---------------------------------------------------------------------------

    def _enqueue(
        self,
        work: Callable[[sqlite3.Connection], _T],
        what: str,
        *,
        quiet: bool = False,
        durable: bool = False,
        rows: int = 1,
    ) -> concurrent.futures.Future[_T]:
        """Commit ``work`` (inline when the journal is idle and it writes at most
        ``_INLINE_MAX_ROWS`` ``rows``, else in the writer's next group commit); the future
        resolves once it is committed.

        ``durable`` writes (a write-ahead, a claim: what must be on disk before a request
        leaves) are fsync'd before the future resolves; the others are safe from a killed
        process at once and reach the disk with the next durable commit -- what a power cut
        could take from them is an exchange answer that reconciliation recovers from the
        exchange. ``quiet`` writes do not wake the projection (its own bookkeeping). Writes
        commit in the order they were made.
        """
        if self._closed:
            raise StoreError(f"the store journal {self.name} is closed; open a new Store")
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()
        future.what = what  # type: ignore[attr-defined]
        future.quiet = quiet  # type: ignore[attr-defined]
        future.durable = durable  # type: ignore[attr-defined]
        # Running from now on: a waiter that gives up (a cancelled task awaiting it through
        # asyncio.wrap_future) cannot cancel the write, which happens anyway.
        future.set_running_or_notify_cancel()
        if rows > _INLINE_MAX_ROWS or not self._commit_inline(work, future):
            self._hand_to_writer(work, future)
        return future

    def _hand_to_writer(
        self, work: Callable[[sqlite3.Connection], Any], future: concurrent.futures.Future[Any]
    ) -> None:
        with self._queue_lock:
            self._in_writer += 1
            self._writer.queue.put((work, future))

    def _written(self, n: int) -> None:
        """The writer committed (or failed) ``n`` writes handed to it."""
        with self._queue_lock:
            self._in_writer -= n

    def _commit_inline(
        self, work: Callable[[sqlite3.Connection], Any], future: concurrent.futures.Future[Any]
    ) -> bool:
        """Commit ``work`` on this thread if nothing is queued or committing; ``False`` if not
        (the writer takes it). Another process holding the file hands it to the writer too."""
        with self._queue_lock:
            if self._in_writer or not self._write_lock.acquire(blocking=False):
                return False
        try:
            con = self._inline
            try:
                self._set_durable(con, bool(getattr(future, "durable", False)))
                con.execute("BEGIN IMMEDIATE")
            except sqlite3.Error:  # busy (another process writes): the writer waits for it
                self._hand_to_writer(work, future)  # still holding the lock: nothing overtakes
                return True
            self.inline_commits += 1
            self._commit([(work, future)], con, begun=True)
        finally:
            self._write_lock.release()
        return True

    def _submit(
        self,
        work: Callable[[sqlite3.Connection], _T],
        what: str,
        *,
        quiet: bool = False,
        durable: bool = False,
    ) -> _T:
        """:meth:`_enqueue` and wait for the commit."""
        return self._enqueue(work, what, quiet=quiet, durable=durable).result()

    def _set_durable(self, con: sqlite3.Connection, durable: bool) -> None:
        if durable != self._durable.get(id(con)):
            # FULL fsyncs the WAL at commit; NORMAL leaves it to the next FULL commit
            con.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            self._durable[id(con)] = durable

    def _commit_group(
        self,
        items: list[tuple[Callable[[sqlite3.Connection], Any], concurrent.futures.Future[Any]]],
    ) -> None:
        """The writer's group commit of ``items`` (the writer thread only)."""
        with self._write_lock:
            durable = any(getattr(future, "durable", False) for _, future in items)
            try:
                self._set_durable(self._write, durable)
            except sqlite3.Error as exc:
                self._fail(items, exc)
                return
            self._commit(items, self._write, begun=False)

    def _fail(
        self,
        items: list[tuple[Callable[[sqlite3.Connection], Any], concurrent.futures.Future[Any]]],
        exc: sqlite3.Error,
    ) -> None:
        for _, future in items:
            what = getattr(future, "what", "write")
            _settle(
                future, None, StoreError(f"cannot {what} in the store journal {self.name}: {exc}")
            )

    def _commit(
        self,
        items: list[tuple[Callable[[sqlite3.Connection], Any], concurrent.futures.Future[Any]]],
        con: sqlite3.Connection,
        *,
        begun: bool,
    ) -> None:
        """One transaction of ``items`` on ``con`` (``_write_lock`` held; ``begun``: its
        ``BEGIN IMMEDIATE`` done), each in a savepoint when there are several (a lone write
        that fails rolls the transaction back); then every future is settled."""
        results: list[tuple[concurrent.futures.Future[Any], Any, BaseException | None]] = []
        try:
            if not begun:  # the writer: waits (busy timeout) while another process writes
                start = time.perf_counter()
                con.execute("BEGIN IMMEDIATE")
                self.lock_wait += time.perf_counter() - start
            alone = len(items) == 1  # a lone write needs no savepoint: its failure rolls back
            try:
                for work, future in items:
                    if not alone:
                        con.execute("SAVEPOINT tk_op")
                    try:
                        value = work(con)
                    except BaseException as exc:
                        if not alone:
                            con.execute("ROLLBACK TO tk_op")
                            con.execute("RELEASE tk_op")
                        elif con.in_transaction:  # (some failures end it themselves)
                            con.execute("ROLLBACK")
                        results.append((future, None, exc))
                    else:
                        if not alone:
                            con.execute("RELEASE tk_op")
                        results.append((future, value, None))
                if con.in_transaction:  # (not after a lone write's failure)
                    con.execute("COMMIT")
                    self.commits += 1
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:  # the commit itself failed: nothing of the group is stored
            self._fail(items, exc)
            return
        wrote = False
        for future, value, error in results:
            if error is None:
                wrote = wrote or not getattr(future, "quiet", False)
                _settle(future, value, None)
            elif isinstance(error, sqlite3.Error):
                what = getattr(future, "what", "write")
                wrapped = StoreError(f"cannot {what} in the store journal {self.name}: {error}")
                wrapped.__cause__ = error
                _settle(future, None, wrapped)
            else:
                _settle(future, None, error)
        if wrote and self.on_commit is not None:
            self.on_commit()

    def _read_all(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self._closed:
            raise StoreError(f"the store journal {self.name} is closed; open a new Store")
        try:
            with self._read_lock:
                return self._read.execute(query, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the store journal {self.name}: {exc}") from exc

    # -- set-up -------------------------------------------------------------------------------

    def initialize(
        self,
        load: Callable[[str], tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]],
    ) -> str:
        """The journal's id. A new journal gets a new id and is first filled by ``load(id)``
        (the order rows, batch rows and last event id of an existing DuckDB store, all marked
        projected), atomically, so two processes opening one store at once import it once."""

        def work(con: sqlite3.Connection) -> str:
            known = _meta(con, "journal_id")
            if known is not None:
                found = _meta(con, "schema_version")
                if found is not None and int(found) > JOURNAL_SCHEMA_VERSION:
                    raise StoreError(
                        f"the store journal {self.name} has schema version {found}; this"
                        f" toolkit knows up to {JOURNAL_SCHEMA_VERSION} (upgrade toolkit)"
                    )
                if found is None or int(found) < JOURNAL_SCHEMA_VERSION:  # (tables: _open)
                    _set_meta(con, "schema_version", str(JOURNAL_SCHEMA_VERSION))
                return known
            journal_id = uuid.uuid4().hex
            orders, batches, last_event = load(journal_id)
            con.executemany(
                f"INSERT OR REPLACE INTO orders ({_ORDER_COLS}, ver, projected)"
                f" VALUES ({', '.join('?' * (len(ROW_FIELDS) + 2))})",
                [(*r, 1, 1) for r in orders],
            )
            con.executemany(
                f"INSERT OR REPLACE INTO batches ({_BATCH_COLS}, ver, projected)"
                f" VALUES ({', '.join('?' * (len(BATCH_FIELDS) + 2))})",
                [(*r, 1, 1) for r in batches],
            )
            if last_event > 0:  # event ids go on from DuckDB's
                con.execute("DELETE FROM sqlite_sequence WHERE name = 'events'")
                con.execute(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES ('events', ?)", [last_event]
                )
            _set_meta(con, "journal_id", journal_id)
            _set_meta(con, "schema_version", str(JOURNAL_SCHEMA_VERSION))
            return journal_id

        return self._submit(work, "initialize the journal", durable=True)

    # -- writes -------------------------------------------------------------------------------

    def record_batch(
        self,
        batch: BatchRecord,
        orders: Sequence[Order],
        *,
        supersedes: tuple[str, str] | None = None,
        refuse_if: Refusal | None = None,
    ) -> concurrent.futures.Future[None]:
        """Write-ahead of a batch: its row, every order row and one event each, atomically.

        A key or client order id already recorded fails the future with ``StoreError`` and
        writes nothing. The future resolves once the rows are on disk (fsync'd).
        ``supersedes`` ``(batch_id, retired_key)`` first moves that batch (and its orders) from
        ``batch.key`` to ``retired_key`` -- compare-and-set: it must still hold the key.
        ``refuse_if``: if its ``meta`` entry is set when the transaction runs, nothing is
        written and the future fails with its error.
        """
        created = to_micros(batch.created_at)
        defaults = ((_BATCH_ID, batch.batch_id), (_KEY, batch.key), (_CREATED, created))
        rows = []
        for order in orders:
            row = order_row(order, batch.venue)
            for i, value in defaults:  # what the order leaves None, from the batch
                if row[i] is None:
                    row[i] = value
            if row[_UPDATED] is None:
                row[_UPDATED] = row[_CREATED]
            rows.append(row)
        events = [
            (r[_CID], r[_UPDATED], event_name(r[_STATUS], bool(r[_PLACED]), None, "submit"),
             r[_STATUS], r[_FILLED], "submit", r[_RAW])
            for r in rows
        ]  # fmt: skip

        def work(con: sqlite3.Connection) -> None:
            _refuse(con, refuse_if)
            if supersedes is not None:
                old_id, retired = supersedes
                moved = con.execute(
                    "UPDATE batches SET key = ?, ver = ver + 1 WHERE batch_id = ? AND key = ?",
                    [retired, old_id, batch.key],
                ).rowcount
                if moved != 1:
                    raise StoreError(
                        f"batch key {batch.key!r} was taken meanwhile (batch {old_id} no"
                        " longer holds it)"
                    )
                con.execute(
                    "UPDATE orders SET key = ?, ver = ver + 1 WHERE batch_id = ?",
                    [retired, old_id],
                )
            if batch.key is not None:
                found = con.execute(
                    "SELECT batch_id FROM batches WHERE key = ?", [batch.key]
                ).fetchone()
                if found:
                    raise StoreError(
                        f"batch key {batch.key!r} is already recorded (batch {found[0]})"
                    )
            gone = _archived(con, (r[_CID] for r in rows))
            if gone:  # (the orders table's key cannot see them: their rows left for DuckDB)
                raise StoreError(
                    f"client order id {min(gone)!r} is already recorded (archived to DuckDB)"
                )
            con.execute(
                f"INSERT INTO batches ({_BATCH_COLS}) VALUES ({', '.join('?' * 12)})",
                batch_row(batch),
            )
            con.executemany(_INSERT_ORDER, rows)
            con.executemany(_INSERT_EVENT, events)

        return self._enqueue(work, "record the batch", durable=True, rows=len(rows))

    def apply(
        self,
        orders: Sequence[Order],
        *,
        source: str,
        venue: str | None = None,
        finish: str | None = None,
    ) -> concurrent.futures.Future[None]:
        """Upsert the state of ``orders`` and append one event per real change (see
        ``Store.apply``); ``finish`` also finishes that batch in the same transaction."""
        latest: dict[str, list[Any]] = {}
        for order in orders:  # one client order id several times: its last state wins
            latest.pop(order.client_order_id, None)
            latest[order.client_order_id] = order_row(order, venue)

        def work(con: sqlite3.Connection) -> None:
            if latest:
                now = to_micros(pd.Timestamp.now(tz="UTC"))
                assert now is not None
                old = {
                    r[0]: r
                    for r in con.execute(
                        f"SELECT {_ORDER_COLS} FROM orders WHERE client_order_id IN {JSON_IDS}",
                        [_json_list(latest)],
                    )
                }
                gone: set[str] = set()
                if len(old) < len(latest):  # new orders, or archived ones (final: skipped)
                    gone = _archived(con, [cid for cid in latest if cid not in old])
                upserts: list[tuple[list[Any], Sequence[Any] | None]] = []
                events: list[tuple[Any, ...]] = []
                for cid, new in latest.items():
                    if cid in gone:  # final long ago: nothing can be news about it
                        continue
                    before = old.get(cid)
                    merged = merge_row(new, before, now)
                    if not changed(merged, before):
                        continue
                    upserts.append((merged, before))
                    status = merged[_STATUS]
                    events.append(
                        (cid, merged[_UPDATED],
                         event_name(status, bool(merged[_PLACED]), before, source), status,
                         merged[_FILLED], source, new[_RAW])
                    )  # fmt: skip
                _write_orders(con, upserts)
                con.executemany(_INSERT_EVENT, events)
            if finish is not None:
                self._finish(con, finish, None)

        return self._enqueue(work, "apply order updates", rows=len(latest))

    def claim_unplaced(
        self,
        batch_id: str,
        client_order_ids: Sequence[str],
        not_after: pd.Timestamp,
        *,
        refuse_if: Refusal | None = None,
    ) -> concurrent.futures.Future[list[str]]:
        """Re-arm the orders of ``batch_id`` proven not placed (compare-and-set); the ids won
        (on disk when the future resolves). ``refuse_if`` as for :meth:`record_batch`."""
        ids = list(dict.fromkeys(client_order_ids))

        def work(con: sqlite3.Connection) -> list[str]:
            _refuse(con, refuse_if)
            now = to_micros(pd.Timestamp.now(tz="UTC"))
            rows = con.execute(
                "UPDATE orders SET placed = 1, status = 'PENDING', error_code = NULL,"
                " error_msg = NULL, not_after = ?, updated_at = ?, ver = ver + 1"
                " WHERE batch_id = ? AND placed = 0 AND status <> 'INVALID'"
                f" AND client_order_id IN {JSON_IDS}"
                " RETURNING client_order_id, filled_qty",
                [to_micros(not_after), now, batch_id, _json_list(ids)],
            ).fetchall()
            con.executemany(
                _INSERT_EVENT,
                [(cid, now, "submitted", "PENDING", qty, "submit", None) for cid, qty in rows],
            )
            order = {cid: i for i, cid in enumerate(ids)}
            return sorted((str(r[0]) for r in rows), key=order.__getitem__)

        if not ids:
            done: concurrent.futures.Future[list[str]] = concurrent.futures.Future()
            done.set_result([])
            return done
        return self._enqueue(work, "claim orders not placed", durable=True, rows=len(ids))

    def finish_resolved(self, batch_ids: Iterable[str]) -> concurrent.futures.Future[list[str]]:
        """Finish the batches of ``batch_ids`` that are not finished and have no PENDING order
        left (a batch whose process was killed, once reconciliation decided its orders);
        returns the ones finished. A batch finished again later (a key's re-run that sends)
        takes its new counts."""
        ids = sorted(set(batch_ids))

        def work(con: sqlite3.Connection) -> list[str]:
            done = [
                str(r[0])
                for r in con.execute(
                    f"SELECT batch_id FROM batches WHERE batch_id IN {JSON_IDS}"
                    " AND finished_at IS NULL AND NOT EXISTS (SELECT 1 FROM orders"
                    " WHERE orders.batch_id = batches.batch_id AND status = 'PENDING')",
                    [_json_list(ids)],
                )
            ]
            for batch_id in done:
                self._finish(con, batch_id, None)
            return done

        return self._enqueue(work, "finish reconciled batches", rows=len(ids))

    def finish_stale(self, before: pd.Timestamp) -> list[str]:
        """Finish the batches created before ``before`` that are still unfinished and have no
        PENDING order (:meth:`finish_resolved`): a batch whose process died, its orders decided
        since by another process or the stream, is finished (and so may be archived) even if
        no reconciliation of its own ever ran. Returns the ones finished."""
        rows = self._read_all(
            "SELECT batch_id FROM batches WHERE finished_at IS NULL AND created_at < ?",
            [to_micros(before)],
        )
        return self.finish_resolved(str(r[0]) for r in rows).result() if rows else []

    def _finish(
        self, con: sqlite3.Connection, batch_id: str, counts: Mapping[str, int] | None
    ) -> None:
        if counts is None:
            counts = {
                str(status): int(n)
                for status, n in con.execute(
                    "SELECT status, count(*) FROM orders WHERE batch_id = ? GROUP BY status"
                    " ORDER BY status",
                    [batch_id],
                )
            }
        cursor = con.execute(
            "UPDATE batches SET counts = ?, finished_at = ?, ver = ver + 1 WHERE batch_id = ?",
            [counts_json(counts), to_micros(pd.Timestamp.now(tz="UTC")), batch_id],
        )
        if cursor.rowcount == 0:
            raise StoreError(f"no batch {batch_id!r} in the store {self.name}")

    # -- reads --------------------------------------------------------------------------------

    def batch(self, column: str, value: str) -> BatchRecord | None:
        """The batch whose ``column`` (``key`` or ``batch_id``) is ``value``, or ``None``."""
        rows = self._read_all(f"SELECT {_BATCH_COLS} FROM batches WHERE {column} = ?", [value])
        return batch_from_journal(rows[0]) if rows else None

    def find_batch(self, key: str) -> BatchRecord | None:
        """The batch recorded with ``key``, or ``None``."""
        return self.batch("key", key)

    def order_rows(self, where: str, params: Sequence[Any], order_by: str) -> list[tuple[Any, ...]]:
        """Order rows (``ROW_FIELDS``) matching an SQL ``where`` clause."""
        return self._read_all(
            f"SELECT {_ORDER_COLS} FROM orders WHERE {where} ORDER BY {order_by}", params
        )

    def orders(self, where: str, params: Sequence[Any], order_by: str) -> list[Order]:
        """``Order`` records matching an SQL ``where`` clause."""
        return [order_from_row(r) for r in self.order_rows(where, params, order_by)]

    def set_meta(self, name: str, value: str | None) -> None:
        """Set (``None``: delete) a ``meta`` entry, durably."""

        def work(con: sqlite3.Connection) -> None:
            if value is None:
                con.execute("DELETE FROM meta WHERE name = ?", [name])
            else:
                _set_meta(con, name, value)

        self._submit(work, f"set {name}", durable=True, quiet=True)

    def meta(self, name: str) -> str | None:
        """A ``meta`` entry, or ``None`` (cheap: polled while batches send)."""
        if self._closed:
            raise StoreError(f"the store journal {self.name} is closed; open a new Store")
        try:
            with self._flags_lock:
                return _meta(self._flags, name)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the store journal {self.name}: {exc}") from exc

    # -- the projection's side ----------------------------------------------------------------

    def pending(self, limit: int) -> Pending:
        """Up to ``limit`` order rows, batch rows and events not yet projected."""
        with self._read_lock:
            try:
                if self._closed:
                    raise StoreError(f"the store journal {self.name} is closed")
                con = self._read
                con.execute("BEGIN")  # one snapshot of all three
                try:
                    orders = con.execute(
                        f"SELECT {_ORDER_COLS}, ver FROM orders WHERE ver > projected LIMIT ?",
                        [limit],
                    ).fetchall()
                    batches = con.execute(
                        f"SELECT {_BATCH_COLS}, ver FROM batches WHERE ver > projected LIMIT ?",
                        [limit],
                    ).fetchall()
                    events = con.execute(
                        "SELECT event_id, client_order_id, ts, event, status, filled_qty, source,"
                        " raw FROM events ORDER BY event_id LIMIT ?",
                        [limit],
                    ).fetchall()
                finally:
                    con.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the store journal {self.name}: {exc}") from exc
        return Pending(orders, batches, events)

    def has_pending(self) -> bool:
        """True if anything is still to be projected (cheap: used to poll)."""
        rows = self._read_all(
            "SELECT EXISTS (SELECT 1 FROM orders WHERE ver > projected)"
            " OR EXISTS (SELECT 1 FROM batches WHERE ver > projected)"
            " OR EXISTS (SELECT 1 FROM events)"
        )
        return bool(rows[0][0])

    def projected(self, done: Pending, flushes: int | None = None) -> None:
        """Mark what DuckDB now holds: those versions projected, those events deleted; and
        ``flushes``, DuckDB's count of flushes after this one (``meta.flushes`` keeps the
        highest seen: a DuckDB file with fewer is an older copy, :meth:`unproject_all`).

        In short transactions (up to 100 order rows, 100 batch rows and 100 events each): a
        batch's write waits for one of them at most, not for the whole flush's marks (tens of
        milliseconds for a large one). A crash between two leaves the rest unmarked: projected
        again, which changes nothing.
        """
        n = len(ROW_FIELDS)
        order_vers = [(r[n], r[0], r[n]) for r in done.orders]
        batch_vers = [(r[-1], r[0], r[-1]) for r in done.batches]
        event_ids = [e[0] for e in done.events]

        def marks(
            orders: list[tuple[Any, ...]],
            batches: list[tuple[Any, ...]],
            events: int | None,
            first: bool,
        ) -> Callable[[sqlite3.Connection], None]:
            def work(con: sqlite3.Connection) -> None:
                if flushes is not None and first:
                    con.execute(
                        "INSERT INTO meta VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET"
                        " value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
                        [FLUSHES, flushes],
                    )
                con.executemany(
                    "UPDATE orders SET projected = ? WHERE client_order_id = ? AND projected < ?",
                    orders,
                )
                con.executemany(
                    "UPDATE batches SET projected = ? WHERE batch_id = ? AND projected < ?",
                    batches,
                )
                if events is not None:
                    con.execute("DELETE FROM events WHERE event_id <= ?", [events])

            return work

        for i in range(0, max(len(order_vers), len(batch_vers), len(event_ids)), _MARK_ROWS):
            end = i + _MARK_ROWS
            last = event_ids[min(end, len(event_ids)) - 1] if i < len(event_ids) else None
            work = marks(order_vers[i:end], batch_vers[i:end], last, i == 0)
            self._submit(work, "mark the projection", quiet=True)

    def unproject(self, client_order_ids: Sequence[str]) -> None:
        """Mark these order rows to be projected again (DuckDB does not hold them as marked)."""

        def work(con: sqlite3.Connection) -> None:
            con.execute(
                f"UPDATE orders SET projected = 0 WHERE client_order_id IN {JSON_IDS}",
                [_json_list(client_order_ids)],
            )

        self._submit(work, "re-project orders")

    def unproject_all(self, flushes: int) -> None:
        """Mark every order and batch to be projected again (DuckDB lost them: another file,
        or an older copy), and take ``flushes`` as DuckDB's count of flushes from now on; one
        transaction (a process killed before it sees the same file again)."""

        def work(con: sqlite3.Connection) -> None:
            con.execute("UPDATE orders SET projected = 0")
            con.execute("UPDATE batches SET projected = 0")
            _set_meta(con, FLUSHES, flushes)

        self._submit(work, "re-project the journal")

    # -- archiving ------------------------------------------------------------------------------

    def archivable(self, before: pd.Timestamp, limit: int) -> list[tuple[Any, ...]]:
        """Up to ``limit`` order rows (``ROW_FIELDS`` and ``ver``) that may leave the journal:
        final, projected, created and last updated before ``before``, and of a finished batch
        whose rows are all final (nothing a key's re-run could still send, claim or count) and
        not all INVALID (those leave the key free: a next attempt moves the rows to a retired
        key), or of no batch. Final means never to change again and never to be sent again:
        FILLED, CANCELED, EXPIRED, REJECTED by the exchange (placed), INVALID. "Not all
        INVALID" is read from the batch's own counts (set when it finished), not from the rows
        left: once a pass has archived a batch's other rows, its INVALID ones follow.

        The scan (the whole table) runs on a connection of its own: the journal's reads do
        not wait for it."""
        query = (
            f"SELECT {_ORDER_COLS}, ver FROM orders WHERE {_ARCHIVABLE}"
            " AND ver = projected AND created_at < ? AND updated_at < ?"
            " AND (batch_id IS NULL OR batch_id IN (SELECT batch_id FROM batches"
            " WHERE finished_at IS NOT NULL"
            " AND coalesce(json_extract(counts, '$.INVALID'), 0) < n_orders"
            " AND batch_id NOT IN (SELECT batch_id FROM orders"
            f" WHERE batch_id IS NOT NULL AND NOT {_ARCHIVABLE})))"
            " LIMIT ?"
        )
        cutoff = to_micros(before)
        if self.path is None:  # (one connection for everything)
            return self._read_all(query, [cutoff, cutoff, limit])
        try:
            with contextlib.closing(self._connect(str(self.path))) as con:
                return con.execute(query, [cutoff, cutoff, limit]).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the store journal {self.name}: {exc}") from exc

    def archive(
        self,
        rows: Sequence[Sequence[Any]],
        before: pd.Timestamp,
        *,
        stop: Callable[[], bool] | None = None,
    ) -> int:
        """Move ``rows`` (from :meth:`archivable`, each seen in DuckDB as it is here) out of
        the journal, each only if it is still that version (``ver``, projected); returns how
        many left.

        Their ids stay in ``archived``; ``meta.archived_before`` becomes ``before`` (every
        archived row was created and updated before it). Batches stay (they hold the keys).
        In transactions of up to 100 rows (the journal's write lock for a millisecond or two at
        a time); ``stop()`` true ends it between two. Reads of archived orders go to DuckDB
        (:class:`~toolkit.store._store.Store`).
        """
        cutoff = to_micros(before)
        n = len(ROW_FIELDS)

        def work(con: sqlite3.Connection, chunk: Sequence[Sequence[Any]]) -> int:
            moved = [
                (row[_CID], row[_ORDER_ID])
                for row in chunk
                if con.execute(
                    "DELETE FROM orders WHERE client_order_id = ? AND ver = ?"
                    " AND projected = ver",
                    [row[_CID], row[n]],
                ).rowcount
            ]
            con.executemany("INSERT OR IGNORE INTO archived VALUES (?, ?)", moved)
            known = _meta(con, _ARCHIVED_BEFORE)
            if moved and (known is None or int(known) < int(cutoff or 0)):
                _set_meta(con, _ARCHIVED_BEFORE, cutoff)
            return len(moved)

        total = 0
        for i in range(0, len(rows), _ARCHIVE_ROWS):
            if stop is not None and stop():
                break
            move = functools.partial(work, chunk=rows[i : i + _ARCHIVE_ROWS])
            total += self._submit(move, "archive final orders", quiet=True)
        return total

    def flushes(self) -> int:
        """DuckDB's count of projection flushes as last seen (``meta.flushes``; 0: none)."""
        value = self.meta(FLUSHES)
        return 0 if value is None else int(value)

    def archived_before(self) -> pd.Timestamp | None:
        """Every archived order row was created (and updated) before this instant; ``None``:
        none was ever archived (every order is in the journal)."""
        value = self.meta(_ARCHIVED_BEFORE)
        return None if value is None else from_micros(int(value))

    def archived_ids(self) -> list[str]:
        """The client order ids of every archived order."""
        return [str(r[0]) for r in self._read_all("SELECT client_order_id FROM archived")]

    def missing(self) -> int:
        """How many archived orders the DuckDB file was last found to lack (``meta.``
        :data:`MISSING`; 0: none)."""
        value = self.meta(MISSING)
        return 0 if value is None else int(value)

    def archived(self, client_order_ids: Iterable[str]) -> set[str]:
        """Which of ``client_order_ids`` were archived (by client order id)."""
        return {str(r[0]) for r in self._read_all(_ARCHIVED_IN, [_json_list(client_order_ids)])}

    def taken(self, client_order_ids: Sequence[str]) -> dict[str, str | None]:
        """Which of ``client_order_ids`` the journal knows: id -> its batch id, ``None`` for
        an archived order."""
        ids = _json_list(client_order_ids)
        taken: dict[str, str | None] = {
            str(cid): batch_id
            for cid, batch_id in self._read_all(
                f"SELECT client_order_id, batch_id FROM orders WHERE client_order_id IN {JSON_IDS}",
                [ids],
            )
        }
        for cid in self.archived(i for i in client_order_ids if i not in taken):
            taken[cid] = None
        return taken

    def any_archived(self, ids: Iterable[str]) -> bool:
        """True if any of ``ids`` is the client order id or the order id of an archived order."""
        rows = self._read_all(
            f"SELECT EXISTS (SELECT 1 FROM archived WHERE client_order_id IN {JSON_IDS}"
            f" OR order_id IN {JSON_IDS})",
            [_json_list(ids)] * 2,
        )
        return bool(rows[0][0])
