"""Section 4: the origin's pattern vs ours: 200 batches of 5 spot orders.

(a) the origin: each batch creates an event loop and an aiohttp ClientSession (pool of 100),
    signs and sends its 5 requests concurrently, closes the session and the loop;
(b) ours, four ways: ``tk.run(session.batch(df))`` from sync code and ``await session.batch(df)``
    from a running event loop (as a notebook cell runs it), each with the user-data stream on
    and off; one session per stream setting for the whole run;
floor: the same 5 requests per batch, signed before the clock starts, on one warm session.

The patterns take turns in rounds (a few batches each, then the next pattern) so that the
machine's drift spreads over all of them. Reported per batch: the median wall time and the ratio
to the floor of the same run.
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
from ._server import ServerInfo, new_account
from ._wire import new_run_id, spot_requests
from .floor import FORM, count_accepted

__all__ = ["TOOLKIT_PATTERNS", "PatternFigures", "measure_patterns"]


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


def _origin_batch(server: ServerInfo, orders: list[BenchOrder]) -> tuple[float, int]:
    """(a) new event loop + new ClientSession (limit 100) for one batch, as the origin did."""

    async def one_batch() -> int:
        # signing happens inside the batch, as in the origin
        reqs = spot_requests(orders, server.api_secret, new_run_id())
        connector = aiohttp.TCPConnector(limit=100)
        async with aiohttp.ClientSession(connector=connector) as http:
            return await _post_all(
                http, server.url, server.api_key, [(r.path, r.body) for r in reqs]
            )

    start = time.perf_counter()
    loop = asyncio.new_event_loop()
    try:
        ok = loop.run_until_complete(one_batch())
    finally:
        loop.close()
    return time.perf_counter() - start, ok


def _floor_round(server: ServerInfo, batches: list[list[BenchOrder]], fig: PatternFigures) -> None:
    """The floor: the same 5 requests, pre-signed, on one warm session and one loop."""

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


def _accepted(out: Any) -> int:
    from .clients import ACCEPTED

    return int(out["status"].astype(str).isin(ACCEPTED).sum())


def _toolkit_round(
    session: Any, batches: list[list[BenchOrder]], fig: PatternFigures, *, from_loop: bool
) -> None:
    import toolkit as tk

    frames = [orders_frame(b) for b in batches]
    if from_loop:

        async def main() -> None:
            for orders, df in zip(batches, frames, strict=True):
                start = time.perf_counter()
                out = await session.batch(df, progress=False)
                fig.times.append(time.perf_counter() - start)
                fig.accepted += _accepted(out)
                fig.orders += len(orders)

        asyncio.run(main())
        return
    for orders, df in zip(batches, frames, strict=True):
        start = time.perf_counter()
        out = tk.run(session.batch(df, progress=False))
        fig.times.append(time.perf_counter() - start)
        fig.accepted += _accepted(out)
        fig.orders += len(orders)


#: The toolkit's patterns: (figure name, user-data stream on, called from a running loop).
TOOLKIT_PATTERNS = (
    ("toolkit_sync_stream_off", False, False),
    ("toolkit_sync_stream_on", True, False),
    ("toolkit_loop_stream_off", False, True),
    ("toolkit_loop_stream_on", True, True),
)


def measure_patterns(
    server: ServerInfo,
    batches: list[list[BenchOrder]],
    store_dir: str | None,
    concurrency: int,
    *,
    round_size: int = 10,
) -> dict[str, PatternFigures]:
    """Every pattern on the same batches, taking turns in rounds of ``round_size`` batches.

    ``store_dir`` ``None`` leaves the toolkit out (it is not importable).
    """
    import toolkit as tk

    from .clients import connect

    figs = {"floor": PatternFigures("floor: warm session, pre-signed"),
            "origin": PatternFigures("origin: new loop + session per batch")}  # fmt: skip
    sessions: dict[bool, Any] = {}
    if store_dir is not None:
        for name, _, _ in TOOLKIT_PATTERNS:
            figs[name] = PatternFigures(name)
        for stream in (False, True):
            path = f"{store_dir}/stream-{stream}.duckdb"
            # an account each: a user-data stream carries every order of its account, so the
            # stream-on session would otherwise record the stream-off session's orders too
            account = new_account(server)
            session = tk.run(connect(account, "spot", path, concurrency, stream=stream))
            tk.run(session.batch(orders_frame(batches[0]), progress=False))  # warm
            sessions[stream] = session
    try:
        for i in range(0, len(batches), round_size):
            part = batches[i : i + round_size]
            _floor_round(server, part, figs["floor"])
            for orders in part:
                seconds, ok = _origin_batch(server, orders)
                figs["origin"].times.append(seconds)
                figs["origin"].accepted += ok
                figs["origin"].orders += len(orders)
            for name, stream, from_loop in TOOLKIT_PATTERNS if sessions else ():
                _toolkit_round(sessions[stream], part, figs[name], from_loop=from_loop)
    finally:
        for session in sessions.values():
            tk.run(session.close())
    return figs
