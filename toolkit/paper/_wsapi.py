"""The spot WebSocket API endpoint (``/ws-api/v3``) for user-data subscriptions.

Binance retired the spot REST listen keys on 2026-02-20 (spot CHANGELOG 2026-01-21); spot
account and order events now come over the WebSocket API. This module serves that part of it on
the paper exchange, in Binance's JSON framing (spot docs, "WebSocket API" general info and "User
Data Stream requests"):

* request ``{"id": .., "method": .., "params": {..}}``; answer ``{"id": .., "status": 200,
  "result": .., "rateLimits": [..]}`` or ``{"id": .., "status": 4xx, "error": {"code", "msg"}}``;
* ``userDataStream.subscribe.signature`` (params ``apiKey``, ``timestamp``, optional
  ``recvWindow``, ``signature``): HMAC-SHA256 over every other parameter sorted by name and
  joined as ``name=value&...``; result ``{"subscriptionId": n}``. One subscription per account
  per connection: subscribing again answers the existing id;
* ``userDataStream.unsubscribe`` (optional ``subscriptionId``; none: all of this connection),
  each ended subscription gets an ``eventStreamTerminated`` event; result ``{}``;
* ``session.subscriptions`` (result ``[{"subscriptionId": n}, ...]``), ``ping``, ``time``;
* events arrive as ``{"subscriptionId": n, "event": {"e": "executionReport", ...}}``.

``session.logon`` is not served: Binance accepts only Ed25519 keys there, and the paper exchange
has HMAC keys only, so ``userDataStream.subscribe`` (which needs a logged-on session) is refused.

Example::

    ws_api = WsApi(keys, engine, user_streams)
    # GET /ws-api/v3 -> await ws_api.handle(request)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from ._auth import KeyStore, check_timestamp
from ._engine import Engine
from ._errors import PaperError, mandatory
from ._market import SPOT
from ._userstream import UserStreams, send_queued

__all__ = ["WS_API_PATH", "WsApi", "signature_payload"]

#: Where the endpoint lives (as on ``wss://ws-api.binance.com:443/ws-api/v3``).
WS_API_PATH = "/ws-api/v3"
_UNKNOWN_METHOD = PaperError(-1000, "Unsupported method.")
_MALFORMED = PaperError(-1000, "Malformed request: expected a JSON object with id and method.")
_LOGON = PaperError(
    -4056, "HMAC_SHA256 API key is not supported; session.logon needs an Ed25519 key.")
_NOT_LOGGED_ON = PaperError(-2015, "Invalid API-key, IP, or permissions for action.", 401)


def signature_payload(params: dict[str, Any]) -> bytes:
    """What a WebSocket API request signs: every param but ``signature``, sorted, ``k=v&...``."""
    items = sorted((k, v) for k, v in params.items() if k != "signature")
    return "&".join(f"{k}={_text(v)}" for k, v in items).encode()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(eq=False)
class _Connection:
    ws: web.WebSocketResponse
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    #: subscriptionId -> API key
    subscriptions: dict[int, str] = field(default_factory=dict)
    next_id: itertools.count[int] = field(default_factory=itertools.count)


class WsApi:
    """The WebSocket API of one paper exchange (user-data subscriptions only)."""

    def __init__(self, keys: KeyStore, engine: Engine, user_streams: UserStreams) -> None:
        self._keys = keys
        self._engine = engine
        self._connections: set[_Connection] = set()
        user_streams.add_listener(self._on_event)
        self._user_streams = user_streams
        #: Events delivered so far (all connections), for tests and diagnostics.
        self.events_sent = 0

    def connections(self) -> int:
        """How many WebSocket API connections are open."""
        return len(self._connections)

    def subscriptions(self) -> int:
        """How many user-data subscriptions are active (all connections)."""
        return sum(len(c.subscriptions) for c in self._connections)

    # -- events ---------------------------------------------------------------------------------

    def _on_event(self, api_key: str, market: str, event: dict[str, Any]) -> None:
        if market != SPOT:
            return
        for conn in list(self._connections):
            for sid, key in conn.subscriptions.items():
                if key == api_key:
                    conn.queue.put_nowait(json.dumps({"subscriptionId": sid, "event": event}))
                    self.events_sent += 1

    async def drop_connections(self) -> int:
        """Close every WebSocket API connection; returns how many were open."""
        conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(Exception):
                await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"dropped by admin")
        return len(conns)

    # -- requests -------------------------------------------------------------------------------

    def _answer(self, conn: _Connection, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict) or "method" not in request:
            return {"id": None, "status": 400, "error": _MALFORMED.body()}
        ident = request.get("id")
        try:
            result = self._call(conn, str(request["method"]), request.get("params") or {})
        except PaperError as exc:
            return {"id": ident, "status": exc.status, "error": exc.body()}
        return {"id": ident, "status": 200, "result": result,
                "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE",
                                "intervalNum": 1, "limit": 6000, "count": 2}]}

    def _call(self, conn: _Connection, method: str, params: Any) -> Any:
        if not isinstance(params, dict):
            raise _MALFORMED
        if method == "userDataStream.subscribe.signature":
            return {"subscriptionId": self._subscribe(conn, params)}
        if method == "userDataStream.unsubscribe":
            self._unsubscribe(conn, params.get("subscriptionId"))
            return {}
        if method == "session.subscriptions":
            return [{"subscriptionId": sid} for sid in conn.subscriptions]
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": self._engine.now()}
        if method == "session.logon":
            raise _LOGON
        if method == "userDataStream.subscribe":
            raise _NOT_LOGGED_ON
        raise _UNKNOWN_METHOD

    def _subscribe(self, conn: _Connection, params: dict[str, Any]) -> int:
        api_key = params.get("apiKey")
        if not api_key:
            raise mandatory("apiKey")
        secret = self._keys.authenticate(str(api_key))
        signature = params.get("signature")
        if not signature:
            raise mandatory("signature")
        self._keys.verify(secret, signature_payload(params), str(signature))
        check_timestamp({k: _text(v) for k, v in params.items()}, self._engine.skew_ms)
        for sid, key in conn.subscriptions.items():
            if key == api_key:
                return sid
        sid = next(conn.next_id)
        conn.subscriptions[sid] = str(api_key)
        self._user_streams.bind_loop(asyncio.get_running_loop())
        return sid

    def _unsubscribe(self, conn: _Connection, raw: Any) -> None:
        if raw is None:
            ended = list(conn.subscriptions)
        else:
            try:
                sid = int(raw)
            except (TypeError, ValueError):
                raise PaperError(-1130, "Data sent for parameter 'subscriptionId' is not "
                                 "valid.") from None
            if sid not in conn.subscriptions:
                raise PaperError(-2015, "Invalid subscriptionId.")  # UNCONFIRMED message
            ended = [sid]
        for sid in ended:
            del conn.subscriptions[sid]
            terminated = {"e": "eventStreamTerminated", "E": int(time.time() * 1000)}
            conn.queue.put_nowait(json.dumps({"subscriptionId": sid, "event": terminated}))

    # -- the socket -----------------------------------------------------------------------------

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Serve ``GET /ws-api/v3`` until the client or the server closes it."""
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = _Connection(ws)
        self._connections.add(conn)
        writer = asyncio.ensure_future(send_queued(ws, conn.queue))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    payload = json.loads(msg.data)
                except ValueError:
                    payload = None
                conn.queue.put_nowait(json.dumps(self._answer(conn, payload)))
        except (ConnectionError, RuntimeError):
            pass
        finally:
            self._connections.discard(conn)
            conn.queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer  # it closes the socket
        return ws
