"""USD-M Algo Order API: place, trigger by the paper price, query, cancel; the extra endpoints.

Expected shapes: the POST answer recorded in ccxt 4.5.90 ``binance.parse_order`` (comment
"linear swap conditional order"); the query shape of Binance's "Query Algo Order" page example
(also the expected response of binance-sdk-derivatives-trading-usds-futures'
``test_trade_api.py::test_query_algo_order_success``); the cancel answers of that SDK's
``test_cancel_algo_order_success`` and ``test_cancel_all_algo_open_orders_success``.
"""

from __future__ import annotations

from typing import Any

from toolkit.paper import PaperExchange

ALGO = "/fapi/v1/algoOrder"

#: ccxt 4.5.90 binance.py, parse_order comment (createOrder/fetchOrder: linear conditional).
POST_SHAPE = {
    "algoId": int,
    "clientAlgoId": str,
    "algoType": str,
    "orderType": str,
    "symbol": str,
    "side": str,
    "positionSide": str,
    "timeInForce": str,
    "quantity": str,
    "algoStatus": str,
    "triggerPrice": str,
    "price": str,
    "icebergQuantity": type(None),
    "selfTradePreventionMode": str,
    "workingType": str,
    "priceMatch": str,
    "closePosition": bool,
    "priceProtect": bool,
    "reduceOnly": bool,
    "createTime": int,
    "updateTime": int,
    "triggerTime": int,
    "goodTillDate": int,
}
#: Binance USD-M docs, "Query Algo Order" response example.
QUERY_SHAPE = {
    **POST_SHAPE,
    "actualOrderId": str,
    "actualPrice": str,
    "tpTriggerPrice": str,
    "tpPrice": str,
    "slTriggerPrice": str,
    "slPrice": str,
    "tpOrderType": str,
}


def shape(body: dict[str, Any]) -> dict[str, type]:
    """Key -> value type of a JSON object."""
    return {k: type(v) for k, v in body.items()}


def stop(
    side: str = "SELL", trigger: str = "89000.0", kind: str = "STOP_MARKET", **extra: Any
) -> dict[str, Any]:
    return {
        "algoType": "CONDITIONAL",
        "symbol": "BTCUSDT",
        "side": side,
        "type": kind,
        "quantity": "0.002",
        "triggerPrice": trigger,
        **extra,
    }


async def test_place_query_cancel_shapes(client: Any) -> None:
    r = await client.post(ALGO, stop(clientAlgoId="sl-1"))
    assert r.status == 200, r.body
    assert shape(r.body) == POST_SHAPE
    assert (r.body["algoStatus"], r.body["clientAlgoId"], r.body["orderType"]) == (
        "NEW",
        "sl-1",
        "STOP_MARKET",
    )
    algo_id = r.body["algoId"]
    q = await client.get(ALGO, {"clientAlgoId": "sl-1"})
    assert shape(q.body) == QUERY_SHAPE
    assert q.body["algoId"] == algo_id
    assert q.body["actualOrderId"] == ""
    listed = (await client.get("/fapi/v1/openAlgoOrders", {"symbol": "BTCUSDT"})).body
    assert [a["algoId"] for a in listed] == [algo_id]
    c = await client.delete(ALGO, {"algoId": algo_id})
    assert c.body == {"algoId": algo_id, "clientAlgoId": "sl-1", "code": "200", "msg": "success"}
    again = await client.delete(ALGO, {"algoId": algo_id})
    assert (again.status, again.code) == (400, -2011)
    assert (await client.get(ALGO, {"algoId": algo_id})).body["algoStatus"] == "CANCELED"
    assert (await client.get("/fapi/v1/openAlgoOrders")).body == []
    history = (await client.get("/fapi/v1/allAlgoOrders", {"symbol": "BTCUSDT"})).body
    assert [a["algoStatus"] for a in history] == ["CANCELED"]
    missing = await client.get(ALGO, {"algoId": 1})
    assert missing.code == -2013


async def test_trigger_by_price_places_the_order(paper: PaperExchange, client: Any) -> None:
    # A long position, then a protective stop below and a take-profit above the price.
    assert (
        await client.post(
            "/fapi/v1/order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.004"},
        )
    ).status == 200
    sl = (
        await client.post(ALGO, stop(trigger="89000.0", reduceOnly="true", clientAlgoId="sl"))
    ).body
    tp = (
        await client.post(
            ALGO,
            stop(
                kind="TAKE_PROFIT",
                trigger="91000.0",
                price="91000.0",
                timeInForce="GTC",
                clientAlgoId="tp",
            ),
        )
    ).body
    assert sl["algoStatus"] == tp["algoStatus"] == "NEW"
    paper.set_price("BTCUSDT", 88900, market="usdm")
    fired = (await client.get(ALGO, {"algoId": sl["algoId"]})).body
    assert fired["algoStatus"] == "FINISHED"
    assert fired["triggerTime"] > 0
    order = (
        await client.get("/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": fired["actualOrderId"]})
    ).body
    assert (order["status"], order["type"], order["origType"], order["clientOrderId"]) == (
        "FILLED",
        "MARKET",
        "STOP_MARKET",
        "sl",
    )
    assert fired["actualPrice"].startswith("88900")
    assert (await client.get(ALGO, {"algoId": tp["algoId"]})).body["algoStatus"] == "NEW"
    # The take-profit SELL fires when the price rises to 91000 and rests as a LIMIT order.
    paper.set_price("BTCUSDT", 91000, market="usdm")
    tp_now = (await client.get(ALGO, {"algoId": tp["algoId"]})).body
    assert tp_now["algoStatus"] in ("TRIGGERED", "FINISHED")
    assert tp_now["actualOrderId"]
    cancel_all = await client.delete("/fapi/v1/algoOpenOrders", {"symbol": "BTCUSDT"})
    assert cancel_all.body == {
        "code": 200,
        "msg": "The operation of cancel all open order is done.",
    }


async def test_refusals(client: Any) -> None:
    # Binance: -2021 when the trigger would fire at once; -4120 on the old endpoint.
    assert (await client.post(ALGO, stop(trigger="91000.0"))).code == -2021
    old = await client.post("/fapi/v1/order", {**stop(), "stopPrice": "89000.0"})
    assert old.code == -4120
    assert (await client.post(ALGO, {**stop(), "algoType": "VP"})).code == -1130
    assert (await client.post(ALGO, {**stop(), "triggerPrice": None})).code == -1102
    assert (await client.post(ALGO, stop(trigger="89000.05"))).code == -4014
    assert (await client.post(ALGO, stop(kind="TRAILING_STOP_MARKET"))).code == -1116
    assert (await client.post(ALGO, stop(clientAlgoId="dup"))).status == 200
    assert (await client.post(ALGO, stop(clientAlgoId="dup"))).code == -4116


async def test_extra_endpoints(client: Any) -> None:
    placed = (
        await client.post(
            "/fapi/v1/order",
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.002",
                "price": "85000.0",
            },
        )
    ).body
    one = await client.get(
        "/fapi/v1/openOrder", {"symbol": "BTCUSDT", "orderId": placed["orderId"]}
    )
    assert one.body["orderId"] == placed["orderId"]
    assert "time" in one.body
    await client.delete("/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": placed["orderId"]})
    gone = await client.get(
        "/fapi/v1/openOrder", {"symbol": "BTCUSDT", "orderId": placed["orderId"]}
    )
    assert gone.code == -2013
    test = await client.post(
        "/fapi/v1/order/test",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.002"},
    )
    assert (test.status, test.body) == (200, {})
    bad = await client.post(
        "/fapi/v1/order/test",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.0021"},
    )
    assert bad.code == -4023
    assert (await client.get("/fapi/v1/openOrders")).body == []
    price = (await client.get("/fapi/v2/ticker/price", {"symbol": "BTCUSDT"}, signed=False)).body
    assert set(price) == {"symbol", "price", "time"}


#: binance-sdk-derivatives-trading-usds-futures test_account_api.py, account_information_v2.
V2_TOP = {
    "feeTier",
    "feeBurn",
    "canDeposit",
    "canWithdraw",
    "updateTime",
    "multiAssetsMargin",
    "tradeGroupId",
    "totalInitialMargin",
    "totalMaintMargin",
    "totalWalletBalance",
    "totalUnrealizedProfit",
    "totalMarginBalance",
    "totalPositionInitialMargin",
    "totalOpenOrderInitialMargin",
    "totalCrossWalletBalance",
    "totalCrossUnPnl",
    "availableBalance",
    "maxWithdrawAmount",
    "assets",
    "positions",
    "canTrade",
}
#: Binance USD-M docs, "Position Information V3" response example.
V3_RISK = {
    "symbol",
    "positionSide",
    "positionAmt",
    "entryPrice",
    "breakEvenPrice",
    "markPrice",
    "unRealizedProfit",
    "liquidationPrice",
    "isolatedMargin",
    "notional",
    "marginAsset",
    "isolatedWallet",
    "initialMargin",
    "maintMargin",
    "positionInitialMargin",
    "openOrderInitialMargin",
    "adl",
    "bidNotional",
    "askNotional",
    "updateTime",
}


async def test_account_shapes(client: Any) -> None:
    assert (
        await client.post(
            "/fapi/v1/order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.002"},
        )
    ).status == 200
    v2 = (await client.get("/fapi/v2/account")).body
    assert set(v2) == V2_TOP
    assert (v2["feeBurn"], v2["multiAssetsMargin"], v2["tradeGroupId"]) == (False, False, -1)
    assert {"bidNotional", "askNotional"} <= set(v2["positions"][0])
    risk = (await client.get("/fapi/v3/positionRisk")).body
    assert [r["symbol"] for r in risk] == ["BTCUSDT"]  # v3: only symbols with a position
    assert set(risk[0]) == V3_RISK
    v3 = (await client.get("/fapi/v3/account")).body
    assert "feeTier" not in v3
    assert "canTrade" not in v3
    assert [p["symbol"] for p in v3["positions"]] == ["BTCUSDT"]
    assert "marginAvailable" not in v3["assets"][0]
