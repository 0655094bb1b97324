"""Helper processes for the two-process store tests (run as scripts, not collected by pytest).

python _worker.py write PATH PREFIX N_ORDERS BATCH_SIZE START_AT
    write N_ORDERS orders in batches (record_batch, apply NEW, finish_batch), starting at the
    wall-clock time START_AT; prints "done N" at the end
python _worker.py hold PATH SECONDS
    hold the store file open (and so DuckDB's lock) for SECONDS; prints "holding" once held
python _worker.py claim PATH BATCH_ID IDS START_AT
    claim_unplaced(BATCH_ID, IDS (comma-separated)) at START_AT; prints the ids it won
"""

from __future__ import annotations

import dataclasses
import sys
import time

import duckdb
import pandas as pd

from toolkit._models import Order, OrderStatus
from toolkit._store import BatchRecord, Store


def write(path: str, prefix: str, n_orders: int, batch_size: int, start_at: float) -> None:
    store = Store(path)
    time.sleep(max(0.0, start_at - time.time()))
    for start in range(0, n_orders, batch_size):
        batch_id = f"{prefix}-b{start // batch_size}"
        now = pd.Timestamp.now(tz="UTC")
        orders = [
            Order(client_order_id=f"{prefix}-{i}", exchange="paper", market="spot",
                  symbol="BTCUSDT", side="buy", type="limit", price=100.0, qty=1.0,
                  batch_id=batch_id, key=batch_id, created_at=now, position=i - start)
            for i in range(start, min(start + batch_size, n_orders))
        ]  # fmt: skip
        batch = BatchRecord(batch_id=batch_id, key=batch_id, created_at=now, n_orders=len(orders))
        store.record_batch(batch, orders)
        accepted = [dataclasses.replace(o, status=OrderStatus.NEW, order_id=o.client_order_id)
                    for o in orders]  # fmt: skip
        store.apply(accepted, source="response")
        store.finish_batch(batch_id, {"NEW": len(orders)})
    store.close()
    print(f"done {n_orders}", flush=True)


def hold(path: str) -> None:
    """Hold the file until the test closes our stdin (an event, not a duration)."""
    with duckdb.connect(path) as con:
        con.execute("select count(*) from orders").fetchall()
        print("holding", flush=True)
        sys.stdin.read()


def claim(path: str, batch_id: str, ids: str, start_at: float) -> None:
    with Store(path) as store:
        time.sleep(max(0.0, start_at - time.time()))
        won = store.claim_unplaced(batch_id, ids.split(","), pd.Timestamp.now(tz="UTC"))
    print(",".join(won), flush=True)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "claim":
        claim(args[0], args[1], args[2], float(args[3]))
    elif command == "write":
        write(args[0], args[1], int(args[2]), int(args[3]), float(args[4]))
    else:
        hold(args[0])
