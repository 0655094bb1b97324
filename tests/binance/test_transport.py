"""The one request path: exact wire shape, lifecycle, time sync, retries and error mapping."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import threading
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aioresponses import aioresponses

from toolkit.binance._ratelimit import RateLimitConfig
from toolkit.binance._transport import Transport, TransportConfig
from toolkit.core._exceptions import (
    AuthenticationError,
    ExchangeError,
    ExchangeUnavailable,
    LoopMismatchError,
    NotSentError,
    OrderRejected,
    RateLimitError,
    RequestTimeout,
    ServerError,
    SessionClosedError,
    ToolkitError,
)

from .conftest import (
    API_KEY,
    API_SECRET,
    BASE,
    RecordingServer,
    calls,
    form,
    free_port,
    make_config,
    url,
)

SPOT_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SPOT_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
ORDER = {
    "symbol": "LTCBTC",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "quantity": "1",
    "price": "0.1",
}


async def test_signed_post_body_is_the_official_vector(mock: aioresponses) -> None:
    transport = Transport(make_config(), api_key=SPOT_KEY, api_secret=SPOT_SECRET)
    transport.timestamp_ms = lambda: 1499827319559  # type: ignore[method-assign]
    mock.post(url("/api/v3/order"), payload={"orderId": 1})
    try:
        resp = await transport.request("POST", "/api/v3/order", ORDER, signed=True, kind="order")
    finally:
        await transport.close()
    assert resp.status == 200
    assert resp.data == {"orderId": 1}
    (call,) = calls(mock, "POST", "/api/v3/order")
    assert call.kwargs["data"] == (
        b"symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
        b"&recvWindow=5000&timestamp=1499827319559"
        b"&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    )
    headers = call.kwargs["headers"]
    assert headers["X-MBX-APIKEY"] == SPOT_KEY
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"


async def test_signed_get_sends_the_exact_signed_query(server: RecordingServer) -> None:
    server.respond = lambda rec: web.json_response([])
    transport = Transport(
        make_config(base_url=server.base_url), api_key=API_KEY, api_secret=API_SECRET
    )
    try:
        params = {"symbol": "BTCUSDT", "origClientOrderId": "a:b/c", "ids": ["x", "y"]}
        await transport.request("GET", "/fapi/v1/order", params, signed=True)
    finally:
        await transport.close()
    (rec,) = server.seen
    path, query = rec.raw_path.split("?", 1)
    assert path == "/fapi/v1/order"
    payload, signature = query.rsplit("&signature=", 1)
    assert payload.startswith(
        "symbol=BTCUSDT&origClientOrderId=a%3Ab%2Fc&ids=%5B%22x%22%2C%22y%22%5D&recvWindow=5000"
        "&timestamp="
    )
    expected = hmac.new(API_SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
    assert signature == expected
    assert rec.headers["X-MBX-APIKEY"] == API_KEY
    assert rec.body == b""


async def test_unsigned_request_has_no_key_and_no_signature(mock: aioresponses) -> None:
    transport = Transport(make_config(), api_key=API_KEY, api_secret=API_SECRET)
    mock.get(url("/api/v3/ticker/price"), payload={"symbol": "BTCUSDT", "price": "1.5"})
    try:
        resp = await transport.request("GET", "/api/v3/ticker/price", {"symbol": "BTCUSDT"})
    finally:
        await transport.close()
    (call,) = calls(mock, "GET", "/api/v3/ticker/price")
    assert "X-MBX-APIKEY" not in call.kwargs["headers"]
    assert str(resp.data["price"]) == "1.5"


async def test_one_session_for_many_requests_and_closed_after(mock: aioresponses) -> None:
    transport = Transport(make_config())
    mock.get(url("/api/v3/ping"), payload={}, repeat=True)
    await asyncio.gather(*(transport.request("GET", "/api/v3/ping") for _ in range(20)))
    assert transport.stats.sessions_created == 1
    assert transport.stats.requests == 20
    await transport.close()
    assert transport.closed
    assert transport.open_connections() == 0
    with pytest.raises(SessionClosedError):
        await transport.request("GET", "/api/v3/ping")
    await transport.close()  # idempotent


def test_use_from_another_loop_is_refused() -> None:
    transport = Transport(make_config())
    home = asyncio.new_event_loop()
    try:
        with aioresponses() as mock:
            mock.get(url("/api/v3/ping"), payload={}, repeat=True)
            home.run_until_complete(transport.request("GET", "/api/v3/ping"))
            with pytest.raises(LoopMismatchError, match="another event loop"):
                asyncio.run(transport.request("GET", "/api/v3/ping"))
        home.run_until_complete(transport.close())
    finally:
        home.close()


async def test_open_connections_counts_keepalive_sockets(server: RecordingServer) -> None:
    transport = Transport(make_config(base_url=server.base_url, connection_limit=4))
    try:
        await asyncio.gather(*(transport.request("GET", "/api/v3/ping") for _ in range(12)))
        assert 1 <= transport.open_connections() <= 4
    finally:
        await transport.close()


async def test_time_offset_is_synced_once_before_signed_requests(mock: aioresponses) -> None:
    transport = Transport(make_config(sync_time=True), api_key=API_KEY, api_secret=API_SECRET)
    ahead = int(time.time() * 1000) + 120_000  # server clock two minutes ahead
    mock.get(url("/fapi/v1/time"), payload={"serverTime": ahead})
    mock.get(url("/fapi/v1/openOrders"), payload=[], repeat=True)
    try:
        await asyncio.gather(
            *(transport.request("GET", "/fapi/v1/openOrders", signed=True) for _ in range(5))
        )
    finally:
        await transport.close()
    assert len(calls(mock, "GET", "/fapi/v1/time")) == 1
    assert transport.stats.time_syncs == 1
    assert 119_000 < transport.stats.time_offset_ms < 121_000
    for call_key in mock.requests:
        if call_key[1].path == "/fapi/v1/openOrders":
            assert abs(int(call_key[1].query["timestamp"]) - ahead) < 5_000


async def test_minus_1021_resyncs_time_and_retries_once(mock: aioresponses) -> None:
    transport = Transport(make_config(sync_time=True), api_key=API_KEY, api_secret=API_SECRET)
    now = int(time.time() * 1000)
    mock.get(url("/api/v3/time"), payload={"serverTime": now})
    mock.get(url("/api/v3/time"), payload={"serverTime": now + 30_000})
    mock.post(
        url("/api/v3/order"),
        status=400,
        payload={"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."},
    )
    mock.post(url("/api/v3/order"), payload={"orderId": 5})
    try:
        resp = await transport.request("POST", "/api/v3/order", ORDER, signed=True, kind="order")
    finally:
        await transport.close()
    assert resp.data == {"orderId": 5}
    posts = calls(mock, "POST", "/api/v3/order")
    assert len(posts) == 2
    assert len(calls(mock, "GET", "/api/v3/time")) == 2
    first, second = (int(form(p)["timestamp"]) for p in posts)
    assert second - first > 25_000  # the retry used the new offset


async def test_failed_time_sync_means_the_order_was_not_sent(mock: aioresponses) -> None:
    transport = Transport(make_config(sync_time=True), api_key=API_KEY, api_secret=API_SECRET)
    mock.get(url("/api/v3/time"), status=500, body="down", repeat=True)
    mock.post(url("/api/v3/order"), payload={"orderId": 1})
    try:
        with pytest.raises(NotSentError, match="time sync failed"):
            await transport.request("POST", "/api/v3/order", ORDER, signed=True, kind="order")
    finally:
        await transport.close()
    assert calls(mock, "POST", "/api/v3/order") == []


async def test_minus_1021_twice_raises_authentication_error(mock: aioresponses) -> None:
    transport = Transport(make_config(), api_key=API_KEY, api_secret=API_SECRET)
    mock.get(url("/api/v3/time"), payload={"serverTime": int(time.time() * 1000)})
    body = {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}
    mock.post(url("/api/v3/order"), status=400, payload=body, repeat=True)
    try:
        with pytest.raises(AuthenticationError) as info:
            await transport.request("POST", "/api/v3/order", ORDER, signed=True, kind="order")
    finally:
        await transport.close()
    assert info.value.code == -1021
    assert len(calls(mock, "POST", "/api/v3/order")) == 2


@pytest.mark.parametrize(
    ("status", "body", "kind", "error", "code"),
    [
        (400, {"code": -1013, "msg": "Filter failure: LOT_SIZE"}, "order", OrderRejected, -1013),
        (400, {"code": -1121, "msg": "Invalid symbol."}, "read", ExchangeError, -1121),
        (400, {"code": -2011, "msg": "Unknown order sent."}, "cancel", OrderRejected, -2011),
        (400, {"code": -1022, "msg": "Signature for this request is not valid."}, "read",
         AuthenticationError, -1022),
        (401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}, "order",
         AuthenticationError, -2015),
        (503, {"code": -1008, "msg": "Service Unavailable."}, "order", ServerError, -1008),
        (408, {"code": -1007, "msg": "Timeout waiting for response from backend server."},
         "order", ServerError, -1007),
        (502, None, "order", ServerError, None),
    ],
)  # fmt: skip
async def test_error_mapping(
    mock: aioresponses,
    transport: Transport,
    status: int,
    body: dict[str, Any] | None,
    kind: Any,
    error: type[ExchangeError],
    code: int | None,
) -> None:
    if body is None:
        mock.post(url("/api/v3/order"), status=status, body="<html>Bad Gateway</html>")
    else:
        mock.post(url("/api/v3/order"), status=status, payload=body)
    with pytest.raises(error) as info:
        await transport.request("POST", "/api/v3/order", ORDER, signed=True, kind=kind)
    exc = info.value
    assert type(exc) is error
    assert exc.code == code
    assert exc.status == status
    assert exc.method == "POST"
    assert exc.path == "/api/v3/order"
    if body is not None:
        assert exc.msg == body["msg"]
    else:
        assert "Bad Gateway" in exc.msg
    assert len(calls(mock, "POST", "/api/v3/order")) == 1  # never resent


async def test_read_is_retried_on_5xx_then_succeeds(
    mock: aioresponses, transport: Transport
) -> None:
    mock.get(url("/api/v3/exchangeInfo"), status=503, payload={"code": -1, "msg": "busy"})
    mock.get(url("/api/v3/exchangeInfo"), status=502, body="bad gateway")
    mock.get(url("/api/v3/exchangeInfo"), payload={"symbols": []})
    resp = await transport.request("GET", "/api/v3/exchangeInfo", weight=20)
    assert resp.data == {"symbols": []}
    assert transport.stats.retries == 2
    assert len(calls(mock, "GET", "/api/v3/exchangeInfo")) == 3


async def test_read_gives_up_after_max_retries(mock: aioresponses, transport: Transport) -> None:
    mock.get(url("/api/v3/exchangeInfo"), exception=aiohttp.ServerDisconnectedError(), repeat=True)
    with pytest.raises(ExchangeUnavailable):
        await transport.request("GET", "/api/v3/exchangeInfo")
    assert len(calls(mock, "GET", "/api/v3/exchangeInfo")) == 3  # 1 + max_retries


async def test_read_429_honours_retry_after_for_everyone(
    mock: aioresponses, transport: Transport
) -> None:
    mock.get(
        url("/api/v3/ticker/price"),
        status=429,
        headers={"Retry-After": "0.3"},
        payload={"code": -1003, "msg": "Too much request weight used"},
    )
    mock.get(url("/api/v3/ticker/price"), payload=[])
    mock.get(url("/api/v3/ping"), payload={})
    started = time.monotonic()
    first = asyncio.ensure_future(transport.request("GET", "/api/v3/ticker/price"))
    # until the 429 has paused the transport (the limiter has counters, no event)
    while transport.limiter.stats.pauses == 0:  # noqa: ASYNC110
        await asyncio.sleep(0)
    await transport.request("GET", "/api/v3/ping")  # a bystander waits out the pause too
    assert time.monotonic() - started >= 0.25
    assert (await first).data == []
    assert len(calls(mock, "GET", "/api/v3/ticker/price")) == 2


async def test_order_refused_with_429_is_resent_after_the_pause(
    mock: aioresponses, transport: Transport
) -> None:
    mock.post(
        url("/api/v3/order"),
        status=429,
        headers={"Retry-After": "0"},
        payload={"code": -1015, "msg": "Too many new orders"},
    )
    mock.post(url("/api/v3/order"), payload={"orderId": 9})
    resp = await transport.request("POST", "/api/v3/order", ORDER, signed=True, kind="order")
    assert resp.data == {"orderId": 9}
    assert len(calls(mock, "POST", "/api/v3/order")) == 2


async def test_429_retries_are_bounded(mock: aioresponses, transport: Transport) -> None:
    mock.post(
        url("/api/v3/order"),
        status=429,
        headers={"Retry-After": "0"},
        payload={"code": -1015, "msg": "Too many new orders"},
        repeat=True,
    )
    with pytest.raises(RateLimitError) as info:
        await transport.request("POST", "/api/v3/order", ORDER, signed=True, kind="order")
    assert info.value.status == 429
    assert len(calls(mock, "POST", "/api/v3/order")) == 3  # 1 + rate_limit_retries


async def test_418_bans_every_request_without_sending(
    mock: aioresponses, transport: Transport
) -> None:
    mock.get(
        url("/api/v3/exchangeInfo"),
        status=418,
        headers={"Retry-After": "120"},
        payload={"code": -1003, "msg": "Way too much request weight used; IP banned"},
    )
    with pytest.raises(RateLimitError) as info:
        await transport.request("GET", "/api/v3/exchangeInfo")
    assert info.value.status == 418
    assert info.value.retry_after == 120
    with pytest.raises(RateLimitError, match="not sent") as second:
        await transport.request("POST", "/api/v3/order", ORDER, signed=True, kind="order")
    assert second.value.retry_after > 100
    assert len(calls(mock, "POST", "/api/v3/order")) == 0
    assert len(calls(mock, "GET", "/api/v3/exchangeInfo")) == 1


@pytest.mark.parametrize(
    ("exception", "error"),
    [
        (asyncio.TimeoutError(), RequestTimeout),
        (aiohttp.ServerDisconnectedError(), ExchangeUnavailable),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), ExchangeUnavailable),
        (aiohttp.ClientPayloadError("truncated"), ExchangeUnavailable),
    ],
)
async def test_order_with_unknown_outcome_is_never_resent(
    mock: aioresponses, transport: Transport, exception: Exception, error: type[Exception]
) -> None:
    mock.post(url("/api/v3/order"), exception=exception, repeat=True)
    with pytest.raises(error) as info:
        await transport.request("POST", "/api/v3/order", ORDER, signed=True, kind="order")
    assert not isinstance(info.value, NotSentError)
    assert info.value.__cause__ is exception
    assert len(calls(mock, "POST", "/api/v3/order")) == 1


async def test_connection_refused_is_not_sent() -> None:
    transport = Transport(
        make_config(base_url=f"http://127.0.0.1:{free_port()}"),
        api_key=API_KEY,
        api_secret=API_SECRET,
    )
    try:
        with pytest.raises(NotSentError) as info:
            await transport.request("POST", "/api/v3/order", ORDER, signed=True, kind="order")
        assert isinstance(info.value, ExchangeUnavailable)
        assert transport.stats.requests == 1
        with pytest.raises(NotSentError):  # reads are retried, then give up
            await transport.request("GET", "/api/v3/ping")
        assert transport.stats.requests == 4
    finally:
        await transport.close()


async def test_real_timeout_on_a_slow_server() -> None:
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    transport = Transport(make_config(base_url=f"http://127.0.0.1:{port}", timeout=0.2))
    try:
        with pytest.raises(RequestTimeout):
            await transport.request("POST", "/slow", kind="order")
        assert transport.stats.requests == 1  # an order is not resent after a timeout
    finally:
        release.set()
        await transport.close()
        await runner.cleanup()


async def test_secrets_never_show(mock: aioresponses, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    transport = Transport(make_config(), api_key=API_KEY, api_secret=API_SECRET)
    mock.post(
        url("/api/v3/order"),
        status=401,
        payload={"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
    )
    mock.post(url("/api/v3/order"), exception=asyncio.TimeoutError())
    errors: list[ToolkitError] = []
    for _ in range(2):
        try:
            await transport.request("POST", "/api/v3/order", ORDER, signed=True, kind="order")
        except ToolkitError as exc:
            errors.append(exc)
    text = " ".join([repr(transport), str(transport), caplog.text, repr(transport.config)])
    text += " ".join(f"{e!s} {e!r} {e.args!r}" for e in errors)
    await transport.close()
    assert len(errors) == 2
    assert API_KEY not in text
    assert API_SECRET not in text


def test_config_is_validated_and_frozen() -> None:
    with pytest.raises(ValueError, match="http"):
        TransportConfig(base_url="ftp://x")
    with pytest.raises(ValueError, match="recv_window"):
        TransportConfig(base_url=BASE, recv_window=70_000)
    config = TransportConfig(base_url=BASE)
    with pytest.raises(AttributeError):
        config.timeout = 1  # type: ignore[misc]
    assert config.rate_limits == RateLimitConfig()


async def test_signed_request_without_keys_is_refused_before_sending(
    mock: aioresponses,
) -> None:
    transport = Transport(make_config())
    try:
        with pytest.raises(ValueError, match="API key"):
            await transport.request("GET", "/api/v3/account", signed=True)
    finally:
        await transport.close()
    assert transport.stats.requests == 0


def test_many_threads_one_loop_share_one_session() -> None:
    """The I/O-loop-thread model: callers on many threads hand work to one loop."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    transport = Transport(make_config())
    try:
        with aioresponses() as mock:
            mock.get(url("/api/v3/ping"), payload={}, repeat=True)

            def work() -> None:
                for _ in range(5):
                    asyncio.run_coroutine_threadsafe(
                        transport.request("GET", "/api/v3/ping"), loop
                    ).result(5)

            workers = [threading.Thread(target=work) for _ in range(4)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
        assert transport.stats.sessions_created == 1
        assert transport.stats.requests == 20
    finally:
        asyncio.run_coroutine_threadsafe(transport.close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


async def test_ws_connect_failure_is_translated_at_the_seam() -> None:
    t = Transport(make_config(base_url=f"http://127.0.0.1:{free_port()}"), api_key=API_KEY)
    try:
        with pytest.raises(ExchangeUnavailable, match="WebSocket connection failed"):
            await t.ws_connect(f"ws://127.0.0.1:{free_port()}/ws/key")
        assert t.stats.sessions_created == 1  # on the transport's one HTTP session
    finally:
        await t.close()
