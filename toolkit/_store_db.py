"""The one seam between DuckDB and toolkit: short-lived connections, lock retries, StoreError.

DuckDB lets one process hold a database file at a time. :class:`Database` therefore opens a
connection per unit of work, runs it in one transaction and closes the connection, so the file
is free between operations. When another process holds the file (``Could not set lock on file``),
or two connections of this process collide on a write (a transaction conflict), the whole unit
is rolled back and retried with jittered exponential backoff until :attr:`RetryPolicy.timeout`;
then, and for every other DuckDB error, ``StoreError`` is raised ``from`` the DuckDB error.
``":memory:"`` keeps one connection for the life of the object (a memory database vanishes with
its connection).

Example::

    >>> db = Database(":memory:")
    >>> db.run(lambda con: con.execute("select 42").fetchone(), "answer")
    (42,)
    >>> db.close()
"""

from __future__ import annotations

import contextlib
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

from ._exceptions import StoreError

__all__ = ["DEFAULT_RETRY", "MEMORY", "STAGE", "Database", "RetryPolicy"]

_T = TypeVar("_T")
#: The path of a memory database.
MEMORY = ":memory:"
#: The name under which a staging DataFrame is visible to the work (a DuckDB DataFrame scan).
STAGE = "_tk_df"


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
    """A lock held by another process, or a write conflict between two connections of ours."""
    message = str(exc).lower()
    if isinstance(exc, duckdb.TransactionException):
        return "conflict" in message
    return isinstance(exc, duckdb.IOException) and "lock" in message


class Database:
    """A DuckDB database file (or ``":memory:"``) used one transaction at a time.

    Thread-safe: units of work on one file run one after the other within the process.

    Example::

        db = Database("toolkit.duckdb")
        n = db.run(lambda con: con.execute("select count(*) from orders").fetchone(), "count")
    """

    def __init__(self, path: str | os.PathLike[str], *, retry: RetryPolicy = DEFAULT_RETRY) -> None:
        self.retry = retry
        self._closed = False
        self._memory: duckdb.DuckDBPyConnection | None = None
        if os.fspath(path) == MEMORY:
            self.path: Path | None = None
            self.name = MEMORY
            self._lock = threading.RLock()
            self._memory = self._run_translated(self._connect, "open the memory database")
        else:
            self.path = Path(path).expanduser().absolute()
            self.name = str(self.path)
            self._lock = _file_lock(self.name)
            self.path.parent.mkdir(parents=True, exist_ok=True)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Close (idempotent); later :meth:`run` calls raise ``StoreError``."""
        with self._lock:
            self._closed = True
            if self._memory is not None:
                self._memory.close()
                self._memory = None

    def run(
        self,
        work: Callable[[duckdb.DuckDBPyConnection], _T],
        what: str,
        stage: pd.DataFrame | None = None,
    ) -> _T:
        """Run ``work`` in one transaction and return its result; ``what`` names it in errors.

        ``stage`` is registered as the view ``_tk_df`` for ``work``. ``work`` must not have side
        effects outside the database: it may run more than once (after a rollback).
        """
        with self._lock:
            if self._closed:
                raise StoreError(f"the store {self.name} is closed; open a new Store")
            return self._run_translated(lambda: self._transaction(work, stage), what)

    def _run_translated(self, unit: Callable[[], _T], what: str) -> _T:
        deadline = time.monotonic() + self.retry.timeout
        attempt = 0
        while True:
            try:
                return unit()
            except duckdb.Error as exc:
                if not _is_transient(exc):
                    raise StoreError(f"cannot {what} in the store {self.name}: {exc}") from exc
                pause = self.retry.delay(attempt)
                if time.monotonic() + pause >= deadline:
                    raise StoreError(
                        f"cannot {what}: the store file {self.name} stayed locked by another"
                        f" process for {self.retry.timeout:g} s ({exc})"
                    ) from exc
                time.sleep(pause)
                attempt += 1

    def _connect(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(self.name)
        try:
            con.execute("SET TimeZone = 'UTC'")  # TIMESTAMPTZ values come back in UTC
        except BaseException:
            con.close()
            raise
        return con

    def _transaction(
        self, work: Callable[[duckdb.DuckDBPyConnection], _T], stage: pd.DataFrame | None
    ) -> _T:
        con = self._memory if self._memory is not None else self._connect()
        try:
            if stage is not None:
                con.register(STAGE, stage)
            con.execute("BEGIN TRANSACTION")
            try:
                result = work(con)
                con.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(duckdb.Error):  # maybe rolled back by the failure
                    con.execute("ROLLBACK")
                raise
            return result
        finally:
            if con is not self._memory:
                con.close()
            elif stage is not None:
                con.unregister(STAGE)
