"""The one seam between DuckDB and toolkit: a file held per unit of work, lock retries; StoreError.

DuckDB lets one process hold a database file at a time. :class:`Database` therefore attaches the
file to a long-lived in-memory DuckDB for one unit of work, runs it in one transaction and
detaches it, so the file is free between operations. When
another program holds the file (``Could not set lock on file``, or a user's own connection in
this process), or two connections collide on a write (a transaction conflict), the whole unit is
rolled back and retried with jittered exponential backoff until :attr:`RetryPolicy.timeout`;
then, and for every other DuckDB error, ``StoreError`` is raised ``from`` the DuckDB error.
``":memory:"`` keeps its tables in the host connection for the life of the object.

Example::

    >>> db = Database(":memory:")
    >>> db.run(lambda con: con.execute("select 42").fetchone(), "answer")
    (42,)
    >>> db.close()
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import duckdb
import pandas as pd

from ..core._exceptions import StoreError

__all__ = ["ALIAS", "DEFAULT_RETRY", "MEMORY", "STAGE", "Database", "RetryPolicy"]

_T = TypeVar("_T")
#: The path of a memory database.
MEMORY = ":memory:"
#: The name under which a staging DataFrame is visible to the work (a DuckDB DataFrame scan).
STAGE = "_tk_df"
#: The catalog name under which the store file is attached for a unit of work.
ALIAS = "tk_store"
#: The catalog of the in-memory host database.
MEMORY_CATALOG = "memory"
_log = logging.getLogger("toolkit")


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait for another process that holds the store file.

    Retry ``n`` sleeps between half and all of ``min(max_delay, base_delay * 2**n)`` seconds;
    after ``timeout`` seconds in total the store raises ``StoreError``.

    Example::

        >>> RetryPolicy(timeout=5.0).max_delay
        0.25
    """

    timeout: float = 30.0
    base_delay: float = 0.005
    max_delay: float = 0.25

    def delay(self, attempt: int) -> float:
        """Seconds to sleep before retry number ``attempt`` (0-based), jittered."""
        cap = min(self.max_delay, self.base_delay * 2.0**attempt)
        return cap / 2 + random.uniform(0, cap / 2)


#: The default: up to 30 s of waiting for a store file held by another process.
DEFAULT_RETRY = RetryPolicy()


# One lock per store file for the whole process: DuckDB shares one database instance between the
# connections of a process, and opening it in one thread while another closes it can leave the new
# connection without its pandas scan ("pandas_scan does not exist"). Units of work on one file are
# serialized anyway by DuckDB's single writer, so this costs nothing.
_FILE_LOCKS: dict[str, threading.RLock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def _file_lock(name: str) -> threading.RLock:
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(name, threading.RLock())


def _is_transient(exc: duckdb.Error) -> bool:
    """A lock held by another process (or by another connection of this process: a user's own
    ``duckdb.connect``), or a write conflict between two connections."""
    message = str(exc).lower()
    if isinstance(exc, duckdb.TransactionException):
        return "conflict" in message
    if "already attached" in message or "file handle conflict" in message:
        return True
    return isinstance(exc, duckdb.IOException) and "lock" in message


class Database:
    """A DuckDB database file (or ``":memory:"``) used one transaction at a time.

    The file is held only during a unit of work: a long-lived in-memory DuckDB ``ATTACH``es it
    for the unit and ``DETACH``es it after (about 1 ms, where a ``duckdb.connect`` of the file
    costs 15-20 ms: it starts a database instance). Thread-safe: units of work on one file run
    one after the other within the process.

    Example::

        db = Database("toolkit.duckdb")
        n = db.run(lambda con: con.execute("select count(*) from orders").fetchone(), "count")
    """

    def __init__(self, path: str | os.PathLike[str], *, retry: RetryPolicy = DEFAULT_RETRY) -> None:
        self.retry = retry
        self._closed = False
        self._host: duckdb.DuckDBPyConnection | None = None
        if os.fspath(path) == MEMORY:
            self.path: Path | None = None
            self.name = MEMORY
            self._lock = threading.RLock()
        else:
            self.path = Path(path).expanduser().absolute()
            self.name = str(self.path)
            self._lock = _file_lock(self.name)
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._host = self._run_translated(self._connect, "open DuckDB", self.retry)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Close (idempotent); later :meth:`run` calls raise ``StoreError``."""
        with self._lock:
            self._closed = True
            if self._host is not None:
                self._host.close()
                self._host = None

    def run(
        self,
        work: Callable[[duckdb.DuckDBPyConnection], _T],
        what: str,
        stage: pd.DataFrame | None = None,
        *,
        read_only: bool = False,
        retry: RetryPolicy | None = None,
    ) -> _T:
        """Run ``work`` in one transaction and return its result; ``what`` names it in errors.

        ``stage`` is registered as the view ``_tk_df`` for ``work``. ``work`` must not have side
        effects outside the database: it may run more than once (after a rollback). With
        ``read_only`` the file is attached read-only: a write raises ``StoreError``. ``retry``
        replaces the policy of this database for this call.
        """
        with self._lock:
            if self._closed or self._host is None:
                raise StoreError(f"the store {self.name} is closed; open a new Store")
            host = self._host
            return self._run_translated(
                lambda: self._transaction(host, work, stage, read_only), what, retry or self.retry
            )

    def _run_translated(self, unit: Callable[[], _T], what: str, retry: RetryPolicy) -> _T:
        start = time.monotonic()
        deadline = start + retry.timeout
        attempt = 0
        told = False
        while True:
            try:
                return unit()
            except duckdb.Error as exc:
                if not _is_transient(exc):
                    raise StoreError(f"cannot {what} in the store {self.name}: {exc}") from exc
                pause = retry.delay(attempt)
                if time.monotonic() + pause >= deadline:
                    raise StoreError(
                        f"cannot {what}: the store file {self.name} stayed locked by another"
                        f" program for {retry.timeout:g} s ({exc}); batches go on in the"
                        " journal, and DuckDB catches up once the file is free"
                    ) from exc
                if not told and retry.timeout >= 2.0 and time.monotonic() - start > 1.0:
                    told = True
                    _log.warning(
                        "toolkit: waiting up to %g s to %s: the store file %s is held by"
                        " another program (%s)", retry.timeout, what, self.name, exc,
                    )
                time.sleep(pause)
                attempt += 1

    def _connect(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(MEMORY)
        try:
            con.execute("SET TimeZone = 'UTC'")  # TIMESTAMPTZ values come back in UTC
        except BaseException:
            con.close()
            raise
        return con

    def _transaction(
        self,
        host: duckdb.DuckDBPyConnection,
        work: Callable[[duckdb.DuckDBPyConnection], _T],
        stage: pd.DataFrame | None,
        read_only: bool,
    ) -> _T:
        attached = False
        try:
            if self.path is not None:
                target = self.name.replace("'", "''")
                mode = " (READ_ONLY)" if read_only else ""
                host.execute(f"ATTACH '{target}' AS {ALIAS}{mode}")
                attached = True
                host.execute(f"USE {ALIAS}")
            if stage is not None:
                host.register(STAGE, stage)
            host.execute("BEGIN TRANSACTION")
            try:
                result = work(host)
                host.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(duckdb.Error):  # maybe rolled back by the failure
                    host.execute("ROLLBACK")
                raise
            return result
        finally:
            if stage is not None:
                with contextlib.suppress(duckdb.Error):
                    host.unregister(STAGE)
            if attached:
                host.execute(f"USE {MEMORY_CATALOG}")
                host.execute(f"DETACH {ALIAS}")
