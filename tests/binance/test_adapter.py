"""BinanceAdapter against mocked Binance answers: batching, positional results, unknown outcomes."""

from __future__ import annotations

import asyncio
import contextlib
import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import pytest
from aioresponses import CallbackResult, aioresponses

from toolkit.binance._transport import Transport
from toolkit.binance.adapter import BinanceAdapter
from toolkit.core._exceptions import ConfigError, ExchangeError, OrderRejected
from toolkit.core._models import Market, OrderStatus, Outcome

from .conftest import (
    API_KEY,
    API_SECRET,
    batch_of,
    calls,
    form,
    free_port,
    futures_order,
    make_config,
    req,
    spot_order,
    url,
)


@pytest.fixture
async def usdm(transport: Transport) -> BinanceAdapter:
    return BinanceAdapter(transport, Market.USDM, exchange="paper")


@pytest.fixture
async def spot(transport: Transport) -> BinanceAdapter:
    return BinanceAdapter(transport, "spot", exchange="paper")


def batch_answer(url_: Any, **kwargs: Any) -> CallbackResult:
    """Accept every element except client ids ending in 'bad' (positional answer)."""
    batch = json.loads(dict(parse_qsl(kwargs["data"].decode()))["batchOrders"])
    out: list[dict[str, Any]] = []
    for element in batch:
        cid = element["newClientOrderId"]
        if cid.endswith("bad"):
            out.append({"code": -2022, "msg": "ReduceOnly Order is rejected."})
        else:
            out.append(futures_order(element, order_id=int(cid.strip("cbad"))))
    return CallbackResult(payload=out, headers={"X-MBX-ORDER-COUNT-10S": "5"})  # type: ignore[arg-type]


async def test_usdm_12_orders_go_as_3_batches_with_positional_results(
    mock: aioresponses, usdm: BinanceAdapter
) -> None:
    requests = [req(f"{i}bad" if i == 6 else i) for i in range(12)]
    mock.post(url("/fapi/v1/batchOrders"), callback=batch_answer, repeat=True)
    orders = await usdm.place(requests)

    posts = calls(mock, "POST", "/fapi/v1/batchOrders")
    assert sorted(len(batch_of(p)) for p in posts) == [2, 5, 5]
    sent = [e["newClientOrderId"] for p in posts for e in batch_of(p)]
    assert sorted(sent) == sorted(r.client_order_id for r in requests)
    assert [o.client_order_id for o in orders] == [r.client_order_id for r in requests]
    assert orders[6].status is OrderStatus.REJECTED
    assert (orders[6].error_code, orders[6].error_msg) == (-2022, "ReduceOnly Order is rejected.")
    assert orders[6].side == "buy"
    assert orders[6].qty == 0.01
    for i, order in enumerate(orders):
        if i != 6:
            assert order.status is OrderStatus.NEW
            assert order.order_id == str(i)
            assert order.exchange == "paper"
            assert order.market == "usdm"


async def test_usdm_batch_body_is_compact_json_with_exact_strings(
    mock: aioresponses, usdm: BinanceAdapter
) -> None:
    mock.post(url("/fapi/v1/batchOrders"), callback=batch_answer)
    await usdm.place([req(1, reduce_only=True), req(2)])
    (post,) = calls(mock, "POST", "/fapi/v1/batchOrders")
    body = form(post)
    assert body["batchOrders"] == (
        '[{"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","timeInForce":"GTC","quantity":"0.010",'
        '"price":"50000.10","reduceOnly":"true","newClientOrderId":"c1",'
        '"newOrderRespType":"RESULT"},'
        '{"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","timeInForce":"GTC","quantity":"0.010",'
        '"price":"50000.10","newClientOrderId":"c2","newOrderRespType":"RESULT"}]'
    )
    raw = post.kwargs["data"].decode()
    assert raw.startswith("batchOrders=%5B%7B%22symbol%22%3A%22BTCUSDT%22")  # percent-encoded
    assert list(body) == ["batchOrders", "recvWindow", "timestamp", "signature"]


async def test_spot_sends_one_request_per_order_concurrently(
    mock: aioresponses, transport: Transport
) -> None:
    in_flight = peak = 0
    full = asyncio.Event()  # four requests at the server at once: the slots are all taken

    async def answer(url_: Any, **kwargs: Any) -> CallbackResult:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight == 4:
            full.set()
        # hold each answer until the slots are full (once), not for a guessed 10 ms; the bound
        # only keeps a broken limit (fewer than 4 at once) from hanging the test
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(full.wait(), 10)
        in_flight -= 1
        params = dict(parse_qsl(kwargs["data"].decode()))
        if params["newClientOrderId"] == "c3":
            return CallbackResult(
                status=400, payload={"code": -2010, "msg": "Account has insufficient balance."}
            )
        return CallbackResult(payload=spot_order(params, int(params["newClientOrderId"][1:])))

    mock.post(url("/api/v3/order"), callback=answer, repeat=True)
    spot = BinanceAdapter(transport, Market.SPOT, exchange="paper", concurrency=4)
    orders = await spot.place([req(i, Market.SPOT) for i in range(10)])
    assert len(calls(mock, "POST", "/api/v3/order")) == 10
    assert peak == 4  # bounded by concurrency, but concurrent
    assert [o.client_order_id for o in orders] == [f"c{i}" for i in range(10)]
    assert orders[3].status is OrderStatus.REJECTED
    assert orders[3].error_code == -2010
    assert all(o.status is OrderStatus.NEW for i, o in enumerate(orders) if i != 3)
    assert orders[5].order_id == "5"


@pytest.mark.parametrize(
    "failure",
    [
        {"exception": asyncio.TimeoutError()},
        {"exception": aiohttp.ServerDisconnectedError()},
        {"exception": aiohttp.ClientOSError(104, "Connection reset by peer")},
        {"status": 503, "payload": {"code": -1, "msg": "Unknown error, try again later."}},
        {"status": 500, "body": "Internal Server Error"},
    ],
)
async def test_unknown_outcome_is_pending_and_never_resent(
    mock: aioresponses, transport: Transport, failure: dict[str, Any]
) -> None:
    mock.post(url("/api/v3/order"), repeat=True, **failure)
    mock.post(url("/fapi/v1/batchOrders"), repeat=True, **failure)
    spot = BinanceAdapter(transport, Market.SPOT)
    usdm = BinanceAdapter(transport, Market.USDM)

    spot_orders = await spot.place([req(1, Market.SPOT), req(2, Market.SPOT)])
    usdm_orders = await usdm.place([req(i) for i in range(7)])

    assert len(calls(mock, "POST", "/api/v3/order")) == 2
    assert len(calls(mock, "POST", "/fapi/v1/batchOrders")) == 2
    for order in spot_orders + usdm_orders:
        assert order.status is OrderStatus.PENDING
        assert order.error_msg is not None
        assert order.error_msg.startswith(Outcome.UNKNOWN.says(""))
        assert order.outcome is Outcome.UNKNOWN
        assert order.placed is True
    assert [o.client_order_id for o in usdm_orders] == [f"c{i}" for i in range(7)]


async def test_missing_batch_elements_are_pending(mock: aioresponses, usdm: BinanceAdapter) -> None:
    mock.post(url("/fapi/v1/batchOrders"), payload=[{"code": -4164, "msg": "notional"}])
    orders = await usdm.place([req(1), req(2)])
    assert orders[0].status is OrderStatus.REJECTED
    assert orders[0].error_code == -4164
    assert orders[1].status is OrderStatus.PENDING


async def test_whole_batch_refused_is_rejected_for_every_order(
    mock: aioresponses, usdm: BinanceAdapter
) -> None:
    mock.post(
        url("/fapi/v1/batchOrders"),
        status=400,
        payload={"code": -1022, "msg": "Signature for this request is not valid."},
    )
    orders = await usdm.place([req(1), req(2)])
    assert [(o.status, o.error_code) for o in orders] == [(OrderStatus.REJECTED, -1022)] * 2


async def test_connection_refused_is_rejected_not_placed() -> None:
    transport = Transport(
        make_config(base_url=f"http://127.0.0.1:{free_port()}"),
        api_key=API_KEY,
        api_secret=API_SECRET,
    )
    try:
        for market in (Market.SPOT, Market.USDM):
            orders = await BinanceAdapter(transport, market).place([req(1, market)])
            (order,) = orders
            assert order.status is OrderStatus.REJECTED
            assert order.placed is False
            assert order.error_msg is not None
            assert order.error_msg.startswith(Outcome.NOT_PLACED.says(""))
            assert order.outcome is Outcome.NOT_PLACED
    finally:
        await transport.close()


async def test_closed_transport_is_not_placed(transport: Transport) -> None:
    await transport.close()
    (order,) = await BinanceAdapter(transport, Market.SPOT).place([req(1, Market.SPOT)])
    assert order.status is OrderStatus.REJECTED
    assert order.placed is False


async def test_place_needs_credentials_and_empty_input_is_empty() -> None:
    transport = Transport(make_config())
    adapter = BinanceAdapter(transport, Market.SPOT)
    try:
        assert await adapter.place([]) == []
        with pytest.raises(ConfigError):
            await adapter.place([req(1, Market.SPOT)])
    finally:
        await transport.close()


async def test_query_by_client_id_and_missing_order(
    mock: aioresponses, spot: BinanceAdapter
) -> None:
    params = {"symbol": "BTCUSDT", "newClientOrderId": "c1", "quantity": "1", "side": "BUY",
              "type": "LIMIT", "price": "10"}  # fmt: skip
    mock.get(url("/api/v3/order"), payload=dict(spot_order(params, 11), status="FILLED"))
    mock.get(
        url("/api/v3/order"), status=400, payload={"code": -2013, "msg": "Order does not exist."}
    )
    mock.get(url("/api/v3/order"), status=400, payload={"code": -1121, "msg": "Invalid symbol."})

    found = await spot.query("BTCUSDT", client_order_id="c1")
    assert found is not None
    assert found.status is OrderStatus.FILLED
    assert found.order_id == "11"
    assert await spot.query("BTCUSDT", client_order_id="nope") is None
    with pytest.raises(ExchangeError) as info:
        await spot.query("XXX", order_id="1")
    assert info.value.code == -1121
    (first, *_) = calls(mock, "GET", "/api/v3/order")
    assert first.kwargs["headers"]["X-MBX-APIKEY"] == API_KEY
    queried = [key[1].query for key in mock.requests if key[1].path == "/api/v3/order"]
    assert queried[0]["origClientOrderId"] == "c1"
    assert queried[2]["orderId"] == "1"
    with pytest.raises(ValueError, match="client_order_id or order_id"):
        await spot.query("BTCUSDT")


async def test_cancel_and_unknown_cancel(mock: aioresponses, usdm: BinanceAdapter) -> None:
    element = {"symbol": "BTCUSDT", "newClientOrderId": "c1", "quantity": "0.010", "side": "BUY",
               "type": "LIMIT", "price": "50000.10"}  # fmt: skip
    mock.delete(url("/fapi/v1/order"), payload=futures_order(element, 4, status="CANCELED"))
    mock.delete(
        url("/fapi/v1/order"), status=400, payload={"code": -2011, "msg": "Unknown order sent."}
    )
    # not a regular order: the adapter tries the Algo Order API, which does not know it either
    mock.delete(
        url("/fapi/v1/algoOrder"), status=400, payload={"code": -2011, "msg": "Unknown order sent."}
    )
    order = await usdm.cancel("BTCUSDT", client_order_id="c1")
    assert order.status is OrderStatus.CANCELED
    assert order.client_order_id == "c1"
    with pytest.raises(OrderRejected) as info:
        await usdm.cancel("BTCUSDT", order_id="99")
    assert info.value.code == -2011


async def test_usdm_cancel_all_cancels_by_id_in_chunks(
    mock: aioresponses, usdm: BinanceAdapter
) -> None:
    elements = [
        {"symbol": "BTCUSDT", "newClientOrderId": f"c{i}", "quantity": "1", "side": "BUY",
         "type": "LIMIT", "price": "1"}
        for i in range(12)
    ]  # fmt: skip
    mock.get(
        url("/fapi/v1/openOrders"), payload=[futures_order(e, i) for i, e in enumerate(elements)]
    )
    mock.get(url("/fapi/v1/openAlgoOrders"), payload=[])

    def cancel_answer(url_: Any, **kwargs: Any) -> CallbackResult:
        ids = json.loads(url_.query["orderIdList"])
        out = [
            {"code": -2011, "msg": "Unknown order sent."}
            if i == 3
            else futures_order(elements[i], i, status="CANCELED")
            for i in ids
        ]
        return CallbackResult(payload=out)  # type: ignore[arg-type]

    mock.delete(url("/fapi/v1/batchOrders"), callback=cancel_answer, repeat=True)
    cancelled = await usdm.cancel_all("BTCUSDT")
    assert sorted(int(o.order_id or 0) for o in cancelled) == [i for i in range(12) if i != 3]
    assert all(o.status is OrderStatus.CANCELED for o in cancelled)
    assert len(calls(mock, "DELETE", "/fapi/v1/batchOrders")) == 2


async def test_spot_cancel_all_and_nothing_open(mock: aioresponses, spot: BinanceAdapter) -> None:
    params = {"symbol": "BTCUSDT", "newClientOrderId": "c1", "quantity": "1", "side": "BUY",
              "type": "LIMIT", "price": "10"}  # fmt: skip
    cancel = dict(spot_order(params, 1, status="CANCELED"), origClientOrderId="c1",
                  clientOrderId="cancel-1")  # fmt: skip
    mock.delete(url("/api/v3/openOrders"), payload=[cancel])
    mock.delete(
        url("/api/v3/openOrders"), status=400, payload={"code": -2011, "msg": "Unknown order sent."}
    )
    (order,) = await spot.cancel_all("BTCUSDT")
    assert order.client_order_id == "c1"
    assert order.status is OrderStatus.CANCELED
    assert await spot.cancel_all("BTCUSDT") == []


async def test_prices_balances_exchange_info(
    mock: aioresponses, spot: BinanceAdapter, usdm: BinanceAdapter, transport: Transport
) -> None:
    tickers = [
        {"symbol": "BTCUSDT", "price": "50000.01"},
        {"symbol": "ETHUSDT", "price": "3000.5"},
    ]
    mock.get(url("/api/v3/ticker/price"), payload=tickers)
    mock.get(url("/fapi/v1/premiumIndex"), payload={"symbol": "BTCUSDT", "markPrice": "50001.2"})
    mock.get(url("/api/v3/account"), payload={"balances": [{"asset": "USDT", "free": "100000.00",
                                                            "locked": "5"}]})  # fmt: skip
    mock.get(url("/fapi/v2/balance"), payload=[{"asset": "USDT", "balance": "10",
                                                "availableBalance": "7.5"}])  # fmt: skip
    mock.get(url("/fapi/v1/exchangeInfo"), payload={"symbols": [], "rateLimits": [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
    ]})  # fmt: skip

    assert await spot.prices(["BTCUSDT", "ETHUSDT"]) == {
        "BTCUSDT": Decimal("50000.01"),
        "ETHUSDT": Decimal("3000.5"),
    }
    assert await usdm.prices(["BTCUSDT"]) == {"BTCUSDT": Decimal("50001.2")}
    assert await spot.balances() == {"USDT": Decimal("100000.00")}
    assert await usdm.balances() == {"USDT": Decimal("7.5")}
    info = await usdm.exchange_info()
    assert info["symbols"] == []
    assert transport.limiter.limits() == [("weight", 60, 2400), ("orders", 10, 300)]
    (ticker,) = [k[1] for k in mock.requests if k[1].path == "/api/v3/ticker/price"]
    assert ticker.query["symbols"] == '["BTCUSDT","ETHUSDT"]'
