"""Two processes, one store: the journal arbitrates, DuckDB's file lock never stops a batch, no row
lost."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from toolkit.core._exceptions import StoreError
from toolkit.core._models import Market, Order, OrderStatus, Outcome
from toolkit.store._store import BatchRecord, RetryPolicy, Store

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


def _finish(proc: subprocess.Popen[str], timeout: float = 60, stdin: str | None = None) -> str:
    out, err = proc.communicate(input=stdin, timeout=timeout)
    assert proc.returncode == 0, err
    assert err == ""
    return out


def _hold(path: Path) -> subprocess.Popen[str]:
    """Start a process that holds the DuckDB file; return once it holds it (until _release)."""
    proc = _spawn("hold", path)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "holding"
    return proc


def _release(proc: subprocess.Popen[str]) -> None:
    _finish(proc, stdin="go\n")


def _one_order(batch_id: str) -> list[Order]:
    return [Order(client_order_id=f"{batch_id}-0", exchange="paper", market=Market.SPOT,
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


def test_batches_go_on_while_another_program_holds_the_duckdb_file(tmp_path: Path) -> None:
    """A user's own duckdb.connect holds the file: writes and tk.orders() go on (journal);
    sql() waits for the file and then sees every write."""
    path = tmp_path / "held.duckdb"
    store = Store(path)
    holder = _hold(path)
    try:
        now = pd.Timestamp.now(tz="UTC")
        store.record_batch(BatchRecord(batch_id="b1", created_at=now, n_orders=1), _one_order("b1"))
        store.apply([dataclasses.replace(_one_order("b1")[0], status=OrderStatus.NEW)],
                    source="response", finish="b1")  # fmt: skip
        assert list(store.orders()["status"]) == ["NEW"]
        with pytest.raises(StoreError, match=r"held\.duckdb stayed locked by another program"):
            store.projection.flush(retry=RetryPolicy(timeout=0.2))
        with ThreadPoolExecutor(1) as pool:
            query = pool.submit(store.sql, "select status from orders")
            _release(holder)  # sql() waits for the file, then catches up
            assert query.result(timeout=60)["status"].tolist() == ["NEW"]
    finally:
        if holder.returncode is None:
            _release(holder)
    store.close()


def test_a_file_held_too_long_makes_sql_raise_a_store_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "stuck.duckdb"
    store = Store(path, retry=RetryPolicy(timeout=0.3))
    now = pd.Timestamp.now(tz="UTC")
    holder = _hold(path)
    try:
        store.record_batch(BatchRecord(batch_id="b1", created_at=now, n_orders=1),
                           _one_order("b1"))  # fmt: skip
        with pytest.raises(StoreError, match=r"stuck\.duckdb stayed locked.*batches go on"):
            store.sql("select count(*) from orders")
    finally:
        _release(holder)
    assert store.sql("select count(*) as n from orders")["n"].tolist() == [1]  # caught up
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
                Order(client_order_id=f"{batch_id}-{i}", exchange="paper", market=Market.SPOT,
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
    orders = [Order(client_order_id=cid, exchange="paper", market=Market.SPOT, symbol="BTCUSDT",
                    batch_id="b", position=i) for i, cid in enumerate(ids)]  # fmt: skip
    with Store(path) as store:
        store.record_batch(BatchRecord(batch_id="b", key="k", created_at=pd.Timestamp.now(tz="UTC"),
                                       n_orders=len(orders)), orders)  # fmt: skip
        store.apply(
            [
                dataclasses.replace(o, status=OrderStatus.REJECTED, outcome=Outcome.NOT_PLACED)
                for o in orders
            ],
            source="reconcile",
        )
    start = time.time() + 2.0
    procs = [_spawn("claim", path, "b", ",".join(ids), start) for _ in range(2)]
    won = [_finish(p).strip() for p in procs]
    claimed = [cid for line in won for cid in line.split(",") if cid]
    assert sorted(claimed) == sorted(ids)


@pytest.mark.parametrize("when", ["in-transaction", "after-commit"])
def test_a_process_killed_during_a_projection_flush_loses_and_repeats_nothing(
    tmp_path: Path, when: str
) -> None:
    """SIGKILL inside DuckDB's transaction, or after its commit but before the journal marks
    the rows projected: the next open writes each order once and each event once."""
    path = tmp_path / "crash.duckdb"
    proc = _spawn("crash-flush", path, 50, when)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err
    assert out.splitlines() == ["written"]
    with Store(path) as store:
        assert store.orders()["status"].tolist() == ["NEW"] * 50  # the journal has it all
        orders = store.sql("select count(*) as n, count(distinct client_order_id) as ids,"
                           " count(*) filter (status = 'NEW') as new from orders")  # fmt: skip
        assert orders.to_dict("records") == [{"n": 50, "ids": 50, "new": 50}]
        events = store.sql("select event, count(*) as n from order_events group by event"
                           " order by event")  # fmt: skip
        assert events.to_dict("records") == [
            {"event": "accepted", "n": 50},
            {"event": "submitted", "n": 50},
        ]
        batch = store.sql("select key, counts from batches")
        assert batch["key"].tolist() == ["k"]
        assert json.loads(batch["counts"].iloc[0]) == {"NEW": 50}
    with contextlib.closing(sqlite3.connect(f"{path}.journal")) as con:  # compacted
        assert con.execute("select count(*) from events").fetchone() == (0,)
        assert con.execute("select count(*) from orders where ver > projected").fetchone() == (0,)


def test_two_processes_running_one_key_at_once_place_each_order_once(
    tmp_path: Path, paper_process: Any
) -> None:
    """Two processes (a notebook and a papermill job, say) start the same keyed batch at the
    same moment on one store: the journal gives the key to one of them; every order reaches
    the exchange once, and both return the same orders."""
    store = tmp_path / "key.duckdb"
    start_at = time.time() + 5.0  # both connected and warm by then
    spec = {"url": paper_process.url, "store": str(store), "key": "rebalance-same-moment",
            "n": 30, "seed": 7, "start_at": start_at, "settings": {"stream": False}}  # fmt: skip
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "TOOLKIT_API_KEY": paper_process.api_key,
           "TOOLKIT_API_SECRET": paper_process.api_secret}  # fmt: skip
    command = [sys.executable, "-m", "bench.reliability._child", json.dumps(spec)]
    procs = [
        subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for proc, (_, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err
    statuses = [json.loads(out.splitlines()[-1])["statuses"] for out, _ in outs]
    assert statuses[0] == statuses[1]
    assert sum(statuses[0].values()) == 30
    with urllib.request.urlopen(f"{paper_process.url}/paper/counters") as resp:
        placed = json.loads(resp.read())["orders_by_client_id"]
    with Store(store) as st:
        ids = st.orders(key="rebalance-same-moment")["client_order_id"].tolist()
        assert st.sql("select count(*) as n from batches")["n"].tolist() == [1]
    assert len(ids) == 30
    assert {cid: placed.get(cid) for cid in ids} == dict.fromkeys(ids, 1)


def test_a_halt_from_one_process_stops_a_batch_running_in_another(tmp_path: Path) -> None:
    """Issue 14: tk.halt() in one process (a notebook) stops a batch that a papermill job is
    sending in another, through the store, within a second: the job's batch raises
    BatchInterrupted, the rows it had not sent are recorded as not placed."""
    paper = subprocess.Popen(
        [sys.executable, "-m", "toolkit", "paper", "--port", "0", "--json", "--no-rate-limits",
         "--price-mode", "fixed", "--latency", "0.05", "--max-lifetime", "300"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert paper.stdout is not None
        info = json.loads(paper.stdout.readline())
        store = tmp_path / "halt.duckdb"
        n = 200  # 200 orders at 2 at once, 50 ms each: about 5 s, far longer than the halt
        spec = {"url": info["url"], "store": str(store), "key": "job", "n": n, "seed": 3,
                "settings": {"stream": False, "concurrency": 2}}  # fmt: skip
        path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
        env = {**os.environ, "PYTHONPATH": path, "TOOLKIT_API_KEY": info["api_key"],
               "TOOLKIT_API_SECRET": info["api_secret"]}  # fmt: skip
        job = subprocess.Popen(
            [sys.executable, "-m", "bench.reliability._child", json.dumps(spec)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

        def at_exchange() -> int:
            with urllib.request.urlopen(f"{info['url']}/paper/counters") as resp:
                return int(json.loads(resp.read())["orders"])

        deadline = time.monotonic() + 120  # the job has sent some (a generous bound)
        while time.monotonic() < deadline and at_exchange() < 5:
            time.sleep(0.02)
        assert at_exchange() >= 5
        with Store(store) as st:
            st.halt("halted from the notebook")
            _, err = job.communicate(timeout=120)
            assert job.returncode != 0
            assert "BatchInterrupted" in err
            assert "halted (halted from the notebook)" in err
            rows = st.orders(key="job")
            unsent = rows[rows["error_msg"].fillna("").str.contains("halted")]
            assert len(unsent) > 0
            assert len(rows) == n
            assert at_exchange() == n - len(unsent)  # nothing sent after the halt
            assert st.halted() is not None
    finally:
        paper.terminate()
        paper.wait(10)
        if paper.stdout is not None:
            paper.stdout.close()


def test_processes_opening_a_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    """Four processes (a notebook, jobs) open a store that does not exist yet at the same
    moment: SQLite answers "locked" at once while one switches the journal to WAL; all retry."""
    path = tmp_path / "fresh.duckdb"
    start_at = time.time() + 3.0  # all four past their imports
    procs = [_spawn("open", path, start_at, f"p{i}") for i in range(4)]
    assert [_finish(p).strip() for p in procs] == ["ok"] * 4
    with Store(path) as store:
        assert sorted(store.orders()["key"]) == ["p0", "p1", "p2", "p3"]
