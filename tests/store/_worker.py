"""Helper processes for the two-process store tests (run as scripts, not collected by pytest).

python _worker.py write PATH PREFIX N_ORDERS BATCH_SIZE START_AT
    write N_ORDERS orders in batches (record_batch, then apply NEW that finishes the batch),
    starting at the wall-clock time START_AT; prints "done N" at the end
python _worker.py hold PATH
    hold the store file open (and so DuckDB's lock) until a line arrives on standard input;
    prints "holding" once held
python _worker.py claim PATH BATCH_ID IDS START_AT
    claim_unplaced(BATCH_ID, IDS (comma-separated)) at START_AT; prints the ids it won
python _worker.py open PATH START_AT NAME
    at START_AT open the (new) store, write one keyed batch NAME, close; prints "ok"
python _worker.py crash-flush PATH N_ORDERS WHEN
    write a batch of N_ORDERS (write-ahead, then accepted), then SIGKILL itself during the
    first projection flush: WHEN is "in-transaction" (inside DuckDB's transaction) or
    "after-commit" (DuckDB committed, the journal not yet told)
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import time

import duckdb
import pandas as pd

from toolkit.core._models import Market, Order, OrderStatus, OrderType, Side
from toolkit.store._store import BatchRecord, Store


def write(path: str, prefix: str, n_orders: int, batch_size: int, start_at: float) -> None:
    store = Store(path)
    time.sleep(max(0.0, start_at - time.time()))
    for start in range(0, n_orders, batch_size):
        batch_id = f"{prefix}-b{start // batch_size}"
        now = pd.Timestamp.now(tz="UTC")
        orders = [
            Order(client_order_id=f"{prefix}-{i}", exchange="paper", market=Market.SPOT,
                  symbol="BTCUSDT", side=Side.BUY, type=OrderType.LIMIT, price=100.0, qty=1.0,
                  batch_id=batch_id, key=batch_id, created_at=now, position=i - start)
            for i in range(start, min(start + batch_size, n_orders))
        ]  # fmt: skip
        batch = BatchRecord(batch_id=batch_id, key=batch_id, created_at=now, n_orders=len(orders))
        store.record_batch(batch, orders)
        accepted = [dataclasses.replace(o, status=OrderStatus.NEW, order_id=o.client_order_id)
                    for o in orders]  # fmt: skip
        store.apply(accepted, source="response", finish=batch_id)
    store.close()
    print(f"done {n_orders}", flush=True)


def hold(path: str) -> None:
    with duckdb.connect(path) as con:
        con.execute("select count(*) from orders").fetchall()
        print("holding", flush=True)
        sys.stdin.readline()  # the test says when: no clock decides anything


def claim(path: str, batch_id: str, ids: str, start_at: float) -> None:
    with Store(path) as store:
        time.sleep(max(0.0, start_at - time.time()))
        won = store.claim_unplaced(batch_id, ids.split(","), pd.Timestamp.now(tz="UTC"))
    print(",".join(won), flush=True)


def crash_flush(path: str, n_orders: int, when: str) -> None:
    from toolkit.store import _journal, _projection

    def die(*args: object, **kwargs: object) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    if when == "in-transaction":
        _projection._stage = die  # type: ignore[assignment]  # called inside the transaction
    else:
        _journal.Journal.projected = die  # type: ignore[method-assign]
    store = Store(path)
    now = pd.Timestamp.now(tz="UTC")
    orders = [
        Order(client_order_id=f"c-{i}", exchange="paper", market=Market.SPOT, symbol="BTCUSDT",
              batch_id="b1", position=i, created_at=now)
        for i in range(n_orders)
    ]  # fmt: skip
    store.record_batch(BatchRecord(batch_id="b1", key="k", created_at=now, n_orders=n_orders),
                       orders)  # fmt: skip
    store.apply([dataclasses.replace(o, status=OrderStatus.NEW, order_id=f"x{i}")
                 for i, o in enumerate(orders)], source="response", finish="b1")  # fmt: skip
    print("written", flush=True)
    store.projection.flush()  # (or the background thread first): either dies
    print("not killed", flush=True)


def open_at(path: str, start_at: float, name: str) -> None:
    time.sleep(max(0.0, start_at - time.time()))
    with Store(path) as store:  # a new store, opened by several processes at once
        now = pd.Timestamp.now(tz="UTC")
        store.record_batch(BatchRecord(batch_id=name, key=name, created_at=now, n_orders=1),
                           [Order(client_order_id=f"{name}-0", exchange="paper", market=Market.SPOT,
                                  symbol="BTCUSDT", batch_id=name, position=0)])  # fmt: skip
    print("ok", flush=True)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "open":
        open_at(args[0], float(args[1]), args[2])
    elif command == "crash-flush":
        crash_flush(args[0], int(args[1]), args[2])
    elif command == "claim":
        claim(args[0], args[1], args[2], float(args[3]))
    elif command == "write":
        write(args[0], args[1], int(args[2]), int(args[3]), float(args[4]))
    else:
        hold(args[0])
