"""The floor: pre-built, pre-signed requests sent with plain aiohttp on one ClientSession.

``concurrency`` workers pull requests from a shared iterator: the least a client can do per
request. Responses are read and checked (an order counts only if the exchange accepted it).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ._wire import SignedRequest

__all__ = ["RunResult", "count_accepted", "send_all", "warm_session"]

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass
class RunResult:
    """One timed run: how many orders, how long, how many the exchange accepted."""

    orders: int
    seconds: float
    accepted: int
    errors: list[str] = field(default_factory=list)
    #: CPU seconds of this (client) process for the run, signing and bookkeeping included.
    cpu: float | None = None

    @property
    def orders_per_s(self) -> float:
        return self.orders / self.seconds if self.seconds > 0 else 0.0


def count_accepted(payload: Any) -> tuple[int, list[str]]:
    """Accepted orders in one response (an order object or a batch list) and error texts."""
    items = payload if isinstance(payload, list) else [payload]
    ok, errors = 0, []
    for item in items:
        if isinstance(item, dict) and "orderId" in item:
            ok += 1
        else:
            errors.append(json.dumps(item)[:200])
    return ok, errors


def new_session(concurrency: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=concurrency)  # verifies TLS, as in production
    return aiohttp.ClientSession(connector=connector, headers=None)


async def warm_session(http: aiohttp.ClientSession, url: str, concurrency: int) -> None:
    """Open ``concurrency`` keep-alive connections (as a warm client would have)."""

    async def one() -> None:
        async with http.get(f"{url}/api/v3/ping") as resp:
            await resp.read()

    await asyncio.gather(*(one() for _ in range(concurrency)))


async def send_all(
    http: aiohttp.ClientSession,
    url: str,
    api_key: str,
    requests: list[SignedRequest],
    concurrency: int,
) -> RunResult:
    """Send every request with ``concurrency`` workers; time from first send to last answer."""
    headers = {**FORM, "X-MBX-APIKEY": api_key}
    it: Iterator[SignedRequest] = iter(requests)
    accepted = 0
    errors: list[str] = []

    async def worker() -> None:
        nonlocal accepted
        for req in it:
            async with http.post(url + req.path, data=req.body, headers=headers) as resp:
                body = await resp.read()
            try:
                payload = json.loads(body)
            except ValueError:
                errors.append(f"HTTP {resp.status}: {body[:200]!r}")
                continue
            ok, errs = count_accepted(payload)
            accepted += ok
            errors.extend(errs)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - start
    return RunResult(sum(r.orders for r in requests), seconds, accepted, errors)
