"""Conformance: ccxt (spot and USD-M) against the paper exchange, raw answers vs recorded ones.

Every call goes through ccxt's own request building and signing; each test then compares the
raw answer ccxt received (``order["info"]``, or the implicit API method's return value) with a
response recorded from the real API: its keys, and the JSON type of each value. Sources:

* CCXT-STATIC: ccxt/ccxt ``ts/src/test/static/response/binance.json`` (recorded real answers:
  spot ``createOrder`` "spot +selfTradePrevention +iceberg", USD-M ``createOrders`` "create swap
  orders"). Its numbers are quoted strings there (the file stores every scalar as text), so
  only its *keys* are compared; the types come from the Binance doc examples below.
* CCXT-COMMENT: ccxt 4.5.90 ``binance.py`` ``parse_order`` comments (recorded algo order).
* DOCS: Binance's own examples: spot rest-api.md (new order RESULT/FULL, query order), USD-M
  "New Order", "Query Algo Order", "Cancel Algo Order", "Position Information V3",
  "Account Information V3" (the same examples the official
  binance-sdk-derivatives-trading-usds-futures unit tests expect).

Where the sources disagree the newest dated one wins: spot ``expiryReason`` (CHANGELOG
2026-03-09/2026-05-11) is absent from the older CCXT-STATIC capture and present on expired
orders only, so it is never part of the compared key set of a working order.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from toolkit.paper import PaperExchange

from .shapes import (
    ALGO_NEW,
    ALGO_QUERY,
    FUT_ORDER,
    FUT_QUERY,
    POSITION_V3,
    SPOT_NEW,
    SPOT_QUERY,
    shape,
)

ccxt = pytest.importorskip("ccxt.async_support")

S, F = "BTC/USDT", "BTC/USDT:USDT"


def _point_at(exchange: Any, url: str) -> None:
    api = exchange.urls["api"]
    for name, value in list(api.items()):
        if isinstance(value, str):
            api[name] = re.sub(r"^https?://[^/]+", url, value)


@pytest.fixture
async def clients(paper: PaperExchange) -> AsyncIterator[tuple[Any, Any]]:
    key, secret = paper.create_key()
    options = {"apiKey": key, "secret": secret, "enableRateLimit": False}
    spot = ccxt.binance(
        {
            **options,
            "options": {
                "fetchCurrencies": False,
                "defaultType": "spot",
                "fetchMarkets": {"types": ["spot"]},
            },
        }
    )
    usdm = ccxt.binanceusdm({**options, "options": {"fetchCurrencies": False}})
    for exchange in (spot, usdm):
        _point_at(exchange, paper.url)
    try:
        await spot.load_markets()
        await usdm.load_markets()
        yield spot, usdm
    finally:
        await spot.close()
        await usdm.close()


async def test_spot_calls_and_shapes(clients: tuple[Any, Any]) -> None:
    spot, _ = clients
    assert isinstance(await spot.fetch_time(), int)
    limit = await spot.create_order(S, "limit", "buy", 0.001, 89000)
    assert shape(limit["info"]) == SPOT_NEW
    assert limit["status"] == "open"
    by_id = await spot.fetch_order(limit["id"], S)
    assert shape(by_id["info"]) == SPOT_QUERY
    by_client = await spot.fetch_order(None, S, {"origClientOrderId": limit["clientOrderId"]})
    assert by_client["id"] == limit["id"]
    market = await spot.create_order(S, "market", "buy", 0.001)
    assert (market["status"], shape(market["info"])) == ("closed", SPOT_NEW)
    by_cost = await spot.create_market_buy_order_with_cost(S, 100)
    assert by_cost["status"] == "closed"
    assert by_cost["info"]["origQuoteOrderQty"] == "100.00000000"
    ioc = await spot.create_order(S, "limit", "buy", 0.001, 80000, {"timeInForce": "IOC"})
    assert (ioc["status"], ioc["info"]["expiryReason"]) == (
        "expired",
        "UNFILLED_IOC_QUANTITY_EXPIRED",
    )
    fok = await spot.create_order(S, "limit", "buy", 0.001, 80000, {"timeInForce": "FOK"})
    assert fok["info"]["expiryReason"] == "UNFILLED_FOK_ORDER_EXPIRED"
    stop = await spot.create_order(S, "limit", "sell", 0.001, 85000, {"stopLossPrice": 86000})
    assert (stop["status"], stop["info"]["type"]) == ("open", "STOP_LOSS_LIMIT")
    take = await spot.create_order(S, "limit", "sell", 0.001, 95000, {"takeProfitPrice": 94000})
    assert take["info"]["type"] == "TAKE_PROFIT_LIMIT"
    assert await spot.create_order(S, "limit", "buy", 0.001, 89000, {"test": True}) is not None
    opened = await spot.fetch_open_orders(S)
    assert {o["id"] for o in opened} == {limit["id"], stop["id"], take["id"]}
    assert all(shape(o["info"]) == SPOT_QUERY | {"stopPrice": str} for o in opened)
    everything = await spot.fetch_orders(S)
    assert len(everything) == 7
    canceled = await spot.cancel_order(limit["id"], S)
    assert canceled["status"] == "canceled"
    rest = await spot.cancel_all_orders(S)
    assert {o["id"] for o in rest} == {stop["id"], take["id"]}
    balance = await spot.fetch_balance()
    assert balance["USDT"]["free"] > 0


async def test_usdm_calls_and_shapes(paper: PaperExchange, clients: tuple[Any, Any]) -> None:
    _, usdm = clients
    assert isinstance(await usdm.fetch_time(), int)
    batch = await usdm.create_orders(
        [
            {"symbol": F, "type": "limit", "side": "buy", "amount": 0.002, "price": 88000},
            {"symbol": F, "type": "limit", "side": "buy", "amount": 0.002, "price": 87000},
        ]
    )
    assert [shape(o["info"]) for o in batch] == [FUT_ORDER, FUT_ORDER]
    one = batch[0]
    assert shape((await usdm.fetch_order(one["id"], F))["info"]) == FUT_QUERY
    still_open = await usdm.fetch_open_order(one["id"], F)
    assert shape(still_open["info"]) == FUT_QUERY
    # ccxt 4.5.90 sends {"test": True} to the test endpoint on spot only: call it directly
    tested = await usdm.fapiPrivatePostOrderTest(
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.002"}
    )
    assert tested == {}
    gone = await usdm.cancel_orders([o["id"] for o in batch], F)
    assert [o["status"] for o in gone] == ["canceled", "canceled"]
    assert (await usdm.set_leverage(5, F))["leverage"] == 5
    filled = await usdm.create_order(F, "market", "buy", 0.004)
    assert filled["status"] == "closed"
    ioc = await usdm.create_order(F, "limit", "buy", 0.002, 80000, {"timeInForce": "IOC"})
    assert ioc["status"] == "expired"
    positions = await usdm.fetch_positions([F])  # ccxt 4.5.90: GET /fapi/v3/positionRisk
    assert shape(positions[0]["info"]) == POSITION_V3
    assert positions[0]["contracts"] == pytest.approx(0.004)
    balance = await usdm.fetch_balance()  # ccxt 4.5.90: GET /fapi/v3/account
    assert balance["USDT"]["total"] == pytest.approx(100_000)
    assert len(await usdm.fetch_orders(F)) == 4


async def test_usdm_algo_orders_through_ccxt(
    paper: PaperExchange, clients: tuple[Any, Any]
) -> None:
    _, usdm = clients
    await usdm.create_order(F, "market", "buy", 0.004)
    stop = await usdm.create_order(
        F, "market", "sell", 0.002, None, {"stopLossPrice": 89000, "reduceOnly": True}
    )
    assert shape(stop["info"]) == ALGO_NEW
    assert (stop["status"], stop["info"]["orderType"]) == ("open", "STOP_MARKET")
    take = await usdm.create_order(F, "limit", "sell", 0.002, 91000, {"takeProfitPrice": 91000})
    assert take["info"]["orderType"] == "TAKE_PROFIT"
    fetched = await usdm.fetch_order(stop["id"], F, {"trigger": True})
    assert shape(fetched["info"]) == ALGO_QUERY
    listed = await usdm.fetch_open_orders(F, None, None, {"trigger": True})
    assert sorted(o["id"] for o in listed) == sorted([stop["id"], take["id"]])
    canceled = await usdm.cancel_order(take["id"], F, {"trigger": True})
    assert canceled["info"] == {
        "algoId": int(take["id"]),
        "clientAlgoId": take["clientOrderId"],
        "code": "200",
        "msg": "success",
    }
    paper.set_price("BTCUSDT", 88900, market="usdm")  # the paper price reaches the stop
    fired = await usdm.fetch_order(stop["id"], F, {"trigger": True})
    assert fired["status"] == "closed"  # FINISHED: its market order filled
    assert fired["info"]["actualOrderId"]
    history = await usdm.fetch_orders(F, None, None, {"trigger": True})
    assert {o["info"]["algoStatus"] for o in history} == {"FINISHED", "CANCELED"}
    # USD-M refuses the conditional types on the old endpoint (-4120 -> ccxt error)
    with pytest.raises(ccxt.ExchangeError):
        await usdm.fapiPrivatePostOrder(
            {
                "symbol": "BTCUSDT",
                "side": "SELL",
                "type": "STOP_MARKET",
                "quantity": "0.002",
                "stopPrice": "80000",
            }
        )
