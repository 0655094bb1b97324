"""The adapter against a real embedded paper exchange (loopback sockets, real signing)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from toolkit.binance._ratelimit import RateLimitConfig
from toolkit.binance._transport import Transport, TransportConfig
from toolkit.binance.adapter import BinanceAdapter
from toolkit.core._exceptions import ExchangeError, OrderRejected
from toolkit.core._models import Market, OrderStatus, OrderType, Outcome, TimeInForce
from toolkit.paper import FaultConfig, PaperExchange

from .conftest import req


@pytest.fixture
async def paper() -> AsyncIterator[PaperExchange]:
    ex = PaperExchange(price_mode="fixed")
    await ex.start()
    ex.set_price("BTCUSDT", 50000)
    yield ex
    await ex.stop()


@pytest.fixture
async def transport(paper: PaperExchange) -> AsyncIterator[Transport]:
    key, secret = paper.create_key()
    config = TransportConfig(base_url=paper.url, rate_limits=RateLimitConfig(max_retry_after=5))
    t = Transport(config, api_key=key, api_secret=secret)
    yield t
    await t.close()


@pytest.mark.parametrize("market", [Market.SPOT, Market.USDM])
async def test_place_query_cancel_round_trip(transport: Transport, market: Market) -> None:
    adapter = BinanceAdapter(transport, market, exchange="paper")
    info = await adapter.exchange_info()
    assert any(s["symbol"] == "BTCUSDT" for s in info["symbols"])
    prices = await adapter.prices(["BTCUSDT"])
    assert prices["BTCUSDT"] == Decimal("50000")
    balances = await adapter.balances()
    assert balances["USDT"] >= Decimal("100000")

    resting = [req(i, market, price=Decimal("40000")) for i in range(7)]
    market_buy = req(
        "m", market, type=OrderType.MARKET, price=None, time_in_force=None, qty=Decimal("0.01")
    )
    bad = req("bad", market, price=Decimal("40000.001"))  # off the tick: refused
    orders = await adapter.place([*resting, market_buy, bad])

    assert [o.client_order_id for o in orders] == [f"c{i}" for i in range(7)] + ["cm", "cbad"]
    assert all(o.status is OrderStatus.NEW for o in orders[:7])
    assert all(o.order_id for o in orders[:8])
    assert orders[7].status is OrderStatus.FILLED
    assert orders[7].avg_price == pytest.approx(50000)
    assert orders[8].status is OrderStatus.REJECTED
    assert orders[8].error_code is not None

    found = await adapter.query("BTCUSDT", client_order_id="c3")
    assert found is not None
    assert found.order_id == orders[3].order_id
    assert found.status is OrderStatus.NEW
    assert await adapter.query("BTCUSDT", client_order_id="never-sent") is None

    cancelled = await adapter.cancel("BTCUSDT", client_order_id="c0")
    assert cancelled.status is OrderStatus.CANCELED
    assert cancelled.client_order_id == "c0"
    with pytest.raises(OrderRejected):
        await adapter.cancel("BTCUSDT", client_order_id="c0")

    open_now = await adapter.open_orders("BTCUSDT")
    assert sorted(o.client_order_id for o in open_now) == [f"c{i}" for i in range(1, 7)]
    gone = await adapter.cancel_all("BTCUSDT")
    assert sorted(o.client_order_id for o in gone) == [f"c{i}" for i in range(1, 7)]
    assert all(o.status is OrderStatus.CANCELED for o in gone)
    assert await adapter.open_orders("BTCUSDT") == []
    assert transport.stats.sessions_created == 1


@pytest.mark.parametrize("market", [Market.SPOT, Market.USDM])
async def test_error_after_accept_is_pending_then_resolved_by_query(
    paper: PaperExchange, transport: Transport, market: Market
) -> None:
    adapter = BinanceAdapter(transport, market, exchange="paper")
    paper.configure_faults(FaultConfig(error_after_rate=1.0))
    requests = [req(i, market, price=Decimal("40000"), time_in_force=TimeInForce.GTC)
                for i in range(3)]  # fmt: skip
    before = transport.stats.requests - transport.stats.time_syncs
    orders = await adapter.place(requests)
    sent = transport.stats.requests - transport.stats.time_syncs - before
    paper.configure_faults(FaultConfig())

    assert all(o.status is OrderStatus.PENDING for o in orders)
    assert all((o.error_msg or "").startswith("execution status unknown: ") for o in orders)
    assert all(o.outcome is Outcome.UNKNOWN for o in orders)
    assert sent == (3 if market is Market.SPOT else 1)  # one try each, never resent
    for request in requests:
        resolved = await adapter.query("BTCUSDT", client_order_id=request.client_order_id)
        assert resolved is not None
        assert resolved.status is OrderStatus.NEW  # it was accepted after all


async def test_drop_after_accept_is_pending(paper: PaperExchange, transport: Transport) -> None:
    adapter = BinanceAdapter(transport, Market.USDM, exchange="paper")
    paper.configure_faults(FaultConfig(drop_after_rate=1.0))
    orders = await adapter.place([req(1, Market.USDM, price=Decimal("40000"))])
    paper.configure_faults(FaultConfig())
    assert orders[0].status is OrderStatus.PENDING
    resolved = await adapter.query("BTCUSDT", client_order_id="c1")
    assert resolved is not None
    assert resolved.status is OrderStatus.NEW


async def test_error_before_accept_is_pending_and_query_finds_nothing(
    paper: PaperExchange, transport: Transport
) -> None:
    adapter = BinanceAdapter(transport, Market.SPOT, exchange="paper")
    paper.configure_faults(FaultConfig(error_before_rate=1.0))
    (order,) = await adapter.place([req(1, Market.SPOT, price=Decimal("40000"))])
    paper.configure_faults(FaultConfig())
    assert order.status is OrderStatus.PENDING  # a 5xx is unknown from the client's side
    assert await adapter.query("BTCUSDT", client_order_id="c1") is None


@pytest.mark.parametrize(("market", "window_days"), [(Market.SPOT, 1), (Market.USDM, 7)])
async def test_all_orders_lists_a_window_of_a_symbols_orders(
    paper: PaperExchange, transport: Transport, market: Market, window_days: int
) -> None:
    adapter = BinanceAdapter(transport, market, exchange="paper")
    start = paper.engine.now()
    placed = await adapter.place(
        [req(i, market, price=Decimal("40000")) for i in range(3)]
        + [req("m", market, type=OrderType.MARKET, price=None, time_in_force=None)]
    )
    end = paper.engine.now()
    listed = await adapter.all_orders("BTCUSDT", start=start, end=end)
    assert sorted(o.client_order_id for o in listed) == sorted(o.client_order_id for o in placed)
    by_id = {o.client_order_id: o for o in listed}
    for order in placed:  # the same state as the answers (and as a query) give
        assert by_id[order.client_order_id].status is order.status
        assert by_id[order.client_order_id].order_id == order.order_id
    assert await adapter.all_orders("BTCUSDT", start=end + 1, end=end + 2) == []
    day = 24 * 3_600_000
    with pytest.raises(ExchangeError) as err:  # Binance's longest window, as the paper enforces
        await adapter.all_orders("BTCUSDT", start=start, end=start + window_days * day + 1)
    assert err.value.code == -1127


@pytest.mark.parametrize(("market", "unit"), [(Market.SPOT, 1), (Market.USDM, 5)])
async def test_place_reports_answers_as_they_arrive(
    paper: PaperExchange, transport: Transport, market: Market, unit: int
) -> None:
    adapter = BinanceAdapter(transport, market, exchange="paper")
    await adapter.exchange_info()
    answered: list[int] = []
    paper.hold_orders(after=2)  # two requests answered, the others held at the exchange
    requests = [req(i, market, price=Decimal("40000")) for i in range(20)]
    task = asyncio.ensure_future(adapter.place(requests, on_answer=answered.append))
    for _ in range(6000):  # bounded; the outcome never depends on the machine's speed
        if sum(answered) == 2 * unit and paper.counters()["gate"]["held"]:
            break
        await asyncio.sleep(0.01)
    assert answered == [unit, unit]  # one call per answer (spot order / USD-M chunk of 5)
    assert not task.done()
    paper.release_orders()
    orders = await task
    assert sum(answered) == len(requests)
    assert all(o.status is OrderStatus.NEW for o in orders)
