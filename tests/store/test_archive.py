"""Archiving: final orders leave the journal once DuckDB holds them, and nothing a user reads
changes; their ids are never written ahead again; the journal stops growing."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from toolkit.core._exceptions import StoreError
from toolkit.core._models import Market, Order, OrderStatus, OrderType, Outcome, Side
from toolkit.store._archive import Archiver
from toolkit.store._journal import JOURNAL_SCHEMA_VERSION, Journal
from toolkit.store._projection import Projection, load_journal_rows
from toolkit.store._store import BatchRecord, RetryPolicy, Store
from toolkit.store._store_db import Database

from .test_two_processes import _hold, _release

AT = pd.Timestamp("2026-11-30 12:00", tz="UTC")
#: What each order becomes: a final batch (all of it may leave the journal) ...
FINAL: dict[str, tuple[OrderStatus, Outcome]] = {
    "filled": (OrderStatus.FILLED, Outcome.PLACED),
    "canceled": (OrderStatus.CANCELED, Outcome.PLACED),
    "expired": (OrderStatus.EXPIRED, Outcome.PLACED),
    "rejected": (OrderStatus.REJECTED, Outcome.PLACED),  # by the exchange
    "invalid": (OrderStatus.INVALID, Outcome.NOT_PLACED),  # never sent
}
#: ... and a live one (none of it may: a key's re-run may still resolve, claim or send it).
LIVE: dict[str, tuple[OrderStatus, Outcome]] = {
    "unsent": (OrderStatus.REJECTED, Outcome.NOT_PLACED),  # a key's re-run may send it
    "open": (OrderStatus.NEW, Outcome.PLACED),
    "part": (OrderStatus.PARTIALLY_FILLED, Outcome.PLACED),
    "pending": (OrderStatus.PENDING, Outcome.UNKNOWN),
}


def _order(cid: str, batch_id: str | None, position: int, at: pd.Timestamp) -> Order:
    return Order(client_order_id=cid, exchange="paper", market=Market.SPOT, symbol="BTCUSDT",
                 side=Side.BUY, type=OrderType.LIMIT, price=100.0, qty=1.0, batch_id=batch_id,
                 key=batch_id, position=position, created_at=at, updated_at=at,
                 outcome=Outcome.UNKNOWN)  # fmt: skip


def _batch(
    store: Store, batch_id: str, fates: dict[str, tuple[OrderStatus, Outcome]], at: pd.Timestamp
) -> list[str]:
    """Write ahead one order per fate (``{batch_id}-{name}``; the INVALID one as such), then
    answer the others (order id ``{batch_id}-x{position}``); -> their client order ids."""
    orders = [_order(f"{batch_id}-{name}", batch_id, i, at) for i, name in enumerate(fates)]
    orders = [
        o.evolve(status=status, outcome=outcome, error_msg="qty below the minimum")
        if status is OrderStatus.INVALID else o
        for o, (status, outcome) in zip(orders, fates.values(), strict=True)
    ]  # fmt: skip
    batch = BatchRecord(batch_id=batch_id, key=batch_id, created_at=at, n_orders=len(orders),
                        exchange="paper", market="spot")  # fmt: skip
    store.record_batch(batch, orders)
    answers = [
        o.evolve(status=status, outcome=outcome, order_id=f"{batch_id}-x{i}", updated_at=at,
                 filled_qty=1.0 if status is OrderStatus.FILLED else 0.0)
        for i, (o, (status, outcome)) in enumerate(zip(orders, fates.values(), strict=True))
        if status is not OrderStatus.INVALID
    ]  # fmt: skip
    store.apply(answers, source="response", finish=batch_id)
    return [o.client_order_id for o in orders]


def _two_batches(store: Store) -> tuple[list[str], list[str]]:
    """``b1``: final (5 orders), ``b2``: live (4)."""
    return _batch(store, "b1", FINAL, AT), _batch(store, "b2", LIVE, AT)


def _journal_ids(store: Store) -> set[str]:
    assert store.journal_path is not None
    with contextlib.closing(sqlite3.connect(store.journal_path)) as con:
        return {r[0] for r in con.execute("SELECT client_order_id FROM orders")}


def test_final_orders_leave_the_journal_and_every_read_stays_the_same(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb", retention=pd.Timedelta(0), archive_every=None) as store:
        final, live = _two_batches(store)
        reads: dict[str, Callable[[], pd.DataFrame]] = {
            "orders": lambda: store.orders(),
            "filled": lambda: store.orders(status="FILLED"),
            "symbol": lambda: store.orders(symbol="BTC/USDT", since=AT),
            "by ids": lambda: store.orders(order_ids=["b1-x0", "b2-open"]),
            "by key": lambda: store.orders(key="b1"),
            "ints": lambda: store.orders(order_ids=[1], key=1),  # type: ignore[arg-type]
        }
        before = {name: read() for name, read in reads.items()}
        records, in_batch = store.records(), store.batch_orders("b1")
        assert len(before["orders"]) == 9

        assert store.archiver.run() == len(final)

        assert _journal_ids(store) == set(live)
        for name, read in reads.items():
            pd.testing.assert_frame_equal(read(), before[name], obj=name)
        assert store.records() == records
        assert store.batch_orders("b1") == in_batch
        found = store.records(client_order_ids=["b1-filled"])
        assert [o.client_order_id for o in found] == ["b1-filled"]
        # what never includes a final order is read from the journal alone
        assert len(store.pending()) == 1
        assert len(store.orders(open_only=True)) == 2
        # DuckDB holds every order, as before
        assert store.sql("select count(*) as n from orders")["n"].tolist() == [9]


def test_only_rows_older_than_the_retention_and_projected_are_archived(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.duckdb")
    journal = Journal(tmp_path / "s.journal")
    try:
        jid = journal.initialize(lambda j: load_journal_rows(db, j))
        now = [AT]
        projection = Projection(journal, db, journal_id=jid)  # no thread: flushed by hand
        archiver = Archiver(  # a clock of the test's
            journal, projection, retention=pd.Timedelta(days=1), now=lambda: now[0]
        )
        old = _order("old", None, 0, AT - pd.Timedelta(days=2))
        new = _order("new", None, 0, AT)
        batch = BatchRecord(batch_id="b1", key=None, created_at=AT, n_orders=2)
        journal.record_batch(batch, [old, new]).result()
        filled = [o.evolve(status=OrderStatus.FILLED, outcome=Outcome.PLACED) for o in (old, new)]
        journal.apply(filled, source="response", finish="b1").result()
        # not projected yet: not even a candidate
        assert journal.archivable(AT, 100) == []
        assert archiver.run() == 1  # (flushes first)
        assert {r[0] for r in journal.order_rows("1", [], "client_order_id")} == {"new"}
        assert journal.archived(["old", "new"]) == {"old"}
        assert journal.archived_before() == AT - pd.Timedelta(days=1)
        # a change not yet projected keeps a row in the journal
        journal.apply([filled[1].evolve(error_msg="late note")], source="query").result()
        assert journal.archivable(AT + pd.Timedelta(days=2), 100) == []
        now[0] = AT + pd.Timedelta(days=2)
        assert archiver.run() == 1
    finally:
        journal.close()
        db.close()


def test_a_batch_stays_while_any_row_of_it_is_not_final(tmp_path: Path) -> None:
    """A key's re-run still resolves, claims, sends and counts the rows of such a batch: none
    of them leaves the journal. Nor do the rows of a keyed batch that are all INVALID (its key
    is still free: the next attempt moves them to a retired key)."""
    with Store(tmp_path / "s.duckdb", retention=pd.Timedelta(0), archive_every=None) as store:
        # one final row beside every kind of live one
        mixed = _batch(store, "b1", {"filled": FINAL["filled"], **LIVE}, AT)
        invalid = _batch(store, "b2", {"invalid": FINAL["invalid"], "bad": FINAL["invalid"]}, AT)
        assert store.archiver.run() == 0
        assert _journal_ids(store) == {*mixed, *invalid}
        # once every row of b1 is final, all of it leaves
        final = [
            o.evolve(status=OrderStatus.CANCELED, outcome=Outcome.PLACED)
            for o in store.batch_orders("b1")
            if o.status is not OrderStatus.FILLED
        ]
        store.apply(final, source="query")
        assert store.archiver.run() == 5
        assert _journal_ids(store) == set(invalid)


def test_a_restored_duckdb_backup_is_written_again_and_archiving_waits_for_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A DuckDB file restored from a backup carries the same journal id but lacks what was
    written since: its count of flushes is lower than the journal saw, so the journal writes
    everything it holds into it again (saying so), before anything is archived."""
    path = tmp_path / "s.duckdb"
    with Store(path) as store:
        _batch(store, "b1", FINAL, AT)
        store.projection.flush()
    backup = tmp_path / "backup.duckdb"
    shutil.copy(path, backup)
    with Store(path) as store:
        _batch(store, "b2", FINAL, AT)
    shutil.copy(backup, path)  # restored: b2 is gone from the file
    with Store(path, retention=pd.Timedelta(0), archive_every=None) as store:
        store.projection.flush()
        assert "older than its journal" in caplog.text
        n = store.sql("select count(*) as n from orders where batch_id = 'b2'")["n"].tolist()
        assert n == [5]
        assert store.archiver.run() == 10
        assert len(store.orders()) == 10


def test_rows_a_restored_file_holds_otherwise_are_not_archived_but_written_again(
    tmp_path: Path,
) -> None:
    """Archiving compares each row with the file itself, whole: a row the file holds in
    another version (here: changed behind the journal's back) stays, and is written again."""
    path = tmp_path / "s.duckdb"
    with Store(path, retention=pd.Timedelta(0), archive_every=None) as store:
        _batch(store, "b1", FINAL, AT)
        store.projection.flush()
        store.sql(
            "update orders set avg_price = 1.5 where client_order_id = 'b1-filled'", write=True
        )
        assert store.archiver.run() == 4
        assert _journal_ids(store) == {"b1-filled"}
        store.projection.flush()  # written again: the journal's version
        assert (
            store.sql("select avg_price from orders where client_order_id = 'b1-filled'")[
                "avg_price"
            ]
            .isna()
            .all()
        )
        assert store.archiver.run() == 1


def test_an_archived_id_is_never_written_ahead_again_and_late_news_changes_nothing(
    tmp_path: Path,
) -> None:
    with Store(tmp_path / "s.duckdb", retention=pd.Timedelta(0), archive_every=None) as store:
        _batch(store, "b1", FINAL, AT)
        store.archiver.run()
        again = _order("b1-filled", "b2", 0, AT)  # a user-given id used before
        with pytest.raises(StoreError, match="'b1-filled' is already recorded"):
            store.record_batch(BatchRecord(batch_id="b2", created_at=AT, n_orders=1), [again])
        assert store.find_batch("b2") is None  # nothing of it was written
        # an update about an archived order (a late echo) is not taken for a new order
        echo = again.evolve(batch_id=None, key=None, position=None, status=OrderStatus.FILLED)
        store.apply([echo], source="stream")
        assert "b1-filled" not in _journal_ids(store)
        row = store.sql("select batch_id, key from orders where client_order_id = 'b1-filled'")
        assert row.to_dict("records") == [{"batch_id": "b1", "key": "b1"}]
        events = store.sql("select count(*) as n from order_events where source = 'stream'")
        assert events["n"].tolist() == [0]


def test_reads_that_may_need_duckdb_wait_for_it_and_the_others_do_not(tmp_path: Path) -> None:
    """A user's own connection holds the DuckDB file: reads of recent, open or pending orders
    answer from the journal; a read that may reach archived orders waits and says why."""
    path = tmp_path / "s.duckdb"
    quick = RetryPolicy(timeout=0.3, base_delay=0.01, max_delay=0.05)
    with Store(path, retry=quick, retention=pd.Timedelta(0), archive_every=None) as store:
        _two_batches(store)
        assert store.archiver.run() == 5
        holder = _hold(path)
        try:
            assert len(store.orders(open_only=True)) == 2
            assert len(store.pending()) == 1
            assert len(store.orders(since=pd.Timestamp.now(tz="UTC"))) == 0
            assert len(store.orders(client_order_ids=["b2-open"])) == 1
            # what a cancel or a wait looks up: ids the journal finds (client or exchange ids)
            assert len(store.records(order_ids=["b2-open", "b2-x2"])) == 2
            assert store.records(order_ids=["never-seen"]) == []
            with pytest.raises(StoreError, match="stayed locked by another program"):
                store.orders()
            # a key's re-run of an archived batch reads its rows there too: it waits, then says
            # why (and sends nothing); the journal's own batch does not wait
            assert len(store.batch_orders("b2")) == 4
            with pytest.raises(StoreError, match="stayed locked by another program"):
                store.batch_orders("b1")
        finally:
            _release(holder)
        assert len(store.orders()) == 9
        assert len(store.batch_orders("b1")) == 5


def test_the_journal_stops_growing(tmp_path: Path) -> None:
    """Rounds of 600 filled orders (two archiving transactions each), archived after each: the
    journal file's pages are reused (kept, the 1,800 orders of rounds 2-4 would need ~2 MB
    more; their ids ~70 KB)."""
    with Store(tmp_path / "s.duckdb", retention=pd.Timedelta(0), archive_every=None) as store:
        pages: list[int] = []
        for n in range(4):
            batch_id = f"r{n}"
            orders = [_order(f"{batch_id}-{i}", batch_id, i, AT) for i in range(600)]
            batch = BatchRecord(batch_id=batch_id, created_at=AT, n_orders=len(orders))
            store.record_batch(batch, orders)
            store.apply(
                [o.evolve(status=OrderStatus.FILLED, outcome=Outcome.PLACED, order_id=str(i),
                          filled_qty=1.0, raw={"note": "x" * 400})
                 for i, o in enumerate(orders)],
                source="response", finish=batch_id,
            )  # fmt: skip
            assert store.archiver.run() == 600
            assert store.journal_path is not None
            with contextlib.closing(sqlite3.connect(store.journal_path)) as con:
                pages.append(con.execute("PRAGMA page_count").fetchone()[0])
                page_size = con.execute("PRAGMA page_size").fetchone()[0]
        grown = (pages[-1] - pages[0]) * page_size
        assert grown < 200_000, pages
        assert len(store.orders()) == 2400


def test_a_journal_of_schema_version_1_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with Store(path) as store:
        _two_batches(store)
        journal = store.journal_path
    assert journal is not None
    with contextlib.closing(sqlite3.connect(journal)) as con, con:
        con.execute("DROP TABLE archived")
        con.execute("UPDATE meta SET value = '1' WHERE name = 'schema_version'")
    with Store(path, retention=pd.Timedelta(0), archive_every=None) as store:
        assert store.archiver.run() == 5
        assert len(store.orders()) == 9
    with contextlib.closing(sqlite3.connect(journal)) as con:
        version = con.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
    assert version == (str(JOURNAL_SCHEMA_VERSION),)
    # DuckDB was never changed by archiving: a plain connection sees every order
    with duckdb.connect(str(path), read_only=True) as db:
        assert db.execute("select count(*) from orders").fetchone() == (9,)


def test_batches_and_their_keys_stay_in_the_journal(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb", retention=pd.Timedelta(0), archive_every=None) as store:
        _batch(store, "b1", FINAL, AT)
        assert store.archiver.run() == 5
        found = store.find_batch("b1")
        assert found is not None
        assert found.n_orders == 5
        # a new batch with the same key is refused by the journal, as before archiving
        clash = dataclasses.replace(found, batch_id="b9")
        with pytest.raises(StoreError, match="already recorded"):
            store.record_batch(clash, [_order("b9-0", "b9", 0, AT)])


def test_the_projection_thread_archives_by_itself(tmp_path: Path) -> None:
    """The background pass (after its first flush, then hourly) archives without being asked."""
    with Store(tmp_path / "s.duckdb", retention=pd.Timedelta(0)) as store:
        _, live = _two_batches(store)
        stay = set(live)
        deadline = time.monotonic() + 60  # a generous bound, not a window: polled
        while _journal_ids(store) != stay and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _journal_ids(store) == stay
        assert len(store.orders()) == 9


def test_a_file_replaced_under_a_running_store_gets_the_journal_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each flush checks that the file is its journal's, not only the first."""
    path, other = tmp_path / "s.duckdb", tmp_path / "other.duckdb"
    Store(other).close()  # another store's file: another journal id
    with Store(path, retention=pd.Timedelta(0), archive_every=None) as store:
        _batch(store, "b1", LIVE, AT)
        store.projection.flush()
        shutil.copy(other, path)  # replaced while the store is open
        _batch(store, "b2", FINAL, AT)
        store.projection.flush()
        assert "was not written from its journal" in caplog.text
        assert store.sql("select count(*) as n from orders")["n"].tolist() == [9]
        assert store.archiver.run() == 5


def test_a_batch_left_unfinished_is_finished_once_decided_and_then_archived(
    tmp_path: Path,
) -> None:
    """A batch whose process died is never finished by its own run: reconciliation finishes
    it once none of its orders is PENDING, and then its orders may leave the journal."""
    with Store(tmp_path / "s.duckdb", retention=pd.Timedelta(0), archive_every=None) as store:
        orders = [_order(f"b1-{i}", "b1", i, AT) for i in range(2)]
        store.record_batch(BatchRecord(batch_id="b1", created_at=AT, n_orders=2), orders)
        filled = [o.evolve(status=OrderStatus.FILLED, outcome=Outcome.PLACED) for o in orders]
        store.apply(filled[:1], source="reconcile")
        assert store.submit_finish_resolved(["b1"]).result() == []  # one is still PENDING
        assert store.archiver.run() == 0  # an unfinished batch stays
        store.apply(filled[1:], source="reconcile")
        assert store.submit_finish_resolved(["b1", "b1"]).result() == ["b1"]
        assert store.submit_finish_resolved(["b1"]).result() == []  # finished already
        counts = store.sql("select counts from batches")["counts"].tolist()
        assert [json.loads(c) for c in counts] == [{"FILLED": 2}]
        assert store.archiver.run() == 2


def test_a_lost_file_after_archiving_makes_reads_of_archived_orders_refuse(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Orders archived out of the journal live in the DuckDB file only: a file deleted (or
    replaced) afterwards must not make ``orders()`` silently show fewer. Reads that may include
    them refuse, naming the count; the journal's own reads go on; the file put back cures it."""
    path, kept = tmp_path / "s.duckdb", tmp_path / "kept.duckdb"
    with Store(path, retention=pd.Timedelta(0), archive_every=None) as store:
        _, live = _two_batches(store)
        assert store.archiver.run() == 5
    shutil.copy(path, kept)
    path.unlink()
    with Store(path, retention=pd.Timedelta(0), archive_every=None) as store:
        with pytest.raises(StoreError, match="lacks 5 orders archived"):
            store.orders()
        with pytest.raises(StoreError, match="lacks 5 orders archived"):
            store.batch_orders("b1")
        assert "lacks 5 orders archived" in caplog.text
        assert set(store.orders(open_only=True)["client_order_id"]) == {"b2-open", "b2-part"}
        assert [o.client_order_id for o in store.batch_orders("b2")] == live
    shutil.copy(kept, path)  # the file that holds them, back
    with Store(path, retention=pd.Timedelta(0), archive_every=None) as store:
        assert len(store.orders()) == 9
        assert len(store.batch_orders("b1")) == 5


def test_a_file_replaced_under_a_running_store_is_checked_before_archived_orders_are_read(
    tmp_path: Path,
) -> None:
    """With nothing left to write there is no flush to notice the new file: the read of
    archived orders checks the file itself, in its own transaction."""
    path, other = tmp_path / "s.duckdb", tmp_path / "other.duckdb"
    Store(other).close()
    with Store(path, retention=pd.Timedelta(0), archive_every=None) as store:
        _two_batches(store)
        assert store.archiver.run() == 5
        assert len(store.orders()) == 9
        shutil.copy(other, path)  # replaced while the store is open, nothing to write
        with pytest.raises(StoreError, match="lacks 5 orders archived"):
            store.orders(status="FILLED")
        # the journal's orders were written into the new file all the same
        assert store.sql("select count(*) as n from orders")["n"].tolist() == [4]


def test_the_invalid_rows_of_a_mixed_batch_follow_its_other_rows_out(tmp_path: Path) -> None:
    """A pass may end (a limit, a stop) after a batch's placed rows left and before its INVALID
    one did: the batch is still not all INVALID (its counts say so), so a later pass takes it."""
    db = Database(tmp_path / "s.duckdb")
    journal = Journal(tmp_path / "s.journal")
    try:
        jid = journal.initialize(lambda j: load_journal_rows(db, j))
        projection = Projection(journal, db, journal_id=jid)
        archiver = Archiver(journal, projection, retention=pd.Timedelta(0))
        orders = [_order(f"b1-{i}", "b1", i, AT) for i in range(3)]
        orders[2] = orders[2].evolve(status=OrderStatus.INVALID, outcome=Outcome.NOT_PLACED)
        batch = BatchRecord(batch_id="b1", key="b1", created_at=AT, n_orders=3)
        journal.record_batch(batch, orders).result()
        filled = [o.evolve(status=OrderStatus.FILLED, outcome=Outcome.PLACED) for o in orders[:2]]
        journal.apply(filled, source="response", finish="b1").result()
        projection.flush()
        before = pd.Timestamp.now(tz="UTC")
        rows = journal.archivable(before, 100)
        assert sorted(r[0] for r in rows) == ["b1-0", "b1-1", "b1-2"]
        # a pass cut short: the placed rows left, the INVALID one did not
        assert journal.archive([r for r in rows if r[0] != "b1-2"], before) == 2
        assert [r[0] for r in journal.archivable(before, 100)] == ["b1-2"]
        assert archiver.run() == 1
        assert journal.order_rows("1", [], "client_order_id") == []
        # a batch that is all INVALID stays (its key is still free)
        bad = [
            _order(f"b2-{i}", "b2", i, AT).evolve(
                status=OrderStatus.INVALID, outcome=Outcome.NOT_PLACED
            )
            for i in range(2)
        ]
        journal.record_batch(BatchRecord(batch_id="b2", key="b2", created_at=AT, n_orders=2),
                             bad).result()  # fmt: skip
        journal.apply([], source="response", finish="b2").result()
        projection.flush()
        assert journal.archivable(pd.Timestamp.now(tz="UTC"), 100) == []
    finally:
        journal.close()
        db.close()


def test_a_batch_its_dead_process_left_unfinished_is_finished_by_the_archiving_pass(
    tmp_path: Path,
) -> None:
    """Its orders were decided by the stream (or another process), not by a reconciliation of
    its own: once it is older than the retention and none of its orders is PENDING, the pass
    finishes it, and then archives its orders."""
    with Store(tmp_path / "s.duckdb", retention=pd.Timedelta(0), archive_every=None) as store:
        orders = [_order(f"b1-{i}", "b1", i, AT) for i in range(2)]
        store.record_batch(BatchRecord(batch_id="b1", created_at=AT, n_orders=2), orders)
        filled = [o.evolve(status=OrderStatus.FILLED, outcome=Outcome.PLACED) for o in orders]
        store.apply(filled[:1], source="stream")
        assert store.archiver.run() == 0  # one is still PENDING: unfinished, stays
        store.apply(filled[1:], source="stream")
        assert store.archiver.run() == 2
        counts = store.sql("select counts, finished_at from batches").to_dict("records")
        assert [json.loads(c["counts"]) for c in counts] == [{"FILLED": 2}]
        assert pd.notna(counts[0]["finished_at"])


def test_a_batch_split_between_journal_and_duckdb_reads_in_input_order(tmp_path: Path) -> None:
    """A pass cut short leaves part of a batch in the journal and part in DuckDB only: its
    reads merge the two in the batch's order (position), and ``orders()`` in the store's."""
    path = tmp_path / "s.duckdb"
    with Store(path, retention=pd.Timedelta(0), archive_every=None) as store:
        cids = _batch(store, "b1", FINAL, AT)
        _batch(store, "b0", FINAL, AT - pd.Timedelta(seconds=1))
        store.projection.flush()
        before = store.orders()
    db, journal = Database(path), Journal(tmp_path / "s.duckdb.journal")
    try:
        now = pd.Timestamp.now(tz="UTC")
        rows = [r for r in journal.archivable(now, 100) if r[0] in {cids[1], cids[3]}]
        assert journal.archive(rows, now) == 2  # the 2nd and 4th of b1 only
    finally:
        journal.close()
        db.close()
    with Store(path, retention=pd.Timedelta(0), archive_every=None) as store:
        assert _journal_ids(store) >= {cids[0], cids[2], cids[4]}
        assert cids[1] not in _journal_ids(store)
        assert [o.client_order_id for o in store.batch_orders("b1")] == cids
        pd.testing.assert_frame_equal(store.orders(), before)


def test_an_older_copy_restored_under_a_running_store_is_noticed_by_its_next_flush(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, backup = tmp_path / "s.duckdb", tmp_path / "backup.duckdb"
    with Store(path, retention=pd.Timedelta(0), archive_every=None) as store:
        _batch(store, "b1", LIVE, AT)
        store.projection.flush()
        shutil.copy(path, backup)
        _batch(store, "b2", FINAL, AT)
        assert store.archiver.run() == 5  # b2: in DuckDB only
        shutil.copy(backup, path)  # an older copy, back under the running store
        _batch(store, "b3", LIVE, AT)
        store.projection.flush()
        assert "older than its journal" in caplog.text
        assert "lacks 5 orders archived" in caplog.text
        assert store.sql("select count(*) as n from orders")["n"].tolist() == [8]  # b1, b3
        with pytest.raises(StoreError, match="lacks 5 orders archived"):
            store.orders()
        assert len(store.orders(open_only=True)) == 4


def test_the_background_schedule_comes_back_sooner_while_a_pass_left_rows(
    tmp_path: Path,
) -> None:
    """Hourly; every minute while the last pass was full (it left rows); only once a flush
    checked the file. The schedule's clock is the test's: no real time passes."""
    db = Database(tmp_path / "s.duckdb")
    journal = Journal(tmp_path / "s.duckdb.journal")
    try:
        jid = journal.initialize(lambda j: load_journal_rows(db, j))
        projection = Projection(journal, db, journal_id=jid)  # no thread
        t = [1000.0]
        archiver = Archiver(journal, projection, retention=pd.Timedelta(0), every=3600.0,
                            clock=lambda: t[0], pass_rows=2)  # fmt: skip

        def batch(batch_id: str) -> None:
            orders = [_order(f"{batch_id}-{i}", batch_id, i, AT) for i in range(5)]
            record = BatchRecord(batch_id=batch_id, key=batch_id, created_at=AT, n_orders=5)
            journal.record_batch(record, orders).result()
            filled = [o.evolve(status=OrderStatus.FILLED, outcome=Outcome.PLACED) for o in orders]
            journal.apply(filled, source="response", finish=batch_id).result()

        def left() -> int:
            return len(journal.order_rows("1", [], "client_order_id"))

        batch("b1")
        archiver.due(RetryPolicy())
        assert left() == 5  # no flush has checked the file yet: DuckDB is left alone
        projection.flush()
        assert projection.checked
        archiver.due(RetryPolicy())
        assert left() == 3  # a full pass (2 rows): more are left
        for at, want in ((1059.0, 3), (1060.0, 1), (1119.0, 1), (1120.0, 0)):
            t[0] = at
            archiver.due(RetryPolicy())
            assert left() == want, at
        batch("b2")
        projection.flush()
        t[0] = 1180.0  # the last pass was not full: back to hourly
        archiver.due(RetryPolicy())
        assert left() == 5
        t[0] = 1120.0 + 3600.0
        archiver.due(RetryPolicy())
        assert left() == 3
    finally:
        journal.close()
        db.close()
