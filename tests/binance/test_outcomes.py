"""What each answer means for an order: the one rule, duplicates, unreadable answers, the send
window (``place(deadline=...)``), a transport closed mid-wait, and cancelled placements."""

from __future__ import annotations

import asyncio
import gc
import json
import warnings
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aioresponses import CallbackResult, aioresponses

from toolkit.binance._codes import SEND_WINDOW_CLOSED, order_outcome
from toolkit.binance._transport import Transport
from toolkit.binance.adapter import BinanceAdapter
from toolkit.core._exceptions import SendWindowClosed, ServerError, SessionClosedError
from toolkit.core._models import Market, OrderStatus, Outcome

from .conftest import (
    API_KEY,
    API_SECRET,
    RecordingServer,
    calls,
    futures_order,
    make_config,
    req,
    spot_order,
    url,
)

NOT_SENT = Outcome.NOT_PLACED.says(SEND_WINDOW_CLOSED)
UNKNOWN_OUTCOME = Outcome.UNKNOWN.says("")


@pytest.fixture
async def usdm(transport: Transport) -> BinanceAdapter:
    return BinanceAdapter(transport, Market.USDM, exchange="paper")


@pytest.fixture
async def spot(transport: Transport) -> BinanceAdapter:
    return BinanceAdapter(transport, Market.SPOT, exchange="paper")


@pytest.fixture
async def real(server: RecordingServer) -> AsyncIterator[Transport]:
    t = Transport(make_config(base_url=server.base_url), api_key=API_KEY, api_secret=API_SECRET)
    yield t
    await t.close()


# -- the one rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "msg", "expected"),
    [
        (400, -2022, "ReduceOnly Order is rejected.", "rejected"),
        (400, -2010, "Account has insufficient balance for requested action.", "rejected"),
        (400, -2010, "Duplicate order sent.", "exists"),
        (400, -4116, "ClientOrderId is duplicated.", "exists"),
        (200, -4116, "ClientOrderId is duplicated.", "exists"),  # a batch element
        (200, -1007, "Timeout waiting for response from backend server.", "unknown"),
        (200, -1006, "An unexpected response was received.", "unknown"),
        (400, -1007, "Timeout waiting for response from backend server.", "unknown"),
        (503, None, "Service Unavailable", "unknown"),
        (408, None, "", "unknown"),
        (200, None, "answer is not JSON: <html>", "unknown"),
        (429, -1015, "Too many new orders", "not_sent"),
        (418, -1003, "banned", "not_sent"),
        (404, None, "Not Found", "rejected"),
    ],
)
def test_order_outcome_is_one_rule(status: int, code: int | None, msg: str, expected: str) -> None:
    assert order_outcome(status, code, msg) == expected


# -- fix: USD-M elements with an unknown-outcome code are PENDING ---------------------------------


def _batch_with(codes: dict[int, tuple[int, str]]) -> Any:
    def answer(url_: Any, **kwargs: Any) -> CallbackResult:
        batch = json.loads(dict(parse_qsl(kwargs["data"].decode()))["batchOrders"])
        out = [
            {"code": codes[i][0], "msg": codes[i][1]} if i in codes else futures_order(e, i + 1)
            for i, e in enumerate(batch)
        ]
        return CallbackResult(payload=out)  # type: ignore[arg-type]

    return answer


async def test_usdm_elements_with_unknown_outcome_codes_are_pending(
    mock: aioresponses, usdm: BinanceAdapter
) -> None:
    codes = {
        1: (-1007, "Timeout waiting for response from backend server."),
        2: (-1006, "An unexpected response was received from the message bus."),
        3: (-2022, "ReduceOnly Order is rejected."),
    }
    mock.post(url("/fapi/v1/batchOrders"), callback=_batch_with(codes))
    orders = await usdm.place([req(i) for i in range(4)])
    assert [o.status for o in orders] == [
        OrderStatus.NEW,
        OrderStatus.PENDING,
        OrderStatus.PENDING,
        OrderStatus.REJECTED,
    ]
    for order, code in zip(orders[1:3], (-1007, -1006), strict=True):
        assert order.error_code == code
        assert order.error_msg is not None
        assert order.error_msg.startswith(UNKNOWN_OUTCOME)
        assert order.placed
    assert (orders[3].error_code, orders[3].error_msg) == (-2022, "ReduceOnly Order is rejected.")


# -- fix: duplicate client order ids are PENDING, never REJECTED ----------------------------------


async def test_usdm_duplicate_element_is_pending(mock: aioresponses, usdm: BinanceAdapter) -> None:
    mock.post(
        url("/fapi/v1/batchOrders"),
        callback=_batch_with({0: (-4116, "ClientOrderId is duplicated.")}),
    )
    order, other = await usdm.place([req(0), req(1)])
    assert order.status is OrderStatus.PENDING
    assert order.error_code == -4116
    assert order.error_msg is not None
    assert order.error_msg.startswith(UNKNOWN_OUTCOME)
    assert "already exists" in order.error_msg
    assert "'c0'" in order.error_msg
    assert other.status is OrderStatus.NEW


async def test_usdm_duplicate_whole_answer_is_pending(
    mock: aioresponses, usdm: BinanceAdapter
) -> None:
    mock.post(
        url("/fapi/v1/batchOrders"),
        status=400,
        payload={"code": -4116, "msg": "ClientOrderId is duplicated."},
    )
    (order,) = await usdm.place([req(0)])
    assert order.status is OrderStatus.PENDING
    assert order.error_msg is not None
    assert "already exists" in order.error_msg


async def test_spot_duplicate_is_pending_other_2010_is_rejected(
    mock: aioresponses, spot: BinanceAdapter
) -> None:
    def answer(url_: Any, **kwargs: Any) -> CallbackResult:
        params = dict(parse_qsl(kwargs["data"].decode()))
        if params["newClientOrderId"] == "c0":
            return CallbackResult(
                status=400, payload={"code": -2010, "msg": "Duplicate order sent."}
            )
        return CallbackResult(
            status=400,
            payload={
                "code": -2010,
                "msg": "Account has insufficient balance for requested action.",
            },
        )

    mock.post(url("/api/v3/order"), callback=answer, repeat=True)
    dup, poor = await spot.place([req(0, Market.SPOT), req(1, Market.SPOT)])
    assert dup.status is OrderStatus.PENDING
    assert dup.error_code == -2010
    assert dup.error_msg is not None
    assert dup.error_msg.startswith(UNKNOWN_OUTCOME)
    assert "already exists" in dup.error_msg
    assert poor.status is OrderStatus.REJECTED
    assert poor.error_msg == "Account has insufficient balance for requested action."


# -- fix: a 2xx answer that is not JSON leaves the outcome unknown --------------------------------


async def test_spot_2xx_not_json_is_pending(mock: aioresponses, spot: BinanceAdapter) -> None:
    mock.post(url("/api/v3/order"), status=200, body="<html>gateway says hi</html>")
    (order,) = await spot.place([req(0, Market.SPOT)])
    assert order.status is OrderStatus.PENDING
    assert order.error_msg is not None
    assert order.error_msg.startswith(UNKNOWN_OUTCOME)
    assert "not JSON" in order.error_msg


async def test_usdm_2xx_not_json_is_pending(mock: aioresponses, usdm: BinanceAdapter) -> None:
    mock.post(url("/fapi/v1/batchOrders"), status=200, body="oops")
    orders = await usdm.place([req(0), req(1)])
    assert [o.status for o in orders] == [OrderStatus.PENDING] * 2


async def test_transport_2xx_not_json_order_raises_server_error(
    mock: aioresponses, transport: Transport
) -> None:
    mock.post(url("/api/v3/order"), status=200, body="oops")
    with pytest.raises(ServerError, match="not JSON"):
        await transport.request("POST", "/api/v3/order", signed=True, kind="order")
    assert len(calls(mock, "POST", "/api/v3/order")) == 1  # an order is never resent


# -- fix: no never-awaited coroutine when a placement is cancelled while queued -------------------


@pytest.mark.parametrize("settle", [0, 5])
async def test_cancelled_place_leaves_no_unawaited_coroutine(
    mock: aioresponses, transport: Transport, settle: int
) -> None:
    adapter = BinanceAdapter(transport, Market.SPOT, exchange="paper", concurrency=1)
    await adapter._slots.acquire()  # every request queues for a slot
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        task = asyncio.ensure_future(adapter.place([req(i, Market.SPOT) for i in range(3)]))
        for _ in range(settle):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        del task
        gc.collect()
    adapter._slots.release()
    assert [str(w.message) for w in seen if "never awaited" in str(w.message)] == []
    assert calls(mock, "POST", "/api/v3/order") == []


# -- fix: a transport closed while a request waits raises SessionClosedError ----------------------


async def _until_waiting(transport: Transport) -> None:
    """Until a request sleeps in the rate limiter's pause (an event, not a guessed delay)."""
    while transport.limiter.stats.waits == 0:  # noqa: ASYNC110 (the limiter has no event)
        await asyncio.sleep(0)


async def test_transport_closed_during_the_wait_raises_session_closed(
    real: Transport, server: RecordingServer
) -> None:
    await real.request("GET", "/api/v3/ping")  # the HTTP session exists
    real.limiter.pause(2.0)  # far longer than a close(), even on a busy machine
    task = asyncio.ensure_future(real.request("POST", "/api/v3/order", signed=True, kind="order"))
    await _until_waiting(real)
    await real.close()
    with pytest.raises(SessionClosedError):
        await task
    assert [r.raw_path for r in server.seen] == ["/api/v3/ping"]


async def test_place_on_a_transport_closed_mid_wait_is_not_placed(
    real: Transport, server: RecordingServer
) -> None:
    adapter = BinanceAdapter(real, Market.SPOT, exchange="paper")
    await real.request("GET", "/api/v3/ping")
    real.limiter.pause(2.0)
    task = asyncio.ensure_future(adapter.place([req(0, Market.SPOT)]))
    await _until_waiting(real)
    await real.close()
    (order,) = await task
    assert order.status is OrderStatus.REJECTED
    assert not order.placed
    assert order.error_msg is not None
    assert order.error_msg.startswith(Outcome.NOT_PLACED.says(""))


# -- fix: place(deadline=...) never sends after the send window --------------------------------


async def test_place_with_a_past_deadline_sends_nothing(
    mock: aioresponses, spot: BinanceAdapter, usdm: BinanceAdapter
) -> None:
    now = asyncio.get_running_loop().time()
    for adapter in (spot, usdm):
        orders = await adapter.place([req(i, adapter.market) for i in range(7)], deadline=now)
        assert [o.status for o in orders] == [OrderStatus.REJECTED] * 7
        assert not any(o.placed for o in orders)
        assert all(o.error_msg and o.error_msg.startswith(NOT_SENT) for o in orders)
    assert mock.requests == {}


async def test_queued_past_the_deadline_not_sent_in_flight_finishes(
    mock: aioresponses, transport: Transport
) -> None:
    adapter = BinanceAdapter(transport, Market.SPOT, exchange="paper", concurrency=1)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2.0  # the first request leaves well before it, however busy

    async def slow(url_: Any, **kwargs: Any) -> CallbackResult:
        await asyncio.sleep(max(0.0, deadline - loop.time()) + 0.1)  # answered after it
        return CallbackResult(payload=spot_order(dict(parse_qsl(kwargs["data"].decode())), 1))

    mock.post(url("/api/v3/order"), callback=slow, repeat=True)
    orders = await adapter.place([req(i, Market.SPOT) for i in range(3)], deadline=deadline)
    assert orders[0].status is OrderStatus.NEW
    assert orders[0].placed
    for order in orders[1:]:
        assert order.status is OrderStatus.REJECTED
        assert not order.placed
        assert order.error_msg is not None
        assert order.error_msg.startswith(NOT_SENT)
    assert len(calls(mock, "POST", "/api/v3/order")) == 1


async def test_every_slot_comes_back_after_waits_end_at_the_deadline(
    mock: aioresponses, transport: Transport
) -> None:
    adapter = BinanceAdapter(transport, Market.SPOT, exchange="paper", concurrency=2)
    in_flight, most, delay = 0, 0, 3.0

    async def slow(url_: Any, **kwargs: Any) -> CallbackResult:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(delay)  # the first two: answered after the deadline
        in_flight -= 1
        return CallbackResult(payload=spot_order(dict(parse_qsl(kwargs["data"].decode())), 1))

    mock.post(url("/api/v3/order"), callback=slow, repeat=True)
    loop = asyncio.get_running_loop()
    # both slots start their request at once; the deadline leaves a loaded machine 1.5 s for it
    first = await adapter.place([req(i, Market.SPOT) for i in range(5)], deadline=loop.time() + 1.5)
    assert [o.placed for o in first] == [True, True, False, False, False]
    # the three that gave up waiting took no slot with them: the next orders use both, in order
    delay = 0.05
    second = await adapter.place([req(i, Market.SPOT) for i in range(5, 10)])
    assert [o.status for o in second] == [OrderStatus.NEW] * 5
    assert most == 2
    sent = [dict(parse_qsl(c.kwargs["data"].decode()))["newClientOrderId"] for c in
            calls(mock, "POST", "/api/v3/order")]  # fmt: skip
    assert sent[:2] == [first[0].client_order_id, first[1].client_order_id]
    assert sorted(sent[2:]) == sorted(o.client_order_id for o in second)


async def test_rate_limit_wait_past_the_deadline_is_not_sent(
    mock: aioresponses, transport: Transport, usdm: BinanceAdapter
) -> None:
    mock.post(url("/fapi/v1/batchOrders"), callback=_batch_with({}), repeat=True)
    loop = asyncio.get_running_loop()
    transport.limiter.pause(3.0)  # outlasts the deadline below however slow the machine
    started = loop.time()
    with pytest.raises(SendWindowClosed):
        await transport.request(
            "POST", "/fapi/v1/batchOrders", signed=True, kind="order", deadline=started + 0.2
        )
    orders = await usdm.place([req(i) for i in range(7)], deadline=started + 0.2)
    assert transport.limiter.stats.waits == 0  # nobody waited out the pause
    assert [o.status for o in orders] == [OrderStatus.REJECTED] * 7
    assert all(not o.placed and o.error_msg and o.error_msg.startswith(NOT_SENT) for o in orders)
    assert calls(mock, "POST", "/fapi/v1/batchOrders") == []
    # a wait that ends before the deadline is waited out, then the request is sent
    orders = await usdm.place([req(i) for i in range(2)], deadline=loop.time() + 5)
    assert [o.status for o in orders] == [OrderStatus.NEW] * 2
    assert len(calls(mock, "POST", "/fapi/v1/batchOrders")) == 1


async def test_no_deadline_waits_out_the_pause_and_sends(
    mock: aioresponses, transport: Transport, spot: BinanceAdapter
) -> None:
    def ok(url_: Any, **kwargs: Any) -> CallbackResult:
        return CallbackResult(payload=spot_order(dict(parse_qsl(kwargs["data"].decode())), 1))

    mock.post(url("/api/v3/order"), callback=ok, repeat=True)
    transport.limiter.pause(0.2)
    (order,) = await spot.place([req(0, Market.SPOT)])
    assert order.status is OrderStatus.NEW
