"""Binance's user-data stream on the paper exchange: listen keys and the ``/ws/<listenKey>`` socket.

* USD-M ``POST|PUT|DELETE /fapi/v1/listenKey`` (security type USER_STREAM: API key only), from
  :meth:`UserStreams.routes`; the spot ``/api/v3/userDataStream`` paths answer HTTP 410 since
  Binance retired them (spot events go out over the WebSocket API, :mod:`._wsapi`, which
  registers itself with :meth:`UserStreams.add_listener`);
* ``GET /ws/<listenKey>`` or ``/private/ws/<listenKey>`` (Binance's USD-M route since
  2026-03-06) (:meth:`UserStreams.websocket`): a WebSocket that pushes spot
  ``executionReport`` and USD-M ``ORDER_TRADE_UPDATE`` events, in Binance's field names, as
  orders are created, filled, canceled and expire;
* :meth:`UserStreams.drop_connections` closes every user-data WebSocket while the keys stay
  valid (tests use it to simulate a dropped connection; clients reconnect).

The matching engine reports every order state change to :meth:`UserStreams.on_order` with the
order in Binance's REST shape (``GET /api/v3/order`` / ``GET /fapi/v1/order``). The event fields
that REST does not carry (last fill quantity and price) are derived here from the difference to
the previous state of the same order; an order that trades on arrival is reported as NEW, then
TRADE, as Binance does. With the engine's trade log attached (``trades``), a TRADE event carries
the real trade: its id (``t``, the ``myTrades``/``userTrades`` id), commission, maker flag and,
on USD-M, realized PnL.

As on Binance, one account has one listen key per market: ``POST`` returns the active key (and
extends it) if there is one; a key is valid for 60 minutes after its last keep-alive; on a spot
cancel the event's ``c`` is the cancel request's id and ``C`` the canceled order's client id.

Example::

    streams = UserStreams()
    state.routes.update(streams.routes())
    engine.subscribe(streams.on_order)
    # and GET /ws/<listenKey> -> await streams.websocket(request)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import WSCloseCode, web

from ._app import Route
from ._errors import PaperError, mandatory
from ._tradelog import Trade, TradeLog

__all__ = [
    "RETIRED", "EventListener", "UserStreams", "execution_report", "order_trade_update",
    "send_queued",
]

#: How long a listen key lives after its creation or last keep-alive (Binance: 60 minutes).
LISTEN_KEY_VALIDITY = 3600.0
_SPOT = "spot"
_USDM = "usdm"
_PATHS = {_SPOT: "/api/v3/userDataStream", _USDM: "/fapi/v1/listenKey"}
_NO_KEY = PaperError(-1125, "This listenKey does not exist.")
_KEY_FORMAT = PaperError(-2014, "API-key format invalid.", 401)
_ZERO = Decimal(0)
#: The spot REST listen-key endpoints answer this since Binance retired them on 2026-02-20
#: (spot CHANGELOG 2026-01-21). HTTP 410 is what clients observed on the testnet after its
#: removal on 2026-02-04; the body is UNCONFIRMED.
RETIRED = PaperError(
    -1000, "This endpoint has been retired; subscribe to the User Data Stream through the "
    "WebSocket API (userDataStream.subscribe.signature).", 410)

#: ``listener(api_key, market, event)``: another consumer of the user-data events.
EventListener = Callable[[str, str, dict[str, Any]], None]


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else _ZERO
    except InvalidOperation:
        return _ZERO


def _num(value: Decimal) -> str:
    """A decimal as Binance prints it in events (plain notation, no exponent)."""
    return format(value.normalize(), "f") if value else "0"


def _ms() -> int:
    return int(time.time() * 1000)


@dataclass
class _Fill:
    """What the stream last told about one order (to derive ``l``/``L``/``Y``)."""

    executed: Decimal = _ZERO
    quote: Decimal = _ZERO
    status: str = ""
    trades: int = 0  # the order's trades already reported


@dataclass
class _Key:
    listen_key: str
    api_key: str
    market: str
    expires: float
    sockets: set[web.WebSocketResponse] = field(default_factory=set)
    queues: set[asyncio.Queue[str | None]] = field(default_factory=set)


def _execution_type(status: str, previous: _Fill | None, executed: Decimal) -> str:
    """Binance's ``x`` (what happened now) from the new status and the previous state."""
    if previous is not None and executed > previous.executed:
        return "TRADE"
    if status in ("CANCELED", "EXPIRED", "REJECTED"):
        return status
    if status in ("PARTIALLY_FILLED", "FILLED"):
        return "TRADE"
    return "NEW"


def _last_fill(order: Mapping[str, Any], previous: _Fill | None, quote_key: str) -> tuple[
    Decimal, Decimal, Decimal, Decimal, Decimal
]:
    """(executed, cumulative quote, last qty, last price, last quote) for ``order``."""
    executed = _dec(order.get("executedQty"))
    quote = _dec(order.get(quote_key))
    if not quote and executed and order.get("avgPrice"):
        quote = executed * _dec(order.get("avgPrice"))
    before = previous or _Fill()
    last_qty = max(executed - before.executed, _ZERO)
    last_quote = max(quote - before.quote, _ZERO)
    last_price = (last_quote / last_qty) if last_qty else _ZERO
    return executed, quote, last_qty, last_price, last_quote


def execution_report(
    order: Mapping[str, Any], previous: _Fill | None = None, *, trade_id: int = -1
) -> dict[str, Any]:
    """The spot ``executionReport`` event for ``order`` (Binance REST order shape)."""
    status = str(order.get("status", "NEW"))
    executed, quote, last_qty, last_price, last_quote = _last_fill(
        order, previous, "cummulativeQuoteQty"
    )
    x = _execution_type(status, previous, executed)
    now = _ms()
    client_id = str(order.get("clientOrderId", ""))
    cancel = x == "CANCELED"
    created = int(order.get("time") or order.get("workingTime") or now)
    return {
        "e": "executionReport",
        "E": now,
        "s": order.get("symbol"),
        # On a cancel Binance reports the cancel request's id in ``c`` and the order's in ``C``.
        "c": ("web_" + secrets.token_hex(11)) if cancel else client_id,
        "S": order.get("side"),
        "o": order.get("type"),
        "f": order.get("timeInForce", "GTC"),
        "q": _num(_dec(order.get("origQty"))),
        "p": _num(_dec(order.get("price"))),
        "P": _num(_dec(order.get("stopPrice"))),
        "F": _num(_dec(order.get("icebergQty"))),
        "g": int(order.get("orderListId", -1)),
        "C": client_id if cancel else "",
        "x": x,
        "X": status,
        "r": "NONE",
        "i": int(order.get("orderId", 0)),
        "l": _num(last_qty),
        "z": _num(executed),
        "L": _num(last_price),
        "n": "0",
        "N": None,
        "T": int(order.get("updateTime") or now),
        "t": trade_id if x == "TRADE" else -1,
        "I": 0,
        "w": status in ("NEW", "PARTIALLY_FILLED"),
        "m": False,
        "M": False,
        "O": created,
        "Z": _num(quote),
        "Y": _num(last_quote),
        "Q": _num(_dec(order.get("origQuoteOrderQty"))),
        "W": int(order.get("workingTime") or created),
        "V": order.get("selfTradePreventionMode", "EXPIRE_MAKER"),
        **({"eR": order["expiryReason"]} if order.get("expiryReason") else {}),
    }


def order_trade_update(
    order: Mapping[str, Any], previous: _Fill | None = None, *, trade_id: int = 0
) -> dict[str, Any]:
    """The USD-M ``ORDER_TRADE_UPDATE`` event for ``order`` (Binance REST order shape)."""
    status = str(order.get("status", "NEW"))
    executed, quote, last_qty, last_price, _ = _last_fill(order, previous, "cumQuote")
    x = _execution_type(status, previous, executed)
    now = _ms()
    avg = (quote / executed) if executed else _ZERO
    updated = int(order.get("updateTime") or now)
    return {
        "e": "ORDER_TRADE_UPDATE",
        "E": now,
        "T": updated,
        "o": {
            "s": order.get("symbol"),
            "c": order.get("clientOrderId"),
            "S": order.get("side"),
            "o": order.get("type"),
            "f": order.get("timeInForce", "GTC"),
            "q": _num(_dec(order.get("origQty"))),
            "p": _num(_dec(order.get("price"))),
            "ap": _num(_dec(order.get("avgPrice")) or avg),
            "sp": _num(_dec(order.get("stopPrice"))),
            "x": x,
            "X": status,
            "i": int(order.get("orderId", 0)),
            "l": _num(last_qty),
            "z": _num(executed),
            "L": _num(last_price),
            "N": "USDT",
            "n": "0",
            "T": updated,
            "t": trade_id if x == "TRADE" else 0,
            "b": "0",
            "a": "0",
            "m": False,
            "R": bool(order.get("reduceOnly", False)),
            "wt": order.get("workingType", "CONTRACT_PRICE"),
            "ot": order.get("origType", order.get("type")),
            "ps": order.get("positionSide", "BOTH"),
            "cp": bool(order.get("closePosition", False)),
            "rp": "0",
            "pP": bool(order.get("priceProtect", False)),
            "si": 0,
            "ss": 0,
            "V": order.get("selfTradePreventionMode", "EXPIRE_MAKER"),
            "pm": order.get("priceMatch", "NONE"),
            "gtd": int(order.get("goodTillDate", 0) or 0),
        },
    }


def _with_trades(event: dict[str, Any], trades: Sequence[Trade], market: str) -> None:
    """Put the engine's trades behind a TRADE event into it (id, price, qty, fees, maker)."""
    body = event["o"] if market == _USDM else event
    if body.get("x") != "TRADE" or not trades:
        return
    last = trades[-1]
    body["t"] = last.id
    body["L"] = _num(last.price)
    body["l"] = _num(sum((t.qty for t in trades), _ZERO))
    body["n"] = _num(sum((t.commission for t in trades), _ZERO))
    body["N"] = last.commission_asset
    body["m"] = last.maker
    if market == _USDM:
        body["rp"] = _num(sum((t.realized_pnl for t in trades), _ZERO))
    else:
        body["Y"] = _num(sum((t.quote_qty for t in trades), _ZERO))


class UserStreams:
    """Listen keys and user-data WebSockets of one paper exchange.

    The server's dispatcher authenticates the API key (security ``KEY``) before the listen-key
    handlers run. ``validity`` is a key's lifetime in seconds after its last keep-alive.
    """

    def __init__(
        self,
        *,
        validity: float = LISTEN_KEY_VALIDITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._validity = validity
        self._clock = clock
        self._keys: dict[str, _Key] = {}
        self._by_account: dict[tuple[str, str], str] = {}
        self._fills: dict[tuple[str, str, str], _Fill] = {}
        self._trade_ids = 0
        #: The engine's trade log: TRADE events carry the real trade's id, commission, maker
        #: flag and realized PnL, so they match ``myTrades``/``userTrades`` (set by the exchange).
        self.trades: TradeLog | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[EventListener] = []
        #: Events pushed so far (all sockets), for tests and diagnostics.
        self.events_sent = 0

    def add_listener(self, listener: EventListener) -> None:
        """Also hand every event to ``listener(api_key, market, event)`` (the WebSocket API)."""
        self._listeners.append(listener)

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The server's loop: events raised on other threads are pushed from it."""
        self._loop = loop

    # -- listen keys ----------------------------------------------------------------------------

    def create(self, api_key: str, market: str) -> str:
        """The account's active listen key for ``market`` (extended), or a new one."""
        current = self._by_account.get((api_key, market))
        if current is not None and self._live(current):
            self._keys[current].expires = self._clock() + self._validity
            return current
        listen_key = secrets.token_hex(32)
        self._keys[listen_key] = _Key(listen_key, api_key, market, self._clock() + self._validity)
        self._by_account[(api_key, market)] = listen_key
        return listen_key

    def keepalive(self, api_key: str, market: str, listen_key: str | None = None) -> None:
        """Extend the key's validity by 60 minutes (``-1125`` if there is no such live key)."""
        key = self._owned(api_key, market, listen_key)
        key.expires = self._clock() + self._validity

    def close(self, api_key: str, market: str, listen_key: str | None = None) -> None:
        """Invalidate the key and close its sockets."""
        key = self._owned(api_key, market, listen_key)
        self._forget(key)

    def listen_keys(self) -> list[str]:
        """The live listen keys (for tests)."""
        return [k for k in self._keys if self._live(k)]

    def connections(self) -> int:
        """How many user-data WebSockets are open."""
        return sum(len(k.sockets) for k in self._keys.values())

    def _live(self, listen_key: str) -> bool:
        key = self._keys.get(listen_key)
        if key is None:
            return False
        if key.expires < self._clock():
            self._expire(key)
            return False
        return True

    def _owned(self, api_key: str, market: str, listen_key: str | None) -> _Key:
        if listen_key is None:  # USD-M's PUT/DELETE take no listenKey: the account's key
            listen_key = self._by_account.get((api_key, market))
        if listen_key is None or not self._live(listen_key):
            raise _NO_KEY
        key = self._keys[listen_key]
        if key.api_key != api_key or key.market != market:
            raise _NO_KEY
        return key

    def _forget(self, key: _Key) -> None:
        self._keys.pop(key.listen_key, None)
        if self._by_account.get((key.api_key, key.market)) == key.listen_key:
            del self._by_account[(key.api_key, key.market)]
        for queue in key.queues:
            queue.put_nowait(None)  # the socket's writer closes it

    def _expire(self, key: _Key) -> None:
        payload = {"e": "listenKeyExpired", "E": _ms(), "listenKey": key.listen_key}
        self._push(key, json.dumps(payload))
        self._forget(key)

    # -- events ---------------------------------------------------------------------------------

    def on_order(self, api_key: str, market: str, order: Mapping[str, Any]) -> None:
        """The engine's hook: push the event for this order state to the account's sockets.

        Safe to call from any thread; the push itself happens on the server's loop.
        """
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is not loop:
                loop.call_soon_threadsafe(self._on_order, api_key, market, dict(order))
                return
        self._on_order(api_key, market, order)

    def push_event(self, api_key: str, market: str, event: dict[str, Any]) -> None:
        """Deliver a ready event (e.g. ``ALGO_UPDATE``) like an order event; any thread."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is not loop:
                loop.call_soon_threadsafe(self._deliver, api_key, market, event)
                return
        self._deliver(api_key, market, event)

    def _deliver(self, api_key: str, market: str, event: dict[str, Any]) -> None:
        for listener in list(self._listeners):
            listener(api_key, market, event)
        listen_key = self._by_account.get((api_key, market))
        if listen_key is not None and self._live(listen_key):
            self._push(self._keys[listen_key], json.dumps(event))

    def _on_order(self, api_key: str, market: str, order: Mapping[str, Any]) -> None:
        ident = (market, str(order.get("symbol")), str(order.get("orderId")))
        previous = self._fills.get(ident)
        if previous is not None and previous.status == order.get("status") and _dec(
            order.get("executedQty")
        ) == previous.executed:
            return  # nothing new for the stream (e.g. an amend of a field we do not show)
        if previous is None and _dec(order.get("executedQty")):
            # Binance reports an order that trades on arrival as NEW, then TRADE.
            self._on_order(
                api_key, market, {**order, "status": "NEW", "executedQty": "0",
                                  "cummulativeQuoteQty": "0", "cumQuote": "0", "avgPrice": "0"}
            )
            previous = self._fills.get(ident)
        self._trade_ids += 1
        if market == _USDM:
            event = order_trade_update(order, previous, trade_id=self._trade_ids)
            quote = _dec(order.get("cumQuote")) or _dec(event["o"]["z"]) * _dec(event["o"]["ap"])
        else:
            event = execution_report(order, previous, trade_id=self._trade_ids)
            quote = _dec(event["Z"])
        reported = previous.trades if previous is not None else 0
        if self.trades is not None and _dec(order.get("executedQty")):
            trades = self.trades.of_order(market, int(order.get("orderId", 0)))
            _with_trades(event, trades[reported:], market)
            reported = len(trades)
        status = str(order.get("status", ""))
        if status in ("NEW", "PARTIALLY_FILLED"):
            self._fills[ident] = _Fill(_dec(order.get("executedQty")), quote, status, reported)
        else:
            self._fills.pop(ident, None)
        self._deliver(api_key, market, event)

    def _push(self, key: _Key, text: str) -> None:
        for queue in key.queues:
            queue.put_nowait(text)
            self.events_sent += 1

    async def drop_connections(self) -> int:
        """Close every user-data WebSocket (the keys stay valid); returns how many were open."""
        sockets = [ws for key in self._keys.values() for ws in key.sockets]
        for ws in sockets:
            with contextlib.suppress(Exception):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"dropped by admin")
        return len(sockets)

    async def shutdown(self) -> None:
        """Close every socket and forget every key (the server is stopping)."""
        await self.drop_connections()
        for key in list(self._keys.values()):
            self._forget(key)

    # -- HTTP ----------------------------------------------------------------------------------

    def routes(self) -> dict[str, dict[str, Route]]:
        """``{path: {method: Route}}`` of the listen-key endpoints (USD-M: API key only).

        The spot paths answer :data:`RETIRED` (HTTP 410) to every call.
        """

        def handler(market: str, method: str) -> Callable[[Any, dict[str, str], str], Any]:
            def handle(state: Any, params: dict[str, str], api_key: str) -> Any:
                return self._listen_key_call(market, method, params, api_key)

            return handle

        def retired(state: Any, params: dict[str, str], api_key: str) -> Any:
            raise RETIRED

        return {
            path: {
                method: Route(market, handler(market, method), 1, security="KEY")
                if market == _USDM else Route(market, retired, 1)
                for method in ("POST", "PUT", "DELETE")
            }
            for market, path in _PATHS.items()
        }

    def _listen_key_call(
        self, market: str, method: str, params: dict[str, str], api_key: str
    ) -> dict[str, Any]:
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()
        if not api_key:
            raise _KEY_FORMAT
        if method == "POST":
            return {"listenKey": self.create(api_key, market)}
        listen_key = params.get("listenKey") or None
        if market == _SPOT and not listen_key:
            raise mandatory("listenKey")
        if method == "PUT":
            self.keepalive(api_key, market, listen_key)
            if market == _USDM:
                return {"listenKey": self._by_account[(api_key, market)]}
        else:
            self.close(api_key, market, listen_key)
        return {}

    async def websocket(self, request: web.BaseRequest) -> web.StreamResponse:
        """Serve ``GET /ws/<listenKey>``: push this account's order events until it closes."""
        self._loop = asyncio.get_running_loop()
        listen_key = request.path.partition("/ws/")[2].strip("/")  # /ws/<k>, /private/ws/<k>
        if not self._live(listen_key):
            body = json.dumps(_NO_KEY.body()).encode()
            return web.Response(body=body, status=400, content_type="application/json")
        key = self._keys[listen_key]
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        key.sockets.add(ws)
        key.queues.add(queue)
        writer = asyncio.ensure_future(send_queued(ws, queue))
        try:
            async for _ in ws:  # what the client sends is ignored (aiohttp answers pings)
                pass
        except (ConnectionError, RuntimeError):
            pass
        finally:
            key.sockets.discard(ws)
            key.queues.discard(queue)
            queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer  # it closes the socket
        return ws


async def send_queued(ws: web.WebSocketResponse, queue: asyncio.Queue[str | None]) -> None:
    """Send what is queued for ``ws``, in order (one task per socket: a message costs a queue
    hand-over, not a new wait); ``None`` (the key or the connection is gone) or a failed send
    closes the socket, which also ends its handler's reading loop."""
    try:
        while (text := await queue.get()) is not None and not ws.closed:
            await ws.send_str(text)
    except (ConnectionError, RuntimeError):
        pass
    finally:
        if not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()
