"""Rate limits (headers, 429, 418, order counts) and fault injection."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from toolkit.paper import FaultConfig, PaperExchange, RateLimits

ORDER = "/api/v3/order"


async def test_weight_and_order_count_headers(client: Any, limit_order: Any) -> None:
    r = await client.get("/api/v3/exchangeInfo", signed=False)
    assert r.headers["X-MBX-USED-WEIGHT-1M"] == "20"
    r = await client.post(ORDER, limit_order())
    assert r.headers["X-MBX-USED-WEIGHT-1M"] == "21"
    assert (r.headers["X-MBX-ORDER-COUNT-10S"], r.headers["X-MBX-ORDER-COUNT-1D"]) == ("1", "1")
    r = await client.post("/fapi/v1/order", limit_order(price="89000.0", qty="0.002"))
    assert r.headers["X-MBX-USED-WEIGHT-1M"] == "0"  # futures weight 0 for new orders
    assert (r.headers["X-MBX-ORDER-COUNT-10S"], r.headers["X-MBX-ORDER-COUNT-1M"]) == ("1", "1")


async def _exchange(limits: RateLimits | bool) -> PaperExchange:
    ex = PaperExchange(price_mode="fixed", rate_limits=limits)
    await ex.start()
    return ex


async def test_429_then_418(make_client: Any, session: aiohttp.ClientSession) -> None:
    ex = await _exchange(RateLimits(spot_weight=(3, "1M"), ban_after=2, ban_seconds=30))
    try:
        key, secret = ex.create_key()
        c = make_client(key, secret)
        c.url = ex.url
        statuses = [(await c.get("/api/v3/ping", signed=False)) for _ in range(6)]
        assert [r.status for r in statuses] == [200, 200, 200, 429, 429, 418]
        limited = statuses[3]
        assert limited.code == -1003
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.body["msg"].startswith("Too much request weight used; current limit is 3")
        banned = statuses[5]
        assert banned.code == -1003
        assert "IP banned until" in banned.body["msg"]
        assert 1 <= int(banned.headers["Retry-After"]) <= 30
        # usdm is metered separately
        assert (await c.get("/fapi/v1/ping", signed=False)).status == 200
    finally:
        await ex.stop()


async def test_order_rate_limit(make_client: Any, limit_order: Any) -> None:
    ex = await _exchange(RateLimits(spot_orders=((2, "10S"), (100, "1D"))))
    try:
        key, secret = ex.create_key()
        c = make_client(key, secret)
        c.url = ex.url
        codes = [(await c.post(ORDER, limit_order())).status for _ in range(3)]
        assert codes == [200, 200, 429]
        r = await c.post(ORDER, limit_order())
        assert (r.code, r.body["msg"]) == (
            -1015,
            "Too many new orders; current limit is 2 orders per 10 SECOND.",
        )
    finally:
        await ex.stop()


async def test_rate_limits_off(make_client: Any) -> None:
    ex = await _exchange(False)
    try:
        c = make_client(*ex.create_key())
        c.url = ex.url
        for _ in range(3):
            r = await c.get("/api/v3/exchangeInfo", signed=False)
        assert r.status == 200
        assert r.headers["X-MBX-USED-WEIGHT-1M"] == "60"
        assert ex.limiter.enabled is False
    finally:
        await ex.stop()


async def test_error_before_accept_creates_no_order(
    paper: PaperExchange, client: Any, limit_order: Any
) -> None:
    paper.configure_faults(FaultConfig(error_before_rate=1.0))
    r = await client.post(ORDER, limit_order(newClientOrderId="eb1"))
    assert r.status == 503
    assert r.code == -1001
    paper.configure_faults(FaultConfig())
    assert paper.orders(client.key) == []
    assert paper.counters()["faults"] == {"error_before": 1}
    assert "eb1" not in paper.counters()["orders_by_client_id"]


async def test_error_after_accept_order_exists(
    paper: PaperExchange, client: Any, limit_order: Any
) -> None:
    paper.configure_faults(FaultConfig(error_after_rate=1.0))
    r = await client.post(ORDER, limit_order(newClientOrderId="ea1"))
    assert r.status == 503
    assert r.code == -1007
    paper.configure_faults(FaultConfig())
    q = await client.get(ORDER, {"symbol": "BTCUSDT", "origClientOrderId": "ea1"})
    assert q.status == 200
    assert q.body["status"] == "NEW"
    assert paper.counters()["orders_by_client_id"]["ea1"] == 1
    assert paper.counters()["faults"]["error_after"] == 1


async def test_drop_after_accept_order_exists(paper: PaperExchange, client: Any) -> None:
    paper.configure_faults(FaultConfig(drop_after_rate=1.0))
    batch = (
        '[{"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","timeInForce":"GTC",'
        '"quantity":"0.002","price":"89000","newClientOrderId":"dr1"}]'
    )
    with pytest.raises(aiohttp.ClientError):
        await client.post("/fapi/v1/batchOrders", {"batchOrders": batch})
    paper.configure_faults(FaultConfig())
    q = await client.get("/fapi/v1/order", {"symbol": "BTCUSDT", "origClientOrderId": "dr1"})
    assert q.status == 200
    assert q.body["status"] == "NEW"
    assert paper.counters()["faults"]["drop_after"] == 1
    assert (await client.get("/api/v3/ping", signed=False)).status == 200  # still serving


async def test_latency_burst_and_skew(paper: PaperExchange, client: Any) -> None:
    paper.configure_faults(FaultConfig(latency=0.2))
    started = time.monotonic()
    await client.get("/api/v3/ping", signed=False)
    assert time.monotonic() - started >= 0.2
    paper.configure_faults(FaultConfig(burst_429_rate=1.0, burst_429_length=2))
    r = await client.get("/api/v3/ping", signed=False)
    assert (r.status, r.code) == (429, -1003)
    assert "Retry-After" in r.headers
    paper.configure_faults(FaultConfig(clock_skew_ms=-30_000))
    r = await client.get("/api/v3/account")  # the client's clock looks 30 s ahead
    assert r.code == -1021
    server = (await client.get("/api/v3/time", signed=False)).body["serverTime"]
    assert server < time.time() * 1000 - 25_000
    faults = paper.counters()["faults"]
    assert faults["latency"] == 1
    assert faults["burst_429"] >= 1
    assert faults["clock_skew"] == 1


def test_faults_are_deterministic_under_seed() -> None:
    from toolkit.paper._faults import FaultInjector

    def draws(seed: int) -> list[Any]:
        inj = FaultInjector(
            FaultConfig(error_before_rate=0.3, error_after_rate=0.3, drop_after_rate=0.3, seed=seed)
        )
        return [(inj.error_before(), inj.after()) for _ in range(50)]

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)
    with pytest.raises(ValueError, match="between 0 and 1"):
        FaultConfig(error_after_rate=2)


def test_slow_requests_and_418_windows_under_an_injected_clock() -> None:
    from toolkit.paper import PaperError
    from toolkit.paper._faults import FaultInjector

    slow = FaultInjector(FaultConfig(latency=0.5, slow_rate=1.0, slow_latency=2.0))
    assert slow.delay() == 2.5  # held beyond a client's timeout, then processed
    assert slow.counts == {"latency": 1, "slow": 1}

    now = [100.0]
    banned = FaultInjector(FaultConfig(ban_418_rate=1.0, ban_418_seconds=2.0), clock=lambda: now[0])
    for _ in range(2):  # the window, then still inside it
        refused = banned.refusal()
        assert isinstance(refused, PaperError)
        assert (refused.status, refused.code) == (418, -1003)
        assert refused.headers is not None
        assert int(refused.headers["Retry-After"]) >= 1
        now[0] += 1.0
    assert banned.counts == {"ban_418_windows": 1, "ban_418": 2}
    now[0] += 1.5  # past the window: a new draw (rate 1: a new window)
    assert isinstance(banned.refusal(), PaperError)
    assert banned.counts["ban_418_windows"] == 2
    banned.configure(FaultConfig())  # faults off lift the ban at once
    assert banned.refusal() is None

    for bad, says in (
        ({"slow_rate": 2.0}, "between 0 and 1"),
        ({"ban_418_rate": -0.1}, "between 0 and 1"),
        ({"slow_latency": -1.0}, "must be >= 0"),
        ({"ban_418_seconds": 0.0}, "must be > 0"),
    ):
        with pytest.raises(ValueError, match=says):
            FaultConfig.from_dict(bad)
    assert FaultConfig(slow_rate=0.1).active
    assert FaultConfig(ban_418_rate=0.1).active


async def test_a_418_window_at_the_exchange(paper: PaperExchange, client: Any) -> None:
    paper.configure_faults(FaultConfig(ban_418_rate=1.0, ban_418_seconds=600))
    r = await client.get("/api/v3/ping", signed=False)
    assert (r.status, r.code) == (418, -1003)
    assert int(r.headers["Retry-After"]) >= 1
    assert paper.counters()["faults"]["ban_418"] == 1
    paper.configure_faults(FaultConfig())
    assert (await client.get("/api/v3/ping", signed=False)).status == 200


async def test_concurrent_requests_with_latency(paper: PaperExchange, client: Any) -> None:
    paper.configure_faults(FaultConfig(latency=1.0))
    started = time.monotonic()
    replies = await asyncio.gather(*(client.get("/api/v3/time", signed=False) for _ in range(20)))
    assert all(r.status == 200 for r in replies)
    # serialized, 20 requests would take 20 s; concurrent, one latency plus overhead (the bound
    # leaves a loaded machine ample room)
    assert time.monotonic() - started < 10.0
