"""Client CPU per order: the toolkit against the raw-aiohttp floor, interleaved, same server.

``python -m bench.client_cpu [--orders 1000] [--rounds 5] [--market spot] [--stream]
[--gc-freeze]``

Each round runs the floor client, then the toolkit client, on the same orders and the same paper
exchange process (``--no-rate-limits --price-mode fixed``). Around each client's ``run`` it reads
the CPU time of this whole process (every thread: the caller, the toolkit's I/O thread, the store's
worker threads), for the toolkit of the I/O thread and the caller's thread alone, and the CPU
time spent in garbage collections (part of the process figure). The figure that matters is the
ratio ``toolkit / floor`` of CPU per order in the same round, whose median is printed last: the
machine is shared, so absolute times drift and only same-run ratios compare.

Work a client leaves behind after ``run`` returns (a background store projection) is not
counted; the toolkit's store runs inside ``run`` today.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from ._gc import Collections
from ._orders import build_orders, fetch_market
from ._server import PaperServer, ServerInfo
from .clients import FloorClient, ToolkitClient, set_warm_orders

__all__ = ["main", "measure"]


def _io_thread_cpu() -> float:
    """CPU seconds of toolkit's I/O loop thread so far (0 before it exists)."""
    for thread in threading.enumerate():
        if thread.name == "toolkit-io" and thread.ident is not None:
            return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    return 0.0


async def measure(
    server: ServerInfo,
    market: str,
    orders: int,
    rounds: int,
    concurrency: int,
    stream: bool,
    gc_freeze: bool = False,
) -> dict[str, Any]:
    """``rounds`` interleaved floor/toolkit runs; CPU ms per order and the per-round ratios."""
    info = await fetch_market(server.url, market)
    work = build_orders(info, orders)
    set_warm_orders(market, work[:10])
    floor = FloorClient(server, market, concurrency)
    toolkit = ToolkitClient(server, market, concurrency)
    if not stream:
        import bench.clients as clients

        original = clients.connect

        async def no_stream(*args: Any, **kwargs: Any) -> Any:
            kwargs["stream"] = False
            return await original(*args, **kwargs)

        clients.connect = no_stream  # type: ignore[assignment]
    # untimed warm-up of the server and of both clients' code paths
    for client in (floor, toolkit):
        await client.open()
        try:
            await client.run(work[:200])
        finally:
            await client.close()
    if gc_freeze:  # what freezing the start-up heap would save the collector (diagnostic)
        gc.collect()
        gc.freeze()
    rows: list[dict[str, float]] = []
    for rnd in range(rounds):
        row: dict[str, float] = {}
        for client in (floor, toolkit):
            await client.open()
            try:
                with Collections() as collections:
                    cpu0, io0, me0 = time.process_time(), _io_thread_cpu(), time.thread_time()
                    wall0 = time.perf_counter()
                    result = await client.run(work)
                    wall1 = time.perf_counter()
                    cpu1, io1, me1 = time.process_time(), _io_thread_cpu(), time.thread_time()
            finally:
                await client.close()
            if result.accepted != result.orders:
                print(f"  {client.name}: {result.orders - result.accepted} not accepted "
                      f"{result.errors[:1]}", file=sys.stderr)  # fmt: skip
            row[f"{client.name}_ms"] = (cpu1 - cpu0) / result.orders * 1000
            row[f"{client.name}_wall_ops"] = result.orders / (wall1 - wall0)
            row[f"{client.name}_gc_ms"] = collections.cpu_seconds / result.orders * 1000
            if client is toolkit:
                row["toolkit_io_ms"] = (io1 - io0) / result.orders * 1000
                row["toolkit_caller_ms"] = (me1 - me0) / result.orders * 1000
                # the rest: the store's worker threads (and any other thread of the process)
                row["toolkit_other_ms"] = (
                    row["toolkit_ms"] - row["toolkit_io_ms"] - row["toolkit_caller_ms"]
                )
        row["ratio"] = row["toolkit_ms"] / row["floor_ms"]
        rows.append(row)
        print(f"round {rnd + 1}: floor {row['floor_ms']:.3f} ms/order, toolkit "
              f"{row['toolkit_ms']:.3f} (I/O thread {row['toolkit_io_ms']:.3f}, caller "
              f"{row['toolkit_caller_ms']:.3f}, other {row['toolkit_other_ms']:.3f}; garbage "
              f"collection {row['toolkit_gc_ms']:.3f}, floor's {row['floor_gc_ms']:.3f}), ratio "
              f"{row['ratio']:.2f}", flush=True)  # fmt: skip
    med = {k: round(statistics.median(r[k] for r in rows), 4) for k in rows[0]}
    return {"market": market, "orders": orders, "rounds": rounds, "stream": stream,
            "gc_freeze": gc_freeze, "median": med, "rounds_data": rows}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.client_cpu", description=__doc__)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--market", default="spot", choices=("spot", "usdm"))
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--stream", action="store_true", help="user-data stream on")
    parser.add_argument(
        "--gc-freeze", action="store_true", help="gc.freeze() after the warm-up (diagnostic)"
    )
    args = parser.parse_args(argv)
    with PaperServer() as server:
        work = measure(
            server, args.market, args.orders, args.rounds, args.concurrency, args.stream,
            gc_freeze=args.gc_freeze,
        )  # fmt: skip
        out = asyncio.run(work)
    import toolkit as tk

    tk.run(tk.close())
    print(json.dumps(out["median"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
