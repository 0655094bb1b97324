"""Spot: market data, order types, fills, balances, filters and order errors over HTTP."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from toolkit.paper import PaperExchange

from .conftest import Client

ORDER = "/api/v3/order"


async def _balances(c: Any) -> dict[str, tuple[Decimal, Decimal]]:
    r = await c.get("/api/v3/account")
    assert r.status == 200
    return {b["asset"]: (Decimal(b["free"]), Decimal(b["locked"])) for b in r.body["balances"]}


async def test_public_endpoints(client: Any) -> None:
    assert (await client.get("/api/v3/ping", signed=False)).body == {}
    assert "serverTime" in (await client.get("/api/v3/time", signed=False)).body
    info = (await client.get("/api/v3/exchangeInfo", signed=False)).body
    assert {"timezone", "serverTime", "rateLimits", "exchangeFilters", "symbols"} <= set(info)
    names = {s["symbol"] for s in info["symbols"]}
    assert {"BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"} <= names
    btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
    assert {"MARKET_LOT_SIZE", "NOTIONAL", "PERCENT_PRICE_BY_SIDE", "MAX_NUM_ORDERS"} <= set(
        filters
    )
    one = (await client.get("/api/v3/exchangeInfo", {"symbol": "ETHUSDT"}, signed=False)).body
    assert [s["symbol"] for s in one["symbols"]] == ["ETHUSDT"]
    two = await client.get(
        "/api/v3/exchangeInfo", {"symbols": '["ETHUSDT","BTCUSDT"]'}, signed=False
    )
    assert [s["symbol"] for s in two.body["symbols"]] == ["ETHUSDT", "BTCUSDT"]
    bad = await client.get("/api/v3/exchangeInfo", {"symbol": "NOPE"}, signed=False)
    assert (bad.status, bad.code, bad.body["msg"]) == (400, -1121, "Invalid symbol.")
    price = await client.get("/api/v3/ticker/price", {"symbol": "BTCUSDT"}, signed=False)
    assert price.body == {"symbol": "BTCUSDT", "price": "90000.00000000"}
    prices = await client.get("/api/v3/ticker/price", signed=False)
    assert len(prices.body) >= 5


async def test_new_key_has_paper_balances(client: Any) -> None:
    bal = await _balances(client)
    assert bal["USDT"][0] >= 100_000
    assert all(bal[a][0] > 0 for a in ("BTC", "ETH", "BNB", "SOL", "XRP"))


async def test_limit_rests_locks_then_fills(
    paper: PaperExchange, client: Any, limit_order: Any
) -> None:
    before = await _balances(client)
    r = await client.post(ORDER, limit_order(qty="0.01", price="89000"))
    assert r.status == 200, r.body
    assert r.body["status"] == "NEW"
    assert r.body["fills"] == []  # LIMIT defaults to FULL
    after = await _balances(client)
    assert after["USDT"] == (before["USDT"][0] - 890, Decimal(890))
    paper.set_price("BTCUSDT", 88999)
    q = await client.get(ORDER, {"symbol": "BTCUSDT", "orderId": r.body["orderId"]})
    assert (q.body["status"], q.body["executedQty"], q.body["cummulativeQuoteQty"]) == (
        "FILLED",
        "0.01000000",
        "890.00000000",
    )
    final = await _balances(client)
    assert final["USDT"] == (before["USDT"][0] - 890, Decimal(0))
    assert final["BTC"][0] == before["BTC"][0] + Decimal("0.01")


async def test_market_orders_and_response_types(client: Any) -> None:
    r = await client.post(
        ORDER, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}
    )
    assert r.body["status"] == "FILLED"
    assert r.body["fills"][0]["price"] == "90000"
    assert r.body["cummulativeQuoteQty"] == "90.00000000"
    r = await client.post(
        ORDER,
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "MARKET",
            "quoteOrderQty": "100",
            "newOrderRespType": "RESULT",
        },
    )
    assert r.body["executedQty"] == "0.00111000"
    assert "fills" not in r.body
    assert r.body["origQuoteOrderQty"] == "100.00000000"
    r = await client.post(
        ORDER,
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "MARKET",
            "quantity": "0.001",
            "newOrderRespType": "ACK",
        },
    )
    assert set(r.body) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    r = await client.post(ORDER, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET"})
    assert (r.code, r.body["msg"]) == (
        -1102,
        "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
    )


async def test_ioc_fok_and_limit_maker(paper: PaperExchange, client: Any, limit_order: Any) -> None:
    r = await client.post(ORDER, limit_order(price="80000", timeInForce="IOC"))
    assert r.body["status"] == "EXPIRED"
    r = await client.post(ORDER, limit_order(price="80000", timeInForce="FOK"))
    assert r.body["status"] == "EXPIRED"
    r = await client.post(ORDER, limit_order(price="91000", timeInForce="IOC"))
    assert (r.body["status"], r.body["fills"][0]["price"]) == ("FILLED", "90000")
    r = await client.post(
        ORDER,
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT_MAKER",
            "quantity": "0.001",
            "price": "90000",
        },
    )
    assert (r.code, r.body["msg"]) == (-2010, "Order would immediately match and take.")
    r = await client.post(
        ORDER,
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT_MAKER",
            "quantity": "0.001",
            "price": "89000",
            "newOrderRespType": "RESULT",
        },
    )
    assert r.status == 200
    assert r.body["status"] == "NEW"
    assert r.body["type"] == "LIMIT_MAKER"


async def test_partial_fills_with_liquidity_cap(
    session: aiohttp.ClientSession, limit_order: Any
) -> None:
    # No ticker: liquidity comes back only with the set_price below (a tick of the ticker
    # between two requests would refill it and fill more than the test says).
    paper = PaperExchange(price_mode="fixed", tick_interval=3600.0)
    await paper.start()
    try:
        client = Client(session, paper.url, *paper.create_key())
        await _partial_fills(paper, client, limit_order)
    finally:
        await paper.stop()


async def _partial_fills(paper: PaperExchange, client: Any, limit_order: Any) -> None:
    paper.set_liquidity("BTCUSDT", "0.004", market="spot")
    r = await client.post(ORDER, limit_order(qty="0.01", price="91000"))
    assert (r.body["status"], r.body["executedQty"]) == ("PARTIALLY_FILLED", "0.00400000")
    paper.set_price("BTCUSDT", 90000)  # a new tick brings new liquidity; fills at its limit
    q = await client.get(ORDER, {"symbol": "BTCUSDT", "origClientOrderId": r.body["clientOrderId"]})
    assert (q.body["status"], q.body["executedQty"]) == ("PARTIALLY_FILLED", "0.00800000")
    r = await client.post(
        ORDER, {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.01"}
    )
    assert (r.body["status"], r.body["executedQty"]) == ("EXPIRED", "0.00000000")


@pytest.mark.parametrize(
    ("otype", "side", "stop", "move_to", "limit"),
    [
        ("STOP_LOSS", "SELL", "85000", "84000", None),
        ("TAKE_PROFIT", "SELL", "95000", "96000", None),
        ("STOP_LOSS_LIMIT", "BUY", "95000", "95500", "96000"),
        ("TAKE_PROFIT_LIMIT", "BUY", "85000", "84000", "85000"),
    ],
)
async def test_stops_trigger_when_crossed(
    paper: PaperExchange,
    client: Any,
    otype: str,
    side: str,
    stop: str,
    move_to: str,
    limit: str | None,
) -> None:
    params = {
        "symbol": "BTCUSDT",
        "side": side,
        "type": otype,
        "quantity": "0.001",
        "stopPrice": stop,
    }
    if limit:
        params.update(timeInForce="GTC", price=limit)
    r = await client.post(ORDER, params)
    assert r.status == 200, r.body
    assert "status" not in r.body  # stop orders default to ACK
    q = await client.get(ORDER, {"symbol": "BTCUSDT", "orderId": r.body["orderId"]})
    assert (q.body["status"], q.body["isWorking"]) == ("NEW", False)
    paper.set_price("BTCUSDT", move_to)
    q = await client.get(ORDER, {"symbol": "BTCUSDT", "orderId": r.body["orderId"]})
    assert (q.body["status"], q.body["isWorking"]) == ("FILLED", True)


async def test_stop_that_would_trigger_immediately(client: Any) -> None:
    r = await client.post(
        ORDER,
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "STOP_LOSS",
            "quantity": "0.001",
            "stopPrice": "95000",
        },
    )
    assert (r.code, r.body["msg"]) == (-2010, "Order would trigger immediately.")


@pytest.mark.parametrize(
    ("params", "failure"),
    [
        ({"price": "89000.001"}, "PRICE_FILTER"),
        ({"price": "2000000"}, "PRICE_FILTER"),
        ({"price": "500"}, "PERCENT_PRICE_BY_SIDE"),
        ({"qty": "0.000001"}, "LOT_SIZE"),
        ({"qty": "0.000015"}, "LOT_SIZE"),
        ({"qty": "10000"}, "LOT_SIZE"),
        ({"qty": "0.00005"}, "NOTIONAL"),
    ],
)
async def test_spot_filters(
    client: Any, limit_order: Any, params: dict[str, str], failure: str
) -> None:
    r = await client.post(ORDER, limit_order(**params))
    assert (r.status, r.code, r.body["msg"]) == (400, -1013, f"Filter failure: {failure}")


async def test_market_lot_size_and_max_num_orders(
    paper: PaperExchange, client: Any, limit_order: Any
) -> None:
    r = await client.post(
        ORDER, {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "101"}
    )
    assert r.body["msg"] == "Filter failure: MARKET_LOT_SIZE"
    paper.engine.specs["spot"]["ETHUSDT"].max_num_orders = 2
    for _ in range(2):
        r = await client.post(ORDER, limit_order("ETHUSDT", qty="0.01", price="2900"))
        assert r.status == 200
    r = await client.post(ORDER, limit_order("ETHUSDT", qty="0.01", price="2900"))
    assert r.body == {"code": -1013, "msg": "Filter failure: MAX_NUM_ORDERS"}


async def test_insufficient_balance(paper: PaperExchange, client: Any, limit_order: Any) -> None:
    paper.set_balance(client.key, "USDT", 50)
    r = await client.post(ORDER, limit_order(qty="0.001", price="89000"))
    assert (r.status, r.code, r.body["msg"]) == (
        400,
        -2010,
        "Account has insufficient balance for requested action.",
    )
    r = await client.post(ORDER, limit_order(side="SELL", qty="5", price="91000"))
    assert r.code == -2010


async def test_client_order_ids(client: Any, limit_order: Any) -> None:
    r = await client.post(ORDER, limit_order(newClientOrderId="dup-1"))
    assert r.body["clientOrderId"] == "dup-1"
    r = await client.post(ORDER, limit_order(newClientOrderId="dup-1"))
    assert (r.code, r.body["msg"]) == (-2010, "Duplicate order sent.")
    await client.delete(ORDER, {"symbol": "BTCUSDT", "origClientOrderId": "dup-1"})
    assert (await client.post(ORDER, limit_order(newClientOrderId="dup-1"))).status == 200
    for bad in ("has.dot", "x" * 37, "spa ce"):
        r = await client.post(ORDER, limit_order(newClientOrderId=bad))
        assert (r.code, r.body["msg"]) == (
            -1100,
            "Illegal characters found in parameter 'newClientOrderId'; legal range is "
            "'^[a-zA-Z0-9-_]{1,36}$'.",
        )


async def test_query_cancel_and_lists(client: Any, limit_order: Any) -> None:
    a = (await client.post(ORDER, limit_order(newClientOrderId="a1"))).body
    b = (await client.post(ORDER, limit_order("ETHUSDT", qty="0.01", price="2900"))).body
    q = await client.get(ORDER, {"symbol": "BTCUSDT", "origClientOrderId": "a1"})
    assert q.body["orderId"] == a["orderId"]
    assert q.body["isWorking"] is True
    for field in ("time", "updateTime", "stopPrice", "icebergQty", "origQuoteOrderQty"):
        assert field in q.body
    r = await client.get(ORDER, {"symbol": "BTCUSDT", "orderId": 1})
    assert (r.code, r.body["msg"]) == (-2013, "Order does not exist.")
    r = await client.get(ORDER, {"symbol": "BTCUSDT"})
    assert r.code == -1102
    r = await client.get(
        ORDER, {"symbol": "BTCUSDT", "orderId": a["orderId"], "origClientOrderId": "other"}
    )
    assert r.code == -2039
    opened = await client.get("/api/v3/openOrders")
    assert [o["orderId"] for o in opened.body] == [a["orderId"], b["orderId"]]
    opened = await client.get("/api/v3/openOrders", {"symbol": "ETHUSDT"})
    assert [o["orderId"] for o in opened.body] == [b["orderId"]]
    c = await client.delete(
        ORDER, {"symbol": "BTCUSDT", "orderId": a["orderId"], "newClientOrderId": "cx"}
    )
    assert (c.body["status"], c.body["origClientOrderId"], c.body["clientOrderId"]) == (
        "CANCELED",
        "a1",
        "cx",
    )
    r = await client.delete(ORDER, {"symbol": "BTCUSDT", "orderId": a["orderId"]})
    assert (r.code, r.body["msg"]) == (-2011, "Unknown order sent.")
    gone = await client.delete("/api/v3/openOrders", {"symbol": "ETHUSDT"})
    assert [o["status"] for o in gone.body] == ["CANCELED"]
    r = await client.delete("/api/v3/openOrders", {"symbol": "ETHUSDT"})
    assert r.code == -2011
    every = await client.get("/api/v3/allOrders", {"symbol": "BTCUSDT"})
    assert [o["status"] for o in every.body] == ["CANCELED"]
    assert (await client.get("/api/v3/allOrders", {})).code == -1102
    assert (await client.post("/api/v3/order/test", limit_order())).body == {}


async def test_orders_are_private_to_their_key(
    client: Any, make_client: Any, limit_order: Any
) -> None:
    a = (await client.post(ORDER, limit_order())).body
    other = make_client()
    r = await other.get(ORDER, {"symbol": "BTCUSDT", "orderId": a["orderId"]})
    assert r.code == -2013
    assert (await other.get("/api/v3/openOrders")).body == []
