"""The user-data stream, both sides, without the matching engine.

The paper side (:class:`toolkit.paper._userstream.UserStreams`) is served by a tiny low-level
aiohttp server; order states are pushed into it the way the engine does (REST-shaped dicts). The
client side is a real :class:`toolkit.binance._stream.OrderFeed` over a real :class:`Transport`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiohttp import web

from toolkit.binance._stream import FeedState, OrderFeed, StreamConfig, parse_event
from toolkit.binance._transport import Transport, TransportConfig
from toolkit.binance._venues import stream_url, ws_api_url
from toolkit.core._exceptions import ExchangeError
from toolkit.core._models import Market, Order, OrderStatus
from toolkit.paper._errors import PaperError
from toolkit.paper._userstream import UserStreams, execution_report, order_trade_update

KEY = "k" * 64


def rest_order(cid: str = "a1", **over: Any) -> dict[str, Any]:
    order = {
        "symbol": "BTCUSDT",
        "orderId": 11,
        "clientOrderId": cid,
        "price": "50000.00",
        "origQty": "0.01000000",
        "executedQty": "0.00000000",
        "cummulativeQuoteQty": "0.00000000",
        "status": "NEW",
        "timeInForce": "GTC",
        "type": "LIMIT",
        "side": "BUY",
        "time": 1_700_000_000_000,
        "updateTime": 1_700_000_000_000,
    }
    order.update(over)
    return order


class Server:
    """A low-level aiohttp server exposing only the user-data stream routes."""

    def __init__(self, streams: UserStreams) -> None:
        self.streams = streams
        self.routes = streams.routes()
        self.runner: web.ServerRunner | None = None
        self.url = ""

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.path.startswith("/ws/"):
            return await self.streams.websocket(request)
        route = self.routes.get(request.path, {}).get(request.method)
        if route is None:
            return web.json_response({"code": -1000, "msg": "Unknown path"}, status=404)
        params = dict(parse_qsl(request.query_string))
        params.update(dict(parse_qsl((await request.read()).decode())))
        api_key = request.headers.get("X-MBX-APIKEY", "")
        try:
            return web.json_response(route.handler(None, params, api_key))  # type: ignore[arg-type]
        except PaperError as exc:
            return web.json_response(exc.body(), status=exc.status)

    async def __aenter__(self) -> Server:
        self.runner = web.ServerRunner(web.Server(self.handle))
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.streams.drop_connections()
        assert self.runner is not None
        await self.runner.cleanup()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async with Server(UserStreams()) as srv:
        yield srv


@pytest.fixture
async def transport(server: Server) -> AsyncIterator[Transport]:
    async with Transport(
        TransportConfig(base_url=server.url, sync_time=False, timeout=2.0),
        api_key=KEY,
        api_secret="s" * 64,
    ) as tr:
        yield tr


async def until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    """Wait for ``predicate``; the timeout bounds a hung test, it decides nothing."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


# -- event formatting ---------------------------------------------------------------------------


def test_execution_report_has_binance_fields() -> None:
    event = execution_report(rest_order())
    for letter in "eEscSofqpPFgCxXriIlzLnNTtwmMOZYQWV":
        assert letter in event, letter
    assert (event["e"], event["x"], event["X"], event["c"], event["C"]) == (
        "executionReport",
        "NEW",
        "NEW",
        "a1",
        "",
    )
    assert event["i"] == 11
    assert event["q"] == "0.01"
    assert event["p"] == "50000"


def test_spot_cancel_reports_original_id_in_big_c() -> None:
    event = execution_report(rest_order(status="CANCELED"))
    assert event["x"] == "CANCELED"
    assert event["C"] == "a1"
    assert event["c"] != "a1"
    order = parse_event(event, market=Market.SPOT, exchange="paper")
    assert order is not None
    assert order.client_order_id == "a1"
    assert order.status is OrderStatus.CANCELED


def test_fill_fields_are_derived_from_the_previous_state() -> None:
    streams = UserStreams()
    sent: list[dict[str, Any]] = []
    streams._push = lambda key, text: sent.append(json.loads(text))  # type: ignore[method-assign]
    streams.create(KEY, "spot")
    streams.on_order(KEY, "spot", rest_order())
    streams.on_order(
        KEY,
        "spot",
        rest_order(status="PARTIALLY_FILLED", executedQty="0.004", cummulativeQuoteQty="200"),
    )
    streams.on_order(
        KEY, "spot", rest_order(status="FILLED", executedQty="0.01", cummulativeQuoteQty="500")
    )
    assert [(e["x"], e["X"], e["l"], e["z"], e["L"]) for e in sent] == [
        ("NEW", "NEW", "0", "0", "0"),
        ("TRADE", "PARTIALLY_FILLED", "0.004", "0.004", "50000"),
        ("TRADE", "FILLED", "0.006", "0.01", "50000"),
    ]
    order = parse_event(sent[-1], market=Market.SPOT, exchange="paper")
    assert order is not None
    assert order.avg_price == 50000.0
    assert order.filled_qty == 0.01


def test_an_order_filled_on_arrival_is_new_then_trade() -> None:
    streams = UserStreams()
    sent: list[dict[str, Any]] = []
    streams._push = lambda key, text: sent.append(json.loads(text))  # type: ignore[method-assign]
    streams.create(KEY, "spot")
    streams.on_order(
        KEY,
        "spot",
        rest_order(type="MARKET", status="FILLED", executedQty="0.01", cummulativeQuoteQty="500"),
    )
    assert [(e["x"], e["X"]) for e in sent] == [("NEW", "NEW"), ("TRADE", "FILLED")]


def test_order_trade_update_shape_and_parse() -> None:
    event = order_trade_update(
        rest_order(
            status="PARTIALLY_FILLED",
            executedQty="0.004",
            cumQuote="200",
            avgPrice="50000",
            reduceOnly=True,
        )
    )
    assert event["e"] == "ORDER_TRADE_UPDATE"
    assert {"E", "T", "o"} <= set(event)
    body = event["o"]
    for key in (
        "s",
        "c",
        "S",
        "o",
        "f",
        "q",
        "p",
        "ap",
        "sp",
        "x",
        "X",
        "i",
        "l",
        "z",
        "L",
        "N",
        "n",
        "T",
        "t",
        "b",
        "a",
        "m",
        "R",
        "wt",
        "ot",
        "ps",
        "cp",
        "rp",
    ):
        assert key in body, key
    order = parse_event(event, market=Market.USDM, exchange="paper")
    assert order is not None
    assert (order.status, order.filled_qty, order.avg_price, order.reduce_only) == (
        OrderStatus.PARTIALLY_FILLED,
        0.004,
        50000.0,
        True,
    )


def test_stream_url() -> None:
    assert stream_url("https://api.binance.com", Market.SPOT) == "wss://stream.binance.com:9443"
    # USD-M user data on the /private route since 2026-03-06 (ccxt/go-binance PR #809)
    assert stream_url("https://fapi.binance.com", Market.USDM) == (
        "wss://fstream.binance.com/private"
    )
    assert stream_url("http://127.0.0.1:8765", Market.SPOT) == "ws://127.0.0.1:8765"
    # USD-M testnet and Demo Mode streams: ccxt 4.5.90 urls["test"] / urls["demo"], /private
    assert stream_url("https://testnet.binancefuture.com", Market.USDM) == (
        "wss://fstream.binancefuture.com/private"
    )
    assert stream_url("https://demo-fapi.binance.com", Market.USDM) == (
        "wss://fstream.binancefuture.com/private"
    )


def test_ws_api_url() -> None:
    # Binance spot docs: web-socket-api.md, testnet/ and demo-mode/general-info.md
    assert ws_api_url("https://api.binance.com") == "wss://ws-api.binance.com:443/ws-api/v3"
    assert ws_api_url("https://testnet.binance.vision") == (
        "wss://ws-api.testnet.binance.vision/ws-api/v3"
    )
    assert ws_api_url("https://demo-api.binance.com") == ("wss://demo-ws-api.binance.com/ws-api/v3")
    assert ws_api_url("http://127.0.0.1:8765") == "ws://127.0.0.1:8765/ws-api/v3"


# -- listen keys over HTTP ----------------------------------------------------------------------


async def test_listen_key_lifecycle(server: Server, transport: Transport) -> None:
    # Spot listen keys were retired on 2026-02-20 (spot CHANGELOG 2026-01-21): HTTP 410.
    with pytest.raises(ExchangeError) as gone:
        await transport.request("POST", "/api/v3/userDataStream", keyed=True)
    assert gone.value.status == 410
    first = (await transport.request("POST", "/fapi/v1/listenKey", keyed=True)).data
    again = (await transport.request("POST", "/fapi/v1/listenKey", keyed=True)).data
    assert first == again
    assert len(first["listenKey"]) == 64
    key = first["listenKey"]
    ok = await transport.request("PUT", "/fapi/v1/listenKey", keyed=True)
    assert ok.data == {"listenKey": key}
    with pytest.raises(ExchangeError) as err:
        await transport.request("PUT", "/fapi/v1/listenKey", {"listenKey": "nope"}, keyed=True)
    assert err.value.code == -1125
    await transport.request("DELETE", "/fapi/v1/listenKey", keyed=True)
    assert server.streams.listen_keys() == []


# -- the feed end to end ------------------------------------------------------------------------


class Sink:
    def __init__(self) -> None:
        self.orders: list[Order] = []
        self.resyncs = 0

    async def apply(self, orders: list[Order]) -> None:
        self.orders.extend(orders)

    async def resync(self) -> None:
        self.resyncs += 1


async def test_feed_applies_events_and_survives_a_drop(
    server: Server, transport: Transport
) -> None:
    sink = Sink()
    config = StreamConfig(backoff_initial=0.05, poll_interval=0.2, heartbeat=5)
    feed = OrderFeed(
        transport,
        market=Market.USDM,
        exchange="paper",
        apply=sink.apply,
        resync=sink.resync,
        config=config,
    )
    feed.start()
    try:
        await until(lambda: feed.state is FeedState.LIVE)
        assert sink.resyncs == 1
        assert server.streams.connections() == 1
        streams = server.streams
        streams.on_order(KEY, "usdm", rest_order())
        streams.on_order(
            KEY,
            "usdm",
            rest_order(status="PARTIALLY_FILLED", executedQty="0.004", cummulativeQuoteQty="200"),
        )
        await until(lambda: len(sink.orders) == 2)
        assert [o.status for o in sink.orders] == [OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED]

        assert await streams.drop_connections() == 1
        # while disconnected the order fills: the resync after reconnecting must be called
        streams.on_order(
            KEY, "usdm", rest_order(status="FILLED", executedQty="0.01", cummulativeQuoteQty="500")
        )
        await until(lambda: feed.connections == 2 and feed.state is FeedState.LIVE)
        assert sink.resyncs >= 2
        streams.on_order(KEY, "usdm", rest_order("b2", orderId=12))
        await until(lambda: any(o.client_order_id == "b2" for o in sink.orders))
    finally:
        await feed.stop()
    assert feed.state is FeedState.STOPPED
    assert server.streams.listen_keys() == []  # the key was closed


async def test_feed_outlives_the_http_timeout(server: Server) -> None:
    """The socket is long-lived: the transport's total request timeout must not kill it."""
    async with Transport(
        TransportConfig(base_url=server.url, sync_time=False, timeout=0.3),
        api_key=KEY,
        api_secret="s" * 64,
    ) as tr:
        sink = Sink()
        feed = OrderFeed(
            tr,
            market=Market.USDM,
            exchange="paper",
            apply=sink.apply,
            resync=sink.resync,
            config=StreamConfig(backoff_initial=0.05),
        )
        feed.start()
        try:
            await until(lambda: feed.state is FeedState.LIVE)
            await asyncio.sleep(0.8)
            server.streams.on_order(KEY, "usdm", rest_order(cumQuote="0", avgPrice="0"))
            await until(lambda: len(sink.orders) == 1)
            assert feed.connections == 1
        finally:
            await feed.stop()


async def test_feed_polls_without_a_stream(server: Server) -> None:
    async with Transport(
        TransportConfig(base_url=server.url + "/nothing", sync_time=False),
        api_key=KEY,
        api_secret="s" * 64,
    ) as tr:
        sink = Sink()
        feed = OrderFeed(
            tr,
            market=Market.SPOT,
            exchange="paper",
            apply=sink.apply,
            resync=sink.resync,
            ws_base=server.url.replace("http", "ws"),
            config=StreamConfig(poll_interval=0.05),
        )
        feed.start()
        try:
            await until(lambda: sink.resyncs >= 3)
            assert feed.state is FeedState.POLLING
        finally:
            await feed.stop()


async def test_keepalive_keeps_the_key_and_expiry_gets_a_new_one() -> None:
    # validity 2 s, keep-alives every 0.1 s: the key survives a loop stalled for 1.9 s
    async with (
        Server(UserStreams(validity=2.0)) as srv,
        Transport(
            TransportConfig(base_url=srv.url, sync_time=False), api_key=KEY, api_secret="s" * 64
        ) as tr,
    ):
        sink = Sink()
        kept = OrderFeed(
            tr,
            market=Market.USDM,
            exchange="paper",
            apply=sink.apply,
            resync=sink.resync,
            config=StreamConfig(keepalive_interval=0.1, backoff_initial=0.05),
        )
        kept.start()
        try:
            await until(lambda: kept.state is FeedState.LIVE)
            await asyncio.sleep(4.0)  # twice the key's validity: only keep-alives save it
            srv.streams.on_order(KEY, "usdm", rest_order())
            await until(lambda: len(sink.orders) == 1)
            assert kept.connections == 1
        finally:
            await kept.stop()

        sink = Sink()
        lapsed = OrderFeed(
            tr,
            market=Market.USDM,
            exchange="paper",
            apply=sink.apply,
            resync=sink.resync,
            config=StreamConfig(backoff_initial=0.05),
        )
        lapsed.start()
        try:
            await until(lambda: lapsed.state is FeedState.LIVE)
            await asyncio.sleep(2.5)  # past the key's validity (a lower bound: never too short)
            # the key expired: Binance sends listenKeyExpired; the feed gets a new key and
            # resyncs (the event itself went nowhere, the REST refresh covers it)
            srv.streams.on_order(KEY, "usdm", rest_order("c3", orderId=13))
            await until(lambda: lapsed.connections == 2 and lapsed.state is FeedState.LIVE)
            assert sink.resyncs == 2
            srv.streams.on_order(KEY, "usdm", rest_order("c4", orderId=14))
            await until(lambda: [o.client_order_id for o in sink.orders] == ["c4"])
        finally:
            await lapsed.stop()


# -- spot: the WebSocket API subscription --------------------------------------------------------


async def test_spot_feed_subscribes_over_the_ws_api_and_resubscribes() -> None:
    from toolkit.paper import PaperExchange

    async with PaperExchange(price_mode="fixed") as paper:
        key, secret = paper.create_key()
        async with Transport(
            TransportConfig(base_url=paper.url, sync_time=False), api_key=key, api_secret=secret
        ) as tr:
            sink = Sink()
            feed = OrderFeed(
                tr,
                market=Market.SPOT,
                exchange="paper",
                apply=sink.apply,
                resync=sink.resync,
                config=StreamConfig(backoff_initial=0.05),
            )
            feed.start()
            try:
                await until(lambda: feed.state is FeedState.LIVE)
                assert feed.ws_api == paper.url.replace("http", "ws") + "/ws-api/v3"
                assert feed.subscription_id == 0
                assert paper.ws_api.subscriptions() == 1
                assert paper.user_streams.listen_keys() == []  # no spot listen key at all
                paper.engine.place(
                    key,
                    "spot",
                    {
                        "symbol": "BTCUSDT",
                        "side": "BUY",
                        "type": "LIMIT",
                        "timeInForce": "GTC",
                        "quantity": "0.001",
                        "price": "80000",
                        "newClientOrderId": "w1",
                    },
                )
                await until(lambda: [o.client_order_id for o in sink.orders] == ["w1"])
                assert await paper.drop_user_streams() == 1
                await until(lambda: feed.connections == 2 and feed.state is FeedState.LIVE)
                assert sink.resyncs == 2
                assert paper.ws_api.subscriptions() == 1  # subscribed again on the new socket
                paper.engine.cancel(key, "spot", {"symbol": "BTCUSDT", "origClientOrderId": "w1"})
                await until(lambda: sink.orders[-1].status is OrderStatus.CANCELED)
            finally:
                await feed.stop()
            assert feed.state is FeedState.STOPPED


async def test_spot_feed_polls_when_the_subscription_is_refused() -> None:
    from toolkit.paper import PaperExchange

    async with (
        PaperExchange(price_mode="fixed") as paper,
        Transport(
            TransportConfig(base_url=paper.url, sync_time=False),
            api_key="unknown-key",
            api_secret="s" * 64,
        ) as tr,
    ):
        sink = Sink()
        feed = OrderFeed(
            tr,
            market=Market.SPOT,
            exchange="paper",
            apply=sink.apply,
            resync=sink.resync,
            config=StreamConfig(poll_interval=0.05),
        )
        feed.start()
        try:
            await until(lambda: sink.resyncs >= 2)
            assert feed.state is FeedState.POLLING
        finally:
            await feed.stop()


async def test_spot_feed_retries_a_refused_signature_without_leaking_sockets() -> None:
    from toolkit.paper import PaperExchange

    async with PaperExchange(price_mode="fixed") as paper:
        key, _ = paper.create_key()
        async with Transport(
            TransportConfig(base_url=paper.url, sync_time=False),
            api_key=key,
            api_secret="not-the-secret",
        ) as tr:
            sink = Sink()
            feed = OrderFeed(
                tr,
                market=Market.SPOT,
                exchange="paper",
                apply=sink.apply,
                resync=sink.resync,
                config=StreamConfig(backoff_initial=0.01, backoff_max=0.02, poll_interval=0.01),
            )
            feed.start()
            try:
                await until(lambda: feed.last_error is not None and "-1022" in feed.last_error)
                assert feed.state is not FeedState.LIVE
                assert paper.ws_api.subscriptions() == 0
                assert paper.ws_api.connections() <= 1  # each failed attempt closed its socket
            finally:
                await feed.stop()
