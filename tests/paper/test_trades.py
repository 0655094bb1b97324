"""Account trade lists on the paper exchange: ``/api/v3/myTrades`` and ``/fapi/v1/userTrades``.

Shapes are compared with real Binance answers recorded in ccxt's static response tests
(ccxt/ccxt ``ts/src/test/static/response/binance.json``, ``fetchMyTrades`` "Spot private trade"
and "Swap private trade"); selection rules and weights follow Binance's documentation (spot
``rest-api.md`` "Account trade list", USD-M "Account Trade List").
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from toolkit.paper import PaperExchange

from ..recorded import REAL_SPOT_TRADE, REAL_USDM_TRADE
from .conftest import Client, subscribe

# The recorded real responses (tests/recorded.py): their keys and their types are the contract.


def _types(obj: dict[str, Any]) -> dict[str, type]:
    return {k: type(v) for k, v in obj.items()}


@pytest.fixture
async def fee_paper() -> AsyncIterator[PaperExchange]:
    """A fixed-price exchange that charges 0.1 % per fill."""
    ex = PaperExchange(price_mode="fixed", fee_rate="0.001")
    await ex.start()
    try:
        yield ex
    finally:
        await ex.stop()


@pytest.fixture
async def fee_client(fee_paper: PaperExchange, session: aiohttp.ClientSession) -> Client:
    key, secret = fee_paper.create_key()
    return Client(session, fee_paper.url, key, secret)


async def test_spot_market_fill_is_a_trade_with_the_real_shape(
    fee_paper: PaperExchange, fee_client: Client
) -> None:
    placed = await fee_client.post(
        "/api/v3/order",
        {
            "symbol": "ETHUSDT",
            "side": "BUY",
            "type": "MARKET",
            "quantity": "0.5",
            "newOrderRespType": "FULL",
        },
    )
    assert placed.status == 200, placed.body
    trades = await fee_client.get("/api/v3/myTrades", {"symbol": "ETHUSDT"})
    assert trades.status == 200
    [trade] = trades.body
    assert _types(trade) == _types(REAL_SPOT_TRADE)
    assert list(trade) == list(REAL_SPOT_TRADE)
    fill = placed.body["fills"][0]
    assert trade["id"] == fill["tradeId"]
    assert trade["orderId"] == placed.body["orderId"]
    assert (trade["price"], trade["qty"], trade["quoteQty"]) == (
        "3000.00000000",
        "0.50000000",
        "1500.00000000",
    )
    # Spot buyers pay the commission in the base asset.
    assert (trade["commission"], trade["commissionAsset"]) == ("0.00050000", "ETH")
    assert (trade["isBuyer"], trade["isMaker"]) == (True, False)


async def test_resting_limit_fills_are_maker_trades_summing_to_executed_qty(
    paper: PaperExchange, client: Client, limit_order: Any
) -> None:
    paper.set_liquidity("BTCUSDT", "0.001", market="spot")  # 0.001 BTC per price tick
    placed = await client.post("/api/v3/order", limit_order(qty="0.003", price="89000"))
    order_id = placed.body["orderId"]
    for _ in range(3):
        paper.set_price("BTCUSDT", 88900, market="spot")  # each tick refills 0.001
    order = await client.get("/api/v3/order", {"symbol": "BTCUSDT", "orderId": order_id})
    assert order.body["status"] == "FILLED"
    trades = (await client.get("/api/v3/myTrades", {"symbol": "BTCUSDT", "orderId": order_id})).body
    assert len(trades) == 3
    assert all(t["isMaker"] and t["isBuyer"] for t in trades)
    assert all(t["price"] == "89000.00000000" for t in trades)  # the resting order's price
    executed = Decimal(order.body["executedQty"])
    assert sum(Decimal(t["qty"]) for t in trades) == executed
    assert sum(Decimal(t["quoteQty"]) for t in trades) == Decimal(order.body["cummulativeQuoteQty"])
    assert [t["id"] for t in trades] == sorted(t["id"] for t in trades)


async def test_spot_selection_filters_and_limits(paper: PaperExchange, client: Client) -> None:
    ids = []
    for _ in range(4):
        placed = await client.post(
            "/api/v3/order",
            {"symbol": "SOLUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.1"},
        )
        ids.append(placed.body["orderId"])
    every = (await client.get("/api/v3/myTrades", {"symbol": "SOLUSDT"})).body
    assert [t["orderId"] for t in every] == ids
    trade_ids = [t["id"] for t in every]
    latest = await client.get("/api/v3/myTrades", {"symbol": "SOLUSDT", "limit": 2})
    assert [t["id"] for t in latest.body] == trade_ids[-2:]  # without fromId: the latest
    page = await client.get(
        "/api/v3/myTrades", {"symbol": "SOLUSDT", "fromId": trade_ids[1], "limit": 2}
    )
    assert [t["id"] for t in page.body] == trade_ids[1:3]  # with fromId: from there on
    one = await client.get("/api/v3/myTrades", {"symbol": "SOLUSDT", "orderId": ids[2]})
    assert [t["orderId"] for t in one.body] == [ids[2]]
    first_time = every[0]["time"]
    timed = await client.get(
        "/api/v3/myTrades",
        {"symbol": "SOLUSDT", "startTime": first_time, "endTime": every[-1]["time"]},
    )
    assert [t["id"] for t in timed.body] == trade_ids
    after = await client.get(
        "/api/v3/myTrades", {"symbol": "SOLUSDT", "startTime": every[-1]["time"] + 1}
    )
    assert after.body == []
    assert (await client.get("/api/v3/myTrades", {"symbol": "ETHUSDT"})).body == []
    # Weight: 20, or 5 with orderId (Binance "Account trade list"); a new minute window may
    # begin between two requests, then the later one shows only its own weight.
    used = [int(r.headers["X-MBX-USED-WEIGHT-1M"]) for r in (latest, page, one)]
    assert used[1] in (used[0] + 20, 20)
    assert used[2] in (used[1] + 5, 5)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, -1102),
        ({"symbol": "NOPEUSDT"}, -1121),
        ({"symbol": "BTCUSDT", "fromId": 1, "startTime": 1}, -1128),
        ({"symbol": "BTCUSDT", "orderId": 1, "startTime": 1}, -1128),
        ({"symbol": "BTCUSDT", "startTime": 0, "endTime": 24 * 3_600_000 + 1}, -1127),
        ({"symbol": "BTCUSDT", "limit": 1001}, -1100),
    ],
)
async def test_spot_refusals(client: Client, params: dict[str, Any], code: int) -> None:
    reply = await client.get("/api/v3/myTrades", params)
    assert (reply.status, reply.code) == (400, code)


async def test_usdm_trades_carry_realized_pnl_and_the_real_shape(
    fee_paper: PaperExchange, fee_client: Client
) -> None:
    opened = await fee_client.post(
        "/fapi/v1/order",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.010"},
    )
    assert opened.status == 200, opened.body
    fee_paper.set_price("BTCUSDT", 91000, market="usdm")
    closed = await fee_client.post(
        "/fapi/v1/order",
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "MARKET",
            "quantity": "0.010",
            "reduceOnly": "true",
        },
    )
    assert closed.status == 200, closed.body
    reply = await fee_client.get("/fapi/v1/userTrades", {"symbol": "BTCUSDT"})
    assert reply.status == 200
    buy, sell = reply.body
    assert _types(buy) == _types(REAL_USDM_TRADE)
    assert set(buy) == set(REAL_USDM_TRADE)
    assert (buy["side"], buy["buyer"], buy["maker"], buy["realizedPnl"]) == (
        "BUY",
        True,
        False,
        "0",
    )
    assert (buy["price"], buy["qty"], buy["quoteQty"]) == ("90000.00", "0.010", "900.00000")
    assert (buy["commission"], buy["commissionAsset"]) == ("0.90000000", "USDT")
    assert (sell["side"], sell["buyer"], sell["price"]) == ("SELL", False, "91000.00")
    assert sell["realizedPnl"] == "10.00000000"  # 0.01 BTC * (91000 - 90000)
    assert sell["orderId"] == closed.body["orderId"]
    only = await fee_client.get(
        "/fapi/v1/userTrades", {"symbol": "BTCUSDT", "orderId": opened.body["orderId"]}
    )
    assert [t["id"] for t in only.body] == [buy["id"]]
    refused = await fee_client.get(
        "/fapi/v1/userTrades", {"symbol": "BTCUSDT", "startTime": 0, "endTime": 7 * 86_400_000 + 1}
    )
    assert refused.code == -1127
    used = [int(r.headers["X-MBX-USED-WEIGHT-1M"]) for r in (reply, only)]
    assert used[1] in (used[0] + 5, 5)


ccxt = pytest.importorskip("ccxt.async_support")


async def test_ccxt_fetch_my_trades_spot_and_usdm(paper: PaperExchange) -> None:
    from .test_ccxt import _point_at

    key, secret = paper.create_key()
    options = {"apiKey": key, "secret": secret, "enableRateLimit": False}
    spot = ccxt.binance({**options, "options": {"fetchCurrencies": False, "defaultType": "spot"}})
    usdm = ccxt.binanceusdm({**options, "options": {"fetchCurrencies": False}})
    for exchange in (spot, usdm):
        _point_at(exchange, paper.url)
    try:
        order = await spot.create_order("ETH/USDT", "market", "buy", 0.02)
        trades = await spot.fetch_my_trades("ETH/USDT")
        assert [
            (t["order"], t["side"], t["amount"], t["price"], t["takerOrMaker"]) for t in trades
        ] == [(order["id"], "buy", 0.02, 3000.0, "taker")]
        fut = await usdm.create_order("BTC/USDT:USDT", "market", "sell", 0.002)
        fut_trades = await usdm.fetch_my_trades("BTC/USDT:USDT")
        assert [(t["order"], t["side"], t["amount"], t["cost"]) for t in fut_trades] == [
            (fut["id"], "sell", 0.002, 180.0)
        ]
    finally:
        await spot.close()
        await usdm.close()


async def test_admin_lists_every_fill(
    paper: PaperExchange, client: Client, session: aiohttp.ClientSession
) -> None:
    await client.post(
        "/api/v3/order",
        {
            "symbol": "BNBUSDT",
            "side": "SELL",
            "type": "MARKET",
            "quantity": "1",
            "newClientOrderId": "research-1",
        },
    )
    await client.post(
        "/fapi/v1/order", {"symbol": "BNBUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"}
    )
    async with session.get(paper.url + "/paper/trades", params={"api_key": client.key}) as resp:
        listed = await resp.json()
    assert [(t["market"], t["symbol"]) for t in listed] == [
        ("spot", "BNBUSDT"),
        ("usdm", "BNBUSDT"),
    ]
    assert listed[0]["clientOrderId"] == "research-1"
    assert all(t["apiKey"] == client.key for t in listed)
    async with session.get(paper.url + "/paper/trades", params={"market": "usdm"}) as resp:
        assert [t["market"] for t in await resp.json()] == ["usdm"]


async def _trade_events(
    ws: aiohttp.ClientWebSocketResponse[bool], count: int, usdm: bool
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while len(events) < count:
        # The timeout only guards a hang; the events are already queued when we read.
        message = await asyncio.wait_for(ws.receive_json(), 10)
        body = message["o"] if usdm else message.get("event", {})  # spot: the WS API envelope
        if body.get("x") == "TRADE":
            events.append(body)
    return events


@pytest.mark.parametrize("market", ["spot", "usdm"])
async def test_stream_trade_events_carry_the_rest_trades(
    fee_paper: PaperExchange, fee_client: Client, session: aiohttp.ClientSession, market: str
) -> None:
    usdm = market == "usdm"
    base = "/fapi/v1" if usdm else "/api/v3"
    if usdm:  # USD-M keeps listen keys; spot subscribes over the WebSocket API (since 2026-02)
        listen = await fee_client.post("/fapi/v1/listenKey", signed=False)
        ws_url = fee_paper.url.replace("http", "ws") + "/ws/" + listen.body["listenKey"]
    else:
        ws_url = fee_paper.url.replace("http", "ws") + "/ws-api/v3"
    async with session.ws_connect(ws_url) as ws:
        if usdm:
            for _ in range(2000):  # wait until the server has registered the socket
                if fee_paper.user_streams.connections():
                    break
                await asyncio.sleep(0.005)
        else:
            answer = await subscribe(ws, fee_client.key, fee_client.secret)
            assert answer["status"] == 200
        fee_paper.set_liquidity("ETHUSDT", "0.5", market=market)
        placed = await fee_client.post(
            base + "/order",
            {
                "symbol": "ETHUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "1.000",
                "price": "2990",
            },
        )
        fee_paper.set_price("ETHUSDT", 2980, market=market)  # rests, then fills 0.5 ...
        fee_paper.set_price("ETHUSDT", 2980, market=market)  # ... and 0.5 (maker)
        fee_paper.set_price("ETHUSDT", 2980, market=market)  # liquidity for the taker sell
        await fee_client.post(
            base + "/order",
            {"symbol": "ETHUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.5"},
        )
        events = await _trade_events(ws, 3, usdm)
    trades = (
        await fee_client.get(base + ("/userTrades" if usdm else "/myTrades"), {"symbol": "ETHUSDT"})
    ).body
    assert [e["t"] for e in events] == [t["id"] for t in trades]
    assert [e["i"] for e in events[:2]] == [placed.body["orderId"]] * 2
    maker_key = "maker" if usdm else "isMaker"
    assert [e["m"] for e in events] == [t[maker_key] for t in trades] == [True, True, False]
    assert [Decimal(e["n"]) for e in events] == [Decimal(t["commission"]) for t in trades]
    assert [e["N"] for e in events] == [t["commissionAsset"] for t in trades]
    assert [Decimal(e["L"]) for e in events] == [Decimal(t["price"]) for t in trades]
    assert [Decimal(e["l"]) for e in events] == [Decimal(t["qty"]) for t in trades]
    if usdm:
        assert [Decimal(e["rp"]) for e in events] == [Decimal(t["realizedPnl"]) for t in trades]
        assert Decimal(events[2]["rp"]) == Decimal("-5")  # sold 0.5 at 2980, bought at 2990
