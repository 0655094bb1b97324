"""``PaperExchange``: the embedded Binance-protocol exchange (a real aiohttp server).

Lifecycle is explicit: created -> ``await start()`` (binds, starts the price ticker) ->
``await stop()``. It lives on the loop that started it; stopping is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from ._admin import handle_admin
from ._algo import AlgoOrders
from ._app import BODY_TIMEOUT, ServerState, dispatch
from ._auth import KeyStore
from ._engine import Engine, OrderCallback
from ._faults import NO_FAULTS, FaultConfig, FaultInjector
from ._futures import futures_routes
from ._futures_extra import futures_extra_routes
from ._futures_v3 import futures_v3_routes
from ._history import MarketHistory, minute_sigma
from ._limits import DEFAULT_RATE_LIMITS, RateLimiter, RateLimits
from ._market import BASE_BALANCES, MARKETS, SPOT, PriceFeed, default_specs
from ._marketdata import market_data_routes
from ._spot import spot_routes
from ._tradelog import Trade
from ._trades import trade_routes
from ._userstream import UserStreams
from ._wsapi import WS_API_PATH, WsApi

__all__ = ["PaperExchange"]

Number = Decimal | int | float | str


def _dec(value: Number) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


class PaperExchange:
    """A local exchange speaking Binance REST (spot ``/api/v3``, USD-M ``/fapi``) on 127.0.0.1.

    Example (in a notebook cell)::

        ex = PaperExchange(price_mode="fixed")
        await ex.start()
        key, secret = ex.create_key()
        ex.set_price("BTCUSDT", 90000)
        ...   # point any Binance client at ex.url
        await ex.stop()

    Args:
        host, port: where to listen (``port=0``: an ephemeral port; see ``url`` after start).
        seed: seeds the price walk (fault draws have their own seed in :class:`FaultConfig`).
        rate_limits: ``True`` (Binance's limits), ``False`` (meter, never refuse) or a
            :class:`RateLimits`.
        price_mode: ``"walk"`` (seeded random walk every ``tick_interval`` s) or ``"fixed"``.
        tls: serve HTTPS with a fresh self-signed certificate (``True``) or a given context.
        spot_usdt, futures_usdt: starting USDT of every new key (spot also gets some of each
            base asset).
        fee_rate: commission per fill (0 by default so balance arithmetic stays exact).
        volatility: standard deviation of one walk step (relative).
        faults: initial fault configuration.
        clock: the exchange's clock (seconds since the epoch, like ``time.time``); inject a
            fixed one to make history, candles and trade times reproducible.
        body_timeout: seconds a request's body may take to arrive; a client trickling it gets
            408 ``-1000`` and its connection closed (a slow client cannot hold the server).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        rate_limits: bool | RateLimits = True,
        price_mode: str = "walk",
        tick_interval: float = 0.25,
        tls: bool | ssl.SSLContext = False,
        spot_usdt: Number = 100_000,
        futures_usdt: Number = 100_000,
        fee_rate: Number = 0,
        volatility: float = 0.0005,
        faults: FaultConfig = NO_FAULTS,
        clock: Callable[[], float] = time.time,
        body_timeout: float = BODY_TIMEOUT,
    ) -> None:
        if price_mode not in ("walk", "fixed"):
            raise ValueError("price_mode must be 'walk' or 'fixed'")
        if tick_interval <= 0:
            raise ValueError("tick_interval must be > 0")
        if body_timeout <= 0:
            raise ValueError("body_timeout must be > 0")
        self.host = host
        self.port = port
        self.price_mode = price_mode
        self.tick_interval = tick_interval
        self.tls = tls
        specs = default_specs()
        self.feed = PriceFeed(specs, seed=seed, volatility=volatility)
        spot = {asset: Decimal(v) for asset, v in BASE_BALANCES.items()}
        spot["USDT"] = _dec(spot_usdt)
        self.engine = Engine(specs, self.feed, spot_balances=spot,
                             futures_balances={"USDT": _dec(futures_usdt)},
                             fee_rate=_dec(fee_rate), clock=clock)
        #: Candles before and after the start, depth, tickers (see ``_history``).
        self.history = MarketHistory(
            specs, seed=seed, minute_sigma=minute_sigma(volatility, tick_interval),
            clock_ms=self.engine.now)
        self.engine.price_listeners.append(self.history.on_price)
        self.engine.trade_listeners.append(self._on_trade)
        self.keys = KeyStore()
        limits = rate_limits if isinstance(rate_limits, RateLimits) else DEFAULT_RATE_LIMITS
        self.limiter = RateLimiter(limits, enabled=rate_limits is not False)
        self.faults = FaultInjector(faults)
        self.engine.skew_ms = faults.clock_skew_ms
        #: The user-data stream: listen keys and ``/ws/<listenKey>`` (see ``_userstream``).
        self.user_streams = UserStreams()
        self.user_streams.trades = self.engine.trades
        self.engine.subscribe(self.user_streams.on_order)
        #: USD-M conditional orders (the Algo Order API; see ``_algo``).
        self.algos = AlgoOrders(self.engine, notify=self.user_streams.push_event)
        #: The spot WebSocket API (``/ws-api/v3``): user-data subscriptions (see ``_wsapi``).
        self.ws_api = WsApi(self.keys, self.engine, self.user_streams)
        self._state = ServerState(
            engine=self.engine, keys=self.keys, limiter=self.limiter, rate_limits=limits,
            faults=self.faults,
            routes={**spot_routes(), **futures_routes(), **market_data_routes(),
                    **trade_routes(), **self.user_streams.routes(),
                    **futures_extra_routes(), **futures_v3_routes(), **self.algos.routes()},
            admin=self._admin, history=self.history, body_timeout=body_timeout,
        )
        self._runner: web.ServerRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._stopped = False
        self.url = ""

    def _on_trade(self, trade: Trade) -> None:
        taker_buy = (trade.side == "BUY") != trade.maker
        self.history.on_fill(trade.market, trade.symbol, trade.price, trade.qty, taker_buy,
                             trade.time)

    # ----------------------------------------------------------------- lifecycle
    async def _admin(self, request: web.BaseRequest) -> web.Response:
        return await handle_admin(self, request)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.path.startswith(("/ws/", "/private/ws/")):  # USD-M moved to /private
            return await self.user_streams.websocket(request)
        if request.path == WS_API_PATH:
            return await self.ws_api.handle(request)
        return await dispatch(self._state, request)

    async def start(self) -> None:
        """Bind and start serving (call inside the running loop that will serve it)."""
        if self._runner is not None:
            raise RuntimeError("PaperExchange is already started")
        if self._stopped:
            raise RuntimeError("a stopped PaperExchange cannot be restarted; create a new one")
        context = self._ssl_context()
        server = web.Server(self._handle, access_log=None)
        runner = web.ServerRunner(server, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, ssl_context=context)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound = runner.addresses[0]
        self.port = int(bound[1])
        scheme = "https" if context is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"{scheme}://{host}:{self.port}"
        self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())

    async def stop(self) -> None:
        """Stop serving and the ticker (idempotent)."""
        self._stopped = True
        self._state.gate.release()  # held requests must not keep the cleanup waiting
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        await self.user_streams.shutdown()  # open WebSockets would hold the cleanup up
        await self.ws_api.drop_connections()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> PaperExchange:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is listening."""
        return self._runner is not None

    async def _tick_forever(self) -> None:
        walk = self.price_mode == "walk"
        while True:
            await asyncio.sleep(self.tick_interval)
            moved = self.feed.step() if walk else []
            self.engine.on_tick(None if self.engine.liquidity else moved)

    def _ssl_context(self) -> ssl.SSLContext | None:
        if isinstance(self.tls, ssl.SSLContext):
            return self.tls
        if not self.tls:
            return None
        self._tmp = tempfile.TemporaryDirectory(prefix="paper-tls-")
        cert, key = Path(self._tmp.name, "cert.pem"), Path(self._tmp.name, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        return context

    # ----------------------------------------------------------------- keys and state
    def create_key(self) -> tuple[str, str]:
        """Register a new random key pair; it starts with the paper balances."""
        return self.keys.create()

    def add_key(self, api_key: str, api_secret: str) -> None:
        """Register a given key pair (replacing the secret of a known key)."""
        self.keys.add(api_key, api_secret)

    def set_price(self, symbol: str, price: Number, market: str | None = None) -> None:
        """Set the price of ``symbol`` on ``market`` (``None``: both) and fill what crosses."""
        for m in self._markets(market):
            self._check_symbol(m, symbol)
            self.engine.set_price(m, symbol, _dec(price))

    def price(self, symbol: str, market: str = SPOT) -> Decimal:
        """The current price of ``symbol``."""
        self._check_symbol(market, symbol)
        return self.feed.get(market, symbol)

    def set_balance(self, api_key: str, asset: str, amount: Number, market: str = SPOT) -> None:
        """Set a free spot balance, or the USD-M wallet balance (``market="usdm"``)."""
        if market not in MARKETS:
            raise ValueError(f"market must be one of {MARKETS}")
        self.engine.set_balance(api_key, asset, _dec(amount), market)

    def set_liquidity(self, symbol: str, qty: Number | None, market: str | None = None) -> None:
        """Cap the base quantity that fills per price tick (``None``: unlimited)."""
        for m in self._markets(market):
            self._check_symbol(m, symbol)
            self.engine.set_liquidity(m, symbol, None if qty is None else _dec(qty))

    def configure_faults(self, config: FaultConfig) -> None:
        """Replace the fault configuration (reseeds the fault draws)."""
        self.faults.configure(config)
        self.engine.skew_ms = config.clock_skew_ms

    def hold_orders(self, after: int = 0) -> None:
        """Let ``after`` more order requests through (held ones first), then hold the rest
        (read, not processed) until :meth:`release_orders` -- a gate for tests that look at a
        batch while it runs (see ``toolkit.paper._hold``)."""
        self._state.gate.hold(after)

    def release_orders(self) -> None:
        """Process the held order requests and stop holding (also done by :meth:`stop`)."""
        self._state.gate.release()

    def counters(self) -> dict[str, Any]:
        """Requests served, accepted orders per client order id, faults injected, answers."""
        return {
            "requests": self._state.requests,
            "orders": sum(len(v) for v in self.engine.orders.values()),
            "orders_by_client_id": dict(self.engine.accepted_by_client_id),
            "faults": dict(self.faults.counts),
            "responses_by_status": {str(k): v for k, v in sorted(self._state.by_status.items())},
            "gate": self._state.gate.state(),
        }

    def reset_counters(self) -> None:
        """Zero the request/fault counters and forget rate-limit usage (orders stay)."""
        self._state.requests = 0
        self._state.by_status.clear()
        self.faults.counts.clear()
        self.limiter.reset()

    def orders(self, api_key: str | None = None, market: str | None = None) -> list[dict[str, Any]]:
        """Every order the exchange holds (REST query shape plus ``market`` and ``apiKey``)."""
        out = []
        for order in self.engine.all_orders(api_key, market):
            view = order.view("query")
            view["market"] = order.market
            view["apiKey"] = order.api_key
            out.append(view)
        return out

    def trades(self, api_key: str | None = None, market: str | None = None
               ) -> list[dict[str, Any]]:
        """Every fill the exchange made (``myTrades``/``userTrades`` shape plus ``market``,
        ``apiKey`` and ``clientOrderId``), by market and trade id."""
        out = []
        for trade in self.engine.trades.all(api_key, market):
            view = trade.view()
            view.update(market=trade.market, apiKey=trade.api_key,
                        clientOrderId=trade.client_order_id)
            out.append(view)
        return out

    def holdings(self, api_key: str, market: str = SPOT) -> dict[str, Any]:
        """What ``api_key`` holds: spot ``{"balances": {asset: {"free", "locked"}}}``; USD-M
        ``{"wallet": {asset: amount}, "positions": {symbol: {"amount", "entry"}}}`` (open
        positions only). Amounts are decimal strings."""
        acct = self.engine.account(api_key)
        if market == SPOT:
            return {"balances": {a: {"free": str(free), "locked": str(locked)}
                                 for a, (free, locked) in sorted(acct.spot.items())}}
        return {
            "wallet": {a: str(v) for a, v in sorted(acct.fut_assets.items())},
            "positions": {s: {"amount": str(amt), "entry": str(entry)}
                          for s, (amt, entry) in sorted(acct.positions.items()) if amt},
        }

    async def drop_user_streams(self) -> int:
        """Close every user-data WebSocket (``/ws/<listenKey>`` and ``/ws-api/v3``) as a network
        drop would; listen keys stay valid, WebSocket API subscriptions end. Returns how many."""
        return await self.user_streams.drop_connections() + await self.ws_api.drop_connections()

    def subscribe(self, callback: OrderCallback) -> Callable[[], None]:
        """Shortcut for ``engine.subscribe``: ``callback(api_key, market, order_json)``."""
        return self.engine.subscribe(callback)

    # ----------------------------------------------------------------- helpers
    @staticmethod
    def _markets(market: str | None) -> tuple[str, ...]:
        if market is None:
            return MARKETS
        if market not in MARKETS:
            raise ValueError(f"market must be one of {MARKETS} or None")
        return (market,)

    def _check_symbol(self, market: str, symbol: str) -> None:
        if symbol not in self.engine.specs[market]:
            raise KeyError(f"unknown symbol {symbol!r} on {market}")

    def __repr__(self) -> str:
        state = "running" if self.running else ("stopped" if self._stopped else "created")
        return f"<PaperExchange {self.url or self.host} {state} keys={len(self.keys)}>"
