"""The journal and the projection: group commit, compaction, DuckDB behind and catching up."""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from toolkit.core._models import Market, Order, OrderStatus
from toolkit.store._journal import Journal, Pending
from toolkit.store._projection import Projection
from toolkit.store._store import BatchRecord, Store
from toolkit.store._store_db import Database

NOW = pd.Timestamp("2026-11-30 12:00", tz="UTC")


def _orders(batch_id: str, n: int) -> list[Order]:
    return [
        Order(client_order_id=f"{batch_id}-{i}", exchange="paper", market=Market.SPOT,
              symbol="BTCUSDT", batch_id=batch_id, position=i, created_at=NOW)
        for i in range(n)
    ]  # fmt: skip


def test_writes_queued_meanwhile_share_one_commit() -> None:
    """Group commit: while the writer is busy, eight batches queue up; they go in one commit,
    and one refused write (a reused key) does not undo the others."""
    journal = Journal(None)
    busy, release = threading.Event(), threading.Event()

    def slow(con: sqlite3.Connection) -> None:
        busy.set()
        release.wait(60)

    commits_before = journal.commits
    with ThreadPoolExecutor(10) as pool:
        # (a write too large to commit inline goes to the writer thread, which it holds)
        first = pool.submit(lambda: journal._enqueue(slow, "hold the writer", rows=10**6).result())
        assert busy.wait(60)
        futures = [
            journal.record_batch(BatchRecord(batch_id=f"b{i}", key="same" if i in (3, 4) else None,
                                             created_at=NOW, n_orders=2), _orders(f"b{i}", 2))
            for i in range(8)
        ]  # fmt: skip
        while journal.queued < 8:  # all eight are queued behind the busy writer
            time.sleep(0.001)
        release.set()
        first.result(60)
        errors = [f.exception(60) for f in futures]
    assert sum(e is not None for e in errors) == 1  # the second "same" key
    assert journal.commits - commits_before == 2  # the slow one, then the eight together
    rows = journal.orders("1", [], "batch_id, position")
    assert len(rows) == 14
    journal.close()


def test_events_are_compacted_once_projected(tmp_path: Path) -> None:
    path = tmp_path / "c.duckdb"
    with Store(path) as store:
        for b in range(3):
            orders = _orders(f"b{b}", 5)
            store.record_batch(BatchRecord(batch_id=f"b{b}", created_at=NOW, n_orders=5), orders)
            store.apply([dataclasses.replace(o, status=OrderStatus.FILLED) for o in orders],
                        source="response", finish=f"b{b}")  # fmt: skip
        store.projection.flush()
        with contextlib.closing(sqlite3.connect(f"{path}.journal")) as con:
            assert con.execute("select count(*) from events").fetchone() == (0,)
        assert store.sql("select count(*) as n from order_events")["n"].tolist() == [30]


def test_a_large_flush_marks_in_small_transactions_and_a_crash_between_doubles_nothing(
    tmp_path: Path,
) -> None:
    """The marks of a large flush (250 orders, 500 events) commit in several short transactions
    (a batch's write waits for one of them at most, not for all). A process killed after the
    first of them leaves the rest unmarked: the next process writes those again, and DuckDB
    still holds each order and each event once."""
    path = tmp_path / "m.duckdb"
    journal = Journal(tmp_path / "m.duckdb.journal")
    jid = journal.initialize(lambda jid: ([], [], 0))
    orders = _orders("big", 250)
    journal.record_batch(BatchRecord(batch_id="big", created_at=NOW, n_orders=250),
                         orders).result(60)  # fmt: skip
    journal.apply([dataclasses.replace(o, status=OrderStatus.FILLED) for o in orders],
                  source="response", finish="big").result(60)  # fmt: skip
    written: list[tuple[Pending, str, int]] = []

    class Killed(Exception):
        pass

    class KilledAfterTheWrite(Database):
        def run(self, work: Any, what: str, *args: Any, **kw: Any) -> Any:
            result = super().run(work, what, *args, **kw)
            if what.startswith("write"):  # DuckDB committed: killed before any mark
                written.append(result)
                raise Killed
            return result

    with contextlib.suppress(Killed):
        Projection(journal, KilledAfterTheWrite(path), journal_id=jid).flush()
    [(done, _, _)] = written
    assert (len(done.orders), len(done.batches), len(done.events)) == (250, 1, 500)
    commits = journal.commits
    # ...or killed after the first transaction of marks (what it holds: 100 of each)
    journal.projected(Pending(done.orders[:100], done.batches[:100], done.events[:100]))
    assert journal.commits - commits == 1
    assert journal.has_pending()
    commits = journal.commits
    Projection(journal, Database(path), journal_id=jid).flush()  # the next process
    assert journal.commits - commits == 4  # 150 orders and 400 events left: 100 of each at most
    assert not journal.has_pending()
    with contextlib.closing(sqlite3.connect(tmp_path / "m.duckdb.journal")) as con:
        assert con.execute("select count(*) from events").fetchone() == (0,)
    with duckdb.connect(str(path), read_only=True) as db:
        assert db.execute("select count(*), count(distinct client_order_id) from orders"
                          " where status = 'FILLED'").fetchone() == (250, 250)  # fmt: skip
        assert db.execute("select count(*), count(distinct event_id) from order_events"
                          ).fetchone() == (500, 500)  # fmt: skip
    journal.close()


def test_another_program_sees_a_write_without_any_read_of_ours(tmp_path: Path) -> None:
    """The background projection writes DuckDB by itself (within about a second); polled here
    with a generous bound, not a time window."""
    path = tmp_path / "bg.duckdb"
    store = Store(path)
    store.record_batch(BatchRecord(batch_id="b1", created_at=NOW, n_orders=3), _orders("b1", 3))
    seen = 0
    deadline = time.monotonic() + 60
    while seen < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
        # ours may hold the file for a flush right now
        with contextlib.suppress(duckdb.Error), duckdb.connect(str(path), read_only=True) as con:
            row = con.execute("select count(*) from orders").fetchone()
            seen = int(row[0]) if row else 0
    assert seen == 3
    store.close()


def test_each_commit_after_a_flush_wakes_the_projection_again(tmp_path: Path) -> None:
    """Commits wake the background thread once per flush (the ones while it gathers only move
    the end of its quiet period); the first commit after a flush wakes it again. With its
    polling of the journal turned off, only those wakes can bring each batch into DuckDB."""
    path = tmp_path / "w.duckdb"
    journal = Journal(tmp_path / "w.duckdb.journal")
    jid = journal.initialize(lambda jid: ([], [], 0))
    projection = Projection(journal, Database(path), journal_id=jid, delay=0.01, max_delay=0.05,
                            poll=3600.0)  # fmt: skip
    journal.on_commit = projection.notify
    projection.start()

    def projected() -> int:
        # (-1: held by a flush right now)
        with contextlib.suppress(duckdb.Error), duckdb.connect(str(path), read_only=True) as con:
            row = con.execute("select count(*) from orders").fetchone()
            return int(row[0]) if row else 0
        return -1

    try:
        for b in range(4):  # a burst, then one write after each flush
            for i in range(3 if b == 0 else 1):
                batch_id = f"b{b}-{i}"
                journal.record_batch(BatchRecord(batch_id=batch_id, created_at=NOW, n_orders=2),
                                     _orders(batch_id, 2)).result(60)  # fmt: skip
            want = 6 + 2 * b
            deadline = time.monotonic() + 60
            while projected() != want and time.monotonic() < deadline:
                time.sleep(0.02)
            assert projected() == want
    finally:
        projection.stop()
        journal.close()


def test_commits_while_the_projection_gathers_do_not_wake_it_again(tmp_path: Path) -> None:
    """The thread, once woken, gathers until the journal is quiet (here: never, within the
    test); the commits meanwhile only move the end of that wait -- one wake, not one each."""
    journal = Journal(tmp_path / "g.duckdb.journal")
    jid = journal.initialize(lambda jid: ([], [], 0))
    projection = Projection(journal, Database(tmp_path / "g.duckdb"), journal_id=jid,
                            delay=3600.0, max_delay=3600.0, poll=3600.0)  # fmt: skip
    journal.on_commit = projection.notify
    projection.start()
    try:
        for i in range(10):
            journal.record_batch(BatchRecord(batch_id=f"b{i}", created_at=NOW, n_orders=1),
                                 _orders(f"b{i}", 1)).result(60)  # fmt: skip
        assert projection.wakes == 1
        assert projection.flushes == 0  # still gathering
    finally:
        projection.stop()  # (its last flush writes them)
        journal.close()
    assert projection.flushes == 1


def test_a_replaced_duckdb_file_gets_the_journal_again(tmp_path: Path) -> None:
    """DuckDB restored from an old copy (or deleted): the journal writes everything into it."""
    path = tmp_path / "r.duckdb"
    with Store(path) as store:
        store.record_batch(BatchRecord(batch_id="b1", key="k", created_at=NOW, n_orders=4),
                           _orders("b1", 4))  # fmt: skip
    path.unlink()
    with Store(path) as store:
        assert store.find_batch("k") is not None  # the journal is the record
        assert store.sql("select count(*) as n from orders")["n"].tolist() == [4]
        assert store.sql("select key from batches")["key"].tolist() == ["k"]


def test_an_existing_duckdb_store_is_imported_into_a_new_journal(tmp_path: Path) -> None:
    """A store written before the journal existed (schema 2): keys, orders and event ids go on."""
    path = tmp_path / "old.duckdb"
    with Store(path) as store:
        store.record_batch(BatchRecord(batch_id="b1", key="k", created_at=NOW, n_orders=2),
                           _orders("b1", 2))  # fmt: skip
    for suffix in (".journal", ".journal-wal", ".journal-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE toolkit_meta SET value = '2' WHERE name = 'schema_version'")
        con.execute("DELETE FROM toolkit_meta WHERE name = 'journal_id'")
    with Store(path) as store:
        assert store.find_batch("k") is not None
        assert [o.client_order_id for o in store.batch_orders("b1")] == ["b1-0", "b1-1"]
        store.apply([dataclasses.replace(o, status=OrderStatus.NEW) for o in _orders("b1", 2)],
                    source="response")  # fmt: skip
        events = store.sql("select event_id, event from order_events order by event_id")
        assert events["event"].tolist() == ["submitted", "submitted", "accepted", "accepted"]
        assert events["event_id"].is_unique
        version = store.sql("select value from toolkit_meta where name = 'schema_version'")
        assert version["value"].tolist() == ["3"]


def test_a_waiter_that_gives_up_cannot_cancel_a_write() -> None:
    """A cancelled task awaiting a write through asyncio.wrap_future cancels its future; the
    write happens anyway and the writer thread lives on (it once died of the cancelled future)."""
    journal = Journal(None)
    future = journal.record_batch(BatchRecord(batch_id="b1", created_at=NOW, n_orders=1),
                                  _orders("b1", 1))  # fmt: skip
    assert not future.cancel()  # running: cannot be cancelled
    future.result(60)
    journal.record_batch(BatchRecord(batch_id="b2", created_at=NOW, n_orders=1),
                         _orders("b2", 1)).result(60)  # fmt: skip
    assert len(journal.orders("1", [], "batch_id")) == 2
    journal.close()


def _event_ids(path: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(path)) as con:
        rows = con.execute("SELECT client_order_id, max(event_id) FROM events GROUP BY 1")
        return {str(cid): int(eid) for cid, eid in rows}


def test_an_idle_journal_commits_a_small_write_on_the_callers_thread(tmp_path: Path) -> None:
    """No writer hops for a small write when nothing is queued: the future is settled (durably)
    when the call returns; a large write goes to the writer thread."""
    journal = Journal(tmp_path / "j.journal")
    inline = journal.inline_commits
    future = journal.record_batch(BatchRecord(batch_id="b1", created_at=NOW, n_orders=2),
                                  _orders("b1", 2))  # fmt: skip
    assert future.done()
    assert future.exception() is None
    assert journal.inline_commits == inline + 1
    big = journal.record_batch(BatchRecord(batch_id="b2", created_at=NOW, n_orders=300),
                               _orders("b2", 300))  # fmt: skip
    big.result(60)
    assert journal.inline_commits == inline + 1  # the writer committed it
    assert len(journal.orders("1", [], "batch_id, position")) == 302
    journal.close()


def test_writes_commit_in_the_order_made_while_the_writer_is_busy(tmp_path: Path) -> None:
    """A write made while an earlier one waits for the writer never overtakes it inline."""
    journal = Journal(tmp_path / "j.journal")
    journal.record_batch(BatchRecord(batch_id="b1", created_at=NOW, n_orders=2),
                         _orders("b1", 2)).result(60)  # fmt: skip
    busy, release = threading.Event(), threading.Event()

    def slow(con: sqlite3.Connection) -> None:
        busy.set()
        release.wait(60)

    held = journal._enqueue(slow, "hold the writer", rows=10**6)
    assert busy.wait(60)
    first, second = _orders("b1", 2)
    earlier = journal.apply([dataclasses.replace(first, status=OrderStatus.NEW, order_id="1")],
                            source="response")  # fmt: skip
    later = journal.apply([dataclasses.replace(second, status=OrderStatus.NEW, order_id="2")],
                          source="response")  # fmt: skip
    assert not later.done()  # not inline: it waits behind the earlier write
    release.set()
    for f in (held, earlier, later):
        f.result(60)
    ids = _event_ids(tmp_path / "j.journal")
    assert ids["b1-0"] < ids["b1-1"]
    journal.close()


def test_another_process_holding_the_journal_never_blocks_the_caller(tmp_path: Path) -> None:
    """While another process holds the journal's write lock, a write returns at once (the writer
    thread waits for the lock, not the caller's thread: it may be the I/O loop) and commits
    once the lock is free."""
    path = tmp_path / "j.journal"
    journal = Journal(path)
    inline = journal.inline_commits
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # another process's write transaction
        future = journal.record_batch(BatchRecord(batch_id="b1", created_at=NOW, n_orders=1),
                                      _orders("b1", 1))  # fmt: skip
        assert not future.done()  # the call returned while the lock is held
        other.execute("COMMIT")
    future.result(60)
    assert journal.inline_commits == inline
    assert [o.client_order_id for o in journal.orders("1", [], "batch_id")] == ["b1-0"]
    journal.close()


def test_a_flush_writes_what_was_committed_before_it_began(tmp_path: Path) -> None:
    """A commit made while a flush writes DuckDB waits for the next flush: a flush that chased
    such commits never ended while batches kept committing (DuckDB flushed back to back)."""
    journal = Journal(tmp_path / "f.duckdb.journal")
    committed_meanwhile: list[Any] = []

    class CommitDuringTheFirstWrite(Database):
        def run(self, work: Any, what: str, *args: Any, **kw: Any) -> Any:
            result = super().run(work, what, *args, **kw)
            if what.startswith("write") and not committed_meanwhile:
                batch = BatchRecord(batch_id="b2", created_at=NOW, n_orders=1)
                committed_meanwhile.append(journal.record_batch(batch, _orders("b2", 1)).result())
            return result

    projection = Projection(journal, CommitDuringTheFirstWrite(tmp_path / "f.duckdb"),
                            journal_id=journal.initialize(lambda jid: ([], [], 0)))  # fmt: skip
    journal.record_batch(BatchRecord(batch_id="b1", created_at=NOW, n_orders=2),
                         _orders("b1", 2)).result(60)  # fmt: skip
    projection.flush()
    assert committed_meanwhile  # a commit happened during the write
    assert projection.flushes == 1
    assert journal.has_pending()  # b2: for the next flush
    projection.flush()
    assert not journal.has_pending()
    journal.close()


def test_two_processes_projecting_at_once_never_write_an_older_version(tmp_path: Path) -> None:
    """Two processes' projections of one store: one reads the journal (a batch not finished
    yet), the other writes the finished batch into DuckDB, then the first writes. It read the
    journal while holding the DuckDB file, so it cannot write the older version over the newer
    (DuckDB once kept a batch unfinished for good while the journal had it finished)."""
    path = tmp_path / "two.duckdb"
    ours, theirs = (Journal(tmp_path / "two.duckdb.journal") for _ in range(2))
    jid = ours.initialize(lambda jid: ([], [], 0))
    theirs_projection = Projection(theirs, Database(path), journal_id=jid)
    ours.record_batch(BatchRecord(batch_id="b1", created_at=NOW, n_orders=1),
                      _orders("b1", 1)).result(60)  # fmt: skip
    interleaved: list[bool] = []

    class TheOtherProcessGoesFirst(Database):
        def run(self, work: Any, what: str, *args: Any, **kw: Any) -> Any:
            if what.startswith("write") and not interleaved:
                interleaved.append(True)
                ours.apply([], source="response", finish="b1").result(60)  # the batch finishes...
                theirs_projection.flush()  # ...and the other process projects it first
            return super().run(work, what, *args, **kw)

    our_projection = Projection(ours, TheOtherProcessGoesFirst(path), journal_id=jid)
    our_projection.flush()
    assert interleaved
    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute("select finished_at is not null from batches").fetchone()
    assert row == (True,)
    ours.close()
    theirs.close()
