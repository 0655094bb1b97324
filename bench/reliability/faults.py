"""Scenario "faults": many batches under seeded injected faults, then reconciliation.

1. **Under faults** -- ``n_orders`` orders, spot and USD-M mixed, in batches of varied sizes (four
   batches in flight), against a paper exchange process injecting about 10% faults: 5xx before
   accept, 5xx after accept, connection dropped after accept, requests held beyond the client
   timeout, 429 bursts, 418 ban windows, and clock jumps of the server (skew changed mid-run).
   A call that raises (before its write-ahead: a read refused by a ban, or timed out) is counted
   and run again after the ``Retry-After`` (up to three runs), as a user would re-run the cell.
2. **Reconnect** -- faults off; the sessions are closed, and new ones connect once every row's
   send deadline has passed: ``connect`` reconciles the store's PENDING rows.
3. **Re-run** -- every batch again with the same key and rows: unknown outcomes are resolved and
   only rows proven not placed are sent again.

After each step the store is checked against the exchange (:func:`reconcile_report`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import toolkit as tk

from ._harness import PaperProc, connect_settings, make_orders, reconcile_report, store_orders

__all__ = ["PROFILE", "run_faults"]

#: Client settings: short timeouts so unknown outcomes resolve in seconds, not minutes.
SESSION = {"timeout": 1.0, "recv_window": 2.0, "send_window": 4.0, "concurrency": 8}
#: The injected faults (rates per eligible request; error/drop apply to order requests only;
#: slow requests are held beyond the client's timeout, then processed).
PROFILE: dict[str, Any] = {
    "error_before_rate": 0.02,
    "error_after_rate": 0.02,
    "drop_after_rate": 0.02,
    "burst_429_rate": 0.01,
    "burst_429_length": 3,
    "slow_rate": 0.02,
    "slow_latency": SESSION["timeout"] + 0.6,
    "ban_418_rate": 0.002,
    "ban_418_seconds": 1.5,
}
#: Server clock jumps (ms) applied in turn during the run; the client must resync.
SKEWS = (0.0, 1500.0, -1500.0, 3000.0)
_SIZES = (1, 3, 5, 8, 13, 20, 37, 50, 64, 100)
#: Runs of a batch whose call raised before its write-ahead (then it is left to step 3).
_ATTEMPTS = 3


def plan(n_orders: int, seed: int) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """``(key, market, rows)`` of every batch: sizes and markets drawn under ``seed``."""
    rng = random.Random(seed)
    batches = []
    left, i = n_orders, 0
    while left > 0:
        size = min(left, rng.choice(_SIZES))
        market = rng.choice(["spot", "usdm"])
        rows = make_orders(size, market=market, seed=seed * 1000 + i)
        batches.append((f"faults-{seed}-{i:03d}", market, rows))
        left -= size
        i += 1
    return batches


def _frame_counts(frame: Any) -> Counter[str]:
    counts: Counter[str] = Counter(str(s) for s in frame["status"])
    counts["not_placed"] += int(frame["error_msg"].fillna("").str.startswith("not placed").sum())
    return counts


async def _sessions(paper: PaperProc, store: Path) -> dict[str, tk.Session]:
    return {
        m: await tk.connect("binance", **connect_settings(paper, store, market=m, **SESSION))
        for m in ("spot", "usdm")
    }


async def _run_all(
    sessions: dict[str, tk.Session],
    batches: list[tuple[str, str, list[dict[str, Any]]]],
    *,
    in_flight: int,
    on_progress: Any = None,
) -> tuple[Counter[str], Counter[str], list[str]]:
    """Run ``batches``; returns status counts, failures by exception type, failed keys."""
    slots = asyncio.Semaphore(in_flight)
    counts: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    failed: list[str] = []
    done = 0

    async def one(key: str, market: str, rows: list[dict[str, Any]]) -> None:
        nonlocal done
        async with slots:
            for attempt in range(1, _ATTEMPTS + 1):
                try:
                    frame = await sessions[market].batch(rows, key=key)
                except tk.ToolkitError as exc:
                    # what a user does with "rate limited"/"timed out": wait, re-run the cell
                    failures[type(exc).__name__] += 1
                    if attempt == _ATTEMPTS:
                        failed.append(key)
                    else:
                        await asyncio.sleep(getattr(exc, "retry_after", None) or 1.0)
                else:
                    counts.update(_frame_counts(frame))
                    break
            done += 1
            if on_progress is not None:
                on_progress(done)

    await asyncio.gather(*(one(*b) for b in batches))
    return counts, failures, failed


def _events(store: Path) -> dict[str, int]:
    from toolkit.store._store import Store

    with Store(str(store)) as db:
        frame = db.sql(
            "SELECT event || '/' || source AS e, count(*) AS n FROM order_events GROUP BY 1"
        )
    return {str(e): int(n) for e, n in zip(frame["e"], frame["n"], strict=True)}


def _check(paper: PaperProc, store: Path, expected: dict[str, int]) -> dict[str, Any]:
    return reconcile_report(
        store_orders(store),
        paper.orders(),
        paper.counters()["orders_by_client_id"],
        expected=expected,
    )


async def run_faults(n_orders: int, workdir: Path, *, seed: int = 8) -> dict[str, Any]:
    """The scenario (module docstring); returns its figures and ``violations``."""
    store = workdir / "faults.duckdb"
    batches = plan(n_orders, seed)
    expected = {key: len(rows) for key, _, rows in batches}
    faults = {**PROFILE, "seed": seed}
    out: dict[str, Any] = {
        "orders": n_orders,
        "batches": len(batches),
        "markets": dict(Counter(m for _, m, rows in batches for _ in rows)),
        "seed": seed,
        "profile": {**PROFILE, "clock_skews_ms": list(SKEWS)},
        "session": SESSION,
    }
    with PaperProc(faults=faults) as paper:
        started = time.perf_counter()
        sessions = await _sessions(paper, store)
        quarter = max(1, len(batches) // len(SKEWS))

        def on_progress(done: int) -> None:
            if done % quarter == 0 and done // quarter < len(SKEWS):
                step = done // quarter  # a new seed per step: reseeding must not repeat draws
                paper.set_faults(**{**faults, "seed": seed * 10 + step}, clock_skew_ms=SKEWS[step])

        counts, failures, failed_first = await _run_all(
            sessions, batches, in_flight=4, on_progress=on_progress
        )
        counters = paper.counters()
        out["under_faults"] = {
            "seconds": round(time.perf_counter() - started, 1),
            "statuses_returned": dict(sorted(counts.items())),
            "calls_raised": dict(failures),
            "batches_given_up": len(failed_first),
            "faults_injected": dict(sorted(counters["faults"].items())),
            "responses_by_status": counters["responses_by_status"],
            "requests": counters["requests"],
            "check": _check(paper, store, {}),
        }

        # 2. faults off, reconnect once every deadline has passed: connect reconciles
        paper.set_faults()
        for session in sessions.values():
            await session.close()
        wait = SESSION["send_window"] + SESSION["recv_window"] + 2.5
        await asyncio.sleep(wait)
        started = time.perf_counter()
        sessions = await _sessions(paper, store)
        out["after_reconnect"] = {
            "connect_seconds": round(time.perf_counter() - started, 2),
            "check": _check(paper, store, {}),
        }

        # 3. re-run every key: resolves what is left, sends only rows proven not placed
        held_before = len(paper.orders())
        started = time.perf_counter()
        counts, failures, failed_again = await _run_all(sessions, batches, in_flight=4)
        for session in sessions.values():
            await session.close()
        out["after_rerun"] = {
            "seconds": round(time.perf_counter() - started, 1),
            "statuses_returned": dict(sorted(counts.items())),
            "failures": dict(failures),
            "orders_sent_again": len(paper.orders()) - held_before,
            "check": _check(paper, store, expected),
        }
        out["order_events"] = _events(store)
        if paper.stderr.strip():
            out["server_errors"] = paper.stderr.strip().splitlines()[-5:]
    final = out["after_rerun"]["check"]
    out["violations"] = list(final["violations"]) + [f"re-run failed for {k}" for k in failed_again]
    if "server_errors" in out:
        out["violations"].append(f"paper exchange logged errors: {out['server_errors']}")
    return out
