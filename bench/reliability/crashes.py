"""Scenario "crashes": SIGKILL of the process placing a batch, then a restart with the same key.

For each crash point a child process (:mod:`bench.reliability._child`, the way a user's script
connects: ``tk.connect("binance", base_url=...)`` and a store file) places one batch of
``n_orders`` spot orders and is SIGKILLed

* ``before-send`` -- after the write-ahead, as the first order request is about to leave;
* ``mid-batch``   -- from outside, once the exchange holds half of the batch (the paper exchange
  answers every request 0.1 s late, so many requests are in flight at that moment);
* ``after-send``  -- when the first answers are back (answers are recorded group by group) but
  none is persisted.

Then a second process runs the same batch with the same key. Each point uses its own API key at
one paper exchange process and one shared store file. What must hold: the exchange holds exactly
``n_orders`` orders, each client order id placed once, and the store agrees with it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ._harness import ROOT, PaperProc, child_env, reconcile_report, store_orders

__all__ = ["POINTS", "run_crashes"]

POINTS = ("before-send", "mid-batch", "after-send")
#: Short windows so that the restart can decide never-sent rows within seconds.
SETTINGS = {"send_window": 3.0, "recv_window": 2.0, "timeout": 3.0, "stream": False}


def _spawn(paper: PaperProc, key: str, secret: str, spec: dict[str, Any]) -> subprocess.Popen[str]:
    env = child_env(TOOLKIT_API_KEY=key, TOOLKIT_API_SECRET=secret)
    return subprocess.Popen(
        [sys.executable, "-m", "bench.reliability._child", json.dumps(spec)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _finish(proc: subprocess.Popen[str], timeout: float) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return proc.returncode, out, err


def _one(paper: PaperProc, store: Path, point: str, n: int) -> dict[str, Any]:
    key, secret = paper.new_key()
    batch_key = f"crash-{point}"
    spec = {"url": paper.url, "store": str(store), "key": batch_key, "n": n, "seed": 500,
            "settings": SETTINGS, "crash": "" if point == "mid-batch" else point}  # fmt: skip
    if point == "mid-batch":
        paper.set_faults(latency=0.1)
    proc = _spawn(paper, key, secret, spec)
    try:
        if point == "mid-batch":
            deadline = time.monotonic() + 120
            while proc.poll() is None and time.monotonic() < deadline:
                if len(paper.orders(key)) >= n // 2:
                    proc.send_signal(signal.SIGKILL)
                    break
                time.sleep(0.02)
        code, _, err = _finish(proc, 180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    paper.set_faults()
    time.sleep(0.5)  # requests the dead process left in flight are answered (to nobody)
    rows = [r for r in store_orders(store) if r["key"] == batch_key]
    at_kill = {
        "exit_code": code,
        "exchange_holds": len(paper.orders(key)),
        "store_rows": len(rows),
        "store_pending": sum(1 for r in rows if r["status"] == "PENDING"),
    }
    started = time.perf_counter()
    requests_before = paper.counters()["requests"]
    rerun = _spawn(paper, key, secret, {**spec, "crash": ""})
    code2, out2, err2 = _finish(rerun, 300)
    seconds = round(time.perf_counter() - started, 1)
    rerun_requests = paper.counters()["requests"] - requests_before - 1
    rows = [r for r in store_orders(store) if r["key"] == batch_key]
    exchange = paper.orders(key)
    check = reconcile_report(rows, exchange, paper.counters()["orders_by_client_id"],
                             expected={batch_key: n})  # fmt: skip
    violations = list(check["violations"])
    if code != -signal.SIGKILL:
        violations.append(f"{point}: the placing process was not killed (exit {code}): "
                          f"{err[-500:]}")  # fmt: skip
    if code2 != 0:
        violations.append(f"{point}: the re-run failed (exit {code2}): {err2[-800:]}")
    if len(exchange) != n:
        violations.append(f"{point}: the exchange holds {len(exchange)} orders, expected {n}")
    return {
        "point": point,
        "at_kill": at_kill,
        "rerun_seconds": seconds,
        "rerun_requests": rerun_requests,
        "rerun_statuses": json.loads(out2.strip().splitlines()[-1])["statuses"]
        if code2 == 0 and out2.strip()
        else None,
        "exchange_holds": len(exchange),
        "check": check,
        "violations": violations,
    }


def run_crashes(n_orders: int, workdir: Path, points: tuple[str, ...] = POINTS) -> dict[str, Any]:
    """The scenario (module docstring) for each point; returns figures and ``violations``."""
    store = workdir / "crashes.duckdb"
    results = []
    with PaperProc() as paper:
        for point in points:
            results.append(_one(paper, store, point, n_orders))
    return {
        "orders_per_batch": n_orders,
        "points": results,
        "violations": [v for r in results for v in r["violations"]],
    }
