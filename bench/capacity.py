"""Section 7: the paper exchange's own capacity, so we know it is not the bottleneck.

Two figures: the floor client at high concurrency (what one client process gets out of the
server on this machine, both sharing its cores), and the server's CPU time per order (its
capacity if it had a core to itself: ``1 / cpu_seconds_per_order``). If the paper exchange's
own ``bench/paper_capacity.py`` exists it is run too and its JSON (last line) recorded.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from typing import Any

import psutil

from . import floor
from ._orders import BenchOrder
from ._server import ROOT, ServerInfo
from ._wire import batch_requests, new_run_id, spot_requests

__all__ = ["measure_capacity", "run_paper_capacity"]

HIGH_CONCURRENCY = 64


async def measure_capacity(
    server: ServerInfo, market: str, orders: list[BenchOrder], reps: int
) -> dict[str, Any]:
    """Floor at ``HIGH_CONCURRENCY``; medians of ``reps`` runs, plus server CPU per order."""
    proc = psutil.Process(server.pid)
    ops, cpu = [], []
    build = spot_requests if market == "spot" else batch_requests
    async with floor.new_session(HIGH_CONCURRENCY) as http:
        await floor.warm_session(http, server.url, HIGH_CONCURRENCY)
        for _ in range(reps):
            requests = build(orders, server.api_secret, new_run_id())
            c0 = sum(proc.cpu_times()[:2])
            res = await floor.send_all(http, server.url, server.api_key, requests, HIGH_CONCURRENCY)
            c1 = sum(proc.cpu_times()[:2])
            if res.accepted != res.orders:
                raise RuntimeError(
                    f"capacity run: {res.orders - res.accepted} not accepted: {res.errors[:1]}"
                )
            ops.append(res.orders_per_s)
            cpu.append((c1 - c0) / res.orders)
    cpu_med = statistics.median(cpu)
    requests_per_order = 1 if market == "spot" else 1 / 5
    return {
        "market": market,
        "concurrency": HIGH_CONCURRENCY,
        "orders": len(orders),
        "orders_per_s": round(statistics.median(ops), 1),
        "requests_per_s": round(statistics.median(ops) * requests_per_order, 1),
        "server_cpu_ms_per_order": round(cpu_med * 1000, 4),
        "server_one_core_orders_per_s": round(1 / cpu_med, 1) if cpu_med > 0 else None,
    }


def run_paper_capacity(seconds: float = 3.0, timeout: float = 120.0) -> dict[str, Any] | None:
    """Run ``bench/paper_capacity.py`` (owned by the paper exchange) on both markets, if present."""
    script = ROOT / "bench" / "paper_capacity.py"
    if not script.exists():
        return None
    out: dict[str, Any] = {}
    for market in ("spot", "usdm"):
        args = ["--seconds", f"{seconds:g}", "--market", market]
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "bench.paper_capacity", *args],
                cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            out[market] = {"error": f"timed out after {timeout:g} s"}
            continue
        lines = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]
        parsed: Any = None
        for line in reversed(lines):
            if line.startswith("{"):
                try:
                    parsed = json.loads(line)
                except ValueError:
                    continue
                break
        out[market] = (
            parsed
            if parsed is not None
            else {
                "returncode": proc.returncode,
                "stdout_tail": "\n".join(lines[-5:]),
                "stderr_tail": proc.stderr[-300:],
            }
        )
    out["command"] = f"python -m bench.paper_capacity --seconds {seconds:g} --market spot/usdm"
    return out
