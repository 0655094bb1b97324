"""USD-M futures: market data, orders, batch orders, filters, margin and positions over HTTP."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from toolkit.paper import PaperExchange

ORDER = "/fapi/v1/order"
B = "/fapi/v1/batchOrders"


def fut(
    side: str = "BUY", qty: str = "0.002", price: str = "89000.0", **extra: Any
) -> dict[str, Any]:
    return {
        "symbol": "BTCUSDT",
        "side": side,
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": qty,
        "price": price,
        **extra,
    }


async def test_public_endpoints(client: Any) -> None:
    info = (await client.get("/fapi/v1/exchangeInfo", signed=False)).body
    btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
    assert btc["orderTypes"][:2] == ["LIMIT", "MARKET"]
    assert btc["contractType"] == "PERPETUAL"
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert filters["MIN_NOTIONAL"]["notional"] == "100"
    assert filters["LOT_SIZE"]["stepSize"] == "0.001"
    assert filters["MAX_NUM_ORDERS"]["limit"] == 200
    assert "PERCENT_PRICE" in filters
    assert {s["symbol"] for s in info["symbols"]} >= {"ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"}
    r = await client.get("/fapi/v1/ticker/price", {"symbol": "BTCUSDT"}, signed=False)
    assert r.body["price"] == "90000.00"
    assert "time" in r.body
    r = await client.get("/fapi/v1/premiumIndex", {"symbol": "BTCUSDT"}, signed=False)
    assert r.body["markPrice"] == "90000.00000000"
    assert len((await client.get("/fapi/v1/premiumIndex", signed=False)).body) >= 5
    assert (await client.get("/fapi/v1/ping", signed=False)).body == {}
    assert "serverTime" in (await client.get("/fapi/v1/time", signed=False)).body
    coin = await client.get("/dapi/v1/exchangeInfo", signed=False)
    assert coin.status == 200
    assert coin.body["symbols"] == []


async def test_limit_order_lifecycle_and_position(paper: PaperExchange, client: Any) -> None:
    r = await client.post(ORDER, fut(newClientOrderId="f.1:a/b"))
    assert r.status == 200, r.body
    body = r.body
    assert (body["status"], body["price"], body["origQty"], body["positionSide"]) == (
        "NEW",
        "89000.00",
        "0.002",
        "BOTH",
    )
    assert body["cumQuote"] == "0.00000"
    assert body["reduceOnly"] is False
    assert {"cumQty", "avgPrice", "updateTime", "origType", "goodTillDate"} <= set(body)
    acct = (await client.get("/fapi/v2/account")).body
    assert Decimal(acct["totalOpenOrderInitialMargin"]) == Decimal("8.9")  # 178 / 20x
    q = await client.get(ORDER, {"symbol": "BTCUSDT", "origClientOrderId": "f.1:a/b"})
    assert "time" in q.body
    assert "cumQty" not in q.body
    paper.set_price("BTCUSDT", 88500, market="usdm")
    q = await client.get(ORDER, {"symbol": "BTCUSDT", "orderId": body["orderId"]})
    assert (q.body["status"], q.body["avgPrice"]) == ("FILLED", "89000.00000")
    pos = await client.get("/fapi/v2/positionRisk", {"symbol": "BTCUSDT"})
    assert (pos.body[0]["positionAmt"], Decimal(pos.body[0]["entryPrice"])) == (
        "0.002",
        Decimal(89000),
    )
    assert Decimal(pos.body[0]["unRealizedProfit"]) == -1
    bal = (await client.get("/fapi/v2/balance")).body
    usdt = next(b for b in bal if b["asset"] == "USDT")
    assert Decimal(usdt["balance"]) == 100_000
    # close with a reduce-only market order: realized -1 USDT
    r = await client.post(
        ORDER,
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "MARKET",
            "quantity": "0.002",
            "reduceOnly": "true",
            "newOrderRespType": "RESULT",
        },
    )
    assert (r.body["status"], r.body["reduceOnly"]) == ("FILLED", True)
    bal = (await client.get("/fapi/v2/balance")).body
    assert Decimal(next(b for b in bal if b["asset"] == "USDT")["balance"]) == 99_999
    r = await client.post(
        ORDER,
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "MARKET",
            "quantity": "0.002",
            "reduceOnly": "true",
        },
    )
    assert (r.status, r.code, r.body["msg"]) == (400, -2022, "ReduceOnly Order is rejected.")


async def test_cancel_lists_and_cancel_all(client: Any) -> None:
    a = (await client.post(ORDER, fut())).body
    b = (await client.post(ORDER, fut(price="88000.0"))).body
    opened = (await client.get("/fapi/v1/openOrders", {"symbol": "BTCUSDT"})).body
    assert [o["orderId"] for o in opened] == [a["orderId"], b["orderId"]]
    c = await client.delete(ORDER, {"symbol": "BTCUSDT", "orderId": a["orderId"]})
    assert c.body["status"] == "CANCELED"
    r = await client.delete(ORDER, {"symbol": "BTCUSDT", "orderId": a["orderId"]})
    assert (r.code, r.body["msg"]) == (-2011, "Unknown order sent.")
    r = await client.get(ORDER, {"symbol": "BTCUSDT", "orderId": 42})
    assert (r.code, r.body["msg"]) == (-2013, "Order does not exist.")
    done = await client.delete("/fapi/v1/allOpenOrders", {"symbol": "BTCUSDT"})
    assert done.body == {"code": 200, "msg": "The operation of cancel all open order is done."}
    assert (await client.get("/fapi/v1/openOrders")).body == []
    every = (await client.get("/fapi/v1/allOrders", {"symbol": "BTCUSDT"})).body
    assert [o["status"] for o in every] == ["CANCELED", "CANCELED"]


@pytest.mark.parametrize(
    ("params", "code", "msg"),
    [
        ({"price": "89000.05"}, -4014, "Price not increased by tick size."),
        ({"qty": "0.0025"}, -4023, "Qty not increased by step size."),
        (
            {"qty": "0.001"},
            -4164,
            "Order's notional must be no smaller than 100 (unless you choose reduce only).",
        ),
        ({"price": "95000.0"}, -4016, "Price is higher than mark price multiplier cap."),
        (
            {"side": "SELL", "price": "85000.0"},
            -4024,
            "Price is lower than mark price multiplier floor.",
        ),
        ({"qty": "0.0001"}, -4004, "Quantity less than min quantity."),
        ({"qty": "1001"}, -4005, "Quantity greater than max quantity."),
        ({"price": "0.01"}, -4013, "Price less than min price."),
        ({"price": "1800000.1"}, -4002, "Price greater than max price."),
        ({"qty": "0"}, -4003, "Quantity less than or equal to zero."),
        (
            {"type": "STOP_MARKET", "stopPrice": "80000"},
            -4120,
            "Order type not supported for this endpoint. Please use the Algo Order API endpoints "
            "instead.",
        ),
        (
            {"timeInForce": "GTX", "price": "90000.0"},
            -5022,
            "Due to the order could not be executed as maker, the Post Only order will be "
            "rejected. The order will not be recorded in the order history",
        ),
        (
            {"timeInForce": "FOK", "price": "89000.0"},
            -5021,
            "Due to the order could not be filled immediately, the FOK order has been rejected. "
            "The order will not be recorded in the order history",
        ),
        (
            {"newClientOrderId": "bad id"},
            -1100,
            "Illegal characters found in parameter 'newClientOrderId'; legal range is "
            "'^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
        ),
        ({"symbol": "NOPEUSDT"}, -1121, "Invalid symbol."),
        ({"side": "UP"}, -1117, "Invalid side."),
        (
            {"qty": "1e3"},
            -1100,
            "Illegal characters found in parameter 'quantity'; legal range "
            "is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
        ),
    ],
)
async def test_futures_errors(client: Any, params: dict[str, str], code: int, msg: str) -> None:
    base = fut()
    if "qty" in params:
        base["quantity"] = params.pop("qty")
    base.update(params)
    r = await client.post(ORDER, base)
    assert (r.status, r.code, r.body["msg"]) == (400, code, msg)


async def test_margin_and_duplicates(paper: PaperExchange, client: Any) -> None:
    paper.set_balance(client.key, "USDT", 5, market="usdm")
    r = await client.post(ORDER, fut())
    assert (r.code, r.body["msg"]) == (-2019, "Margin is insufficient.")
    paper.set_balance(client.key, "USDT", 100_000, market="usdm")
    assert (await client.post(ORDER, fut(newClientOrderId="same"))).status == 200
    r = await client.post(ORDER, fut(newClientOrderId="same"))
    assert (r.code, r.body["msg"]) == (-4116, "ClientOrderId is duplicated.")
    r = await client.post(ORDER, fut(timeInForce="IOC", price="89000.0"))
    assert r.body["status"] == "EXPIRED"
    r = await client.post(
        ORDER, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.002"}
    )
    assert (r.body["status"], r.body["avgPrice"]) == ("FILLED", "90000.00000")


def _batch(n: int, **extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.002",
            "price": "89000",
            "newClientOrderId": f"b{i}",
            **extra,
        }
        for i in range(n)
    ]


async def test_batch_positional_results(client: Any) -> None:
    orders = _batch(3)
    orders[1]["price"] = "89000.05"  # off tick
    r = await client.post(B, {"batchOrders": json.dumps(orders)})
    assert r.status == 200
    assert [o.get("clientOrderId") for o in r.body] == ["b0", None, "b2"]
    assert r.body[1] == {"code": -4014, "msg": "Price not increased by tick size."}
    r = await client.post(B, {"batchOrders": json.dumps(_batch(6))})
    assert (r.code, r.body["msg"]) == (-4082, "Invalid number of batch place orders.")
    r = await client.post(B, {"batchOrders": "[{not json"})
    assert r.code == -1130
    r = await client.post(B, {})
    assert r.code == -1102
    r = await client.post(B, {"batchOrders": json.dumps(_batch(1, type="STOP_MARKET"))})
    assert r.body[0]["code"] == -4120


@pytest.mark.parametrize("style", ["raw", "percent", "python-binance", "numbers"])
async def test_batch_encodings(client: Any, style: str) -> None:
    orders = _batch(2)
    ts = __import__("time").time()
    if style == "raw":  # ccxt: compact JSON, not encoded, in the body
        body = f"timestamp={int(ts * 1000)}&batchOrders=" + json.dumps(
            orders, separators=(",", ":")
        )
    elif style == "percent":
        body = urlencode({"batchOrders": json.dumps(orders), "timestamp": int(ts * 1000)})
    elif style == "python-binance":  # repr of a list, quotes as %22, spaces as +
        body = urlencode({"batchOrders": str(orders), "timestamp": int(ts * 1000)}).replace(
            "%27", "%22"
        )
    else:
        for o in orders:
            o["quantity"], o["price"] = 0.002, 89000
        body = "batchOrders=" + quote(json.dumps(orders)) + f"&timestamp={int(ts * 1000)}"
    import hashlib
    import hmac

    sig = hmac.new(client.secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    r = await client.raw("POST", B, body=body + "&signature=" + sig)
    assert r.status == 200, r.body
    assert [o["status"] for o in r.body] == ["NEW", "NEW"], r.body
    assert r.body[0]["price"] == "89000.00"


async def test_batch_cancel(client: Any) -> None:
    placed = (await client.post(B, {"batchOrders": json.dumps(_batch(3))})).body
    ids = [placed[0]["orderId"], 123]
    r = await client.delete(B, {"symbol": "BTCUSDT", "orderIdList": json.dumps(ids)})
    assert r.body[0]["status"] == "CANCELED"
    assert r.body[1] == {"code": -2011, "msg": "Unknown order sent."}
    # ccxt sends the list names in lower case
    r = await client.delete(
        B, {"symbol": "BTCUSDT", "origclientorderidlist": json.dumps(["b1", "b2"])}
    )
    assert [o["status"] for o in r.body] == ["CANCELED", "CANCELED"]
    r = await client.delete(B, {"symbol": "BTCUSDT", "orderIdList": json.dumps(list(range(11)))})
    assert r.code == -4084
    r = await client.delete(B, {"symbol": "BTCUSDT"})
    assert r.code == -1102


async def test_account_endpoints(client: Any) -> None:
    acct = (await client.get("/fapi/v2/account")).body
    assert Decimal(acct["totalWalletBalance"]) == 100_000
    assert Decimal(acct["availableBalance"]) == 100_000
    assert {"assets", "positions"} <= set(acct)
    risk = (await client.get("/fapi/v2/positionRisk")).body
    assert {p["symbol"] for p in risk} >= {"BTCUSDT", "ETHUSDT"}
    r = await client.post("/fapi/v1/leverage", {"symbol": "BTCUSDT", "leverage": 10})
    assert r.body["leverage"] == 10
    assert (await client.get("/fapi/v1/positionSide/dual")).body == {"dualSidePosition": False}
