"""Fixtures of the session tests: a fresh I/O loop per test, a store in tmp_path, and an
embedded paper exchange with fixed prices and relaxed rate limits."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from toolkit.binance._transport import Transport
from toolkit.binance.adapter import BinanceAdapter
from toolkit.core._cutoff import Deadline
from toolkit.core._models import Order, OrderRequest
from toolkit.paper import PaperExchange, RateLimits
from toolkit.runtime import _embedded, _runner
from toolkit.session._config import SessionConfig

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
    saved = _embedded.configure({"price_mode": "fixed", "rate_limits": _GENEROUS})
    yield
    _runner.shutdown()
    _embedded.configure(saved)


class Helpers:
    """Order rows and counters at the embedded paper exchange (the ``tkh`` fixture)."""

    @staticmethod
    def paper() -> PaperExchange:
        """The embedded paper exchange (after the first connect/batch)."""
        exchange = _embedded.paper_exchange()
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


#: The ``on_answer`` of the ``place`` call a hook is serving: ``real_place`` passes it on, so
#: the bar still moves with each answer when a hook stands between the batch and the exchange.
_ON_ANSWER: contextvars.ContextVar[Callable[[int], None] | None] = contextvars.ContextVar(
    "on_answer", default=None
)

#: Hooks get the adapter first (``adapter.real_place`` ... reach the exchange).
PlaceHook = Callable[["ScriptedAdapter", Sequence[OrderRequest], Deadline], Awaitable[list[Order]]]
QueryHook = Callable[..., Awaitable["Order | None"]]
AllOrdersHook = Callable[..., Awaitable["list[Order]"]]
CancelHook = Callable[..., Awaitable[Order]]
CancelAllHook = Callable[["ScriptedAdapter", str], Awaitable[list[Order]]]
PricesHook = Callable[["ScriptedAdapter", "Sequence[str] | None"], Awaitable["dict[str, Decimal]"]]


class Script:
    """An adapter factory for ``tk.connect(adapter=...)``: each session gets a real
    :class:`BinanceAdapter` whose calls a test replaces one at a time by setting a hook
    (``place``, ``query``, ``all_orders``, ``cancel``, ``cancel_all``, ``prices``); ``None`` is
    the real call."""

    def __init__(self) -> None:
        self.place: PlaceHook | None = None
        self.prices: PricesHook | None = None
        self.query: QueryHook | None = None
        self.all_orders: AllOrdersHook | None = None
        self.cancel: CancelHook | None = None
        self.cancel_all: CancelAllHook | None = None
        #: The adapters made so far (one per session).
        self.adapters: list[ScriptedAdapter] = []

    def __call__(self, transport: Transport, config: SessionConfig) -> ScriptedAdapter:
        adapter = ScriptedAdapter(self, transport, config)
        self.adapters.append(adapter)
        return adapter


class ScriptedAdapter(BinanceAdapter):
    """A real adapter that asks its :class:`Script` first."""

    def __init__(self, script: Script, transport: Transport, config: SessionConfig) -> None:
        super().__init__(
            transport, config.market, exchange=config.exchange, concurrency=config.concurrency
        )
        self.script = script

    async def place(
        self,
        requests: Sequence[OrderRequest],
        *,
        deadline: Deadline = None,
        on_answer: Callable[[int], None] | None = None,
    ) -> list[Order]:
        if self.script.place is not None:
            token = _ON_ANSWER.set(on_answer)
            try:
                return await self.script.place(self, requests, deadline)
            finally:
                _ON_ANSWER.reset(token)
        return await super().place(requests, deadline=deadline, on_answer=on_answer)

    async def query(
        self, symbol: str, *, client_order_id: str | None = None, order_id: str | None = None
    ) -> Order | None:
        if self.script.query is not None:
            return await self.script.query(
                self, symbol, client_order_id=client_order_id, order_id=order_id
            )
        return await super().query(symbol, client_order_id=client_order_id, order_id=order_id)

    async def all_orders(
        self, symbol: str, *, start: int | None = None, end: int | None = None, limit: int = 1000
    ) -> list[Order]:
        if self.script.all_orders is not None:
            return await self.script.all_orders(self, symbol, start=start, end=end, limit=limit)
        return await super().all_orders(symbol, start=start, end=end, limit=limit)

    async def real_query(self, symbol: str, **kw: Any) -> Order | None:
        """The real ``query``."""
        return await super().query(symbol, **kw)

    async def real_all_orders(self, symbol: str, **kw: Any) -> list[Order]:
        """The real ``all_orders``."""
        return await super().all_orders(symbol, **kw)

    async def cancel(
        self, symbol: str, *, client_order_id: str | None = None, order_id: str | None = None
    ) -> Order:
        if self.script.cancel is not None:
            return await self.script.cancel(
                self, symbol, client_order_id=client_order_id, order_id=order_id
            )
        return await super().cancel(symbol, client_order_id=client_order_id, order_id=order_id)

    async def cancel_all(self, symbol: str) -> list[Order]:
        if self.script.cancel_all is not None:
            return await self.script.cancel_all(self, symbol)
        return await super().cancel_all(symbol)

    async def prices(self, symbols: Sequence[str] | None = None) -> dict[str, Decimal]:
        if self.script.prices is not None:
            return await self.script.prices(self, symbols)
        return await super().prices(symbols)

    async def real_prices(self, symbols: Sequence[str] | None = None) -> dict[str, Decimal]:
        """The real ``prices``."""
        return await super().prices(symbols)

    async def real_place(
        self, requests: Sequence[OrderRequest], *, deadline: Deadline = None
    ) -> list[Order]:
        """The real ``place`` (for hooks that pass requests on), with the ``on_answer`` of the
        call the hook serves."""
        return await super().place(requests, deadline=deadline, on_answer=_ON_ANSWER.get())

    async def real_cancel(self, symbol: str, **kw: Any) -> Order:
        """The real ``cancel``."""
        return await super().cancel(symbol, **kw)

    async def real_cancel_all(self, symbol: str) -> list[Order]:
        """The real ``cancel_all``."""
        return await super().cancel_all(symbol)


class HeldPlace:
    """A :class:`Script` whose ``place`` is held until :meth:`release` (a gate, not a
    latency): ``session = await tk.connect(adapter=held.script)``."""

    def __init__(self) -> None:
        self.script = Script()
        self.calls = 0
        self._gate = threading.Event()

        async def held(
            adapter: ScriptedAdapter, requests: Sequence[OrderRequest], deadline: Deadline
        ) -> list[Order]:
            self.calls += 1
            await asyncio.to_thread(self._gate.wait, PATIENCE)  # the I/O loop keeps running
            return await adapter.real_place(requests, deadline=deadline)

        self.script.place = held

    def release(self) -> None:
        self._gate.set()

    def restore(self) -> None:
        self._gate.set()
        self.script.place = None
