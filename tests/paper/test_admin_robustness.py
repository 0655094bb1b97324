"""Admin endpoints, the Python API surface, order events, and malformed requests."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

import toolkit.paper as paper_pkg
from toolkit.paper import PaperExchange


def test_public_surface() -> None:
    assert paper_pkg.__all__ == sorted(paper_pkg.__all__)
    assert {"PaperExchange", "FaultConfig"} <= set(paper_pkg.__all__)
    for name in paper_pkg.__all__:
        assert getattr(paper_pkg, name).__doc__


async def _admin(
    session: aiohttp.ClientSession,
    ex: PaperExchange,
    method: str,
    path: str,
    body: Any = None,
    data: bytes | None = None,
) -> tuple[int, Any]:
    async with session.request(method, ex.url + path, json=body, data=data) as r:
        return r.status, await r.json()


async def test_admin_endpoints(
    paper: PaperExchange, session: aiohttp.ClientSession, client: Any, limit_order: Any
) -> None:
    status, body = await _admin(session, paper, "POST", "/paper/keys")
    assert status == 200
    assert len(body["api_key"]) == 64
    assert body["api_secret"]
    status, _ = await _admin(
        session, paper, "POST", "/paper/keys", {"api_key": "K", "api_secret": "S"}
    )
    assert status == 200
    assert "K" in paper.keys
    status, body = await _admin(
        session, paper, "POST", "/paper/price", {"symbol": "ETHUSDT", "price": "3100.006"}
    )
    assert body["prices"] == {"spot": "3100.01", "usdm": "3100.01"}
    status, body = await _admin(
        session,
        paper,
        "POST",
        "/paper/price",
        {"symbol": "ETHUSDT", "price": "3200", "market": "usdm"},
    )
    assert body["prices"] == {"spot": "3100.01", "usdm": "3200"}
    assert (await _admin(session, paper, "GET", "/paper/prices"))[1]["usdm"]["ETHUSDT"] == "3200"
    status, _ = await _admin(
        session,
        paper,
        "POST",
        "/paper/balance",
        {"api_key": client.key, "asset": "USDT", "amount": "12.5"},
    )
    acct = (await client.get("/api/v3/account")).body
    assert next(b for b in acct["balances"] if b["asset"] == "USDT")["free"] == "12.50000000"
    await _admin(
        session,
        paper,
        "POST",
        "/paper/balance",
        {"api_key": client.key, "asset": "USDT", "amount": 7, "market": "usdm"},
    )
    assert (await client.get("/fapi/v2/account")).body["totalWalletBalance"] == "7.00000000"
    status, body = await _admin(session, paper, "POST", "/paper/faults", {"latency": 0.01})
    assert body["latency"] == 0.01
    assert (await _admin(session, paper, "GET", "/paper/faults"))[1]["latency"] == 0.01
    status, body = await _admin(session, paper, "POST", "/paper/faults", {"nope": 1})
    assert status == 400
    assert "unknown" in body["error"]
    await _admin(session, paper, "POST", "/paper/faults", {})
    paper.set_balance(client.key, "USDT", 100_000)
    await client.post("/api/v3/order", limit_order(newClientOrderId="adm1"))
    status, body = await _admin(session, paper, "GET", f"/paper/orders?api_key={client.key}")
    assert [o["clientOrderId"] for o in body] == ["adm1"]
    assert body[0]["market"] == "spot"
    status, counters = await _admin(session, paper, "GET", "/paper/counters")
    assert counters["orders_by_client_id"] == {"adm1": 1}
    assert counters["requests"] > 5
    assert (
        await _admin(session, paper, "POST", "/paper/liquidity", {"symbol": "BTCUSDT", "qty": "1"})
    )[0] == 200
    await _admin(session, paper, "POST", "/paper/reset")
    assert paper.counters()["requests"] == 0
    assert (await _admin(session, paper, "POST", "/paper/price", data=b"{bad"))[0] == 400
    assert (await _admin(session, paper, "POST", "/paper/price", {"symbol": "X", "price": 1}))[
        0
    ] == 400
    assert (
        await _admin(session, paper, "POST", "/paper/price", {"symbol": "BTCUSDT", "price": "nan"})
    )[0] == 400
    assert (await _admin(session, paper, "GET", "/paper/nothing"))[0] == 404
    assert (await _admin(session, paper, "GET", "/paper/health"))[1]["ok"] is True


async def test_order_events(paper: PaperExchange, client: Any, limit_order: Any) -> None:
    seen: list[tuple[str, str, str]] = []
    unsubscribe = paper.engine.subscribe(
        lambda key, market, order: seen.append((key, market, order["status"]))
    )

    def broken(key: str, market: str, order: dict[str, Any]) -> None:
        raise RuntimeError("a failing subscriber does not break matching")

    paper.subscribe(broken)
    await client.post("/api/v3/order", limit_order())
    paper.set_price("BTCUSDT", 88000)
    await client.post("/fapi/v1/order", limit_order(price="80000.0", qty="0.002"))
    await client.delete("/fapi/v1/allOpenOrders", {"symbol": "BTCUSDT"})
    unsubscribe()
    assert seen == [
        (client.key, "spot", "NEW"),
        (client.key, "spot", "FILLED"),
        (client.key, "usdm", "NEW"),
        (client.key, "usdm", "CANCELED"),
    ]


async def test_malformed_requests_keep_the_server_up(
    paper: PaperExchange, client: Any, limit_order: Any
) -> None:
    r = await client.raw("GET", "/api/v3/ticker/price", query="symbol=BTCUSDT&symbol=ETHUSDT")
    assert (r.code, r.body["msg"]) == (-1101, "Duplicate values for a parameter detected.")
    r = await client.post("/api/v3/order", limit_order(qty="9" * 40))
    assert r.code == -1100
    r = await client.post("/api/v3/order", limit_order(qty="99999999999999999999.99999999"))
    assert r.body == {"code": -1013, "msg": "Filter failure: LOT_SIZE"}
    r = await client.post("/api/v3/order", limit_order(price="-1"))
    assert r.code == -1100
    r = await client.post("/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY"})
    assert (r.code, r.body["msg"]) == (
        -1102,
        "Mandatory parameter 'type' was not sent, was empty/null, or malformed.",
    )
    r = await client.post("/api/v3/order", limit_order(type="ICEBERG"))
    assert (r.code, r.body["msg"]) == (-1116, "Invalid orderType.")
    r = await client.post("/api/v3/order", limit_order(timeInForce="GTX"))
    assert (r.code, r.body["msg"]) == (-1115, "Invalid timeInForce.")
    r = await client.get("/api/v3/order", {"symbol": "BTCUSDT", "orderId": "12ab"})
    assert r.code == -1100
    r = await client.get("/api/v3/exchangeInfo", {"symbols": "[not json"}, signed=False)
    assert r.code == -1130
    r = await client.raw("POST", "/api/v3/order", body="%%%&&&===\xff" * 100)
    assert r.status in (400, 401)
    r = await client.raw("POST", "/fapi/v1/batchOrders", body="batchOrders=" + "[" * 5000)
    assert r.status == 400
    r = await client.raw("PUT", "/api/v3/order")
    assert r.status == 405
    assert r.code == -1000
    r = await client.raw("GET", "/definitely/not/here")
    assert r.status == 404
    assert r.code == -1000
    big = "x=" + "a" * 500_000
    r = await client.raw("POST", "/api/v3/order", body=big)
    assert r.status == 400
    replies = await asyncio.gather(*(client.get("/api/v3/ping", signed=False) for _ in range(20)))
    assert {x.status for x in replies} == {200}
    assert paper.counters()["responses_by_status"].get("500") is None


async def test_walk_mode_moves_prices_and_tls(session: aiohttp.ClientSession) -> None:
    ex = PaperExchange(price_mode="walk", tick_interval=0.01, seed=3, tls=True)
    await ex.start()
    try:
        assert ex.url.startswith("https://127.0.0.1:")
        start = ex.price("BTCUSDT")
        await asyncio.sleep(0.2)
        assert ex.price("BTCUSDT") != start
        assert ex.price("BTCUSDT") % ex.engine.specs["spot"]["BTCUSDT"].tick == 0
        async with session.get(ex.url + "/api/v3/ping", ssl=False) as r:
            assert r.status == 200
    finally:
        await ex.stop()
    await ex.stop()  # idempotent
