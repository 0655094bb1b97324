"""The kernel-scoped :class:`Session`: one exchange connection, its store and its order state.

A session owns exactly one :class:`~toolkit.binance._transport.Transport` (one aiohttp
``ClientSession``) for its whole life, created on toolkit's I/O loop
(:mod:`toolkit.runtime._runner`), so it works the same from a notebook cell, papermill,
``asyncio.run`` or ``tk.run`` in many threads. Its lifecycle is unopened -> open -> closed; a closed
session raises :class:`~toolkit.SessionClosedError`.

The session is a thin facade: on open it builds its parts and hands each what it uses -- the
:class:`~toolkit.session._ledger.Ledger` (the one finalize step: persist -> open-order state ->
publish), the adapter (built by an adapter factory, by default
:class:`~toolkit.binance.adapter.BinanceAdapter`), the market cache, the order operations
(:mod:`toolkit.session._orderops`), the batch procedure's :class:`~toolkit.session._batch.Desk` and
the order feed (:mod:`toolkit.binance._stream`). None of them knows the session.

Example::

    import toolkit as tk
    session = await tk.connect()                    # the embedded paper exchange, spot
    frame = await session.batch([{"symbol": "BTCUSDT", "side": "buy", "qty": 0.001}])
    await session.close()
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from ..binance._ratelimit import RateLimitConfig
from ..binance._stream import OrderFeed
from ..binance._transport import Transport, TransportConfig
from ..binance.adapter import BinanceAdapter
from ..core._adapter import ExchangeAdapter
from ..core._cutoff import stop_all
from ..core._exceptions import (
    ConfigError,
    InputError,
    SessionClosedError,
    ToolkitError,
    UsageError,
)
from ..core._guards import Limits
from ..core._input import exchange_symbol
from ..core._models import Market, Order
from ..core._rules import SymbolRules
from ..runtime import _runner
from ..runtime._embedded import embedded_paper
from ..runtime._events import Callback, Publisher, Subscription
from ..runtime._progress import ProgressOption, caller_bar
from ..store._costs import CostReport, compute, read_inputs
from ..store._positions import snapshot
from ..store._research import (
    checked_interval,
    default_start,
    load_candles,
    read_fills,
    sync_fills,
    to_millis,
)
from ..store._store import Halt, Store, retention_from_days
from ._batch import BatchOptions, Desk, read_input, run_batch
from ._config import SessionConfig
from ._ledger import Ledger, blocking
from ._market_cache import MarketCache
from ._orderops import OrderOps, ids_of

__all__ = ["AdapterFactory", "Session", "binance_adapter"]

_log = logging.getLogger("toolkit")
_T = TypeVar("_T")
_UNOPENED, _OPEN, _CLOSED = "unopened", "open", "closed"
#: Seconds ``close()`` may take in total: under the runner's per-closer budget at exit
#: (``_runner.CLOSE_TIMEOUT``), with room for the transport and the store.
_CLOSE_BUDGET = min(8.0, _runner.CLOSE_TIMEOUT - 2.0)
#: Seconds of the budget kept for stopping the feed and closing the transport and the store.
_CLOSE_RESERVE = 3.0
#: Seconds after the last batch with fills before the background fill sync.
FILLS_DELAY = 2.0

#: Builds a session's adapter from its transport and settings (``Session(adapter=...)``).
AdapterFactory = Callable[[Transport, SessionConfig], ExchangeAdapter]


def binance_adapter(transport: Transport, config: SessionConfig) -> ExchangeAdapter:
    """The default adapter factory: Binance REST (Binance, its testnets, the paper exchange)."""
    return BinanceAdapter(
        transport, config.market, exchange=config.exchange, concurrency=config.concurrency
    )


class Session:
    """One connection to one exchange market, with its store; see the module docstring.

    Get one with ``await tk.connect(...)``; the module-level functions (``tk.batch`` ...) use the
    default session. All async methods may be awaited from any event loop or run with ``tk.run``.

    Example::

        spot = await tk.connect("paper", market="spot")
        usdm = await tk.connect("paper", market="usdm")
        await usdm.batch(df)
    """

    def __init__(
        self,
        config: SessionConfig,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        adapter: AdapterFactory = binance_adapter,
        sibling: Callable[[Market], Awaitable[Session]] | None = None,
        on_close: Callable[[Session], None] | None = None,
    ) -> None:
        """``adapter`` builds the exchange adapter from the transport and the settings (tests
        pass a fake one); ``sibling(market)`` gives the session of another market
        (``batch(market=...)``; the registry of :func:`toolkit.connect` passes it);
        ``on_close`` is called once the session is closed."""
        self.config = config
        self._api_key = api_key
        self._api_secret = api_secret
        self._make_adapter = adapter
        self._sibling = sibling
        self._on_close = on_close
        self._state = _UNOPENED
        self._generation = _runner.generation()
        self._open_lock: asyncio.Lock | None = None
        self._opening: asyncio.Task[None] | None = None
        self._transport: Transport | None = None
        self._adapter: ExchangeAdapter | None = None
        self._store: Store | None = None
        self._publisher = Publisher()
        self._ledger: Ledger | None = None
        self._market: MarketCache | None = None
        self._ops: OrderOps | None = None
        self._desk: Desk | None = None
        #: The live order feed (user-data stream, or polling), started on open.
        self.feed: OrderFeed | None = None
        self._closer: int | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self._store_lock = threading.Lock()
        self._venue: str | None = None
        self._fills_task: asyncio.Task[None] | None = None
        # the positions snapshot taken at open: the "before" of the session's first batch
        self._open_snapshot: asyncio.Task[None] | None = None
        self._fills_due = 0.0
        self._fills_wanted = False
        self._fills_batch: str | None = None

    def __repr__(self) -> str:
        c = self.config
        live = " LIVE" if c.live else ""
        return f"<Session{live} {c.exchange} {c.market.value} {self._state} store={c.store!r}>"

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True after :meth:`close` (or process exit)."""
        return self._state == _CLOSED

    @property
    def stale(self) -> bool:
        """True if the I/O loop this session lived on is gone (after a fork or a shutdown)."""
        return self._generation != _runner.generation()

    @property
    def transport(self) -> Transport:
        """The session's one transport (opened on first use)."""
        if self._transport is None:
            raise UsageError("the session is not open yet; await session.open()")
        return self._transport

    @property
    def adapter(self) -> ExchangeAdapter:
        """The exchange adapter (opened on first use)."""
        if self._adapter is None:
            raise UsageError("the session is not open yet; await session.open()")
        return self._adapter

    @property
    def ledger(self) -> Ledger:
        """The session's finalize step and order state (opened on first use)."""
        if self._ledger is None:
            raise UsageError("the session is not open yet; await session.open()")
        return self._ledger

    @property
    def market_cache(self) -> MarketCache:
        """The session's symbol rules and prices (opened on first use)."""
        if self._market is None:
            raise UsageError("the session is not open yet; await session.open()")
        return self._market

    @property
    def ops(self) -> OrderOps:
        """The session's order operations (opened on first use)."""
        if self._ops is None:
            raise UsageError("the session is not open yet; await session.open()")
        return self._ops

    @property
    def venue(self) -> str:
        """The server this session talks to, as recorded with its orders and batches.

        The base URL for Binance and a standalone paper exchange (testnet and mainnet are
        both ``"binance"``, but not the same venue); for the embedded paper exchange an id of
        that exchange instance (its orders die with the process).
        """
        if self._venue is None:
            if self.config.base_url is None:
                raise UsageError("the session is not open yet; await session.open()")
            return self.config.base_url
        return self._venue

    @property
    def store(self) -> Store:
        """The DuckDB store (created on first use; no file is held between operations)."""
        store = self._store
        if store is None:
            with self._store_lock:
                if self._store is None:
                    if self._state == _CLOSED:
                        raise SessionClosedError(
                            f"{self!r} is closed; call tk.connect() for a new session"
                        )
                    self._store = Store(
                        self.config.store,
                        retention=retention_from_days(self.config.journal_days),
                    )
                store = self._store
        return store

    def _check(self) -> None:
        if self._state == _CLOSED:
            raise SessionClosedError(f"{self!r} is closed; call tk.connect() for a new session")

    async def _call(self, work: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
        """Open the session on the I/O loop, then run ``work()`` there.

        ``work`` is a factory, so no coroutine exists (and none can leak un-awaited) until the
        session is open on the I/O loop.
        """
        self._check()
        return await _runner.call(self._opened(work))

    async def _opened(self, work: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
        await self._ensure_open()
        return await work()

    async def _ensure_open(self) -> None:
        """Open once, in a task of its own: a cancelled caller never leaves it half-open
        (a half-started paper exchange, a transport without its closer)."""
        self._check()
        if self._state == _OPEN:
            return
        task = self._opening
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = self._opening = _runner.spawn(self._open())
            task.add_done_callback(_retrieve)
        await asyncio.shield(task)

    async def open(self) -> Session:
        """Open the session (idempotent): transport, adapter, store, reconcile PENDING rows.

        Example::

            session = await Session(SessionConfig()).open()
        """
        self._check()
        await _runner.call(self._ensure_open())
        return self

    async def _open(self) -> None:
        self._check()
        if self._state == _OPEN:
            return
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            self._check()
            if self._state == _OPEN:
                return
            base_url = self.config.base_url
            key, secret = self._api_key, self._api_secret
            venue = base_url
            if base_url is None:  # the embedded paper exchange
                paper = await embedded_paper()
                base_url, (key, secret) = paper.url, paper.credentials
                venue = paper.venue
            self._venue = venue
            self._transport = Transport(
                TransportConfig(
                    base_url=base_url,
                    timeout=self.config.timeout,
                    recv_window=int(self.config.recv_window * 1000),
                    connection_limit=self.config.connection_limit,
                    rate_limits=RateLimitConfig(enabled=self.config.rate_limits),
                ),
                api_key=key,
                api_secret=secret,
            )
            config = self.config
            adapter = self._adapter = self._make_adapter(self._transport, config)
            store = await blocking(lambda: self.store)
            ledger = self._ledger = Ledger(
                store, venue=self.venue, publisher=self._publisher, loop=asyncio.get_running_loop()
            )
            market = self._market = MarketCache(
                adapter, config.market, rules_ttl=config.rules_ttl, price_ttl=config.price_ttl
            )
            ops = self._ops = OrderOps(ledger, adapter, config, market, self._spawn)
            self._desk = Desk(
                config=config,
                ledger=ledger,
                adapter=adapter,
                market=market,
                ops=ops,
                limiter=self._transport.limiter,
                has_credentials=self._transport.has_credentials,
                spawn=self._spawn,
                positions_before=self._positions_before,
                after=self._after_batch,
            )
            self._state = _OPEN
            self._closer = _runner.register_closer(self._aclose, order=0)
            if config.stream:
                self.feed = self._start_feed(ledger, ops)
        await ops.reconcile_stored()

        if self.config.sync_fills and self.transport.has_credentials:
            self._open_snapshot = self._spawn(self._snapshot_quietly("open"), critical=False)

    def _start_feed(self, ledger: Ledger, ops: OrderOps) -> OrderFeed:
        """The order feed: stream events go through the ledger (``"stream"``); its resync is
        the open-order refresh (which also asks what became of orders no longer listed)."""

        async def apply(orders: list[Order]) -> None:
            await ledger.finalize(orders, "stream")

        async def resync() -> None:
            await ops.open_orders_now(None)

        feed = OrderFeed(
            self.transport,
            market=self.config.market,
            exchange=self.config.exchange,
            apply=apply,
            resync=resync,
        )
        feed.start()
        return feed

    async def close(self) -> None:
        """Close the session: finish in-flight work, close the HTTP session (idempotent).

        Example::

            await session.close()
        """
        if self._state == _CLOSED:
            return
        if self.stale:  # its loop is gone already, and so are its sockets
            self._state = _CLOSED
            return
        await _runner.call(self._aclose())

    async def _aclose(self) -> None:
        """Close within :data:`_CLOSE_BUDGET` seconds in total (the runner gives each closer
        ``_runner.CLOSE_TIMEOUT`` at exit); the transport and the store are closed whatever
        happens, so no aiohttp session is left unclosed even with a batch in flight. A batch cut
        short keeps its written-ahead rows ``PENDING``: the next connect reconciles them."""
        if self._state == _CLOSED:
            return
        self._state = _CLOSED
        loop = asyncio.get_running_loop()
        end = loop.time() + _CLOSE_BUDGET

        def left(reserve: float) -> float:
            return max(0.05, end - reserve - loop.time())

        try:
            if self._ops is not None:
                self._ops.close()
            if self._closer is not None:
                _runner.unregister_closer(self._closer)
            for task in list(self._background):
                task.cancel()
            tasks = [t for t in self._tasks if not t.done()]
            if tasks:  # let write-ahead batches finish their bookkeeping
                wait = min(self.config.timeout + 5, left(_CLOSE_RESERVE))
                _, late = await asyncio.wait(tasks, timeout=wait)
                for task in late:
                    _log.warning("toolkit: closing with a batch in flight; it stays PENDING")
                    task.cancel()
                if late:  # let them unwind (their rows stay PENDING, reconciled on connect)
                    await asyncio.wait(late, timeout=min(1.0, left(_CLOSE_RESERVE / 2)))
            if self.feed is not None:
                try:
                    await asyncio.wait_for(self.feed.stop(), timeout=left(1.0))
                except Exception as exc:  # closing must go on
                    _log.warning("toolkit: the order feed did not stop cleanly: %r", exc)
        finally:
            try:
                if self._transport is not None:
                    await self._transport.close()
            finally:
                self._publisher.close()
                if self._store is not None:
                    store, self._store = self._store, None
                    await blocking(store.close)
                if self._on_close is not None:
                    self._on_close(self)

    # -- helpers used by the batch procedure ------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, _T], *, critical: bool = True) -> asyncio.Task[_T]:
        """A task on the I/O loop owned by the session.

        ``close()`` waits for critical tasks (a batch that wrote ahead must record its outcome)
        and cancels the others (background reconciliation).
        """
        task = _runner.spawn(coro)
        tasks = self._tasks if critical else self._background
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    # -- public API -------------------------------------------------------------------------------

    async def batch(
        self,
        orders: pd.DataFrame | Sequence[Mapping[str, Any]],
        *,
        key: str | None = None,
        market: Market | str | None = None,
        all_or_nothing: bool = False,
        progress: ProgressOption = None,
        strict: bool = False,
        run_params: Mapping[str, Any] | None = None,
        limits: Limits | None = None,
    ) -> pd.DataFrame:
        """Place a batch of orders; returns the order frame (one row per input row, same index).

        ``key`` makes the batch idempotent: a re-run with the same key places nothing twice.
        ``market`` sends to the sibling session of that market. ``all_or_nothing`` sends nothing
        if any row is invalid. ``progress`` forces the progress bar on/off (default: shown from
        ``config.progress_threshold`` orders on), or is a tqdm bar you displayed, which the
        batch moves (Voila shows a cell's output only once it has run: see the README).
        ``strict`` checks every row before anything is sent (one INVALID row: nothing is
        sent) and raises ``StrictBatchError`` if any row is
        INVALID or REJECTED. ``run_params`` (e.g. the notebook's papermill parameters) are
        recorded with the batch; default: ``TOOLKIT_RUN_PARAMS`` (JSON). ``limits`` replaces
        the session's pre-trade limits (``connect(limits=...)``) for this batch.

        Example::

            frame = await session.batch(df, key="rebalance-2026-11-25")
        """
        self._check()
        options = BatchOptions(
            key=key,
            all_or_nothing=all_or_nothing,
            progress=progress,
            strict=strict,
            run_params=run_params,
            limits=limits,
        )
        if market is not None and Market(market) is not self.config.market:
            if self._sibling is None:
                raise ConfigError(
                    f"{self!r} was not made by tk.connect(): it has no sibling session of"
                    f" market {Market(market).value!r}"
                )
            other = await self._sibling(Market(market))
            return await other._place(orders, options)
        return await self._place(orders, options)

    async def _place(
        self, orders: pd.DataFrame | Sequence[Mapping[str, Any]], options: BatchOptions
    ) -> pd.DataFrame:
        """:meth:`batch` on this session's market, its arguments as one value."""
        self._check()
        rows = read_input(orders)
        return await self._call(lambda: run_batch(self._opened_desk(), rows, options))

    def _opened_desk(self) -> Desk:
        if self._desk is None:
            raise UsageError("the session is not open yet; await session.open()")
        return self._desk

    async def balances(self) -> dict[str, Decimal]:
        """Free (spot) or available (USD-M) balance per asset, from the exchange.

        Example::

            usdt = (await session.balances())["USDT"]
        """
        return await self._call(lambda: self.adapter.balances())

    async def prices(self, symbols: Sequence[str] | None = None) -> dict[str, Decimal]:
        """Last price (spot) or mark price (USD-M) per symbol; all symbols if ``None``.

        Example::

            (await session.prices(["BTCUSDT"]))["BTCUSDT"]
        """
        wanted = None if symbols is None else list(symbols)
        return await self._call(lambda: self.adapter.prices(wanted))

    async def symbol_rules(self) -> dict[str, SymbolRules]:
        """The symbols' filters from exchangeInfo (cached for the session's life).

        Example::

            (await session.symbol_rules())["BTCUSDT"]
        """
        return dict(await self._call(lambda: self.market_cache.rules()))

    async def cancel(self, orders: pd.DataFrame | str | Sequence[str]) -> pd.DataFrame:
        """Cancel orders given as an order frame, client order ids or order ids.

        Returns the order frame of the cancelled orders (a row whose cancel failed shows the
        order's real state and the exchange's error). Rows already done in a frame are skipped.

        Example::

            await session.cancel(frame[frame.status == "NEW"])
        """
        self._check()
        ids = ids_of(orders)
        return await self._call(lambda: self.ops.cancel_ids(ids))

    async def cancel_all(self, symbol: str | None = None) -> pd.DataFrame:
        """Cancel every open order (of ``symbol``); returns the order frame of what was cancelled.

        Example::

            await session.cancel_all("BTCUSDT")
        """
        self._check()
        return await self._call(lambda: self.ops.cancel_all(symbol))

    async def open_orders(self, symbol: str | None = None) -> pd.DataFrame:
        """Refresh the open orders from the exchange (from the store when it is unreachable).

        Example::

            await session.open_orders("BTCUSDT")
        """
        self._check()
        return await self._call(lambda: self.ops.open_orders_now(symbol))

    async def wait(
        self,
        orders: pd.DataFrame | str | Sequence[str],
        *,
        until: str = "done",
        timeout: float = 60.0,
    ) -> pd.DataFrame:
        """Poll ``orders`` until each is done (``until="done"``) or at least accepted
        (``until="accepted"``), or ``timeout`` seconds passed; returns their order frame.

        Example::

            final = await session.wait(frame, timeout=30)
        """
        self._check()
        if until not in ("done", "accepted"):
            raise InputError("until must be 'done' or 'accepted'")
        ids = ids_of(orders)
        return await self._call(lambda: self.ops.wait(ids, until=until, timeout=timeout))

    def orders(self, **filters: Any) -> pd.DataFrame:
        """Order history from the store (sync): ``status``, ``symbol``, ``key``, ``since``,
        ``batch_id``, ``open_only``, ``client_order_ids``.

        Example::

            session.orders(status="FILLED", since="2026-11-25")
        """
        self._check()
        return self.store.orders(**filters)

    # -- the halt -------------------------------------------------------------------------------

    def halt(self, reason: str = "halted by the user") -> Halt:
        """Stop every new send at once, in this process and -- through the store -- in every
        process using the same store (within a second). Batches sending now stop (what is on
        the wire finishes; the rest is recorded as not placed; they raise
        ``BatchInterrupted``), new batches raise ``TradingHalted``. Orders already at the
        exchange stay (``cancel_all`` cancels them). :meth:`resume` lifts it.

        Example::

            session.halt("prices look wrong")
        """
        self._check()
        state = self.store.halt(reason)
        why = f"halted ({state.reason})"
        if _runner.in_io_thread():
            stop_all(why)
        else:
            _runner.get_loop().call_soon_threadsafe(stop_all, why)
        _log.warning("toolkit: trading halted for %s: %s", self.config.store, state.reason)
        return state

    def resume(self) -> None:
        """Lift a halt (for every process using the store).

        Example::

            session.resume()
        """
        self._check()
        self.store.resume()

    def halted(self) -> Halt | None:
        """The halt in force for the store (set by any process), or ``None``."""
        self._check()
        return self.store.halted()

    # -- research: fills, candles, market data -----------------------------------------------

    async def sync_fills(self) -> int:
        """Fetch this account's fills of every symbol the store has filled orders of (from the
        last one known) into the store's ``fills`` table; returns how many were new.

        Example::

            await session.sync_fills()
        """

        async def work() -> int:
            now = to_millis(pd.Timestamp.now(tz="UTC"))
            return await sync_fills(
                self.adapter, self._duckdb, venue=self.venue, exchange=self.config.exchange,
                market=self.config.market.value, now_ms=now,
            )  # fmt: skip

        return await self._call(work)

    def fills(self, **filters: Any) -> pd.DataFrame:
        """Fills from the store (sync), each with its order's client order id, batch and key:
        ``symbol``, ``key``, ``batch_id``, ``order_ids``, ``since``. Run ``sync_fills`` first
        for the latest.

        Example::

            session.fills(key="rebalance-2026-11-25").groupby("client_order_id")["qty"].sum()
        """
        self._check()
        market = self.config.market.value
        return self.store.duckdb(
            lambda con: read_fills(con, market=market, **filters), "read the fills"
        )

    async def candles(
        self,
        symbols: str | Sequence[str],
        interval: str = "1m",
        start: Any = None,
        end: Any = None,
    ) -> pd.DataFrame:
        """Candles (klines) of ``symbols``, loaded into the store's ``candles`` table and read
        back as a frame; a second call fetches only what the store lacks. ``start``/``end``:
        times (naive: UTC); default: the last 1,000 candles. An unknown symbol or interval
        raises ``InputError`` listing the valid ones.

        Example::

            await session.candles(["BTCUSDT", "ETHUSDT"], "1h", start="2026-11-01")
        """
        wanted = [symbols] if isinstance(symbols, str) else list(symbols)
        names = [exchange_symbol(s) for s in wanted]

        async def work() -> pd.DataFrame:
            checked_interval(interval, self.config.market.value)
            rules = await self.market_cache.rules()
            unknown = [s for s in names if s not in rules]
            if unknown:
                known = ", ".join(sorted(rules)[:20])
                raise InputError(
                    f"unknown symbol(s) {', '.join(unknown)} on {self.config.market.value};"
                    f" known: {known}{' ...' if len(rules) > 20 else ''}"
                )
            stop = to_millis(end) if end is not None else to_millis(pd.Timestamp.now(tz="UTC"))
            begin = to_millis(start) if start is not None else default_start(interval, stop)
            return await load_candles(
                self.adapter, self._duckdb, venue=self.venue, symbols=names, interval=interval,
                start=begin, end=stop, progress=functools.partial(
                    caller_bar, desc=f"candles {interval}", unit="candle"),
            )  # fmt: skip

        return await self._call(work)

    async def depth(self, symbol: str, limit: int = 100) -> pd.DataFrame:
        """The order book of ``symbol`` (``limit`` levels a side) as a frame.

        Example::

            book = await session.depth("BTCUSDT", limit=20)
        """
        name = exchange_symbol(symbol)
        return await self._call(lambda: self.adapter.depth(name, limit=limit))

    async def tickers(self, symbols: str | Sequence[str] | None = None) -> pd.DataFrame:
        """24-hour rolling statistics of ``symbols`` (all when ``None``) as a frame.

        Example::

            await session.tickers(["BTCUSDT", "ETHUSDT"])
        """
        names = None
        if symbols is not None:
            names = [
                exchange_symbol(s) for s in ([symbols] if isinstance(symbols, str) else symbols)
            ]
        return await self._call(lambda: self.adapter.ticker_24h(names))

    def costs(self, key: str | None = None, batch_id: str | None = None) -> CostReport:
        """What a batch cost (sync; the last batch of this session's venue and market when
        neither ``key`` nor ``batch_id`` is given): one row per order -- arrival price and its
        age, average fill price, slippage in bps signed by side, fees in the quote currency,
        fill ratio, seconds to the first and last fill -- a one-row ``summary``, and
        ``.plot()``. Uses the fills in the store: ``await session.sync_fills()`` first for
        the latest. See :mod:`toolkit.store._costs`.

        Example::

            report = session.costs(key="rebalance-2026-11-25")
            report.plot()
        """
        self._check()
        venue, market = self.venue, self.config.market.value
        inputs = self.store.duckdb(
            lambda con: read_inputs(con, key=key, batch_id=batch_id, venue=venue, market=market),
            "read a batch's costs",
        )
        rules = (self._market.symbol_rules if self._market is not None else None) or {}
        quote = {s: r.quote_asset for s, r in rules.items()}
        for symbol in set(inputs.orders["symbol"].astype(str)) - set(quote):
            quote[symbol] = _quote_of(symbol)
        return compute(inputs, quote=quote)

    async def positions(self) -> pd.DataFrame:
        """What the account holds, from the exchange, also kept as a snapshot in the store.

        Spot: ``asset, free, locked, total, price, value, weight`` (valued in USDT at the last
        prices); USD-M: ``symbol, side, qty, entry_price, mark_price, unrealized_pnl, leverage,
        notional, liquidation_price`` (open positions). The view ``batch_positions`` pairs
        each batch with the snapshots before and after it (see :mod:`toolkit.store._positions`).

        Example::

            held = await session.positions()
        """
        return await self._call(
            lambda: snapshot(self.adapter, self._duckdb, venue=self.venue, source="positions")
        )

    async def _snapshot_quietly(self, source: str) -> None:
        try:
            await snapshot(self.adapter, self._duckdb, venue=self.venue, source=source)
        except ToolkitError as exc:  # tk.positions() says it; the next batch's "after" retries
            _log.info("toolkit: the positions snapshot at open failed: %s", exc)

    def _positions_before(self) -> None:
        """A batch begins: the positions snapshot taken at open, if still on its way (a batch
        placed at once after connecting), is dropped -- it could see the batch's own orders,
        and a batch never waits for research data (a slow exchange would hold the orders)."""
        task, self._open_snapshot = self._open_snapshot, None
        if task is not None and not task.done():
            task.cancel()

    def known_prices(self, symbols: Sequence[str]) -> dict[str, tuple[Decimal, float]]:
        """The prices this session holds for ``symbols`` with their age in seconds, without a
        request (a batch records them as its arrival prices); symbols never priced are left out.

        Example::

            session.known_prices(["BTCUSDT"])   # {"BTCUSDT": (Decimal("90000"), 0.4)}
        """
        return {} if self._market is None else self._market.known_prices(symbols)

    def _after_batch(self, batch_id: str, filled: bool) -> None:
        """The batch procedure's ``Desk.after``: the background step after a batch."""
        self._sync_fills_soon(batch_id, fills=filled)

    def _sync_fills_soon(self, batch_id: str | None = None, *, fills: bool = True) -> None:
        """The background step after a batch, :data:`FILLS_DELAY` seconds after the last call
        (a burst of batches makes one, after it): sync the fills (if ``fills`` for any call),
        then take a positions snapshot (the batch's "after")."""
        if not self.config.sync_fills or self._state != _OPEN:
            return
        self._fills_due = asyncio.get_running_loop().time() + FILLS_DELAY
        self._fills_wanted = self._fills_wanted or fills
        self._fills_batch = batch_id
        if self._fills_task is None or self._fills_task.done():
            self._fills_task = self._spawn(self._sync_fills_later(), critical=False)

    async def _sync_fills_later(self) -> None:
        loop = asyncio.get_running_loop()
        while (left := self._fills_due - loop.time()) > 0:  # noqa: ASYNC110 - a debounce: the due time moves
            await asyncio.sleep(left)
        fills, self._fills_wanted = self._fills_wanted, False
        try:
            if fills:
                now = to_millis(pd.Timestamp.now(tz="UTC"))
                await sync_fills(
                    self.adapter, self._duckdb, venue=self.venue, exchange=self.config.exchange,
                    market=self.config.market.value, now_ms=now,
                )  # fmt: skip
            await snapshot(self.adapter, self._duckdb, venue=self.venue,
                           batch_id=self._fills_batch, source="after_batch")  # fmt: skip
        except ToolkitError as exc:  # the next batch tries again; tk.sync_fills() says it
            _log.info("toolkit: the background sync of fills and positions failed: %s", exc)

    async def _duckdb(self, work: Callable[[Any], _T]) -> _T:
        """``work(con)`` on the store's DuckDB file, in a worker thread."""
        return await blocking(self.store.duckdb, work, "research data")

    def sql(self, query: str, *, write: bool = False) -> pd.DataFrame:
        """Run SQL on the store (tables ``orders``, ``order_events``, ``batches``); sync.

        Reads only; ``write=True`` allows changes, meant for tables of your own (the toolkit's
        tables are rewritten from its journal).

        Example::

            session.sql("select status, count(*) n from orders group by status")
        """
        self._check()
        return self.store.sql(query, write=write)

    def export(self, path: str | os.PathLike[str]) -> Path:
        """Write the store's tables as Parquet partitioned by date; returns the directory.

        Example::

            session.export("history/")
        """
        self._check()
        return self.store.export(path)

    def subscribe(self, callback: Callback) -> Subscription:
        """Call ``callback(list[Order])`` on every order update of this session.

        It runs on the loop it was subscribed from (else on toolkit's I/O thread); a failing
        callback is logged. Example::

            sub = session.subscribe(lambda orders: print(len(orders), "updates"))
        """
        self._check()
        return self._publisher.subscribe(callback)

    def unsubscribe(self, subscription: Subscription) -> None:
        """End a subscription (same as ``subscription.unsubscribe()``).

        Example::

            session.unsubscribe(sub)
        """
        self._publisher.unsubscribe(subscription)

    def updates(self) -> AsyncIterator[list[Order]]:
        """Async iterator of order updates (each a list of ``Order``) until the session closes.

        Example::

            async for orders in session.updates():
                print(orders)
        """
        self._check()
        return self._publisher.updates()

    def open_order_state(self) -> list[Order]:
        """The open orders as last seen by this session (no request); safe from any thread."""
        ledger = self._ledger
        return [] if ledger is None else ledger.open_orders()


#: Quote assets recognised by suffix when the session has not loaded the symbol rules.
_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY")


def _quote_of(symbol: str) -> str:
    return next((q for q in _QUOTES if symbol.endswith(q) and symbol != q), "")


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a background task's failure as seen (its awaiter may have been cancelled)."""
    if not task.cancelled():
        task.exception()
