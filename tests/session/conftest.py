"""Fixtures of the session tests: a fresh I/O loop per test, a store in tmp_path, and an
embedded paper exchange with fixed prices and relaxed rate limits."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from toolkit import _connect, _runner
from toolkit._models import Order, OrderRequest
from toolkit.paper import PaperExchange, RateLimits

#: How long a test waits for something that must happen. A bound for a hung test, never a
#: timing assumption: outcomes are decided by events, not by how fast the machine is.
PATIENCE = 60.0

_GENEROUS = RateLimits(
    spot_weight=(1_000_000, "1M"),
    spot_orders=((1_000_000, "10S"),),
    usdm_weight=(1_000_000, "1M"),
    usdm_orders=((1_000_000, "10S"),),
)


@pytest.fixture(autouse=True)
def _fresh_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test gets its own store file and, afterwards, a full shutdown of the I/O loop.

    Shutdown closes every session and the embedded paper exchange, so a leaked HTTP session or
    socket fails the test (warnings are errors) instead of the next one.
    """
    monkeypatch.setenv("TOOLKIT_STORE", str(tmp_path / "toolkit.duckdb"))
    for name in ("TOOLKIT_API_KEY", "TOOLKIT_API_SECRET", "TOOLKIT_RUN_PARAMS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(
        _connect,
        "EMBEDDED_PAPER_OPTIONS",
        {"price_mode": "fixed", "rate_limits": _GENEROUS},
    )
    yield
    _runner.shutdown()


class Helpers:
    """Order rows and counters at the embedded paper exchange (the ``tkh`` fixture)."""

    @staticmethod
    def paper() -> PaperExchange:
        """The embedded paper exchange (after the first connect/batch)."""
        exchange = _connect.paper_exchange()
        assert exchange is not None, "the embedded paper exchange is not running"
        assert isinstance(exchange, PaperExchange)
        return exchange

    def placed(self) -> dict[str, int]:
        """Accepted orders per client order id, counted by the paper exchange."""
        counts: dict[str, int] = self.paper().counters()["orders_by_client_id"]
        return counts

    @staticmethod
    def limit(
        symbol: str = "BTCUSDT", side: str = "buy", qty: str = "0.001", price: str = "88000"
    ) -> dict[str, Any]:
        """A resting limit order (BTC is fixed at 90000 on the paper exchange)."""
        return {"symbol": symbol, "side": side, "type": "limit", "price": price, "qty": qty}

    @staticmethod
    def market(symbol: str = "BTCUSDT", side: str = "buy", qty: str = "0.001") -> dict[str, Any]:
        """A market order (fills at once on the paper exchange)."""
        return {"symbol": symbol, "side": side, "type": "market", "qty": qty}


@pytest.fixture
def tkh() -> Helpers:
    """Helpers for the integration tests."""
    return Helpers()


async def eventually(predicate: Callable[[], Any | Awaitable[Any]], what: str = "condition") -> Any:
    """Poll ``predicate`` (sync or async) until it returns something truthy; return that.

    The predicate should return a plain value (a bool, a count), not a DataFrame."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while True:
        got = predicate()
        if isinstance(got, Awaitable):
            got = await got
        if got:
            return got
        if loop.time() > deadline:
            raise AssertionError(f"{what} not reached within {PATIENCE} s")
        await asyncio.sleep(0.01)


async def io_barrier() -> None:
    """Return once everything already scheduled on toolkit's I/O loop has run (deliveries to
    subscribers there are ``call_soon`` callbacks: FIFO, before this coroutine's first step)."""
    await _runner.call(asyncio.sleep(0))


class HeldPlace:
    """The session's ``adapter.place`` held until :meth:`release` (a gate, not a latency)."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.original = session.adapter.place
        self.calls = 0
        self._gate = threading.Event()

        async def held(
            requests: Sequence[OrderRequest], *, deadline: Any = None, on_answer: Any = None
        ) -> list[Order]:
            self.calls += 1
            await asyncio.to_thread(self._gate.wait, PATIENCE)  # the I/O loop keeps running
            got: list[Order] = await self.original(
                requests, deadline=deadline, on_answer=on_answer
            )
            return got

        session.adapter.place = held

    def release(self) -> None:
        self._gate.set()

    def restore(self) -> None:
        self._gate.set()
        self.session.adapter.place = self.original
