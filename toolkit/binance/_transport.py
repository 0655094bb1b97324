"""THE request function: every HTTP request toolkit sends goes through :meth:`Transport.request`.

One :class:`Transport` per connected exchange owns one aiohttp ``ClientSession``, created lazily on
the running loop at first use and reused for the life of the transport. ``request`` does, in order:
rate-limit budget (:mod:`toolkit.binance._ratelimit`), server-time sync, signing
(:mod:`toolkit.binance._signing`), the send, and the translation of aiohttp and exchange errors
into :mod:`toolkit.core._exceptions` (this is the one seam for HTTP). Retries happen only where
they are safe:

* reads (``kind="read"``) on connection errors, timeouts and 5xx, with exponential backoff;
* any request refused with 429 (the exchange did not execute it), after the shared pause;
* any signed request refused with -1021 (timestamp outside recvWindow), once, after a time resync.

An order or cancel whose outcome is unknown (timeout, 5xx, dropped connection, a 2xx answer that is
not JSON) is **never** resent: the error is raised and the caller resolves it by client order id.
:class:`NotSentError` marks the cases where the request provably never left the machine (the
connection could not be opened, or the ``deadline`` passed before it could be sent:
:class:`SendWindowClosed`). :func:`order_outcome` is the one rule saying what an exchange answer
(HTTP status, Binance code) means for an order request: refused, unknown, already there, not sent
(it lives with the rest of Binance's rules in :mod:`toolkit.binance._codes`).

Example::

    transport = Transport(TransportConfig(base_url="http://127.0.0.1:8765"),
                          api_key=key, api_secret=secret)
    resp = await transport.request("GET", "/api/v3/account", signed=True, weight=20)
    await transport.close()
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal

import aiohttp
from yarl import URL

from ..core._cutoff import Cutoff, Deadline, as_cutoff
from ..core._exceptions import (
    AuthenticationError,
    ConfigError,
    ExchangeError,
    ExchangeUnavailable,
    LoopMismatchError,
    NotSentError,
    OrderRejected,
    RateLimitError,
    RequestTimeout,
    SendWindowClosed,
    ServerError,
    SessionClosedError,
    TransportError,
)
from ._codes import AUTH_CODES, SEND_WINDOW_CLOSED, TIMESTAMP_CODE, error_parts, order_outcome
from ._headers import API_KEY_HEADER
from ._ratelimit import DEFAULT_RATE_LIMITS, RateLimitConfig, RateLimiter
from ._signing import Signer, encode_params, ws_api_payload

__all__ = ["Kind", "Response", "Transport", "TransportConfig", "TransportStats"]

log = logging.getLogger("toolkit.transport")

#: What a request does: reads may be retried; orders and cancels never blindly.
Kind = Literal["read", "order", "cancel"]
@dataclass(frozen=True)
class TransportConfig:
    """Settings of one :class:`Transport` (a frozen value object; secrets are not part of it)."""

    #: Scheme, host and port, e.g. ``https://api.binance.com`` or ``http://127.0.0.1:8765``.
    base_url: str
    #: Total seconds for one request (connect + send + answer).
    timeout: float = 10.0
    #: Seconds to open a connection; a failure here proves the request was not sent.
    connect_timeout: float = 5.0
    #: ``recvWindow`` in ms sent with signed requests (Binance default 5000, max 60000).
    recv_window: int = 5000
    #: Maximum simultaneous connections of the connector.
    connection_limit: int = 32
    #: Retries of a read after a connection error, timeout or 5xx.
    max_retries: int = 2
    #: Seconds before the first retry of a read; doubles each time.
    backoff: float = 0.25
    #: How often a request refused with 429 is sent again after the pause (any kind).
    rate_limit_retries: int = 2
    #: Sync the server-time offset before the first signed request and every ``time_sync_interval``.
    sync_time: bool = True
    time_sync_interval: float = 600.0
    rate_limits: RateLimitConfig = DEFAULT_RATE_LIMITS
    user_agent: str = "toolkit/0.1"

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"base_url must start with http:// or https://, got {self.base_url!r}"
            )
        if not 0 < self.recv_window <= 60000:
            raise ConfigError("recv_window must be between 1 and 60000 ms")


@dataclass(frozen=True)
class Response:
    """One HTTP answer: status, headers and the parsed JSON (decimals as :class:`Decimal`)."""

    status: int
    headers: Mapping[str, str]
    data: Any


@dataclass
class TransportStats:
    """Counters for tests and benchmarks."""

    sessions_created: int = 0
    #: Requests written (or attempted) on the wire, time syncs included.
    requests: int = 0
    retries: int = 0
    time_syncs: int = 0
    #: Server time minus local time, in ms, from the last sync.
    time_offset_ms: int = 0


#: One decoder for every answer (``json.loads`` with ``parse_float`` builds a new one per call).
_JSON = json.JSONDecoder(parse_float=Decimal)
_FORM = "application/x-www-form-urlencoded"


def _fixed_headers(api_key: str | None) -> dict[tuple[bool, bool], Mapping[str, str]]:
    """Request headers by (with API key, with a form body), built once per transport.

    Read-only: aiohttp copies them into each request, so one mapping serves every request.
    """
    out: dict[tuple[bool, bool], Mapping[str, str]] = {}
    for keyed in (False, True):
        for form in (False, True):
            headers: dict[str, str] = {}
            if keyed and api_key is not None:
                headers[API_KEY_HEADER] = api_key
            if form:
                headers["Content-Type"] = _FORM
            out[keyed, form] = MappingProxyType(headers)
    return out


def _retry_after(headers: Mapping[str, str], default: float) -> float:
    try:
        return max(0.0, float(headers.get("Retry-After", "")))
    except ValueError:
        return default


class Transport:
    """One HTTP client session to one exchange, and the one method every request goes through."""

    def __init__(
        self,
        config: TransportConfig,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
    ) -> None:
        self.config = config
        self.stats = TransportStats()
        self.limiter = RateLimiter(config.rate_limits)
        self._base = config.base_url.rstrip("/")
        self._api_key = api_key or None
        self._signer = Signer(api_secret) if api_secret else None
        self._headers = _fixed_headers(self._api_key)
        self._urls: dict[str, URL] = {}
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sync_lock: asyncio.Lock | None = None
        self._offset_ms = 0
        self._synced_at: float | None = None  # time.monotonic() of the last sync
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("open" if self._session else "unopened")
        key = "***" if self._api_key else None
        return f"Transport(base_url={self._base!r}, api_key={key}, {state})"

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    @property
    def has_credentials(self) -> bool:
        """True when both an API key and a secret were given."""
        return self._api_key is not None and self._signer is not None

    async def __aenter__(self) -> Transport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- lifecycle ---------------------------------------------------------------------------

    async def ws_connect(
        self, url: str, *, heartbeat: float | None = None
    ) -> aiohttp.ClientWebSocketResponse[bool]:
        """Open a WebSocket (the user-data stream) on this transport's one HTTP session.

        Connection failures are translated here, at the same seam as every request's.
        """
        client = self._client()
        try:
            return await client.ws_connect(url, heartbeat=heartbeat)
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            raise ExchangeUnavailable(
                f"WebSocket connection failed: {type(exc).__name__}", method="GET", path="/ws"
            ) from exc

    def _client(self) -> aiohttp.ClientSession:
        if self._closed:
            raise SessionClosedError("this transport was closed; connect() again")
        loop = asyncio.get_running_loop()
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self.config.connection_limit)
            timeout = aiohttp.ClientTimeout(
                total=self.config.timeout, sock_connect=self.config.connect_timeout
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=timeout,
                headers={"User-Agent": self.config.user_agent},
            )
            self._loop = loop
            self._sync_lock = asyncio.Lock()
            self.stats.sessions_created += 1
        elif loop is not self._loop:
            raise LoopMismatchError(
                "this transport's HTTP session lives on another event loop; "
                "use it only from the loop that first used it (toolkit's I/O loop)"
            )
        return self._session

    async def close(self) -> None:
        """Close the HTTP session and its connections; later requests raise SessionClosedError."""
        if self._closed:
            return
        session = self._session
        live = session is not None and not session.closed
        home = self._loop
        if live and asyncio.get_running_loop() is not home:
            if home is not None and not home.is_closed():
                raise LoopMismatchError("close the transport on the loop it lives on")
            live = False  # its loop is gone, and its sockets with it: nothing left to close
        self._closed = True
        self._session = None
        if live and session is not None:
            await session.close()

    def open_connections(self) -> int:
        """Connections the connector holds now (in use + idle keep-alive), for tests/benchmarks."""
        session = self._session
        if session is None or session.closed:
            return 0
        connector = session.connector
        acquired = getattr(connector, "_acquired", ())
        idle = getattr(connector, "_conns", {})
        return len(acquired) + sum(len(conns) for conns in idle.values())

    async def ws_signed(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``params`` signed for a WebSocket API request (``apiKey``, ``timestamp``, ``signature``).

        The timestamp is server-time corrected like a REST request's (syncing first if due); the
        secret stays inside the transport. Raises :class:`ConfigError` without credentials.
        """
        if self._api_key is None or self._signer is None:
            raise ConfigError("this WebSocket API request needs an API key and secret")
        self._client()
        await self._ensure_time("GET", "/api/v3/time")
        out: dict[str, Any] = {**(params or {}), "apiKey": self._api_key,
                               "timestamp": self.timestamp_ms()}
        out["signature"] = self._signer.sign(ws_api_payload(out))
        return out

    # -- time ---------------------------------------------------------------------------------

    def timestamp_ms(self) -> int:
        """The exchange's current time in ms, as far as we know it (local clock + offset)."""
        return int(time.time() * 1000) + self._offset_ms

    @staticmethod
    def _time_path(path: str) -> str:
        return "/fapi/v1/time" if path.startswith("/fapi/") else "/api/v3/time"

    async def sync_time(self, path: str = "/api/v3/time") -> int:
        """Measure the server-time offset (ms) from ``GET`` ``path``; returns the offset."""
        self._client()
        await self.limiter.acquire(1)
        before = time.time() * 1000
        resp = await self._send(self._client(), "GET", path, {}, "read")
        after = time.time() * 1000
        server = resp.data.get("serverTime") if isinstance(resp.data, Mapping) else None
        if server is None:
            raise ExchangeError(None, "time endpoint gave no serverTime", method="GET", path=path)
        self._offset_ms = int(int(server) - (before + after) / 2)
        self._synced_at = time.monotonic()
        self.stats.time_syncs += 1
        self.stats.time_offset_ms = self._offset_ms
        log.debug("server time offset %d ms", self._offset_ms)
        return self._offset_ms

    def _time_fresh(self) -> bool:
        """True when no time sync is due (so a signed request need not await one)."""
        if not self.config.sync_time:
            return True
        synced = self._synced_at
        return synced is not None and time.monotonic() - synced < self.config.time_sync_interval

    async def _ensure_time(self, method: str, path: str, *, force: bool = False) -> None:
        """Sync the offset if due (or ``force``); a failure means the request was not sent."""
        if not (self.config.sync_time or force):
            return
        synced = self._synced_at
        fresh = synced is not None and time.monotonic() - synced < self.config.time_sync_interval
        if fresh and not force:
            return
        assert self._sync_lock is not None
        try:
            async with self._sync_lock:  # one sync for many concurrent first requests
                if force or self._synced_at == synced:
                    await self.sync_time(self._time_path(path))
        except RateLimitError:
            raise  # handled (pause, retry) like any 429
        except (TransportError, ExchangeError) as exc:
            raise NotSentError(
                f"{method} {path} not sent: server time sync failed: {exc}",
                method=method,
                path=path,
            ) from exc

    # -- the request path ---------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        signed: bool = False,
        keyed: bool = False,
        weight: int = 1,
        orders: int = 0,
        kind: Kind = "read",
        deadline: Deadline = None,
    ) -> Response:
        """Send one request and return its parsed answer, or raise a :class:`ToolkitError`.

        ``signed`` adds the API key header, ``recvWindow``, ``timestamp`` and the signature;
        ``keyed`` only the API key header (listen keys). ``weight``/``orders`` are charged to the
        rate-limit budget. ``kind`` decides what may be retried (see the module docstring).
        Parameter values must be ``str``, ``int``, ``bool``, ``Decimal`` or JSON-able lists.

        ``deadline`` (``loop.time()`` seconds, ``None``: no limit): if the rate-limit wait (or a
        time sync) would end at or after it, the request is not sent and
        :class:`SendWindowClosed` is raised. A request already sent is never cut short.
        """
        method = method.upper()
        self._client()  # fail fast when closed or on the wrong loop
        if (signed or keyed) and self._api_key is None:
            raise ConfigError("this request needs an API key")
        if signed and self._signer is None:
            raise ConfigError("signed requests need an API secret")
        attempt = rate_limited = 0
        resynced = False
        cutoff = as_cutoff(deadline)
        while True:
            try:
                if cutoff is not None and cutoff.passed(asyncio.get_running_loop().time()):
                    raise self._window_closed(method, path, cutoff)  # nothing taken or sent
                if not self.limiter.take_now(weight, orders) and not await self.limiter.acquire(
                    weight, orders, deadline=cutoff
                ):
                    raise self._window_closed(method, path, cutoff)
                if signed and not self._time_fresh():
                    await self._ensure_time(method, path)
                if cutoff is not None and cutoff.passed(asyncio.get_running_loop().time()):
                    raise self._window_closed(method, path, cutoff)
                # taken after the waits: the transport may have been closed meanwhile
                session = self._client()
                return await self._send(session, method, path, params or {}, kind, signed, keyed)
            except SendWindowClosed:
                raise
            except RateLimitError as exc:
                if exc.status in (418, 429) and exc.payload is not None:  # from the exchange
                    self.limiter.pause(exc.retry_after, ban=exc.status == 418)
                if (
                    exc.status == 418
                    or exc.payload is None  # raised locally: already past max_retry_after
                    or exc.retry_after > self.config.rate_limits.max_retry_after
                    or rate_limited >= self.config.rate_limit_retries
                ):
                    raise
                rate_limited += 1  # a 429 was not executed: sending again is safe
            except AuthenticationError as exc:
                if exc.code != TIMESTAMP_CODE or not signed or resynced:
                    raise
                resynced = True  # a -1021 request was refused before execution: safe to resend
                await self._ensure_time(method, path, force=True)
            except (ServerError, RequestTimeout, ExchangeUnavailable):
                if kind != "read" or attempt >= self.config.max_retries:
                    raise
                await asyncio.sleep(self.config.backoff * 2**attempt)
                attempt += 1
            self.stats.retries += 1

    def _url(self, path: str) -> URL:
        """The URL of ``path`` without a query, built once per path (every order POST uses it)."""
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = URL(self._base + path, encoded=True)
        return url

    @staticmethod
    def _window_closed(method: str, path: str, cutoff: Cutoff | None = None) -> SendWindowClosed:
        why = SEND_WINDOW_CLOSED if cutoff is None or not cutoff.stopped else (
            f"{cutoff.why} before it was sent"
        )
        return SendWindowClosed(f"{why} ({method} {path})", method=method, path=path)

    async def _send(
        self,
        session: aiohttp.ClientSession,
        method: str,
        path: str,
        params: Mapping[str, Any],
        kind: Kind,
        signed: bool = False,
        keyed: bool = False,
    ) -> Response:
        items = list(params.items())
        if signed:
            items += [("recvWindow", self.config.recv_window), ("timestamp", self.timestamp_ms())]
        payload = encode_params(items).encode()
        if signed:
            assert self._signer is not None
            # signed as the very bytes that go out; encoded once
            payload += b"&signature=" + self._signer.sign(payload).encode()
        body: bytes | None = None
        if method in ("GET", "DELETE") and payload:
            url = URL(f"{self._base}{path}?{payload.decode()}", encoded=True)
            headers = self._headers[signed or keyed, False]
        else:
            url = self._url(path)
            body = payload or None
            headers = self._headers[signed or keyed, body is not None]
        self.stats.requests += 1
        started = time.perf_counter()
        try:
            async with session.request(method, url, data=body, headers=headers) as resp:
                raw = await resp.read()
                status, resp_headers = resp.status, resp.headers
        except (aiohttp.ConnectionTimeoutError, aiohttp.ClientConnectorError) as exc:
            raise NotSentError(
                f"could not connect for {method} {path}: {exc}", method=method, path=path
            ) from exc
        except (asyncio.TimeoutError, TimeoutError) as exc:
            raise RequestTimeout(
                f"no answer to {method} {path} within {self.config.timeout} s",
                method=method,
                path=path,
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise ExchangeUnavailable(
                f"connection failed during {method} {path}: {type(exc).__name__}: {exc}",
                method=method,
                path=path,
            ) from exc
        except RuntimeError as exc:  # aiohttp's "Session is closed": the request was not sent
            if not session.closed:
                raise
            raise SessionClosedError(
                f"{method} {path} not sent: this transport was closed; connect() again"
            ) from exc
        if log.isEnabledFor(logging.DEBUG):
            elapsed = (time.perf_counter() - started) * 1e3
            log.debug("%s %s -> %s (%.1f ms)", method, path, status, elapsed)
        self.limiter.observe(resp_headers)
        text = raw.decode("utf-8", "replace")
        try:
            data: Any = _JSON.decode(text) if text else None
        except ValueError:
            data = None
        if status >= 400:
            raise self._error(status, data, text, resp_headers, method, path, kind)
        if data is None and text:  # a 2xx nobody can read: for an order, the outcome is unknown
            raise self._error(
                status, None, f"answer is not JSON: {text[:200]}", resp_headers, method, path, kind
            )
        return Response(status=status, headers=resp_headers, data=data)

    @staticmethod
    def _error(
        status: int,
        data: Any,
        text: str,
        headers: Mapping[str, str],
        method: str,
        path: str,
        kind: Kind,
    ) -> ExchangeError:
        code, msg = error_parts(data, text)
        msg = msg or f"HTTP {status}"
        ctx: dict[str, Any] = {"status": status, "method": method, "path": path, "payload": data}
        if status in (418, 429):
            ctx["payload"] = data if data is not None else {}
            default = 60.0 if status == 418 else 1.0
            return RateLimitError(code, msg, retry_after=_retry_after(headers, default), **ctx)
        if code in AUTH_CODES or status == 401:
            return AuthenticationError(code, msg, **ctx)
        if order_outcome(status, code, msg) == "unknown":
            return ServerError(code, msg, **ctx)
        if kind in ("order", "cancel"):  # refused, or "exists" (the adapter tells them apart)
            return OrderRejected(code, msg, **ctx)
        return ExchangeError(code, msg, **ctx)
