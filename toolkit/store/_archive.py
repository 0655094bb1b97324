"""Archiving: final orders leave the journal once the DuckDB file holds them, so the journal
stops growing.

An order row leaves when it is final (never to change or be sent again), of a finished batch
whose rows are all final, older than the store's retention, projected, and seen in the DuckDB
file exactly as the journal holds it (:meth:`Archiver.run`). Its ids stay in the journal
(``archived``): never written ahead again, and a read by id knows to read DuckDB. The
projection's background thread runs a pass every :data:`ARCHIVE_EVERY` seconds once it has
checked the DuckDB file (:meth:`Archiver.due`); ``compact`` runs passes by hand.

Example::

    archiver = Archiver(journal, projection, retention=pd.Timedelta(days=7))
    projection.chores = archiver.due
    archiver.run()  # -> how many order rows left the journal
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import duckdb
import pandas as pd

from ._journal import Journal
from ._journal_rows import ROW_FIELDS
from ._projection import ORDER_ROWS, Projection
from ._store_db import STAGE, RetryPolicy

__all__ = ["ARCHIVE_EVERY", "ARCHIVE_PASS", "ARCHIVE_SOON", "Archiver"]

#: Seconds between two archiving passes of the background thread.
ARCHIVE_EVERY = 3600.0
#: ... while the last pass left rows to archive (it takes at most ``ARCHIVE_PASS`` rows).
ARCHIVE_SOON = 60.0
#: Order rows one archiving pass looks at, at most.
ARCHIVE_PASS = 50_000
_HELD = f"SELECT r.* FROM ({ORDER_ROWS}) r JOIN {STAGE} USING (client_order_id)"


def _utc_now() -> pd.Timestamp:
    now: pd.Timestamp = pd.Timestamp.now(tz="UTC")
    return now


def _held(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[Any, ...]]:
    """The staged orders as DuckDB holds them (``ROW_FIELDS``, the journal's form)."""
    return {str(r[0]): tuple(r) for r in con.execute(_HELD).fetchall()}


class Archiver:
    """Archives one journal's final orders into the DuckDB file its projection writes
    (module docstring). ``retention``: ``None`` never archives. ``every``: seconds between
    the background passes (``None``: only :meth:`run`). ``now``: the clock of the retention;
    ``clock``: the one of the schedule (seconds). ``pass_rows``: rows one pass looks at."""

    def __init__(
        self,
        journal: Journal,
        projection: Projection,
        *,
        retention: pd.Timedelta | None,
        every: float | None = ARCHIVE_EVERY,
        now: Callable[[], pd.Timestamp] = _utc_now,
        clock: Callable[[], float] = time.monotonic,
        pass_rows: int = ARCHIVE_PASS,
    ) -> None:
        self._journal = journal
        self._projection = projection
        self._retention = retention
        self._every = every
        self._now = now
        self._clock = clock
        self._pass_rows = pass_rows
        self._ran_at: float | None = None  # (time.monotonic) of the last background pass
        self._more = False  # the last pass left rows to archive

    def run(self, *, retry: RetryPolicy | None = None) -> int:
        """One archiving pass: the journal's order rows past the retention that DuckDB is seen
        to hold as they are leave the journal (:meth:`Journal.archive`); returns how many.

        Batches older than the retention that a dead process left unfinished are finished
        first if none of their orders is PENDING (``Journal.finish_stale``), then a flush
        (DuckDB gets the last versions); then up to ``pass_rows`` rows
        (``Journal.archivable``) are looked up in the DuckDB file itself, in one read that
        checks the file is this journal's and not an older copy (``Projection.read``): a row
        leaves only if the file holds it exactly as the journal does -- not on the journal's
        ``projected`` marks alone. A row it holds otherwise is written into it again.
        ``retry`` as for ``Projection.flush``; the pass ends early when the projection stops.
        """
        if self._retention is None:
            return 0
        before = self._now() - self._retention
        self._journal.finish_stale(before)
        self._projection.flush(retry=retry)
        rows = self._journal.archivable(before, self._pass_rows)
        if not rows:
            self._more = False
            return 0
        n = len(ROW_FIELDS)
        ids = pd.DataFrame({"client_order_id": pd.Series([r[0] for r in rows], dtype=object)})
        held = self._projection.read(_held, "look up the orders to archive", ids, retry=retry)
        same = [r for r in rows if held.get(r[0]) == tuple(r[:n])]
        if len(same) < len(rows):  # marked projected, not in the file as it is: write it again
            self._journal.unproject([r[0] for r in rows if held.get(r[0]) != tuple(r[:n])])
        archived = self._journal.archive(same, before, stop=self._projection.stopping)
        self._more = len(rows) >= self._pass_rows and archived > 0
        return archived

    def due(self, retry: RetryPolicy) -> None:
        """Run a pass if one is due (the projection's thread calls it after each look at the
        journal): every ``every`` seconds, every :data:`ARCHIVE_SOON` while the last pass left
        rows -- and only once a flush checked that DuckDB is the journal's (its ``projected``
        marks say what that file holds): an idle process leaves the DuckDB file alone."""
        if not self._projection.checked or self._every is None:
            return
        every = min(ARCHIVE_SOON, self._every) if self._more else self._every
        if self._ran_at is None or self._clock() - self._ran_at >= every:
            self._ran_at = self._clock()  # (a pass that fails waits as one that ends)
            self._more = True  # ... the shorter wait, unless it ends
            self.run(retry=retry)
