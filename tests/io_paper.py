"""A private paper exchange on toolkit's I/O loop, and waits for tests that run beside it.

Shared by the panel tests (tests/notebook) and the Binance adapter's end-to-end tests
(tests/binance): each conftest imports :func:`io_paper` so the fixture is found there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import pytest

from toolkit.paper import PaperExchange
from toolkit.runtime import _runner

__all__ = ["Paper", "io_paper", "on_io", "until", "until_async"]

T = TypeVar("T")


async def on_io(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` on toolkit's I/O loop (where the paper exchange lives) and return it."""

    async def call() -> T:
        return fn(*args)

    return await _runner.call(call())


async def until(predicate: Callable[[], Any], timeout: float = 60.0, step: float = 0.02) -> None:
    """Wait (on the test's loop, so widgets keep updating) until ``predicate()`` is truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not reached within {timeout} s")
        await asyncio.sleep(step)


async def until_async(predicate: Callable[[], Any], timeout: float = 60.0) -> None:
    """Like :func:`until` for an async predicate."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not reached within {timeout} s")
        await asyncio.sleep(0.02)


class Paper:
    """A private paper exchange (fixed prices) and its credentials."""

    def __init__(self, exchange: PaperExchange, key: str, secret: str) -> None:
        self.exchange = exchange
        self.key = key
        self.secret = secret

    async def set_price(self, symbol: str, price: float) -> None:
        await on_io(self.exchange.set_price, symbol, price)

    async def price(self, symbol: str) -> float:
        return float(await on_io(self.exchange.price, symbol))

    async def orders(self) -> dict[str, dict[str, Any]]:
        """The exchange's orders of our key by client order id."""
        rows = await on_io(self.exchange.orders, self.key)
        return {row["clientOrderId"]: row for row in rows}

    async def drop_streams(self) -> int:
        exchange = self.exchange

        async def drop() -> int:
            return await exchange.drop_user_streams()

        return await _runner.call(drop())


@pytest.fixture
async def io_paper() -> AsyncIterator[Paper]:
    exchange = PaperExchange(price_mode="fixed", rate_limits=False)
    await _runner.call(exchange.start())
    key, secret = exchange.create_key()
    try:
        yield Paper(exchange, key, secret)
    finally:
        await _runner.call(exchange.stop())
