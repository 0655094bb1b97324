"""The exchange's user-data stream: live order updates for one session, or polling without it.

An :class:`OrderFeed` runs as one task on toolkit's I/O loop and keeps the session's order state
current. How it subscribes depends on the market (Binance retired the spot REST listen keys on
2026-02-20, spot CHANGELOG 2026-01-21; USD-M keeps them):

* **spot**: open the WebSocket API (``wss://ws-api.binance.com:443/ws-api/v3``, or ``/ws-api/v3``
  on any other host) and send a signed ``userDataStream.subscribe.signature`` (``apiKey``,
  ``timestamp``, ``signature`` over the sorted params); events then arrive on that connection as
  ``{"subscriptionId": n, "event": {...}}``. A reconnect subscribes again; an
  ``eventStreamTerminated`` event ends the connection (and so re-subscribes);
* **USD-M**: create a ``listenKey`` (``POST /fapi/v1/listenKey``) through the session's one
  :class:`~toolkit.binance._transport.Transport`, open ``<stream host>/ws/<listenKey>`` (the hosts'
  ``/private`` route on Binance), keep the key alive (``PUT``) every ``keepalive_interval``; a
  ``listenKeyExpired`` event gets a fresh key. Conditional orders report ``ALGO_UPDATE``
  (:data:`ALGO_EVENT_KEYS`): the row keeps its client id, its ``order_id`` becomes the
  triggered order's once it fired.

Either way the feed then **resynchronizes** by a REST refresh of the open orders, applies every
``executionReport`` / ``ORDER_TRADE_UPDATE`` as it arrives, in order, through the session's single
finalize step (``source="stream"``), so the store's event log and every panel see the same
thing, and when the socket drops it reconnects with exponential backoff (with jitter) and
resynchronizes again.

Where there is no stream (no API key, or the exchange has no user-data endpoint) the feed polls
the open orders every ``poll_interval`` seconds instead; while the stream is down it also polls at
that pace, so the state converges either way.

Events become ``Order`` states in :mod:`toolkit.binance._stream_events` (:func:`parse_event`,
re-exported here with its letter tables).

Example::

    feed = OrderFeed(transport, market=Market.SPOT, exchange="paper",
                     apply=lambda orders: ledger.finalize(orders, "stream"),
                     resync=lambda: ops.open_orders_now(None))
    feed.start()          # on the I/O loop
    ...
    await feed.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from yarl import URL

from ..core._exceptions import ConfigError, ExchangeError, ExchangeUnavailable, ToolkitError
from ..core._models import Market, Order
from ._codes import NO_STREAM_CODES
from ._stream_events import ALGO_EVENT_KEYS, SPOT_EVENT_KEYS, USDM_EVENT_KEYS, parse_event
from ._transport import Transport
from ._venues import LISTEN_KEY_PATHS, SUBSCRIBE_METHOD, stream_url, ws_api_url

__all__ = [
    "ALGO_EVENT_KEYS",
    "DEFAULT_STREAM_CONFIG",
    "SPOT_EVENT_KEYS",
    "USDM_EVENT_KEYS",
    "FeedState",
    "OrderFeed",
    "StreamConfig",
    "parse_event",
]

log = logging.getLogger("toolkit.stream")


@dataclass(frozen=True)
class StreamConfig:
    """Settings of an :class:`OrderFeed` (a frozen value object)."""

    #: Seconds between listen-key keep-alives (Binance: keys live 60 min; ping every 30 min).
    keepalive_interval: float = 30 * 60.0
    #: Reconnect backoff: first delay, growth factor and cap, in seconds; +-20 % jitter.
    backoff_initial: float = 0.5
    backoff_factor: float = 2.0
    backoff_max: float = 30.0
    #: WebSocket ping interval; a connection without pong for this long is considered dead.
    heartbeat: float = 20.0
    #: Seconds between open-order refreshes when there is no stream (or it is down).
    poll_interval: float = 5.0
    #: Use the user-data stream at all; False means polling only.
    use_stream: bool = True
    #: Seconds to wait for the answer to a WebSocket API subscription.
    subscribe_timeout: float = 10.0


DEFAULT_STREAM_CONFIG = StreamConfig()


class FeedState(str, enum.Enum):
    """What an :class:`OrderFeed` is doing now (the panel shows it)."""

    STOPPED = "stopped"
    CONNECTING = "connecting"
    LIVE = "live"
    RECONNECTING = "reconnecting"
    POLLING = "polling"


def _segments(orders: list[Order]) -> list[list[Order]]:
    """Split into runs without a repeated client order id (the store keeps one state per run)."""
    runs: list[list[Order]] = [[]]
    seen: set[str] = set()
    for order in orders:
        if order.client_order_id in seen:
            runs.append([])
            seen.clear()
        runs[-1].append(order)
        seen.add(order.client_order_id)
    return [run for run in runs if run]


if TYPE_CHECKING:  # generic only in newer aiohttp releases
    _WebSocket = aiohttp.ClientWebSocketResponse[bool]
else:
    _WebSocket = aiohttp.ClientWebSocketResponse


class _StreamUnavailable(Exception):
    """The exchange has no user-data stream for us: poll instead."""


class OrderFeed:
    """Keeps one session's orders current from the user-data stream, or by polling.

    ``apply`` is the session's finalize step for stream events; ``resync`` refreshes the open
    orders over REST (and finalizes them itself). Both are awaited on the I/O loop. Create,
    :meth:`start` and :meth:`stop` it on the I/O loop.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        market: Market,
        exchange: str,
        apply: Callable[[list[Order]], Awaitable[object]],
        resync: Callable[[], Awaitable[object]],
        ws_base: str | None = None,
        ws_api: str | None = None,
        config: StreamConfig = DEFAULT_STREAM_CONFIG,
    ) -> None:
        self.transport = transport
        self.market = market
        self.exchange = exchange
        self.config = config
        self.ws_base = ws_base or stream_url(transport.config.base_url, market)
        #: The spot WebSocket API URL (spot subscribes there; USD-M uses listen keys).
        self.ws_api = ws_api or ws_api_url(transport.config.base_url)
        self._apply = apply
        self._resync = resync
        self._poll_interval = config.poll_interval
        self._task: asyncio.Task[None] | None = None
        self._ws: _WebSocket | None = None
        self._listen_key: str | None = None
        self._wake = asyncio.Event()
        #: What the feed is doing now.
        self.state = FeedState.STOPPED
        #: The last problem (connection lost, refresh failed), readable text; None when healthy.
        self.last_error: str | None = None
        #: Successful WebSocket connections so far (the first one included).
        self.connections = 0
        #: Order events applied from the stream.
        self.events = 0
        #: Completed REST refreshes (after each connect, and each poll).
        self.refreshes = 0
        #: ``time.time()`` of the last event or refresh.
        self.last_update: float | None = None
        #: Spot: the current WebSocket API subscription's id (None when not subscribed).
        self.subscription_id: int | None = None
        self._requests = 0

    def __repr__(self) -> str:
        return f"<OrderFeed {self.exchange}/{self.market.value} {self.state.value}>"

    @property
    def poll_interval(self) -> float:
        """Seconds between refreshes while there is no live stream."""
        return self._poll_interval

    def set_poll_interval(self, seconds: float) -> None:
        """Change the polling pace (takes effect at the next wait)."""
        if seconds <= 0:
            raise ConfigError("poll_interval must be positive")
        self._poll_interval = float(seconds)
        self._wake.set()

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the feed's task on the running (I/O) loop; idempotent."""
        if self.running:
            return
        self.state = FeedState.CONNECTING
        self._task = asyncio.get_running_loop().create_task(self._main())

    async def stop(self) -> None:
        """Stop the task, close the socket and the listen key (best effort); idempotent."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._close_socket()  # a WebSocket API subscription ends with its connection
        self.subscription_id = None
        if self._listen_key is not None and not self.transport.closed:
            with contextlib.suppress(ToolkitError, asyncio.TimeoutError):
                await asyncio.wait_for(self._listen("DELETE", self._listen_key), 2.0)
        self._listen_key = None
        self.state = FeedState.STOPPED

    async def drop(self) -> None:
        """Close the current WebSocket as if the network dropped it (tests; reconnects)."""
        await self._close_socket()

    # -- the task -------------------------------------------------------------------------------

    async def _main(self) -> None:
        if not self.config.use_stream or not self.transport.has_credentials:
            await self._poll_forever()
            return
        delay = self.config.backoff_initial
        while True:
            try:
                await self._session_once()
                delay = self.config.backoff_initial  # it was up: start over
            except _StreamUnavailable as exc:
                log.info("no user-data stream (%s); polling every %s s", exc, self._poll_interval)
                self.last_error = None
                await self._poll_forever()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = f"stream: {type(exc).__name__}: {exc}"
                log.info("user-data stream failed: %s", self.last_error)
            self.state = FeedState.RECONNECTING
            await self._backoff_wait(delay)
            delay = min(delay * self.config.backoff_factor, self.config.backoff_max)

    async def _session_once(self) -> None:
        """One connection: subscription (spot) or key (USD-M), resync, events until it ends."""
        self.state = FeedState.CONNECTING if self.connections == 0 else FeedState.RECONNECTING
        loop = asyncio.get_running_loop()
        tasks: list[asyncio.Task[None]] = []
        if self.market is Market.SPOT:
            ws = await self._connect(self.ws_api)
            try:
                await self._subscribe(ws)
            except BaseException:
                await self._close_socket()  # the next attempt opens a new connection
                raise
        else:
            key = await self._create_key()
            ws = await self._connect(f"{self.ws_base}/ws/{key}")
            tasks.append(loop.create_task(self._keepalive(key)))
        self.connections += 1
        queue: asyncio.Queue[Order | None] = asyncio.Queue()
        tasks.append(loop.create_task(self._read(ws, queue)))
        try:
            await self._refresh()  # events that arrive meanwhile wait in the queue, in order
            self.state = FeedState.LIVE
            self.last_error = None
            await self._apply_from(queue)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self._close_socket()
        if ws.close_code not in (None, aiohttp.WSCloseCode.OK):
            self.last_error = f"stream: connection closed ({ws.close_code})"
        else:
            self.last_error = "stream: connection closed"

    async def _read(self, ws: _WebSocket, queue: asyncio.Queue[Order | None]) -> None:
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    payload = json.loads(msg.data)
                except ValueError:
                    continue
                if not isinstance(payload, Mapping):
                    continue
                if isinstance(payload.get("data"), Mapping):  # combined stream /stream?streams=
                    payload = payload["data"]
                if isinstance(payload.get("event"), Mapping):  # WebSocket API subscription
                    payload = payload["event"]
                if payload.get("e") == "listenKeyExpired":
                    self._listen_key = None
                    break
                if payload.get("e") == "eventStreamTerminated":  # subscription ended: renew
                    self.subscription_id = None
                    break
                order = parse_event(payload, market=self.market, exchange=self.exchange)
                if order is not None:
                    queue.put_nowait(order)
        finally:
            queue.put_nowait(None)

    async def _apply_from(self, queue: asyncio.Queue[Order | None]) -> None:
        while True:
            first = await queue.get()
            if first is None:
                return
            orders = [first]
            end = False
            while not queue.empty():  # what arrived meanwhile goes in one finalize step
                nxt = queue.get_nowait()
                if nxt is None:
                    end = True
                    break
                orders.append(nxt)
            for run in _segments(orders):
                await self._apply(run)
            self.events += len(orders)
            self.last_update = time.time()
            if end:
                return

    async def _refresh(self) -> None:
        await self._resync()
        self.refreshes += 1
        self.last_update = time.time()

    async def _poll_forever(self) -> None:
        self.state = FeedState.POLLING
        while True:
            try:
                await self._refresh()
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = f"refresh: {type(exc).__name__}: {exc}"
                log.info("open-order refresh failed: %s", self.last_error)
            await self._sleep(self._poll_interval)

    async def _backoff_wait(self, delay: float) -> None:
        """Wait before reconnecting; refresh meanwhile if the outage outlasts the poll pace."""
        delay *= random.uniform(0.8, 1.2)
        deadline = time.monotonic() + delay
        last = self.last_update or 0.0
        if time.time() - last >= self._poll_interval:
            with contextlib.suppress(ToolkitError):
                await self._refresh()
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _keepalive(self, key: str) -> None:
        while True:
            await asyncio.sleep(self.config.keepalive_interval)
            try:
                await self._listen("PUT", key)
            except ToolkitError as exc:
                self.last_error = f"keep-alive: {exc}"
                log.info("listen key keep-alive failed: %s", exc)
                await self._close_socket()  # reconnect with a new key
                return

    # -- connections ----------------------------------------------------------------------------

    async def _connect(self, url: str) -> _WebSocket:
        """Open ``url`` on the transport's one aiohttp session (no second client), on this loop."""
        try:
            self._ws = ws = await self.transport.ws_connect(url, heartbeat=self.config.heartbeat)
        except ExchangeUnavailable as exc:
            cause = exc.__cause__
            if isinstance(cause, aiohttp.WSServerHandshakeError) and cause.status in (
                404, 405, 410, 501
            ):
                raise _StreamUnavailable(f"HTTP {cause.status} on {URL(url).path}") from exc
            raise
        return ws

    async def _subscribe(self, ws: _WebSocket) -> None:
        """Send the signed ``userDataStream.subscribe.signature`` and wait for its answer."""
        try:
            params = await self.transport.ws_signed()
        except ConfigError as exc:
            raise _StreamUnavailable(str(exc)) from exc
        self._requests += 1
        ident = f"toolkit-subscribe-{self._requests}"
        await ws.send_str(json.dumps({"id": ident, "method": SUBSCRIBE_METHOD, "params": params}))
        answer = await asyncio.wait_for(self._answer(ws, ident), self.config.subscribe_timeout)
        if answer.get("status") != 200:
            error = answer.get("error")
            if not isinstance(error, Mapping):
                error = {}
            code, msg = error.get("code"), str(error.get("msg", "subscription refused"))
            refused = ExchangeError(code, msg, status=int(answer.get("status") or 0),
                                    method="WS", path=SUBSCRIBE_METHOD)
            if code in NO_STREAM_CODES or answer.get("status") in (401, 403):
                raise _StreamUnavailable(f"{SUBSCRIBE_METHOD} refused: {code} {msg}") from refused
            raise refused
        result = answer.get("result")
        self.subscription_id = (
            int(result["subscriptionId"]) if isinstance(result, Mapping)
            and "subscriptionId" in result else None
        )

    @staticmethod
    async def _answer(ws: _WebSocket, ident: str) -> Mapping[str, Any]:
        """The answer to request ``ident`` (anything else before it is skipped)."""
        while True:
            msg = await ws.receive()
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                            aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                raise ConnectionError("the WebSocket API closed before answering")
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            with contextlib.suppress(ValueError):
                payload = json.loads(msg.data)
                if isinstance(payload, Mapping) and payload.get("id") == ident:
                    return payload

    # -- listen keys ----------------------------------------------------------------------------

    async def _create_key(self) -> str:
        try:
            resp = await self._listen("POST", None)
        except ConfigError as exc:
            raise _StreamUnavailable(str(exc)) from exc
        except ExchangeError as exc:
            if exc.status in (404, 405, 410, 501):
                raise _StreamUnavailable(f"HTTP {exc.status} on {exc.path}") from exc
            raise
        key = resp.get("listenKey") if isinstance(resp, Mapping) else None
        if not key:
            raise _StreamUnavailable("the exchange returned no listenKey")
        self._listen_key = str(key)
        return self._listen_key

    async def _listen(self, method: str, key: str | None) -> Any:
        params = {"listenKey": key} if key is not None else None
        resp = await self.transport.request(
            method, LISTEN_KEY_PATHS[self.market], params, keyed=True, weight=1
        )
        return resp.data

    async def _close_socket(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None and not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()
