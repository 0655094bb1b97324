"""Section 5: the DuckDB store.

- write-ahead of N orders (``Store.record_batch``: batch row, N PENDING rows, N events),
- the exchange's answers for the same N (``Store.apply``: upsert + N events), both bulk
  (one vectorized scan per call, as the toolkit does),
- the same write-ahead rows through per-row inserts (``executemany``) for contrast,
- the store's share of a 100-order ``tk.batch`` (time inside Store methods / batch wall time),
  measured by wrapping the Store methods of the running session.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["StoreTimer", "measure_store", "store_timer"]


def _orders(n: int) -> tuple[Any, list[Any], list[Any]]:
    """A batch record, N PENDING orders (write-ahead) and N answered orders (as parsed)."""
    from toolkit._models import Market, OrderRequest, OrderType, Side
    from toolkit._store import BatchRecord
    from toolkit.adapters._wire import order_from_request, parse_order

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


def _per_row(path: Path, pending: list[Any]) -> float:
    """The write-ahead rows (orders + events) inserted one row at a time with executemany."""
    import duckdb

    from toolkit._store_schema import DDL, ORDER_FIELDS, to_json

    con = duckdb.connect(str(path))
    try:
        for stmt in DDL:
            con.execute(stmt)
        rows = []
        for o in pending:
            row = []
            for f in ORDER_FIELDS:
                v = getattr(o, f)
                if f == "raw":
                    v = to_json(v)
                elif isinstance(v, pd.Timestamp):
                    v = v.to_pydatetime()
                elif isinstance(v, enum.Enum):
                    v = v.value
                row.append(v)
            rows.append(row)
        events = [
            (o.client_order_id, o.updated_at.to_pydatetime(), "submitted", o.status.value,
             o.filled_qty, "submit", None)
            for o in pending
        ]  # fmt: skip
        marks = ", ".join("?" for _ in ORDER_FIELDS)
        start = time.perf_counter()
        con.execute("BEGIN TRANSACTION")
        con.executemany(f"INSERT INTO orders ({', '.join(ORDER_FIELDS)}) VALUES ({marks})", rows)
        con.executemany(
            "INSERT INTO order_events (client_order_id, ts, event, status, filled_qty, source,"
            " raw) VALUES (?, ?, ?, ?, ?, ?, ?)",
            events,
        )
        con.execute("COMMIT")
        return time.perf_counter() - start
    finally:
        con.close()


def measure_store(
    n: int, reps: int, per_row_n: int, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Bulk write-ahead and apply of ``n`` orders (``reps`` times), per-row inserts once."""
    from toolkit._store import Store

    record_s, apply_s, per_row_s = [], [], []
    for rep in range(reps):
        batch, pending, answered = _orders(n)
        with tempfile.TemporaryDirectory(prefix="tk-bench-store-") as tmp:
            store = Store(Path(tmp) / "store.duckdb")
            try:
                t0 = time.perf_counter()
                store.record_batch(batch, pending)
                t1 = time.perf_counter()
                store.apply(answered, source="response")
                t2 = time.perf_counter()
                stored = int(store.sql("select count(*) as n from orders")["n"].iloc[0])
                events = int(store.sql("select count(*) as n from order_events")["n"].iloc[0])
            finally:
                store.close()
        if stored != n or events != 2 * n:
            raise RuntimeError(f"store wrote {stored} orders / {events} events for {n}")
        record_s.append(t1 - t0)
        apply_s.append(t2 - t1)
        log(f"  store rep {rep + 1}: record_batch {t1 - t0:.3f} s, apply {t2 - t1:.3f} s ({n})")
    _, pending, _ = _orders(per_row_n)
    with tempfile.TemporaryDirectory(prefix="tk-bench-store-") as tmp:
        per_row_s.append(_per_row(Path(tmp) / "rows.duckdb", pending))
    log(f"  store per-row executemany: {per_row_s[0]:.3f} s ({per_row_n})")
    rec, app, row = (statistics.median(x) for x in (record_s, apply_s, per_row_s))
    return {
        "orders": n,
        "record_batch_s": round(rec, 4),
        "apply_s": round(app, 4),
        "record_batch_orders_per_s": round(n / rec, 1),
        "apply_orders_per_s": round(n / app, 1),
        "per_row_orders": per_row_n,
        "per_row_s": round(row, 4),
        "per_row_orders_per_s": round(per_row_n / row, 1),
        "bulk_vs_per_row": round((n / rec) / (per_row_n / row), 1),
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


WRAPPED = ("record_batch", "apply", "finish_batch", "find_batch", "batch_orders", "pending")


@contextlib.contextmanager
def store_timer() -> Iterator[StoreTimer]:
    """Patch ``toolkit._store.Store`` so that every call of ``WRAPPED`` methods is timed."""
    from toolkit._store import Store

    timer = StoreTimer()
    originals: dict[str, Any] = {}
    for name in WRAPPED:
        orig = getattr(Store, name, None)
        if orig is None:
            continue
        originals[name] = orig

        def wrapper(self: Any, *args: Any, _orig: Any = orig, _name: str = name, **kw: Any) -> Any:
            start = time.perf_counter()
            try:
                return _orig(self, *args, **kw)
            finally:
                timer.add(_name, time.perf_counter() - start)

        setattr(Store, name, wrapper)
    try:
        yield timer
    finally:
        for name, orig in originals.items():
            setattr(Store, name, orig)
