"""The DuckDB store: round trips, write-ahead then updates, queries, export, errors, secrets."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from toolkit.core._exceptions import InputError, StoreError
from toolkit.core._frame import COLUMNS, DTYPES, orders_to_frame
from toolkit.core._models import Market, Order, OrderStatus, OrderType, Outcome, Side
from toolkit.store._store import BatchRecord, RetryPolicy, Store
from toolkit.store._store_schema import SCHEMA_VERSION, strip_secrets

NOW = pd.Timestamp("2026-11-25 09:30:00.123456", tz="UTC")
MakeOrders = Callable[..., list[Order]]
MakeBatch = Callable[..., BatchRecord]


def _full_order() -> Order:
    """One order with every field set (to check each column's round trip)."""
    return Order(
        client_order_id="full-0",
        exchange="paper",
        market=Market.USDM,
        symbol="ETHUSDT",
        side=Side.SELL,
        type=OrderType.from_exchange("stop_limit"),  # not a member: a stored stand-in
        status=OrderStatus.PARTIALLY_FILLED,
        order_id="123456789",
        time_in_force="GTC",
        price=3000.5,
        stop_price=2990.25,
        qty=1.5,
        filled_qty=0.5,
        avg_price=3000.5,
        reduce_only=True,
        error_code=-2010,
        error_msg="partly: ok",
        batch_id="bf",
        key="kf",
        created_at=NOW,
        updated_at=NOW + pd.Timedelta(seconds=1),
        raw={"orderId": 123456789, "status": "PARTIALLY_FILLED", "fills": [{"qty": "0.5"}]},
        outcome=Outcome.PLACED,
        position=0,
        not_after=NOW + pd.Timedelta(seconds=30),
    )


def _events(store: Store, client_order_id: str) -> list[tuple[Any, ...]]:
    frame = store.sql(
        "select event, status, source, filled_qty from order_events"
        " where client_order_id = ? order by event_id",
        [client_order_id],
    )
    return [tuple(None if pd.isna(v) else v for v in row) for row in frame.itertuples(index=False)]


# -- round trips ---------------------------------------------------------------------------------


def test_round_trip_keeps_every_column_and_dtype(store: Store, make_orders: MakeOrders) -> None:
    orders = [_full_order()]
    store.record_batch(BatchRecord(batch_id="bf", key="kf", created_at=NOW, n_orders=1), orders)
    plain = make_orders(3, batch_id="b2", key=None)  # mostly-None fields
    store.record_batch(BatchRecord(batch_id="b2", created_at=NOW, n_orders=3), plain)

    frame = store.orders()
    assert list(frame.columns) == list(COLUMNS)
    assert dict(frame.dtypes) == DTYPES
    assert isinstance(frame.index, pd.RangeIndex)
    expected = orders_to_frame([*orders, *plain])
    pd.testing.assert_frame_equal(
        frame.sort_values("client_order_id").reset_index(drop=True),
        expected.sort_values("client_order_id").reset_index(drop=True),
    )

    back = store.batch_orders("bf")
    assert back == orders  # dataclass equality: every field except raw
    assert back[0].raw == orders[0].raw
    assert (back[0].placed, back[0].position, back[0].not_after) == (True, 0, orders[0].not_after)
    assert store.batch_orders("b2") == plain


def test_side_type_and_market_come_back_as_enums_and_are_text_in_frames(
    store: Store, make_orders: MakeOrders
) -> None:
    orders = make_orders(2, batch_id="be", key=None)
    store.record_batch(BatchRecord(batch_id="be", created_at=NOW, n_orders=2), orders)
    back = store.batch_orders("be")
    assert [(o.market, o.side, o.type) for o in back] == [
        (Market.SPOT, Side.BUY, OrderType.LIMIT),
        (Market.SPOT, Side.SELL, OrderType.LIMIT),
    ]
    assert all(o.side is Side(o.side.value) for o in back if o.side is not None)
    frame = store.orders()
    for built in (frame, orders_to_frame(back)):  # the frame holds their text, not the members
        assert {type(v) for col in ("market", "side", "type") for v in built[col]} == {str}
        assert list(built["side"]) == ["buy", "sell"]
    stored = store.sql("SELECT market, side, type FROM orders WHERE batch_id = 'be'"
                       " ORDER BY position")  # fmt: skip
    assert stored.values.tolist() == [["spot", "buy", "limit"], ["spot", "sell", "limit"]]


def test_empty_store_returns_empty_order_frame(store: Store) -> None:
    frame = store.orders()
    assert frame.empty
    assert list(frame.columns) == list(COLUMNS)
    assert dict(frame.dtypes) == DTYPES
    assert isinstance(frame.index, pd.RangeIndex)
    assert store.batch_orders("nope") == []
    assert store.pending() == []
    assert store.find_batch("nope") is None


def test_naive_timestamps_are_taken_as_utc(store: Store, make_orders: MakeOrders) -> None:
    naive = NOW.tz_localize(None)
    orders = [dataclasses.replace(o, created_at=naive) for o in make_orders(1)]
    store.record_batch(BatchRecord(batch_id="b1", key="k1", created_at=naive, n_orders=1), orders)
    assert store.orders()["created_at"].iloc[0] == NOW
    batch = store.find_batch("k1")
    assert batch is not None
    assert batch.created_at == NOW


# -- write-ahead, then updates ---------------------------------------------------------------------


def test_write_ahead_writes_batch_orders_and_events(
    store: Store, make_orders: MakeOrders, make_batch: MakeBatch
) -> None:
    orders = make_orders(3)
    invalid = dataclasses.replace(
        make_orders(4)[3], status=OrderStatus.INVALID, error_msg="qty below minimum"
    )
    store.record_batch(make_batch("b1", "k1", 4), [*orders, invalid])

    frame = store.orders()
    assert list(frame["status"]) == ["PENDING"] * 3 + ["INVALID"]
    assert _events(store, "b1-0") == [("submitted", "PENDING", "submit", None)]
    assert _events(store, "b1-3") == [("invalid", "INVALID", "submit", None)]
    assert [o.client_order_id for o in store.pending()] == ["b1-0", "b1-1", "b1-2"]


def test_orders_without_batch_fields_take_the_batch_s(
    store: Store, make_orders: MakeOrders, make_batch: MakeBatch
) -> None:
    orders = [
        dataclasses.replace(o, batch_id=None, key=None, created_at=None, updated_at=None)
        for o in make_orders(2)
    ]
    store.record_batch(make_batch("b1", "k1", 2), orders)
    frame = store.orders()
    assert list(frame["batch_id"]) == ["b1", "b1"]
    assert list(frame["key"]) == ["k1", "k1"]
    assert (frame["created_at"] == NOW).all()
    assert (frame["updated_at"] == NOW).all()


def test_record_batch_is_atomic_on_a_duplicate(
    store: Store, make_orders: MakeOrders, make_batch: MakeBatch
) -> None:
    store.record_batch(make_batch("b1", "k1", 2), make_orders(2))
    with pytest.raises(StoreError, match="'k1' is already recorded"):
        store.record_batch(make_batch("b2", "k1", 2), make_orders(2, batch_id="b2"))
    # same client order id in a batch with another key: nothing of b3 is written
    clash = make_orders(2, batch_id="b3", key="k3", prefix="b1")
    with pytest.raises(StoreError, match="record the batch"):
        store.record_batch(make_batch("b3", "k3", 2), clash)
    assert store.find_batch("k3") is None
    assert len(store.orders()) == 2
    assert store.sql("select count(*) as n from order_events")["n"].iloc[0] == 2
    # keyless batches may be many
    store.record_batch(make_batch("b4", None, 1), make_orders(1, batch_id="b4", key=None))
    store.record_batch(make_batch("b5", None, 1), make_orders(1, batch_id="b5", key=None))
    assert store.sql("select count(*) as n from batches where key is null")["n"].iloc[0] == 2


def test_apply_moves_status_and_appends_events(
    store: Store, make_orders: MakeOrders, make_batch: MakeBatch
) -> None:
    orders = make_orders(3)
    store.record_batch(make_batch("b1", "k1", 3), orders)
    later = NOW + pd.Timedelta(seconds=2)
    # a response: b1-0 accepted, b1-1 rejected, b1-2 unknown (still PENDING, with a reason)
    response = [
        dataclasses.replace(orders[0], status=OrderStatus.NEW, order_id="1", updated_at=later),
        dataclasses.replace(
            orders[1],
            status=OrderStatus.REJECTED,
            error_code=-2010,
            error_msg="insufficient balance",
            updated_at=later,
        ),
        dataclasses.replace(orders[2], error_msg="timeout", updated_at=later),
    ]
    store.apply(response, source="response")
    # the stream reports fills; it knows nothing about the batch (None fields keep stored values)
    fill = Order(
        client_order_id="b1-0",
        exchange="paper",
        market=Market.SPOT,
        symbol="BTCUSDT",
        status=OrderStatus.PARTIALLY_FILLED,
        filled_qty=0.0005,
        avg_price=90000.0,
        updated_at=later + pd.Timedelta(seconds=1),
        raw={"e": "executionReport", "X": "PARTIALLY_FILLED"},
    )
    store.apply([fill], source="stream")
    done = dataclasses.replace(fill, status=OrderStatus.FILLED, filled_qty=0.001)
    store.apply([done], source="stream")
    found = dataclasses.replace(orders[2], status=OrderStatus.NEW, order_id="3", error_msg=None)
    store.apply([found], source="reconcile")

    assert _events(store, "b1-0") == [
        ("submitted", "PENDING", "submit", None),
        ("accepted", "NEW", "response", None),
        ("partially_filled", "PARTIALLY_FILLED", "stream", 0.0005),
        ("filled", "FILLED", "stream", 0.001),
    ]
    assert _events(store, "b1-1")[-1] == ("rejected", "REJECTED", "response", None)
    assert [e[0] for e in _events(store, "b1-2")] == ["submitted", "unknown", "reconciled"]

    (first,) = store.orders(client_order_ids=["b1-0"]).to_dict("records")
    assert first["status"] == "FILLED"
    assert first["order_id"] == "1"  # kept from the response
    assert first["batch_id"] == "b1"
    assert first["key"] == "k1"
    assert first["price"] == 90000.0
    assert first["created_at"] == NOW  # never moves
    assert first["updated_at"] == later + pd.Timedelta(seconds=1)
    (stored,) = [o for o in store.batch_orders("b1") if o.client_order_id == "b1-0"]
    assert stored.position == 0
    assert stored.raw == {"e": "executionReport", "X": "PARTIALLY_FILLED"}  # kept: no raw given
    rejected = store.orders(client_order_ids=["b1-1"])
    assert rejected["error_code"].iloc[0] == -2010
    assert store.pending() == []


def test_apply_without_a_real_change_writes_nothing(
    store: Store, make_orders: MakeOrders, make_batch: MakeBatch
) -> None:
    orders = make_orders(2)
    store.record_batch(make_batch("b1", "k1", 2), orders)
    accepted = [dataclasses.replace(o, status=OrderStatus.NEW, order_id=str(i)) for i, o in
                enumerate(orders)]  # fmt: skip
    store.apply(accepted, source="response")
    before = store.orders()
    n_events = len(store.sql("select * from order_events"))
    refreshed = [
        dataclasses.replace(o, updated_at=NOW + pd.Timedelta(minutes=5), raw={"again": True})
        for o in accepted
    ]
    store.apply(refreshed, source="refresh")
    store.apply([], source="refresh")
    assert len(store.sql("select * from order_events")) == n_events
    pd.testing.assert_frame_equal(store.orders(), before)


def test_apply_inserts_unknown_orders_and_keeps_the_last_duplicate(store: Store) -> None:
    first = Order(client_order_id="ext-1", exchange="paper", market=Market.SPOT, symbol="BTCUSDT",
                  status=OrderStatus.NEW, order_id="9")  # fmt: skip
    last = dataclasses.replace(first, status=OrderStatus.CANCELED)
    store.apply([first, last], source="refresh")
    frame = store.orders()
    assert list(frame["status"]) == ["CANCELED"]
    assert frame["created_at"].notna().all()
    assert _events(store, "ext-1") == [("canceled", "CANCELED", "refresh", None)]


def test_not_placed_then_resent(
    store: Store, make_orders: MakeOrders, make_batch: MakeBatch
) -> None:
    (order,) = make_orders(1)
    store.record_batch(make_batch("b1", "k1", 1), [order])
    gone = dataclasses.replace(
        order,
        status=OrderStatus.REJECTED,
        outcome=Outcome.NOT_PLACED,
        error_msg="not placed: expired window",
    )
    store.apply([gone], source="reconcile")
    (stored,) = store.batch_orders("b1")
    assert stored.placed is False
    resent = dataclasses.replace(
        order, outcome=Outcome.PLACED, error_msg=None, not_after=NOW + pd.Timedelta(minutes=10)
    )
    store.apply([resent], source="submit")
    assert [e[0] for e in _events(store, "b1-0")] == ["submitted", "not_placed", "submitted"]
    assert [o.not_after for o in store.pending()] == [resent.not_after]


def test_apply_rejects_an_unknown_source(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown source"):
        store.apply([], source="magic")


# -- batches ---------------------------------------------------------------------------------------


def test_find_batch_and_finish_it(store: Store, make_orders: MakeOrders) -> None:
    batch = BatchRecord(
        batch_id="b1",
        key="rebalance-2026-11-25",
        created_at=NOW,
        n_orders=2,
        fingerprint="abc123",
        exchange="paper",
        market="spot",
        params={"all_or_nothing": False, "market": "spot", "api_key": "SECRET-K"},
        papermill={"run_date": "2026-11-25", "symbols": ["BTCUSDT"]},
    )
    orders = make_orders(2, key=batch.key)
    store.record_batch(batch, orders)
    found = store.find_batch("rebalance-2026-11-25")
    assert found == dataclasses.replace(batch, params={"all_or_nothing": False, "market": "spot"})
    assert store.find_batch("other") is None

    assert found is not None
    assert (found.counts, found.finished_at) == (None, None)

    # the batch's last answers finish it in the same write (what a batch does)
    answers = [
        dataclasses.replace(orders[0], status=OrderStatus.NEW, order_id="1"),
        dataclasses.replace(orders[1], status=OrderStatus.REJECTED, error_msg="no"),
    ]
    store.apply(answers, source="response", finish="b1")
    finished = store.find_batch("rebalance-2026-11-25")
    assert finished is not None
    assert finished.counts == {"NEW": 1, "REJECTED": 1}
    assert finished.finished_at is not None
    assert finished.finished_at >= NOW
    with pytest.raises(StoreError, match="no batch 'zz'"):
        store.apply([], source="response", finish="zz")


def test_batch_orders_come_back_by_position(
    store: Store, make_orders: MakeOrders, make_batch: MakeBatch
) -> None:
    orders = make_orders(12)
    shuffled = [orders[i] for i in (5, 11, 0, 3, 7, 1, 10, 2, 8, 4, 9, 6)]
    store.record_batch(make_batch("b1", "k1", 12), shuffled)
    store.record_batch(make_batch("b2", "k2", 2), make_orders(2, batch_id="b2", key="k2"))
    back = store.batch_orders("b1")
    assert [o.position for o in back] == list(range(12))
    assert back == orders


# -- queries ---------------------------------------------------------------------------------------


def test_pending_filters_by_exchange_and_market(store: Store, make_orders: MakeOrders) -> None:
    spot = make_orders(2, batch_id="s", key=None)
    usdm = [
        dataclasses.replace(o, market=Market.USDM) for o in make_orders(2, batch_id="u", key=None)
    ]
    other = [dataclasses.replace(o, exchange="binance") for o in make_orders(1, batch_id="x")]
    for bid, orders in (("s", spot), ("u", usdm), ("x", other)):
        store.record_batch(BatchRecord(batch_id=bid, created_at=NOW, n_orders=2), orders)
    store.apply([dataclasses.replace(spot[0], status=OrderStatus.NEW)], source="response")

    def ids(orders: list[Order]) -> list[str]:
        return [o.client_order_id for o in orders]

    assert ids(store.pending()) == ["s-1", "u-0", "u-1", "x-0"]
    assert ids(store.pending(exchange="paper")) == ["s-1", "u-0", "u-1"]
    assert ids(store.pending(exchange="paper", market="usdm")) == ["u-0", "u-1"]
    assert ids(store.pending(market="spot")) == ["s-1", "x-0"]


def test_orders_filters(store: Store, make_orders: MakeOrders, make_batch: MakeBatch) -> None:
    early = make_orders(3, batch_id="b1", key="k1")
    late_at = NOW + pd.Timedelta(days=1)
    late = make_orders(3, batch_id="b2", key="k2", symbol="ETHUSDT", created_at=late_at)
    store.record_batch(make_batch("b1", "k1", 3), early)
    store.record_batch(make_batch("b2", "k2", 3), late)
    store.apply(
        [
            dataclasses.replace(early[0], status=OrderStatus.NEW),
            dataclasses.replace(early[1], status=OrderStatus.FILLED),
            dataclasses.replace(late[0], status=OrderStatus.PARTIALLY_FILLED),
        ],
        source="response",
    )

    def ids(frame: pd.DataFrame) -> list[str]:
        assert isinstance(frame.index, pd.RangeIndex)
        assert dict(frame.dtypes) == DTYPES
        return list(frame["client_order_id"])

    assert ids(store.orders()) == ["b1-0", "b1-1", "b1-2", "b2-0", "b2-1", "b2-2"]
    assert ids(store.orders(status="FILLED")) == ["b1-1"]
    assert ids(store.orders(status=OrderStatus.PENDING)) == ["b1-2", "b2-1", "b2-2"]
    assert ids(store.orders(status=["NEW", OrderStatus.FILLED])) == ["b1-0", "b1-1"]
    assert ids(store.orders(open_only=True)) == ["b1-0", "b2-0"]
    assert ids(store.orders(symbol="ETHUSDT", open_only=True)) == ["b2-0"]
    assert ids(store.orders(symbol=["BTCUSDT"], status="PENDING")) == ["b1-2"]
    assert ids(store.orders(key="k2")) == ["b2-0", "b2-1", "b2-2"]
    assert ids(store.orders(batch_id="b1", status="NEW")) == ["b1-0"]
    assert ids(store.orders(since=late_at)) == ["b2-0", "b2-1", "b2-2"]
    assert ids(store.orders(since="2026-11-26 09:30:00.123456")) == ["b2-0", "b2-1", "b2-2"]
    assert ids(store.orders(since=late_at + pd.Timedelta(seconds=1))) == []
    assert ids(store.orders(client_order_ids=["b2-2", "b1-0", "zz"])) == ["b1-0", "b2-2"]
    assert ids(store.orders(client_order_ids=[])) == []


def test_sql_returns_frames(store: Store, make_orders: MakeOrders, make_batch: MakeBatch) -> None:
    store.record_batch(make_batch("b1", "k1", 3), make_orders(3))
    counts = store.sql("select status, count(*) as n from orders group by status")
    assert counts.to_dict("records") == [{"status": "PENDING", "n": 3}]
    assert isinstance(counts.index, pd.RangeIndex)
    param = store.sql("select client_order_id from orders where position = ?", [2])
    assert list(param["client_order_id"]) == ["b1-2"]
    raw = store.sql("select raw->>'$.missing' as x from orders limit 1")
    assert raw["x"].isna().all()
    assert store.sql("create table notes (x int)", write=True).empty  # no result set: empty frame
    tables = set(store.sql("select table_name from information_schema.tables")["table_name"])
    assert {"orders", "order_events", "batches", "toolkit_meta", "notes"} <= tables
    version = store.sql("select value from toolkit_meta where name = 'schema_version'")
    assert version["value"].iloc[0] == str(SCHEMA_VERSION)


def test_bad_sql_raises_store_error(store: Store) -> None:
    with pytest.raises(StoreError, match="run the query") as info:
        store.sql("select nope from nowhere")
    assert isinstance(info.value.__cause__, duckdb.Error)


# -- export ----------------------------------------------------------------------------------------


def test_export_writes_parquet_partitioned_by_date(
    store: Store, make_orders: MakeOrders, make_batch: MakeBatch, tmp_path: Path
) -> None:
    day2 = NOW + pd.Timedelta(days=1)
    store.record_batch(make_batch("b1", "k1", 2), make_orders(2))
    store.record_batch(
        BatchRecord(batch_id="b2", key="k2", created_at=day2, n_orders=3),
        make_orders(3, batch_id="b2", key="k2", created_at=day2),
    )
    out = store.export(tmp_path / "export")
    assert out == tmp_path / "export"
    assert sorted(p.name for p in (out / "orders").iterdir()) == [
        "date=2026-11-25",
        "date=2026-11-26",
    ]
    assert sorted(p.name for p in (out / "batches").iterdir()) == [
        "date=2026-11-25",
        "date=2026-11-26",
    ]

    def read(table: str) -> pd.DataFrame:
        glob = str(out / table / "*" / "*.parquet")
        with duckdb.connect() as con:
            return con.execute(
                "select * from read_parquet(?, hive_partitioning = true) order by all", [glob]
            ).df()

    orders = read("orders")
    assert len(orders) == 5
    assert {"client_order_id", "status", "raw", "position", "date"} <= set(orders.columns)
    assert len(read("order_events")) == 5
    assert len(read("batches")) == 2

    # a second export replaces the first (no stale partitions or duplicate rows)
    store.apply(make_orders(1, batch_id="b3", key=None), source="refresh")
    store.export(out)
    assert len(read("orders")) == 6
    assert not [p for p in out.iterdir() if p.name.startswith(".export")]


def test_export_of_an_empty_store(store: Store, tmp_path: Path) -> None:
    out = store.export(tmp_path / "x")
    assert sorted(p.name for p in out.iterdir()) == ["batches", "order_events", "orders"]


# -- lifecycle, files, errors ----------------------------------------------------------------------


def test_memory_store_keeps_data_between_calls(make_orders: MakeOrders) -> None:
    store = Store(":memory:")
    store.record_batch(BatchRecord(batch_id="b1", created_at=NOW, n_orders=2), make_orders(2))
    assert len(store.orders()) == 2
    assert "memory" in repr(store)
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.orders()
    assert "closed" in repr(store)
    assert len(Store(":memory:").orders()) == 0  # a new memory store is a new database


def test_file_store_is_reopened_and_not_held(tmp_path: Path, make_orders: MakeOrders) -> None:
    path = tmp_path / "sub" / "dir" / "store.duckdb"
    store = Store(path)
    store.record_batch(BatchRecord(batch_id="b1", created_at=NOW, n_orders=2), make_orders(2))
    store.projection.flush()  # what the background thread does within a second
    # the file is not held between operations: a plain duckdb connection can open it
    with duckdb.connect(str(path)) as con:
        assert con.execute("select count(*) from orders").fetchone() == (2,)
    again = Store(path)  # schema creation is idempotent
    assert len(again.orders()) == 2
    assert again.batch_orders("b1") == make_orders(2)
    store.close()
    again.close()


def test_corrupt_file_raises_store_error(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.duckdb"
    path.write_bytes(b"this is not a database" * 500)
    with pytest.raises(StoreError, match=r"corrupt\.duckdb") as info:
        Store(path, retry=RetryPolicy(timeout=1.0))
    assert isinstance(info.value.__cause__, duckdb.Error)


def test_newer_schema_version_is_refused(tmp_path: Path) -> None:
    """A DuckDB file (without a journal) of a newer release, and a journal of a newer release."""
    path = tmp_path / "new.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE toolkit_meta (name VARCHAR PRIMARY KEY, value VARCHAR)")
        con.execute("INSERT INTO toolkit_meta VALUES ('schema_version', '999')")
    with pytest.raises(StoreError, match="schema version 999"):
        Store(path)
    other = tmp_path / "other.duckdb"
    Store(other).close()
    with sqlite3.connect(f"{other}.journal") as lite:
        lite.execute("UPDATE meta SET value = '999' WHERE name = 'schema_version'")
    lite.close()
    with pytest.raises(StoreError, match=r"journal .* schema version 999"):
        Store(other)


def test_an_older_release_is_refused_by_the_migrated_file(tmp_path: Path) -> None:
    """An older release would write DuckDB around the journal: the file says version 3, which
    that release refuses (it knows up to 2)."""
    path = tmp_path / "v3.duckdb"
    Store(path).close()
    with duckdb.connect(str(path)) as con:
        row = con.execute("SELECT value FROM toolkit_meta WHERE name = 'schema_version'")
        assert row.fetchone() == (str(SCHEMA_VERSION),)
    assert SCHEMA_VERSION == 3


# -- secrets ---------------------------------------------------------------------------------------


def test_strip_secrets_recursively() -> None:
    payload = {
        "symbol": "BTCUSDT",
        "apiKey": "k",
        "X-MBX-APIKEY": "k",
        "api_secret": "s",
        "signature": "sig",
        "nested": [{"secretKey": "s", "ok": 1.5, "bad": float("nan")}],
    }
    assert strip_secrets(payload) == {"symbol": "BTCUSDT", "nested": [{"ok": 1.5, "bad": None}]}


def test_secrets_never_reach_the_store_file(tmp_path: Path, make_orders: MakeOrders) -> None:
    path = tmp_path / "s.duckdb"
    store = Store(path)
    secret = "SUPERSECRETVALUE0123456789"
    raw = {"status": "NEW", "apiKey": secret, "req": {"signature": secret, "api_secret": secret}}
    (order,) = make_orders(1, raw=raw)
    batch = BatchRecord(
        batch_id="b1", key="k1", created_at=NOW, n_orders=1,
        params={"api_key": secret, "qty": 1}, papermill={"API_SECRET": secret},
    )  # fmt: skip
    store.record_batch(batch, [order])
    store.apply([dataclasses.replace(order, status=OrderStatus.NEW)], source="response")
    (stored,) = store.batch_orders("b1")
    assert stored.raw == {"status": "NEW", "req": {}}
    found = store.find_batch("k1")
    assert found is not None
    assert found.params == {"qty": 1}
    assert found.papermill == {}
    store.sql("checkpoint", write=True)
    store.close()
    files = [p for p in tmp_path.iterdir() if p.is_file()]
    assert all(secret.encode() not in p.read_bytes() for p in files)


def test_sql_reads_only_unless_asked_to_write(tmp_path: Path, make_orders: MakeOrders) -> None:
    """Issue 13 (5): ``tk.sql("delete from orders")`` changed the record; now it is refused."""
    for path in (tmp_path / "ro.duckdb", ":memory:"):
        with Store(path) as store:
            store.record_batch(BatchRecord(batch_id="b1", key="k", created_at=NOW, n_orders=2),
                               make_orders(2))  # fmt: skip
            with pytest.raises(StoreError, match=r"reads only.*DELETE.*write=True"):
                store.sql("delete from orders")
            assert store.sql("select count(*) as n from orders")["n"].tolist() == [2]
            assert store.find_batch("k") is not None
            store.sql("create table notes as select 1 as x", write=True)
            assert store.sql("select x from notes")["x"].tolist() == [1]


def test_order_filters_take_every_symbol_spelling_and_name_unknown_ones(
    make_orders: MakeOrders,
) -> None:
    """Issue 13 (8): ``symbol="BTC/USDT"`` found nothing; a misspelt filter was a TypeError."""
    with Store(":memory:") as store:
        store.record_batch(BatchRecord(batch_id="b1", created_at=NOW, n_orders=2), make_orders(2))
        for spelling in ("BTCUSDT", "BTC/USDT", "btc/usdt", ["BTC/USDT:USDT"]):
            assert len(store.orders(symbol=spelling)) == 2, spelling
        with pytest.raises(InputError, match=r"unknown order filter 'stauts'.*status, symbol"):
            store.orders(stauts="NEW")
        with pytest.raises(InputError, match="unknown order filter"):
            store.records(stauts="NEW")
