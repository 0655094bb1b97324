"""The HTTP layer: one low-level aiohttp handler that routes, meters, authenticates and answers.

A request goes through, in order: route lookup (404/405 JSON), reading it in full, injected
latency and 429 bursts, the order gate (``_hold``: order requests held until released), parameter
parsing, request weight (429/418), API key and signature
(``-2015``/``-1022``), timestamp (``-1021``), order count (``-1015``), "5xx before accept"
faults, the endpoint handler, then "5xx / dropped connection after accept" faults. Every refusal
is a Binance ``{code,msg}`` body; nothing a client sends can stop the server.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ._auth import KeyStore, check_timestamp, parse_params, split_signature
from ._engine import Engine
from ._errors import PaperError
from ._faults import ERROR_AFTER, ERROR_BEFORE, FaultInjector
from ._history import MarketHistory
from ._hold import OrderGate
from ._limits import RateLimiter, RateLimits

__all__ = ["BODY_TIMEOUT", "Route", "ServerState", "dispatch"]

_log = logging.getLogger(__name__)
_JSON = "application/json"
#: The default of :attr:`ServerState.body_timeout` (``PaperExchange(body_timeout=...)``).
BODY_TIMEOUT = 10.0

Handler = Callable[["ServerState", dict[str, str], str], Any]


@dataclass(frozen=True)
class Route:
    """One endpoint: its market, handler, weight and security type."""

    market: str
    handler: Handler
    weight: int = 1
    weight_all: int | None = None  # weight when no ``symbol`` is sent
    security: str = "NONE"  # NONE | KEY (API key only) | SIGNED
    orders: int = 0  # order-count charge on 10S/1D windows
    per_minute: int = 0  # order-count charge on 1M windows
    places: bool = False  # places orders: subject to error/drop faults
    weigh: Callable[[dict[str, str]], int] | None = None  # weight from the parameters (limit...)


@dataclass
class ServerState:
    """Everything the handlers share (owned by :class:`~toolkit.paper.PaperExchange`)."""

    engine: Engine
    keys: KeyStore
    limiter: RateLimiter
    rate_limits: RateLimits
    faults: FaultInjector
    routes: dict[str, dict[str, Route]] = field(default_factory=dict)
    admin: Callable[[web.BaseRequest], Any] | None = None
    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)
    history: MarketHistory | None = None  # candles, depth and tickers (``_marketdata``)
    gate: OrderGate = field(default_factory=OrderGate)  # holds order requests (``_hold``)
    #: Seconds a request's body may take to arrive in full (a client trickling it is refused).
    body_timeout: float = BODY_TIMEOUT


def dumps(body: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(body, separators=(",", ":")).encode()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> web.Response:
    """A JSON response."""
    return web.Response(body=dumps(body), status=status, content_type=_JSON, headers=headers)


def _error(state: ServerState, exc: PaperError, headers: dict[str, str] | None) -> web.Response:
    if exc.headers:
        headers = {**(headers or {}), **exc.headers}
    state.by_status[exc.status] = state.by_status.get(exc.status, 0) + 1
    return json_response(exc.body(), exc.status, headers)


def _drop(request: web.BaseRequest) -> web.Response:
    """Close the connection without answering (the order was accepted)."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=204)


async def dispatch(state: ServerState, request: web.BaseRequest) -> web.StreamResponse:
    """The one request handler of the server."""
    state.requests += 1
    path = request.path
    routes = state.routes.get(path)
    if routes is None:
        if path.startswith("/paper/") and state.admin is not None:
            response: web.StreamResponse = await state.admin(request)
            return response
        return _error(state, PaperError(-1000, f"Unknown path: {path}", 404), None)
    route = routes.get(request.method)
    if route is None:
        allowed = ",".join(sorted(routes))
        return _error(
            state, PaperError(-1000, f"Method {request.method} not allowed; use {allowed}.", 405),
            {"Allow": allowed})
    headers: dict[str, str] | None = None
    faults = state.faults
    try:
        # The request is read in full before any injected latency: a slow backend has received
        # the order, so it may execute it after the client gave up (a real "unknown outcome"),
        # and a client that disconnects meanwhile is not an error of ours.
        raw_query = request.raw_path.partition("?")[2]
        try:
            body = ""
            if request.body_exists:
                raw = await asyncio.wait_for(request.read(), state.body_timeout)
                body = raw.decode("latin-1")
        except web.HTTPRequestEntityTooLarge as exc:  # a client error, not ours
            raise PaperError(-1000, f"Request body too large: {exc.text}", 413) from None
        except ConnectionError:  # the client left before sending all of it: nobody to answer
            return web.Response(status=400)
        except asyncio.TimeoutError:  # trickled: answered, and the connection closed
            late = PaperError(
                -1000, f"Request body not received within {state.body_timeout:g} s.", 408
            )
            response = _error(state, late, None)
            response.force_close()
            return response
        if faults.config.active:
            delay = faults.delay()
            if delay:
                await asyncio.sleep(delay)
            refused = faults.refusal()
            if refused is not None:
                raise refused
        if route.places and state.gate.holding:
            await state.gate.wait()
        parse_error: PaperError | None = None
        try:
            params = parse_params(raw_query, body)
        except PaperError as exc:
            params, parse_error = {}, exc
        weight = route.weight
        if route.weight_all is not None and "symbol" not in params:
            weight = route.weight_all
        if route.weigh is not None:
            weight = route.weigh(params)
        headers = state.limiter.charge_weight(route.market, request.remote or "", weight)
        if parse_error is not None:
            raise parse_error
        api_key = ""
        if route.security != "NONE":
            api_key = request.headers.get("X-MBX-APIKEY", "")
            secret = state.keys.authenticate(api_key)
            if route.security == "SIGNED":
                payload, signature = split_signature(raw_query, body)
                state.keys.verify(secret, payload, signature)
                skew = state.engine.skew_ms
                if skew:
                    faults.tally("clock_skew")
                check_timestamp(params, skew)
        if route.orders:
            headers.update(
                state.limiter.charge_orders(route.market, api_key, route.orders, route.per_minute)
            )
        if route.places and faults.error_before():
            raise ERROR_BEFORE
        result = route.handler(state, params, api_key)
        if route.places:
            after = faults.after()
            if after == "error_after":
                raise ERROR_AFTER
            if after == "drop_after":
                return _drop(request)
    except PaperError as exc:
        return _error(state, exc, headers)
    except Exception:  # never let a request take the server down
        _log.exception("paper exchange: unexpected error on %s %s", request.method, path)
        return _error(state, PaperError(-1000, "An unknown error occurred while processing the "
                                        "request.", 500), headers)
    state.by_status[200] = state.by_status.get(200, 0) + 1
    return web.Response(body=dumps(result), content_type=_JSON, headers=headers)
