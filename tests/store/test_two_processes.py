"""Two processes, one store file: DuckDB's file lock is waited for, never surfaced, no row lost."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from toolkit._exceptions import StoreError
from toolkit._models import Order, OrderStatus
from toolkit._store import BatchRecord, RetryPolicy, Store

WORKER = Path(__file__).with_name("_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def _spawn(*args: object) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, str(WORKER), *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    """Wait for the worker (closing its stdin: a holder lets go of the file)."""
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    assert err == ""
    return out


def _hold(path: Path) -> subprocess.Popen[str]:
    """Start a process that holds the store file until ``_finish``; return once it holds it."""
    proc = _spawn("hold", path)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "holding"
    return proc


@dataclasses.dataclass(frozen=True)
class _Watched(RetryPolicy):
    """A retry policy that tells the test when the store met the lock and backs off."""

    backed_off: threading.Event = dataclasses.field(default_factory=threading.Event,
                                                    compare=False)

    def delay(self, attempt: int) -> float:
        self.backed_off.set()
        return super().delay(attempt)


def _one_order(batch_id: str) -> list[Order]:
    return [Order(client_order_id=f"{batch_id}-0", exchange="paper", market="spot",
                  symbol="BTCUSDT", batch_id=batch_id, position=0)]  # fmt: skip


def test_two_processes_write_600_orders_into_one_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.duckdb"
    Store(path).close()
    start_at = time.time() + 2.0  # both start writing at once, after their imports
    procs = [_spawn("write", path, prefix, 300, 30, start_at) for prefix in ("nb", "pm")]
    outputs = [_finish(p) for p in procs]
    assert [o.strip() for o in outputs] == ["done 300", "done 300"]

    with Store(path) as store:
        orders = store.orders()
        assert len(orders) == 600
        assert orders["client_order_id"].is_unique
        assert set(orders["status"]) == {"NEW"}
        assert orders.groupby("batch_id")["client_order_id"].count().eq(30).all()
        events = store.sql("select event, count(*) as n from order_events group by all order by 1")
        assert events.to_dict("records") == [
            {"event": "accepted", "n": 600},
            {"event": "submitted", "n": 600},
        ]
        batches = store.sql("select count(*) as n, count(finished_at) as done from batches")
        assert batches.to_dict("records") == [{"n": 20, "done": 20}]


def test_a_held_file_is_waited_for(tmp_path: Path) -> None:
    path = tmp_path / "held.duckdb"
    retry = _Watched()
    store = Store(path, retry=retry)
    holder = _hold(path)
    now = pd.Timestamp.now(tz="UTC")
    with ThreadPoolExecutor(1) as pool:
        try:
            write = pool.submit(store.record_batch,
                                BatchRecord(batch_id="b1", created_at=now, n_orders=1),
                                _one_order("b1"))  # fmt: skip
            assert retry.backed_off.wait(60)  # it met the other process's lock ...
            assert not write.done()  # ... and waits it out instead of failing
        finally:
            _finish(holder)
        write.result(timeout=60)
    assert list(store.orders()["client_order_id"]) == ["b1-0"]
    store.close()


def test_a_file_held_too_long_raises_store_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "stuck.duckdb"
    store = Store(path, retry=RetryPolicy(timeout=0.3))
    holder = _hold(path)  # held until _finish: longer than any timeout, however slow the machine
    try:
        now = pd.Timestamp.now(tz="UTC")
        with pytest.raises(StoreError, match=r"stuck\.duckdb stayed locked"):
            store.record_batch(BatchRecord(batch_id="b1", created_at=now, n_orders=1),
                               _one_order("b1"))  # fmt: skip
    finally:
        _finish(holder)
    assert store.orders().empty  # nothing half-written; the store works again
    store.close()


def test_threads_and_two_stores_of_one_process_share_a_file(tmp_path: Path) -> None:
    """Two sessions of one kernel (spot and usdm), a Store each on one file, many threads."""
    path = tmp_path / "threads.duckdb"
    stores = [Store(path), Store(path)]
    now = pd.Timestamp.now(tz="UTC")

    def write(worker: int) -> None:
        store = stores[worker % 2]
        for b in range(3):
            batch_id = f"w{worker}-b{b}"
            orders = [
                Order(client_order_id=f"{batch_id}-{i}", exchange="paper", market="spot",
                      symbol="BTCUSDT", batch_id=batch_id, position=i, created_at=now)
                for i in range(10)
            ]  # fmt: skip
            store.record_batch(BatchRecord(batch_id=batch_id, created_at=now, n_orders=10), orders)
            store.apply(
                [dataclasses.replace(o, status=OrderStatus.NEW) for o in orders], source="response"
            )

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(4)))
    frame = stores[0].orders()
    assert len(frame) == 120
    assert set(frame["status"]) == {"NEW"}
    assert stores[1].sql("select count(*) as n from order_events")["n"].iloc[0] == 240
    for store in stores:
        store.close()


def test_two_processes_claim_each_unplaced_row_once(tmp_path: Path) -> None:
    """Two re-runs of one key in two processes: every row proven not placed is re-armed (and
    so sent) by exactly one of them."""
    path = tmp_path / "claim.duckdb"
    ids = [f"c-{i}" for i in range(20)]
    orders = [Order(client_order_id=cid, exchange="paper", market="spot", symbol="BTCUSDT",
                    batch_id="b", position=i) for i, cid in enumerate(ids)]  # fmt: skip
    with Store(path) as store:
        store.record_batch(BatchRecord(batch_id="b", key="k", created_at=pd.Timestamp.now(tz="UTC"),
                                       n_orders=len(orders)), orders)  # fmt: skip
        store.apply(
            [dataclasses.replace(o, status=OrderStatus.REJECTED, placed=False) for o in orders],
            source="reconcile",
        )
    start = time.time() + 2.0
    procs = [_spawn("claim", path, "b", ",".join(ids), start) for _ in range(2)]
    won = [_finish(p).strip() for p in procs]
    claimed = [cid for line in won for cid in line.split(",") if cid]
    assert sorted(claimed) == sorted(ids)
