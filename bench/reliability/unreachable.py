"""Scenario "unreachable": the exchange stops answering mid-batch, then comes back.

A restarted paper process would lose its orders, so "stopped" is a paused one (SIGSTOP): its
socket still accepts connections but nothing answers -- what a hung or unreachable exchange looks
like to a client. Two variants:

* ``paused``: a batch is running (the exchange answers 0.1 s late) when the exchange is paused
  after a third of the orders were accepted; it stays paused for a while, then resumes. The call
  must fail with a clear error or return with the unknown rows ``PENDING``; the store must keep
  them ``PENDING``; after the exchange is back, the next ``connect`` reconciles them, and a re-run
  of the key completes the batch with no order placed twice.
* ``dropped``: every order is accepted and its connection dropped (``drop_after_rate=1``); the
  batch must resolve every row by query before it returns.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import toolkit as tk

from ._harness import PaperProc, connect_settings, make_orders, reconcile_report, store_orders

__all__ = ["run_unreachable"]

SESSION = {"timeout": 1.0, "recv_window": 2.0, "send_window": 3.0, "concurrency": 4,
           "stream": False}  # fmt: skip


def _pending(store: Path, key: str) -> int:
    return sum(1 for r in store_orders(store) if r["key"] == key and r["status"] == "PENDING")


async def _paused(paper: PaperProc, store: Path, n: int, pause_for: float) -> dict[str, Any]:
    key = "unreachable-paused"
    rows = make_orders(n, market="spot", seed=77)
    session = await tk.connect("binance", **connect_settings(paper, store, **SESSION))
    paper.set_faults(latency=0.1)
    task = asyncio.ensure_future(session.batch(rows, key=key, progress=False))
    accepted = 0
    while accepted < n // 3 and not task.done():
        await asyncio.sleep(0.02)
        accepted = len(paper.orders())
    paper.pause()
    paused_at = time.perf_counter()
    outcome: dict[str, Any]
    try:
        frame = await task
        outcome = {"raised": None, "statuses": dict(Counter(str(s) for s in frame["status"]))}
    except tk.ToolkitError as exc:
        outcome = {"raised": f"{type(exc).__name__}: {exc}"}
    returned_after = round(time.perf_counter() - paused_at, 1)
    pending_in_store = _pending(store, key)
    await asyncio.sleep(max(0.0, pause_for - (time.perf_counter() - paused_at)))
    paper.resume()
    paper.set_faults()
    await session.close()
    # the next connect, once every row's send deadline has passed, reconciles the PENDING rows
    await asyncio.sleep(SESSION["send_window"] + SESSION["recv_window"] + 2.5)
    session = await tk.connect("binance", **connect_settings(paper, store, **SESSION))
    pending_after_connect = _pending(store, key)
    held_before_rerun = len(paper.orders())
    frame = await session.batch(rows, key=key, progress=False)
    await session.close()
    exchange = paper.orders()
    check = reconcile_report(
        [r for r in store_orders(store) if r["key"] == key],
        exchange,
        paper.counters()["orders_by_client_id"],
        expected={key: n},
    )
    violations = list(check["violations"])
    if outcome["raised"] is None and pending_in_store != outcome["statuses"].get("PENDING", 0):
        violations.append("the returned frame and the store disagree on PENDING rows")
    if pending_after_connect:
        violations.append(f"{pending_after_connect} rows still PENDING after the reconnect")
    if len(exchange) != n:
        violations.append(f"the exchange holds {len(exchange)} orders, expected {n}")
    return {
        "orders": n,
        "accepted_when_paused": accepted,
        "call_returned_after_s": returned_after,
        "call": outcome,
        "pending_in_store_while_down": pending_in_store,
        "pending_after_reconnect": pending_after_connect,
        "held_before_rerun": held_before_rerun,
        "sent_by_rerun": len(exchange) - held_before_rerun,
        "rerun_statuses": dict(Counter(str(s) for s in frame["status"])),
        "check": check,
        "violations": violations,
    }


async def _dropped(paper: PaperProc, store: Path, n: int) -> dict[str, Any]:
    key = "unreachable-dropped"
    key_pair = paper.new_key()
    rows = make_orders(n, market="usdm", seed=78)
    settings = connect_settings(paper, store, market="usdm", api_key=key_pair[0],
                                api_secret=key_pair[1], **SESSION)  # fmt: skip
    session = await tk.connect("binance", **settings)
    await session.batch(rows[:1], key=f"{key}-warmup", progress=False)  # rules, time sync
    paper.set_faults(drop_after_rate=1.0, seed=1)
    started = time.perf_counter()
    frame = await session.batch(rows, key=key, progress=False)
    seconds = round(time.perf_counter() - started, 1)
    paper.set_faults()
    await session.close()
    exchange = paper.orders(key_pair[0])
    check = reconcile_report(
        [r for r in store_orders(store) if r["key"] in (key, f"{key}-warmup")],
        exchange,
        paper.counters()["orders_by_client_id"],
        expected={key: n},
    )
    statuses = dict(Counter(str(s) for s in frame["status"]))
    violations = list(check["violations"])
    if "PENDING" in statuses:
        violations.append(f"dropped connections left {statuses['PENDING']} rows PENDING")
    return {"orders": n, "seconds": seconds, "statuses": statuses, "check": check,
            "violations": violations}  # fmt: skip


async def run_unreachable(n_orders: int, workdir: Path, *, pause_for: float = 6.0
                          ) -> dict[str, Any]:  # fmt: skip
    """Both variants (module docstring); returns figures and ``violations``."""
    store = workdir / "unreachable.duckdb"
    with PaperProc() as paper:
        paused = await _paused(paper, store, n_orders, pause_for)
        dropped = await _dropped(paper, store, n_orders)
    return {
        "paused": paused,
        "dropped": dropped,
        "violations": paused["violations"] + dropped["violations"],
    }
