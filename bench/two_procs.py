"""Section 8: two processes placing orders into one store (a notebook and a papermill job).

Each process connects its own session (rate limits off, stream off) to the same paper exchange
and the same store file, and places ``orders`` spot market orders in batches of ``batch``.
Measured in each process: its wall time from the common start to its last batch, the time its
batches spent inside the store's methods, and of that the time its journal writes waited for
the other process's transactions (the goal: ≤ 5% of its wall time). The two runs go first one
after the other, then at once; the figure is the wall time of the concurrent pair against the
sum of the sequential pair (goal ≤ 1.2; two processes share two cores with the paper exchange,
so below 1.0 is expected).

Run as a child: ``python -m bench.two_procs URL KEY SECRET STORE N BATCH START_AT``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ._orders import build_orders, fetch_market, orders_frame
from ._server import ServerInfo

__all__ = ["measure_two_processes"]

ROOT = Path(__file__).resolve().parents[1]


def _child(url: str, key: str, secret: str, store: str, n: int, batch: int, start_at: float,
           ) -> dict[str, Any]:  # fmt: skip
    import toolkit as tk

    from .store import store_timer

    orders = build_orders(asyncio.run(fetch_market(url, "spot")), n)
    frames = [orders_frame(orders[i : i + batch]) for i in range(0, n, batch)]
    session = tk.run(tk.connect("binance", base_url=url, api_key=key, api_secret=secret,
                                store=store, rate_limits=False, stream=False))  # fmt: skip
    tk.run(session.batch(orders_frame(orders[:2]), progress=False))  # warm: rules, connections
    time.sleep(max(0.0, start_at - time.time()))
    accepted = 0
    lock_wait = session.store.lock_wait
    with store_timer() as timer:
        start = time.perf_counter()
        for df in frames:
            out = tk.run(session.batch(df, progress=False))
            accepted += int(out["status"].astype(str).isin({"NEW", "FILLED"}).sum())
        wall = time.perf_counter() - start
    lock_wait = session.store.lock_wait - lock_wait
    tk.run(session.close())
    return {"wall_s": wall, "store_s": timer.total, "lock_wait_s": lock_wait,
            "accepted": accepted, "orders": n, "end": time.time()}  # fmt: skip


def _spawn(server: ServerInfo, store: str, n: int, batch: int, start_at: float) -> Any:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    args = [server.url, server.api_key, server.api_secret, store, n, batch, start_at]
    return subprocess.Popen(
        [sys.executable, "-m", "bench.two_procs", *map(str, args)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _run(server: ServerInfo, store: str, n: int, batch: int, together: bool) -> list[Any]:
    if together:
        start_at = time.time() + 4.0  # both past their imports and warm-up
        procs = [_spawn(server, store, n, batch, start_at) for _ in range(2)]
        outs = [p.communicate(timeout=600) for p in procs]
    else:
        outs = []
        for _ in range(2):
            p = _spawn(server, store, n, batch, time.time() + 4.0)
            outs.append(p.communicate(timeout=600))
    results = []
    for out, err in outs:
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if not lines:
            raise RuntimeError(f"a child failed: {err[-500:]}")
        results.append(json.loads(lines[-1]))
    return results


def measure_two_processes(server: ServerInfo, n: int, batch: int, log: Any = print
                          ) -> dict[str, Any]:  # fmt: skip
    """Sequential pair, then the concurrent pair, each on a fresh store."""
    with tempfile.TemporaryDirectory(prefix="tk-bench-2p-") as tmp:
        seq = _run(server, f"{tmp}/seq.duckdb", n, batch, together=False)
        con = _run(server, f"{tmp}/con.duckdb", n, batch, together=True)
    seq_wall = sum(r["wall_s"] for r in seq)
    con_wall = max(r["wall_s"] for r in con)
    shares = [r["store_s"] / r["wall_s"] for r in con]
    waits = [r["lock_wait_s"] / r["wall_s"] for r in con]
    log(f"  two processes x {n}: one after the other {seq_wall:.2f} s, at once {con_wall:.2f} s,"
        f" store share {max(shares) * 100:.1f}%, waiting for the other"
        f" {max(waits) * 100:.2f}%")  # fmt: skip
    return {
        "orders": n,
        "batch": batch,
        "sequential_s": round(seq_wall, 3),
        "concurrent_s": round(con_wall, 3),
        "ratio": round(con_wall / seq_wall, 3) if seq_wall else None,
        "store_share_max": round(max(shares), 4),
        "store_shares": [round(x, 4) for x in shares],
        "lock_wait_share_max": round(max(waits), 5),
        "lock_wait_shares": [round(x, 5) for x in waits],
        "accepted": [r["accepted"] for r in (*seq, *con)],
    }


if __name__ == "__main__":
    url, key, secret, store, n, batch, start_at = sys.argv[1:8]
    print(json.dumps(_child(url, key, secret, store, int(n), int(batch), float(start_at))),
          flush=True)  # fmt: skip
