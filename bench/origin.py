"""Section 4: the origin's pattern vs ours, from sync code: 200 batches of 5 spot orders.

(a) the origin: each batch creates an event loop and an aiohttp ClientSession (pool of 100),
    signs and sends its 5 requests concurrently, closes the session and the loop;
(b) ours: ``tk.run(session.batch(df, progress=False))`` on the one session of the process;
floor: the same 5 pre-signed requests per batch on one warm session, one loop.

Reported per batch: median wall time and the overhead over the floor.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from . import floor
from ._orders import BenchOrder, orders_frame
from ._server import ServerInfo
from ._wire import new_run_id, spot_requests
from .floor import FORM, count_accepted

__all__ = ["PatternFigures", "floor_batches", "origin_batches", "toolkit_batches"]


@dataclass
class PatternFigures:
    """Per-batch wall times (seconds) of one pattern."""

    name: str
    times: list[float] = field(default_factory=list)
    accepted: int = 0
    orders: int = 0
    skipped: str | None = None

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times) * 1000 if self.times else 0.0

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.times) * 1000 if self.times else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "skipped": self.skipped,
            "batches": len(self.times),
            "median_ms": round(self.median_ms, 3),
            "mean_ms": round(self.mean_ms, 3),
            "p90_ms": round(sorted(self.times)[int(len(self.times) * 0.9)] * 1000, 3)
            if self.times
            else None,
            "accepted": self.accepted,
            "orders": self.orders,
        }


async def _post_all(
    http: aiohttp.ClientSession, url: str, api_key: str, bodies: list[tuple[str, bytes]]
) -> int:
    headers = {**FORM, "X-MBX-APIKEY": api_key}

    async def one(path: str, body: bytes) -> int:
        async with http.post(url + path, data=body, headers=headers) as resp:
            ok, _ = count_accepted(await resp.json(content_type=None))
        return ok

    return sum(await asyncio.gather(*(one(p, b) for p, b in bodies)))


def origin_batches(server: ServerInfo, batches: list[list[BenchOrder]]) -> PatternFigures:
    """(a) new event loop + new ClientSession (limit 100) per batch, as the origin did."""
    fig = PatternFigures("origin: new loop + session per batch")

    async def one_batch(orders: list[BenchOrder]) -> int:
        # signing happens inside the batch, as in the origin
        reqs = spot_requests(orders, server.api_secret, new_run_id())
        connector = aiohttp.TCPConnector(limit=100)
        async with aiohttp.ClientSession(connector=connector) as http:
            return await _post_all(
                http, server.url, server.api_key, [(r.path, r.body) for r in reqs]
            )

    for orders in batches:
        start = time.perf_counter()
        loop = asyncio.new_event_loop()
        try:
            ok = loop.run_until_complete(one_batch(orders))
        finally:
            loop.close()
        fig.times.append(time.perf_counter() - start)
        fig.accepted += ok
        fig.orders += len(orders)
    return fig


def floor_batches(server: ServerInfo, batches: list[list[BenchOrder]]) -> PatternFigures:
    """The floor: the same 5 requests, pre-signed, on one warm session and one loop."""
    fig = PatternFigures("floor: warm session, pre-signed")

    async def main() -> None:
        async with floor.new_session(100) as http:
            await floor.warm_session(http, server.url, 5)
            prepared = [
                [(r.path, r.body) for r in spot_requests(b, server.api_secret, new_run_id())]
                for b in batches
            ]
            for orders, bodies in zip(batches, prepared, strict=True):
                start = time.perf_counter()
                ok = await _post_all(http, server.url, server.api_key, bodies)
                fig.times.append(time.perf_counter() - start)
                fig.accepted += ok
                fig.orders += len(orders)

    asyncio.run(main())
    return fig


def toolkit_batches(
    server: ServerInfo,
    batches: list[list[BenchOrder]],
    store: str,
    concurrency: int,
    budget_s: float = 30.0,
) -> PatternFigures:
    """(b) ``tk.run(session.batch(df))`` from sync code, one session for all batches."""
    import toolkit as tk

    from .clients import ACCEPTED, connect

    fig = PatternFigures("toolkit: tk.run(tk.batch(df))")
    session = tk.run(connect(server, "spot", store, concurrency))
    try:
        tk.run(
            session.batch(orders_frame(batches[0]), progress=False)
        )  # warm: exchangeInfo, connections
        deadline = time.perf_counter() + budget_s
        for orders in batches:
            if time.perf_counter() > deadline:
                fig.skipped = None
                fig.name += f" (stopped after {len(fig.times)} batches: {budget_s:g} s budget)"
                break
            df = orders_frame(orders)
            start = time.perf_counter()
            out = tk.run(session.batch(df, progress=False))
            fig.times.append(time.perf_counter() - start)
            fig.accepted += int(out["status"].astype(str).isin(ACCEPTED).sum())
            fig.orders += len(orders)
    finally:
        tk.run(session.close())
    return fig
