"""Sections 1-3: orders/s of the floor, ccxt and the toolkit on the same orders and server.

Repetitions are interleaved (floor, toolkit, ccxt, floor, toolkit, ...) so that drift of the
machine (other processes, the server's growing order book) spreads evenly over the clients.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

import psutil

from ._orders import BenchOrder
from ._server import ServerInfo
from .clients import CcxtClient, Client, FloorClient, ToolkitClient, toolkit_available
from .floor import RunResult

__all__ = ["SLOW_RUN_S", "ClientFigures", "measure_market"]

#: A client whose run takes longer than this is not repeated (the run must stay a few minutes).
SLOW_RUN_S = 15.0


@dataclass
class ClientFigures:
    """All repetitions of one client on one market."""

    client: str
    market: str
    runs: list[RunResult] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)  # server CPU-seconds per order
    skipped: str | None = None
    note: str | None = None

    @property
    def median_ops(self) -> float:
        return statistics.median(r.orders_per_s for r in self.runs) if self.runs else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "market": self.market,
            "skipped": self.skipped,
            "note": self.note,
            "median_orders_per_s": round(self.median_ops, 1),
            "orders_per_s": [round(r.orders_per_s, 1) for r in self.runs],
            "seconds": [round(r.seconds, 4) for r in self.runs],
            "orders": [r.orders for r in self.runs],
            "accepted": [r.accepted for r in self.runs],
            "errors": sorted({e for r in self.runs for e in r.errors})[:5],
            "server_cpu_ms_per_order": [round(x * 1000, 4) for x in self.server_cpu],
            "client_cpu_ms_per_order": [
                round(r.cpu / r.orders * 1000, 4) for r in self.runs if r.cpu is not None
            ],
        }


async def measure_market(
    server: ServerInfo,
    market: str,
    orders: list[BenchOrder],
    *,
    concurrency: int,
    reps: int,
    with_toolkit: bool = True,
    with_ccxt: bool = True,
    log: Any = print,
) -> dict[str, ClientFigures]:
    """Interleaved repetitions of every available client on ``market``."""
    clients: list[Client] = [FloorClient(server, market, concurrency)]
    figures = {"floor": ClientFigures("floor", market)}
    ok, why = toolkit_available()
    figures["toolkit"] = ClientFigures("toolkit", market)
    figures["toolkit_nostream"] = ClientFigures("toolkit_nostream", market)
    if with_toolkit and ok:
        clients.append(ToolkitClient(server, market, concurrency))
        clients.append(ToolkitClient(server, market, concurrency, stream=False))
    else:
        figures["toolkit"].skipped = figures["toolkit_nostream"].skipped = why or "disabled"
    figures["ccxt"] = ClientFigures("ccxt", market)
    if with_ccxt:
        clients.append(CcxtClient(server, market, concurrency))
    else:
        figures["ccxt"].skipped = "disabled"
    proc = psutil.Process(server.pid)
    # untimed warm-up of the server (first orders per symbol and account, allocator, caches)
    warm = FloorClient(server, market, concurrency)
    try:
        await warm.open()
        await warm.run(orders[: min(len(orders), 200)])
    finally:
        await warm.close()
    for rep in range(reps):
        # the two toolkit runs of a repetition back to back, stream on first then off first
        # in turn (the stream's cost is the median of those pairs: report._stream_cost)
        ordered = clients if rep % 2 == 0 else _swap_toolkit(clients)
        for client in ordered:
            fig = figures[client.name]
            if fig.skipped:
                continue
            try:
                await client.open()
                cpu0 = sum(proc.cpu_times()[:2])
                result = await client.run(orders)
                cpu1 = sum(proc.cpu_times()[:2])
            except Exception as exc:
                fig.skipped = f"failed: {exc!r}"[:300]
                log(f"  {market:5} {client.name:8} rep {rep + 1}: FAILED {exc!r}")
                continue
            finally:
                await client.close()
            fig.runs.append(result)
            if result.seconds > SLOW_RUN_S and rep + 1 < reps:
                fig.skipped = None
                fig.note = (
                    f"{len(fig.runs)} of {reps} repetitions: one run took {result.seconds:.0f} s"
                )
                clients = [c for c in clients if c is not client]
            fig.server_cpu.append((cpu1 - cpu0) / max(result.orders, 1))
            note = (
                ""
                if result.accepted == result.orders
                else (f"  ({result.orders - result.accepted} not accepted: {result.errors[:1]})")
            )
            log(
                f"  {market:5} {client.name:8} rep {rep + 1}: "
                f"{result.orders_per_s:8.0f} orders/s{note}"
            )
    return figures


def _swap_toolkit(clients: list[Client]) -> list[Client]:
    """``clients`` with the stream-on and stream-off toolkit clients in the other order."""
    at = [i for i, c in enumerate(clients) if c.name in ("toolkit", "toolkit_nostream")]
    if len(at) != 2:
        return clients
    out = list(clients)
    out[at[0]], out[at[1]] = out[at[1]], out[at[0]]
    return out
