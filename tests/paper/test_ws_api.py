"""The spot WebSocket API on the paper exchange: signed user-data subscriptions and events.

Expected framing from Binance's spot docs ("WebSocket API" general information and "User Data
Stream requests", checked 2026-11-30): answers ``{"id", "status", "result", "rateLimits"}`` or
``{"id", "status", "error": {"code", "msg"}}``; ``userDataStream.subscribe.signature`` answers
``{"subscriptionId": 0}``; events arrive as ``{"subscriptionId": 0, "event": {...}}``. The
retired REST listen-key endpoints (spot CHANGELOG 2026-01-21) answer HTTP 410, as clients
observed on the spot testnet after their removal there.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from toolkit.paper import PaperExchange

from .conftest import receive, signed, subscribe


async def test_subscribe_and_receive_order_events(
    paper: PaperExchange, client: Any, session: aiohttp.ClientSession
) -> None:
    async with session.ws_connect(paper.url.replace("http", "ws") + "/ws-api/v3") as ws:
        answer = await subscribe(ws, client.key, client.secret)
        assert answer["status"] == 200
        assert answer["result"] == {"subscriptionId": 0}
        assert answer["rateLimits"][0]["rateLimitType"] == "REQUEST_WEIGHT"
        placed = (
            await client.post(
                "/api/v3/order",
                {
                    "symbol": "BTCUSDT",
                    "side": "BUY",
                    "type": "LIMIT",
                    "timeInForce": "GTC",
                    "quantity": "0.001",
                    "price": "80000",
                    "newClientOrderId": "ws-1",
                },
            )
        ).body
        event = await receive(ws, lambda b: "event" in b)
        assert event["subscriptionId"] == 0
        report = event["event"]
        assert (report["e"], report["x"], report["X"], report["c"], report["i"]) == (
            "executionReport",
            "NEW",
            "NEW",
            "ws-1",
            placed["orderId"],
        )
        await client.delete("/api/v3/order", {"symbol": "BTCUSDT", "orderId": placed["orderId"]})
        canceled = await receive(ws, lambda b: "event" in b)
        assert (canceled["event"]["X"], canceled["event"]["C"]) == ("CANCELED", "ws-1")
        await ws.send_json({"id": "l", "method": "session.subscriptions"})
        listed = await receive(ws, lambda b: b.get("id") == "l")
        assert listed["result"] == [{"subscriptionId": 0}]
        await ws.send_json(
            {"id": "u", "method": "userDataStream.unsubscribe", "params": {"subscriptionId": 0}}
        )
        terminated = await receive(ws, lambda b: "event" in b)
        assert terminated["event"]["e"] == "eventStreamTerminated"
        done = await receive(ws, lambda b: b.get("id") == "u")
        assert (done["status"], done["result"]) == (200, {})
        assert paper.ws_api.subscriptions() == 0


async def test_refusals(paper: PaperExchange, client: Any, session: aiohttp.ClientSession) -> None:
    async with session.ws_connect(paper.url.replace("http", "ws") + "/ws-api/v3") as ws:
        bad = await subscribe(ws, client.key, "not-the-secret")
        assert (bad["status"], bad["error"]["code"]) == (400, -1022)
        unknown = await subscribe(ws, "no-such-key", client.secret, ident="k")
        assert unknown["error"]["code"] == -2015
        old = signed(
            {"apiKey": client.key, "timestamp": int(time.time() * 1000) - 120_000}, client.secret
        )
        await ws.send_json(
            {"id": "t", "method": "userDataStream.subscribe.signature", "params": old}
        )
        stale = await receive(ws, lambda b: b.get("id") == "t")
        assert stale["error"]["code"] == -1021
        await ws.send_json({"id": "x", "method": "no.such.method"})
        assert (await receive(ws, lambda b: b.get("id") == "x"))["status"] == 400
        await ws.send_json({"id": "p", "method": "ping"})
        assert (await receive(ws, lambda b: b.get("id") == "p"))["result"] == {}


async def test_retired_spot_listen_key_endpoints(client: Any) -> None:
    for method in ("POST", "PUT", "DELETE"):
        reply = await client.call(
            method, "/api/v3/userDataStream", {"listenKey": "x"}, signed=False
        )
        assert reply.status == 410
        assert reply.code == -1000
    futures = await client.call("POST", "/fapi/v1/listenKey", signed=False)
    assert futures.status == 200
    assert len(futures.body["listenKey"]) == 64


async def test_expiry_reason_on_expired_spot_orders(client: Any) -> None:
    """Spot CHANGELOG 2026-03-09 (new-order RESULT/FULL) and 2026-05-11 (GET order, allOrders);
    values from enums.md "Expiry Reasons"."""
    ioc = (
        await client.post(
            "/api/v3/order",
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "IOC",
                "quantity": "0.001",
                "price": "80000",
                "newClientOrderId": "ioc-1",
            },
        )
    ).body
    assert (ioc["status"], ioc["expiryReason"]) == ("EXPIRED", "UNFILLED_IOC_QUANTITY_EXPIRED")
    fok = (
        await client.post(
            "/api/v3/order",
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "FOK",
                "quantity": "0.001",
                "price": "80000",
            },
        )
    ).body
    assert fok["expiryReason"] == "UNFILLED_FOK_ORDER_EXPIRED"
    queried = (
        await client.get("/api/v3/order", {"symbol": "BTCUSDT", "origClientOrderId": "ioc-1"})
    ).body
    assert queried["expiryReason"] == "UNFILLED_IOC_QUANTITY_EXPIRED"
    history = (await client.get("/api/v3/allOrders", {"symbol": "BTCUSDT"})).body
    assert [o.get("expiryReason") for o in history] == [
        "UNFILLED_IOC_QUANTITY_EXPIRED",
        "UNFILLED_FOK_ORDER_EXPIRED",
    ]
    resting = (
        await client.post(
            "/api/v3/order",
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.001",
                "price": "80000",
            },
        )
    ).body
    assert "expiryReason" not in resting  # only on expired orders


async def test_usdm_user_data_on_the_private_route(
    paper: PaperExchange, client: Any, session: aiohttp.ClientSession
) -> None:
    """USD-M user data moved to ``/private/ws/<listenKey>`` (Binance announcement 2026-03-06,
    legacy URLs retired 2026-04-23; ccxt/go-binance PR #809); ``/ws/<listenKey>`` still works
    here for older clients."""
    key = (await client.call("POST", "/fapi/v1/listenKey", signed=False)).body["listenKey"]
    url = paper.url.replace("http", "ws") + "/private/ws/" + key
    async with session.ws_connect(url) as ws:
        await client.post(
            "/fapi/v1/order",
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.002",
                "price": "85000",
                "newClientOrderId": "priv-1",
            },
        )
        event = await receive(ws, lambda b: b.get("e") == "ORDER_TRADE_UPDATE")
        assert (event["o"]["c"], event["o"]["X"]) == ("priv-1", "NEW")
