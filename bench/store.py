"""Section 5: the store (the journal on the critical path, DuckDB written from it).

- write-ahead of N orders (``Store.record_batch``: batch row, N PENDING rows, N events; one
  fsync'd journal commit), the exchange's answers for the same N (``Store.apply``), then the
  projection of all of it into DuckDB (what the background thread does);
- the write-ahead and the answers of 5-order batches one after the other, the projection
  running: medians, and the tail of all those writes (with the full garbage collections);
- the store's share of a 100-order ``tk.batch`` (time inside Store methods / batch wall time),
  measured by wrapping the Store methods of the running session.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from ._gc import Collections

__all__ = ["StoreTimer", "measure_store", "store_timer"]


def _orders(n: int) -> tuple[Any, list[Any], list[Any]]:
    """A batch record, N PENDING orders (write-ahead) and N answered orders (as parsed)."""
    from toolkit.binance._wire import order_from_request, parse_order
    from toolkit.core._models import Market, OrderRequest, OrderType, Side
    from toolkit.store._store import BatchRecord

    now = pd.Timestamp.now(tz="UTC")
    batch_id = f"bench-{time.time_ns()}"
    pending, answered = [], []
    for i in range(n):
        req = OrderRequest(
            client_order_id=f"{batch_id[-12:]}-{i}",
            market=Market.SPOT,
            symbol="BTCUSDT",
            side=Side.BUY if i % 2 == 0 else Side.SELL,
            type=OrderType.MARKET,
            qty=Decimal("0.00013"),
        )
        base = order_from_request(req, exchange="paper")
        pending.append(
            dataclasses.replace(
                base, batch_id=batch_id, position=i, created_at=now, updated_at=now,
                not_after=now + pd.Timedelta(seconds=30),
            )
        )  # fmt: skip
        payload = {
            "symbol": "BTCUSDT", "orderId": 1000 + i, "orderListId": -1,
            "clientOrderId": req.client_order_id, "transactTime": 1764072000000 + i,
            "price": "0.00000000", "origQty": "0.00013000", "executedQty": "0.00013000",
            "origQuoteOrderQty": "0.00000000", "cummulativeQuoteQty": "11.70000000",
            "status": "FILLED", "timeInForce": "GTC", "type": "MARKET", "side": req.side.name,
            "workingTime": 1764072000000 + i, "selfTradePreventionMode": "EXPIRE_MAKER",
        }  # fmt: skip
        answered.append(parse_order(payload, market=Market.SPOT, exchange="paper", request=req))
    batch = BatchRecord(
        batch_id=batch_id, created_at=now, n_orders=n, exchange="paper", market="spot"
    )
    return batch, pending, answered


def _small_batches(path: Path, size: int, count: int) -> dict[str, Any]:
    """``count`` write-aheads and answers of ``size`` orders each, one after the other, the
    projection running as in a session: the medians (a small batch's whole store cost on its
    critical path) and the tail of all the writes, with the full garbage collections meanwhile."""
    from toolkit.store._store import Store

    record_s, apply_s = [], []
    store = Store(path)
    try:
        with Collections() as collections:
            for _ in range(count):
                batch, pending, answered = _orders(size)
                t0 = time.perf_counter()
                store.record_batch(batch, pending)
                t1 = time.perf_counter()
                store.apply(answered, source="response", finish=batch.batch_id)
                t2 = time.perf_counter()
                record_s.append(t1 - t0)
                apply_s.append(t2 - t1)
    finally:
        store.close()
    writes = sorted(record_s + apply_s)

    def pct(q: float) -> float:
        return round(writes[min(len(writes) - 1, int(len(writes) * q))] * 1000, 3)

    return {
        "record_ms": round(statistics.median(record_s) * 1000, 3),
        "apply_ms": round(statistics.median(apply_s) * 1000, 3),
        "writes": len(writes),
        "p99_ms": pct(0.99),
        "p999_ms": pct(0.999),
        "max_ms": round(writes[-1] * 1000, 3),
        "over_10ms": sum(w > 0.01 for w in writes),
        "full_gcs": len(collections.pauses(2)),
        "full_gc_max_ms": round(max(collections.pauses(2), default=0.0) * 1000, 1),
    }


def measure_store(
    n: int, reps: int, small_batches: int, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Write-ahead and answers of ``n`` orders into the journal, then the projection of them
    into DuckDB (``reps`` times); and ``small_batches`` write-ahead + answers of 5 orders."""
    from toolkit.store._store import Store

    record_s, apply_s, flush_s = [], [], []
    for rep in range(reps):
        batch, pending, answered = _orders(n)
        with tempfile.TemporaryDirectory(prefix="tk-bench-store-") as tmp:
            store = Store(Path(tmp) / "store.duckdb", flush_delay=3600.0)
            try:
                t0 = time.perf_counter()
                store.record_batch(batch, pending)
                t1 = time.perf_counter()
                store.apply(answered, source="response")
                t2 = time.perf_counter()
                store.projection.flush()
                t3 = time.perf_counter()
                stored = int(store.sql("select count(*) as n from orders")["n"].iloc[0])
                events = int(store.sql("select count(*) as n from order_events")["n"].iloc[0])
            finally:
                store.close()
        if stored != n or events != 2 * n:
            raise RuntimeError(f"store wrote {stored} orders / {events} events for {n}")
        record_s.append(t1 - t0)
        apply_s.append(t2 - t1)
        flush_s.append(t3 - t2)
        log(f"  store rep {rep + 1}: record_batch {t1 - t0:.3f} s, apply {t2 - t1:.3f} s,"
            f" projection into DuckDB {t3 - t2:.3f} s ({n})")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="tk-bench-store-") as tmp:
        small = _small_batches(Path(tmp) / "small.duckdb", 5, small_batches)
    log(f"  store 5-order batch: write-ahead {small['record_ms']:.2f} ms, answers"
        f" {small['apply_ms']:.2f} ms; all {small['writes']} writes: p99 {small['p99_ms']} ms,"
        f" p99.9 {small['p999_ms']} ms, max {small['max_ms']} ms")  # fmt: skip
    rec, app, fl = (statistics.median(x) for x in (record_s, apply_s, flush_s))
    return {
        "orders": n,
        "record_batch_s": round(rec, 4),
        "apply_s": round(app, 4),
        "flush_s": round(fl, 4),
        "record_batch_orders_per_s": round(n / rec, 1),
        "apply_orders_per_s": round(n / app, 1),
        "flush_orders_per_s": round(n / fl, 1),
        "small_batches": small_batches,
        "small_record_ms": small["record_ms"],
        "small_apply_ms": small["apply_ms"],
        "small_tail": small,
    }


class StoreTimer:
    """Wall time spent inside the Store's methods (any thread), by method."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self.seconds[name] = self.seconds.get(name, 0.0) + seconds
            self.calls[name] = self.calls.get(name, 0) + 1

    def reset(self) -> None:
        with self._lock:
            self.seconds.clear()
            self.calls.clear()

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


WRAPPED = (
    "record_batch", "apply", "find_batch", "batch_orders", "pending",
    # what a batch awaits: the journal writes, from the call until the commit
    "submit_record_batch", "submit_apply", "submit_claim_unplaced",
)  # fmt: skip


@contextlib.contextmanager
def store_timer() -> Iterator[StoreTimer]:
    """Patch ``toolkit.store._store.Store`` so that every call of ``WRAPPED`` methods is timed."""
    from toolkit.store._store import Store

    timer = StoreTimer()
    originals: dict[str, Any] = {}
    for name in WRAPPED:
        orig = getattr(Store, name, None)
        if orig is None:
            continue
        originals[name] = orig

        def wrapper(self: Any, *args: Any, _orig: Any = orig, _name: str = name, **kw: Any) -> Any:
            start = time.perf_counter()
            result = _orig(self, *args, **kw)
            if isinstance(result, concurrent.futures.Future):  # awaited by the batch: until done
                result.add_done_callback(
                    lambda _, s=start, n=_name: timer.add(n, time.perf_counter() - s)
                )
            else:
                timer.add(_name, time.perf_counter() - start)
            return result

        setattr(Store, name, wrapper)
    try:
        yield timer
    finally:
        for name, orig in originals.items():
            setattr(Store, name, orig)
