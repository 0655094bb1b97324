"""Publish/subscribe: deliveries on the subscriber's loop, failures logged, async iteration."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from toolkit.core._models import Market, Order
from toolkit.runtime import _runner
from toolkit.runtime._events import Publisher

from .conftest import eventually

pytestmark = pytest.mark.loop

ORDER = Order(client_order_id="tk1", exchange="paper", market=Market.SPOT, symbol="BTCUSDT")


def _publish(pub: Publisher, orders: list[Order]) -> None:
    async def go() -> None:
        pub.publish(orders, asyncio.get_running_loop())

    _runner.run(go())


async def test_callback_runs_on_the_subscribers_loop() -> None:
    pub = Publisher()
    got: asyncio.Future[tuple[int, list[Order]]] = asyncio.get_running_loop().create_future()
    pub.subscribe(lambda orders: got.set_result((threading.get_ident(), orders)))
    await asyncio.to_thread(_publish, pub, [ORDER])
    ident, orders = await asyncio.wait_for(got, 5)
    assert ident == threading.get_ident()
    assert orders == [ORDER]


def test_callback_without_a_loop_runs_on_the_io_thread() -> None:
    pub = Publisher()
    seen = threading.Event()
    where: list[int] = []

    def callback(orders: list[Order]) -> None:
        where.append(threading.get_ident())
        seen.set()

    pub.subscribe(callback)
    _publish(pub, [ORDER])
    assert seen.wait(60)

    async def io_thread() -> int:
        return threading.get_ident()

    assert where == [_runner.run(io_thread())]


def test_failing_callback_is_logged_and_others_still_get_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pub = Publisher()
    done = threading.Event()

    def bad(orders: list[Order]) -> None:
        raise RuntimeError("subscriber bug")

    pub.subscribe(bad)
    pub.subscribe(lambda orders: done.set())
    with caplog.at_level(logging.ERROR, logger="toolkit"):
        _publish(pub, [ORDER])
        assert done.wait(60)
        _runner.run(asyncio.sleep(0.01))
    assert "subscriber" in caplog.text


def test_unsubscribe_stops_deliveries() -> None:
    pub = Publisher()
    seen: list[list[Order]] = []
    sub = pub.subscribe(seen.append)
    sub.unsubscribe()
    _publish(pub, [ORDER])
    _runner.run(asyncio.sleep(0.01))
    assert seen == []
    assert len(pub) == 0


async def test_updates_iterator_and_close() -> None:
    pub = Publisher()
    received: list[list[Order]] = []

    async def consume() -> None:
        async for orders in pub.updates():
            received.append(orders)

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0)
    await asyncio.to_thread(_publish, pub, [ORDER])
    await asyncio.to_thread(_publish, pub, [ORDER, ORDER])
    await eventually(lambda: len(received) == 2, "two deliveries")
    pub.close()
    await asyncio.wait_for(task, 5)
    assert [len(r) for r in received] == [1, 2]


def test_subscriber_whose_loop_closed_is_dropped() -> None:
    pub = Publisher()

    async def subscribe() -> None:
        pub.subscribe(lambda orders: None)

    asyncio.run(subscribe())  # that loop is closed afterwards
    _publish(pub, [ORDER])
    assert len(pub) == 0
