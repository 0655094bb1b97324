"""The projection: the journal written into DuckDB, in the background, in group commits.

DuckDB is the record users query (``tk.sql``, ``tk.export``, their own ``duckdb.connect``), but
it is never on a batch's critical path: a daemon thread per store wakes after journal commits,
waits until the journal has been quiet for :data:`DEFAULT_DELAY` (or :data:`MAX_DELAY` after the
first commit it has not written, when batches keep coming) so that many commits go in one DuckDB
transaction, and writes what changed -- the current rows of changed orders and batches
(upserts: replaying one twice is harmless) and the new events (by event id: inserted once).
Only then does the journal mark those versions projected and delete those events, so a process
killed mid-flush loses nothing and duplicates nothing. The DuckDB file is held for one flush at
a time (tens of milliseconds); when
another program holds it, the flush is retried with backoff while batches go on in the journal.

Reads that need DuckDB call :meth:`Projection.flush` first (read-your-writes); the thread also
polls the journal every :data:`POLL` seconds, so what another process committed and could not
project (it was killed) reaches DuckDB within a second or so.

Example::

    projection = Projection(journal, database, journal_id=jid)
    projection.start(); ...; projection.flush(); ...; projection.stop()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import duckdb
import pandas as pd

from ..core._exceptions import StoreError
from ._journal import MISSING, Journal, Pending
from ._journal_rows import BATCH_FIELDS, ROW_FIELDS
from ._store_db import STAGE, Database, RetryPolicy
from ._store_schema import DDL, SCHEMA_VERSION, SQL_TYPES, check_version

__all__ = ["DEFAULT_DELAY", "MAX_DELAY", "ORDER_ROWS", "POLL", "Projection", "load_journal_rows"]

_log = logging.getLogger("toolkit")
_T = TypeVar("_T")
#: Seconds without a journal commit after which the thread flushes (group commit into DuckDB).
DEFAULT_DELAY = 0.2
#: Seconds after the first commit not yet written at which the thread flushes even while commits
#: keep coming. A flush costs DuckDB tens of milliseconds of CPU whatever its size (its upserts
#: and the checkpoint when the file is detached): flushing after every pause of a busy session
#: took more CPU than the batches themselves, on a machine the exchange's client shares.
MAX_DELAY = 0.75
#: Seconds between looks at the journal for work committed by other processes.
POLL = 1.0
#: Rows (of each kind) per DuckDB transaction.
CHUNK = 50_000
#: One flush attempt of the background thread waits this long for the DuckDB file.
_BACKGROUND_RETRY = RetryPolicy(timeout=0.5)
_TIMES = frozenset({"created_at", "updated_at", "not_after", "finished_at", "ts"})
_BATCH_TYPES = {
    "created_at": "TIMESTAMPTZ", "n_orders": "INTEGER", "params": "JSON", "papermill": "JSON",
    "counts": "JSON", "finished_at": "TIMESTAMPTZ",
}  # fmt: skip
_EVENT_FIELDS = ("event_id", "client_order_id", "ts", "event", "status", "filled_qty", "source",
                 "raw")  # fmt: skip
_EVENT_TYPES = {"event_id": "BIGINT", "ts": "TIMESTAMPTZ", "filled_qty": "DOUBLE", "raw": "JSON"}


def _type(table: str, name: str) -> str:
    if table == "orders":
        return "VARCHAR" if name == "venue" else SQL_TYPES[name]
    if table == "batches":
        return _BATCH_TYPES.get(name, "VARCHAR")
    return _EVENT_TYPES.get(name, "VARCHAR")


def _select(table: str, fields: Sequence[str]) -> str:
    """A typed projection of the staged journal rows (times are integer microseconds)."""
    cols = []
    for name in fields:
        kind = _type(table, name)
        if name in _TIMES:
            cols.append(f"make_timestamp(CAST({name} AS BIGINT))::TIMESTAMPTZ AS {name}")
        else:
            cols.append(f"CAST({name} AS {kind}) AS {name}")
    return f"SELECT {', '.join(cols)} FROM {STAGE}"


def _stage(table: str, fields: Sequence[str], rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Journal rows as a typed DataFrame for one DuckDB scan (NaN reads as NULL)."""
    data: dict[str, pd.Series] = {}
    for i, name in enumerate(fields):
        values = [r[i] for r in rows]
        kind = _type(table, name)
        if name in _TIMES or kind in ("INTEGER", "BIGINT"):
            data[name] = pd.Series(values, dtype="Int64")
        elif kind == "DOUBLE":
            data[name] = pd.Series(values, dtype=object).astype("float64")
        elif kind == "BOOLEAN":
            data[name] = pd.Series(values, dtype=object).astype("boolean")
        else:
            data[name] = pd.Series(values, dtype=object)
    frame: pd.DataFrame = pd.DataFrame(data, index=pd.RangeIndex(len(rows)))
    return frame


def _upsert(table: str, fields: Sequence[str], key: str) -> str:
    names = ", ".join(fields)
    sets = ", ".join(f"{c} = excluded.{c}" for c in fields if c != key)
    return (
        f"INSERT INTO {table} ({names}) {_select(table, fields)}"
        f" ON CONFLICT ({key}) DO UPDATE SET {sets}"
    )


_ORDERS_SQL = _upsert("orders", ROW_FIELDS, "client_order_id")
_BATCHES_SQL = _upsert("batches", BATCH_FIELDS, "batch_id")
_EVENTS_SQL = (
    f"INSERT INTO order_events ({', '.join(_EVENT_FIELDS)}) {_select('events', _EVENT_FIELDS)}"
    " ON CONFLICT (event_id) DO NOTHING"
)


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create or migrate the DuckDB schema in place and record :data:`SCHEMA_VERSION`."""
    for statement in DDL:
        con.execute(statement)
    known = _toolkit_meta(con, "schema_version")
    found = check_version(SCHEMA_VERSION if known is None else int(known))
    if found < SCHEMA_VERSION:  # the DDL above migrated it; and before version 3:
        _drop_unique_key(con)
    if known is None or found < SCHEMA_VERSION:
        _set_toolkit_meta(con, "schema_version", str(SCHEMA_VERSION))


def _drop_unique_key(con: duckdb.DuckDBPyConnection) -> None:
    """Version 3: ``batches.key`` is no longer UNIQUE in DuckDB (the journal arbitrates keys,
    and an attempt refused before sending hands its key to the next): rebuild the table."""
    unique = con.execute(
        "SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'batches'"
        " AND constraint_type = 'UNIQUE'"
    ).fetchone()
    if not unique or not unique[0]:
        return
    cols = ", ".join(BATCH_FIELDS)
    con.execute("ALTER TABLE batches RENAME TO batches_v2")
    con.execute(next(s for s in DDL if "CREATE TABLE IF NOT EXISTS batches" in s))
    for statement in DDL:  # the columns added since (venue)
        if statement.startswith("ALTER TABLE batches"):
            con.execute(statement)
    con.execute(f"INSERT INTO batches ({cols}) SELECT {cols} FROM batches_v2")
    con.execute("DROP TABLE batches_v2")


def _as_rows(table: str, fields: Sequence[str]) -> str:
    """A SELECT of ``table``'s rows in the journal's form (times as microseconds, JSON as text)."""

    def col(name: str) -> str:
        if name in _TIMES:
            return f"epoch_us({name}) AS {name}"
        if _type(table, name) == "JSON":
            return f"CAST({name} AS VARCHAR) AS {name}"
        return name

    return f"SELECT {', '.join(col(c) for c in fields)} FROM {table}"


#: DuckDB's order rows in the journal's form (``ROW_FIELDS``): what an archived order is read
#: back as.
ORDER_ROWS = _as_rows("orders", ROW_FIELDS)


def load_journal_rows(
    db: Database, journal_id: str
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]:
    """Create or migrate the DuckDB schema, and read what a new journal starts from: every order
    row and batch row DuckDB holds (journal form: times as microseconds, JSON as text) and its
    last event id. Records ``journal_id`` in DuckDB: the projection writes only into the DuckDB
    file its journal came from (or was projected into)."""

    def work(
        con: duckdb.DuckDBPyConnection,
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]:
        create_schema(con)
        orders = con.execute(ORDER_ROWS).fetchall()
        batches = con.execute(_as_rows("batches", BATCH_FIELDS)).fetchall()
        row = con.execute("SELECT coalesce(max(event_id), 0) FROM order_events").fetchone()
        _set_toolkit_meta(con, "journal_id", journal_id)
        return orders, batches, int(row[0]) if row else 0

    return db.run(work, "read the store into a new journal")


def _toolkit_meta(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """The DuckDB file's ``toolkit_meta`` entry ``name`` (``schema_version``, ``journal_id``:
    the journal it is written from, ``flushes``: its count of projection flushes), or ``None``."""
    rows = con.execute("SELECT value FROM toolkit_meta WHERE name = ?", [name]).fetchall()
    return str(rows[0][0]) if rows else None


def _set_toolkit_meta(con: duckdb.DuckDBPyConnection, name: str, value: str) -> None:
    con.execute(
        "INSERT INTO toolkit_meta VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        [name, value],
    )


def _missing(con: duckdb.DuckDBPyConnection) -> int:
    """How many of the staged client order ids DuckDB's ``orders`` lacks."""
    row = con.execute(
        f"SELECT count(*) FROM {STAGE} ANTI JOIN orders USING (client_order_id)"
    ).fetchone()
    return int(row[0]) if row else 0


#: What a DuckDB file is to a journal (:meth:`Projection._file`), with its count of flushes.
_OURS, _ANOTHER, _OLDER = "ours", "another", "older"


class Projection:
    """Writes one journal into one DuckDB database (module docstring). Thread-safe."""

    def __init__(
        self,
        journal: Journal,
        db: Database,
        *,
        journal_id: str,
        delay: float = DEFAULT_DELAY,
        max_delay: float = MAX_DELAY,
        poll: float = POLL,
    ) -> None:
        self._journal = journal
        self._db = db
        self._journal_id = journal_id
        self._delay = delay
        self._max_delay = max(delay, max_delay)
        self._poll = poll
        self._wake = threading.Event()
        self._stopping = threading.Event()
        # Set by the first commit not yet written (:meth:`notify`), cleared by the thread just
        # before it reads the journal to flush; the commits in between only move _last_commit.
        self._armed = False
        self._last_commit = 0.0  # (time.monotonic) of the last commit notified
        self._flush_lock = threading.Lock()
        self._identity_checked = False
        self._thread: threading.Thread | None = None
        #: Called by the thread after each look at the journal (flush or poll) with its retry
        #: policy: the store's archiving pass (``Archiver.due``).
        self.chores: Callable[[RetryPolicy], None] | None = None
        #: Number of flushes that wrote something (for the benchmark and tests).
        self.flushes = 0
        #: Number of times a commit woke the thread (:meth:`notify`; for tests).
        self.wakes = 0
        #: The last error of a background flush, or ``None`` after a successful one.
        self.last_error: StoreError | None = None

    def start(self) -> None:
        """Start the background thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="toolkit-projection", daemon=True
            )
            self._thread.start()

    @property
    def checked(self) -> bool:
        """Whether a flush has checked that the DuckDB file is this journal's."""
        return self._identity_checked

    def stopping(self) -> bool:
        """Whether :meth:`stop` was called (long work ends early)."""
        return self._stopping.is_set()

    def notify(self) -> None:
        """Something was committed to the journal: flush soon.

        Wakes the thread only for the first commit it has not seen: while it gathers, a commit
        just moves the end of the quiet period (a wake per commit cost the thread, and the GIL
        the batches need, more than the flushes themselves).
        """
        self._last_commit = time.monotonic()
        if not self._armed:
            self._armed = True
            self.wakes += 1
            self._wake.set()

    def stop(self, *, flush: bool = True, retry: RetryPolicy | None = None) -> None:
        """Stop the thread; with ``flush`` try a last flush (what fails stays in the journal)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if flush:
            try:
                self.flush(retry=retry or _BACKGROUND_RETRY)
            except StoreError as exc:
                _log.info("toolkit: the store stays behind its journal until next time: %s", exc)

    def flush(self, *, retry: RetryPolicy | None = None) -> int:
        """Write everything the journal holds that DuckDB does not; returns rows written.

        Waits for the DuckDB file as ``retry`` (default: the database's policy) says, then
        raises ``StoreError`` (the journal keeps what was not written).
        """
        written = 0
        with self._flush_lock:
            if not self._identity_checked:
                self._check_identity(retry)
            while True:
                if not self._journal.has_pending():
                    return written
                pending, kind, flushes = self._write(retry)
                if kind == _ANOTHER:  # replaced meanwhile: check it, then write
                    self._check_identity(retry)
                    continue
                if kind == _OLDER:  # an older copy: everything again, then write
                    self._older(flushes)
                    self._check_archived(retry)
                    continue
                if not pending:
                    return written
                self._journal.projected(pending, flushes)
                written += len(pending)
                self.flushes += 1
                # Everything committed before this flush began is written now, unless a chunk
                # was full. What was committed meanwhile waits for the next flush: chasing it
                # while batches keep committing kept DuckDB flushing without a pause.
                if max(len(pending.orders), len(pending.batches), len(pending.events)) < CHUNK:
                    return written

    def read(
        self,
        work: Callable[[duckdb.DuckDBPyConnection], _T],
        what: str,
        stage: pd.DataFrame | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> _T:
        """Run ``work`` on the DuckDB file, read-only, after a flush, in a transaction that
        finds the file to be this journal's and as current as the journal has seen it. A file
        replaced (or restored from an older copy) since the last check is checked first, as a
        flush does (its count of archived orders it lacks included: ``Journal.missing``).
        ``stage`` and ``retry`` as for ``Database.run``."""

        def checked(con: duckdb.DuckDBPyConnection) -> tuple[str, _T | None]:
            kind = self._file(con)[0]
            return kind, work(con) if kind == _OURS else None

        self.flush(retry=retry)
        for _ in range(3):  # (another replacement between the check and the read: again)
            kind, result = self._db.run(checked, what, stage, read_only=True, retry=retry)
            if kind == _OURS:
                return cast(_T, result)
            with self._flush_lock:
                self._identity_checked = False
            self.flush(retry=retry)
        raise StoreError(f"cannot {what}: the store file {self._db.name} keeps being replaced")

    def _file(self, con: duckdb.DuckDBPyConnection) -> tuple[str, int]:
        """What the attached file is to this journal -- ``_OURS``, ``_ANOTHER`` (another
        journal's id, or none), ``_OLDER`` (its id, fewer flushes than the journal has seen: an
        older copy) -- and its count of flushes."""
        flushes = int(_toolkit_meta(con, "flushes") or 0)
        if _toolkit_meta(con, "journal_id") != self._journal_id:
            return _ANOTHER, flushes
        return (_OLDER if flushes < self._journal.flushes() else _OURS), flushes

    def _chores(self) -> None:
        if self.chores is not None:
            self.chores(_BACKGROUND_RETRY)

    def _check_identity(self, retry: RetryPolicy | None) -> None:
        """If DuckDB was not written from this journal (replaced, or restored from a backup),
        everything the journal holds is projected into it again."""

        def work(con: duckdb.DuckDBPyConnection) -> tuple[str, int]:
            create_schema(con)
            return self._file(con)

        kind, flushes = self._db.run(work, "check the store's journal id", retry=retry)
        if kind == _ANOTHER:
            _log.warning(
                "toolkit: the store file %s was not written from its journal; writing the"
                " journal's orders into it again",
                self._db.name,
            )
            # the marks first, then the id: a process killed in between checks again
            self._journal.unproject_all(flushes)
            self._db.run(
                lambda con: _set_toolkit_meta(con, "journal_id", self._journal_id),
                "record the store's journal id",
                retry=retry,
            )
        elif kind == _OLDER:
            self._older(flushes)
        if kind != _OURS or self._journal.missing():
            self._check_archived(retry)
        self._identity_checked = True

    def _check_archived(self, retry: RetryPolicy | None) -> None:
        """Count the archived orders the DuckDB file lacks -- after it proved to be another
        file or an older copy, or while a count is recorded (the right file may be back) -- and
        record it in the journal (``meta.``:data:`~toolkit.store._journal.MISSING`): reads that
        may include archived orders refuse while it is set, rather than silently show fewer."""
        if self._journal.archived_before() is None:
            return
        ids = pd.DataFrame(
            {"client_order_id": pd.Series(self._journal.archived_ids(), dtype=object)}
        )
        missing = self._db.run(
            _missing, "look for the archived orders", ids, read_only=True, retry=retry
        )
        self._journal.set_meta(MISSING, str(missing) if missing else None)
        if missing:
            _log.error(
                "toolkit: the store file %s lacks %d orders archived from its journal (it was"
                " replaced, or restored from an older copy); reads that may include archived"
                " orders refuse until the file that holds them is back",
                self._db.name,
                missing,
            )

    def _older(self, flushes: int) -> None:
        """The DuckDB file has had fewer flushes than the journal has seen: an older copy of
        it (a backup restored). Everything the journal holds is written into it again; what
        left the journal since that copy (order events, archived orders) is not in it."""
        _log.error(
            "toolkit: the store file %s is older than its journal (%d projection flushes"
            " against %d: restored from a copy?); writing the journal's orders and batches into"
            " it again. Order events and orders archived from the journal since that copy are"
            " not in it",
            self._db.name,
            flushes,
            self._journal.flushes(),
        )
        self._journal.unproject_all(flushes)

    def _write(self, retry: RetryPolicy | None) -> tuple[Pending | None, str, int]:
        """Write what the journal holds that DuckDB lacks (up to a chunk); returns it, what the
        file is (:meth:`_file`) and its count of flushes after it -- writing nothing (``None``)
        unless the file is ``_OURS``.

        The journal is read while this process holds the DuckDB file: another process's
        projection writes before or after, with the journal as it was then, so an older
        version of a row (a batch not yet finished) never overwrites a newer one in DuckDB.
        """
        n_orders = len(ROW_FIELDS)

        def work(con: duckdb.DuckDBPyConnection) -> tuple[Pending | None, str, int]:
            kind, flushes = self._file(con)
            if kind != _OURS:
                return None, kind, flushes
            pending = self._journal.pending(CHUNK)
            for rows, fields, table, sql in (
                ([r[:n_orders] for r in pending.orders], ROW_FIELDS, "orders", _ORDERS_SQL),
                ([r[:-1] for r in pending.batches], BATCH_FIELDS, "batches", _BATCHES_SQL),
                (pending.events, _EVENT_FIELDS, "events", _EVENTS_SQL),
            ):
                if not rows:
                    continue
                con.register(STAGE, _stage(table, fields, rows))
                try:
                    con.execute(sql)
                finally:
                    con.unregister(STAGE)
            if pending:
                flushes += 1
                _set_toolkit_meta(con, "flushes", str(flushes))
            return pending, kind, flushes

        return self._db.run(work, "write the journal into DuckDB", retry=retry)

    def _gather(self) -> bool:
        """Wait while commits keep coming (module docstring): until none came for ``delay``,
        or ``max_delay`` after the wake; ``True`` if stopping. The commits made before it
        returns are in the flush that follows; a later one wakes the thread again."""
        end = time.monotonic() + self._max_delay
        while (left := min(end, self._last_commit + self._delay) - time.monotonic()) > 0:
            if self._stopping.wait(left):
                return True
        # disarmed before the flush reads the journal: a commit from now on wakes it again
        self._wake.clear()
        self._armed = False
        return self._stopping.is_set()

    def _run(self) -> None:
        backoff = 0.0
        while not self._stopping.is_set():
            woke = self._wake.wait(timeout=backoff or self._poll)
            if self._stopping.is_set():
                return
            if woke and self._gather():
                return
            try:
                if not woke and not backoff and not self._journal.has_pending():
                    self._chores()
                    continue
                self.flush(retry=_BACKGROUND_RETRY)
                self._chores()
            except StoreError as exc:
                if self.last_error is None:
                    _log.info(
                        "toolkit: DuckDB is behind the journal (retrying in the background;"
                        " batches go on): %s",
                        exc,
                    )
                self.last_error = exc
                backoff = min(5.0, max(0.25, backoff * 2))
                continue
            except Exception:  # never let the thread die: log and retry later
                _log.exception("toolkit: the store projection failed; retrying")
                backoff = min(5.0, max(0.25, backoff * 2))
                continue
            self.last_error = None
            backoff = 0.0
