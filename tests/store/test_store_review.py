"""Store additions of the review: claim_unplaced, finish in apply, venue (schema v2)."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from toolkit.core._exceptions import TradingHalted
from toolkit.core._models import OrderStatus, Outcome
from toolkit.store._store import BatchRecord, Store
from toolkit.store._store_schema import SCHEMA_VERSION

from .conftest import NOW, MakeOrders


def _unplaced(
    store: Store, make_orders: MakeOrders, make_batch: Callable[..., BatchRecord]
) -> list[str]:
    orders = make_orders(3)
    store.record_batch(make_batch(n=3), orders)
    gone = [
        dataclasses.replace(
            o, status=OrderStatus.REJECTED, outcome=Outcome.NOT_PLACED, error_msg="not placed: x"
        )
        for o in orders[:2]
    ]
    store.apply(gone, source="reconcile")
    return [o.client_order_id for o in orders]


def test_claim_unplaced_is_a_compare_and_set(
    store: Store, make_orders: MakeOrders, make_batch: Callable[..., BatchRecord]
) -> None:
    ids = _unplaced(store, make_orders, make_batch)
    later = NOW + pd.Timedelta(minutes=1)
    assert store.claim_unplaced("b1", ids, later) == ids[:2]  # the placed one is not claimable
    assert store.claim_unplaced("b1", ids, later) == []  # already claimed
    rows = store.batch_orders("b1")
    assert [o.status for o in rows[:2]] == [OrderStatus.PENDING] * 2
    assert all(o.placed and o.error_msg is None and o.not_after == later for o in rows[:2])
    events = store.sql(
        "select client_order_id, event from order_events where event = 'submitted'"
        " order by event_id"
    )
    assert events["client_order_id"].tolist().count(ids[0]) == 2


def test_a_halt_refuses_write_aheads_and_claims_in_their_own_transaction(
    tmp_path: Path, make_orders: MakeOrders, make_batch: Callable[..., BatchRecord]
) -> None:
    """While a halt is in force (set through any store on the file: another process), a
    write-ahead and a claim are refused by their own transaction: TradingHalted, nothing
    written. Lifted, both go through."""
    path = tmp_path / "halt.duckdb"
    with Store(path) as store, Store(path) as other:
        ids = _unplaced(store, make_orders, make_batch)
        other.halt("the feed is stale")  # "another process"
        later = NOW + pd.Timedelta(minutes=1)
        with pytest.raises(TradingHalted, match=r"\(the feed is stale\): nothing is sent") as info:
            store.claim_unplaced("b1", ids, later)
        assert info.value.reason == "the feed is stale"
        assert [o.placed for o in store.batch_orders("b1")] == [False, False, True]
        second = make_batch(batch_id="b2", key="k2", n=2)
        with pytest.raises(TradingHalted, match=r"tk\.resume\(\) lifts it"):
            store.record_batch(second, make_orders(2, batch_id="b2", key="k2"))
        assert store.find_batch("k2") is None
        assert store.batch_orders("b2") == []
        other.resume()
        assert store.claim_unplaced("b1", ids, later) == ids[:2]
        store.record_batch(second, make_orders(2, batch_id="b2", key="k2"))
        assert len(store.batch_orders("b2")) == 2


def test_claim_unplaced_races_between_two_stores(
    tmp_path: Path, make_orders: MakeOrders, make_batch: Callable[..., BatchRecord]
) -> None:
    path = tmp_path / "race.duckdb"
    with Store(path) as first:
        ids = _unplaced(first, make_orders, make_batch)
    won: list[list[str]] = []
    start = threading.Barrier(4)

    def claim() -> None:
        with Store(path) as st:
            start.wait()
            won.append(st.claim_unplaced("b1", ids, NOW))

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [cid for got in won for cid in got]
    assert sorted(claimed) == sorted(ids[:2])  # every row claimed exactly once


def test_apply_can_finish_the_batch_in_the_same_write(
    store: Store, make_orders: MakeOrders, make_batch: Callable[..., BatchRecord]
) -> None:
    orders = make_orders(3)
    store.record_batch(make_batch(n=3), orders)
    done = [
        dataclasses.replace(o, status=OrderStatus.NEW, order_id=str(i))
        for i, o in enumerate(orders)
    ]
    store.apply(done[:2], source="response", finish="b1")
    batch = store.find_batch("k1")
    assert batch is not None
    assert batch.finished_at is not None
    assert batch.counts == {"NEW": 2, "PENDING": 1}


def test_venue_is_recorded_and_filters_pending(
    store: Store, make_orders: MakeOrders, make_batch: Callable[..., BatchRecord]
) -> None:
    store.record_batch(make_batch("b1", "k1", 2, venue="https://api.binance.com"), make_orders(2))
    store.record_batch(
        make_batch("b2", "k2", 1, venue="https://testnet.binance.vision"),
        make_orders(1, batch_id="b2", key="k2"),
    )
    store.apply(make_orders(1, batch_id="b3", key=None), source="stream", venue="elsewhere")
    assert len(store.pending(exchange="paper", market="spot")) == 4
    main = store.pending(exchange="paper", market="spot", venue="https://api.binance.com")
    assert [o.batch_id for o in main] == ["b1", "b1"]
    assert [o.batch_id for o in store.pending(venue="elsewhere")] == ["b3"]
    found = store.find_batch("k2")
    assert found is not None
    assert found.venue == "https://testnet.binance.vision"
    assert "venue" not in store.orders().columns  # the order frame is unchanged


def test_a_version_1_store_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "v1.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE toolkit_meta (name VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
    con.execute("INSERT INTO toolkit_meta VALUES ('schema_version', '1')")
    con.execute(
        "CREATE TABLE batches (batch_id VARCHAR PRIMARY KEY, key VARCHAR UNIQUE,"
        " created_at TIMESTAMPTZ NOT NULL, n_orders INTEGER NOT NULL, fingerprint VARCHAR,"
        " exchange VARCHAR, market VARCHAR, params JSON, papermill JSON, counts JSON,"
        " finished_at TIMESTAMPTZ)"
    )
    con.execute(
        "INSERT INTO batches (batch_id, key, created_at, n_orders) VALUES ('old', 'k', now(), 0)"
    )
    con.close()
    with Store(path) as st:
        version = st.sql("select value from toolkit_meta where name = 'schema_version'")
        assert version["value"].iloc[0] == str(SCHEMA_VERSION) == "3"
        cols: Any = st.sql(
            "select column_name from information_schema.columns where table_name = 'orders'"
        )
        assert "venue" in cols["column_name"].tolist()
        old = st.find_batch("k")
        assert old is not None
        assert old.venue is None


def test_an_unreadable_halt_entry_is_still_a_halt(
    tmp_path: Path, make_orders: MakeOrders, make_batch: Callable[..., BatchRecord]
) -> None:
    """A halt entry this release cannot read (another release's format, a damaged file) fails
    closed: the store reads as halted, refuses a write-ahead, and a resume lifts it."""
    path = tmp_path / "odd.duckdb"
    with Store(path) as store:
        with sqlite3.connect(f"{path}.journal") as con:  # as another release might write it
            con.execute("INSERT OR REPLACE INTO meta VALUES ('halt', 'stop!')")
        halt = store.halted()
        assert halt is not None
        assert halt.reason == "unreadable halt entry 'stop!'"
        with pytest.raises(TradingHalted, match="unreadable halt entry"):
            store.record_batch(make_batch(n=1), make_orders(1))
        assert store.batch_orders("b1") == []
        store.resume()
        assert store.halted() is None
        store.record_batch(make_batch(n=1), make_orders(1))
