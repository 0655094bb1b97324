"""Fixtures for the Binance protocol tests: a transport on a fake base URL, aioresponses, a
recording server; and (tests/io_paper.py) a private paper exchange on the I/O loop."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiohttp import web
from aioresponses import aioresponses

from toolkit.binance._ratelimit import RateLimitConfig
from toolkit.binance._transport import Transport, TransportConfig
from toolkit.core._models import Market, OrderRequest, OrderType, Side, TimeInForce

# the USD-M conditional orders test runs tk.batch against a private paper exchange on the I/O loop
from ..io_paper import Paper as Paper
from ..io_paper import io_paper as io_paper
from ..io_paper import on_io as on_io
from ..io_paper import until as until
from ..io_paper import until_async as until_async

BASE = "http://exchange.test"
API_KEY = "KEY-tk-3f9a1c77e2b04d51"
API_SECRET = "SECRET-tk-8b2d6e0f4a9c13e7"


def url(path: str) -> re.Pattern[str]:
    """A pattern matching ``path`` on the fake exchange, with any query string."""
    return re.compile(rf"^{re.escape(BASE + path)}(\?.*)?$")


def make_config(**overrides: Any) -> TransportConfig:
    settings: dict[str, Any] = {
        "base_url": BASE,
        "sync_time": False,
        "backoff": 0.001,
        "rate_limits": RateLimitConfig(enabled=False),
    }
    settings.update(overrides)
    return TransportConfig(**settings)


def calls(mock: aioresponses, method: str, path: str) -> list[Any]:
    """Every recorded call of ``method`` to ``path`` (any query string)."""
    return [
        call
        for (m, u), recorded in mock.requests.items()
        if m == method and u.path == path
        for call in recorded
    ]


def form(call: Any) -> dict[str, str]:
    """The decoded form body of a recorded POST."""
    return dict(parse_qsl(call.kwargs["data"].decode(), keep_blank_values=True))


def batch_of(call: Any) -> list[dict[str, Any]]:
    """The decoded ``batchOrders`` JSON of a recorded USD-M batch POST."""
    orders: list[dict[str, Any]] = json.loads(form(call)["batchOrders"])
    return orders


def req(
    i: int | str,
    market: Market = Market.USDM,
    **overrides: Any,
) -> OrderRequest:
    values: dict[str, Any] = {
        "client_order_id": f"c{i}",
        "market": market,
        "symbol": "BTCUSDT",
        "side": Side.BUY,
        "type": OrderType.LIMIT,
        "qty": Decimal("0.010"),
        "price": Decimal("50000.10"),
        "time_in_force": TimeInForce.GTC,
    }
    values.update(overrides)
    return OrderRequest(**values)


def futures_order(element: dict[str, Any], order_id: int, status: str = "NEW") -> dict[str, Any]:
    """A USD-M order object as Binance returns it for a placed element."""
    return {
        "clientOrderId": element["newClientOrderId"],
        "cumQty": "0.000",
        "cumQuote": "0.00000",
        "executedQty": "0.000",
        "orderId": order_id,
        "avgPrice": "0.00",
        "origQty": element["quantity"],
        "price": element.get("price", "0"),
        "reduceOnly": element.get("reduceOnly") == "true",
        "side": element["side"],
        "positionSide": "BOTH",
        "status": status,
        "stopPrice": "0.00",
        "closePosition": False,
        "symbol": element["symbol"],
        "timeInForce": element.get("timeInForce", "GTC"),
        "type": element["type"],
        "origType": element["type"],
        "updateTime": 1700000000000 + order_id,
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "goodTillDate": 0,
    }


def spot_order(params: dict[str, str], order_id: int, status: str = "NEW") -> dict[str, Any]:
    """A spot RESULT answer for a placed order."""
    return {
        "symbol": params["symbol"],
        "orderId": order_id,
        "orderListId": -1,
        "clientOrderId": params["newClientOrderId"],
        "transactTime": 1700000000000 + order_id,
        "price": params.get("price", "0.00000000"),
        "origQty": params["quantity"],
        "executedQty": "0.00000000",
        "origQuoteOrderQty": "0.00000000",
        "cummulativeQuoteQty": "0.00000000",
        "status": status,
        "timeInForce": params.get("timeInForce", "GTC"),
        "type": params["type"],
        "side": params["side"],
        "workingTime": 1700000000000 + order_id,
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }


@pytest.fixture
def mock() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    t = Transport(make_config(), api_key=API_KEY, api_secret=API_SECRET)
    yield t
    await t.close()


def free_port() -> int:
    """A loopback port nobody listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class Recorded:
    method: str
    raw_path: str
    body: bytes
    headers: dict[str, str]


@dataclass
class RecordingServer:
    """A real loopback HTTP server that records raw requests and answers with ``respond``."""

    base_url: str = ""
    seen: list[Recorded] = field(default_factory=list)
    respond: Callable[[Recorded], web.Response] = lambda rec: web.json_response({})


@pytest.fixture
async def server() -> AsyncIterator[RecordingServer]:
    state = RecordingServer()

    async def handler(request: web.Request) -> web.StreamResponse:
        rec = Recorded(
            request.method, request.raw_path, await request.read(), dict(request.headers)
        )
        state.seen.append(rec)
        return state.respond(rec)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.base_url = f"http://127.0.0.1:{port}"
    yield state
    await runner.cleanup()
