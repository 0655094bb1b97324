"""The kernel-scoped :class:`Session`: one exchange connection, its store and its order state.

A session owns exactly one :class:`~toolkit._transport.Transport` (one aiohttp ``ClientSession``)
for its whole life, created on toolkit's I/O loop (:mod:`toolkit._runner`), so it works the same
from a notebook cell, papermill, ``asyncio.run`` or ``tk.run`` in many threads. Its lifecycle is
unopened -> open -> closed; a closed session raises :class:`~toolkit.SessionClosedError`.

Every state change of an order -- a batch response, a cancel, a refresh, a reconcile -- goes
through one step, :meth:`Session._finalize`: persist (``store.apply`` in a worker thread) ->
update the in-memory open orders -> publish to subscribers. Nothing else writes the store after
the write-ahead of a batch, or notifies subscribers.

Example::

    import toolkit as tk
    session = await tk.connect()                    # the embedded paper exchange, spot
    frame = await session.batch([{"symbol": "BTCUSDT", "side": "buy", "qty": 0.001}])
    await session.close()
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import math
import operator
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from . import _runner
from ._config import SessionConfig
from ._costs import CostReport, compute, read_inputs
from ._cutoff import stop_all
from ._events import Callback, Publisher, Subscription
from ._exceptions import InputError, SessionClosedError, StoreError, ToolkitError
from ._guards import Limits
from ._input import exchange_symbol
from ._models import OPEN_STATUSES, Market, Order
from ._positions import snapshot
from ._progress import ProgressOption
from ._ratelimit import RateLimitConfig
from ._reconcile import fill_bookkeeping, is_behind, merge_found
from ._research import (
    checked_interval,
    default_start,
    load_candles,
    read_fills,
    sync_fills,
    to_millis,
)
from ._rules import SymbolRules, parse_rules
from ._store import Halt, Store
from ._transport import Transport, TransportConfig
from .adapters import BinanceAdapter

if TYPE_CHECKING:
    from ._stream import OrderFeed

__all__ = ["Session"]

_log = logging.getLogger("toolkit")
_T = TypeVar("_T")
_UNOPENED, _OPEN, _CLOSED = "unopened", "open", "closed"
#: How many recently finalized orders a session remembers (to order concurrent updates).
_REMEMBER = 50_000
#: The fields that make an update a change of state (the rest is bookkeeping).
_STATE_FIELDS = (
    "status",
    "order_id",
    "filled_qty",
    "avg_price",
    "price",
    "qty",
    "error_code",
    "error_msg",
    "placed",
)
_STATE_OF = operator.attrgetter(*_STATE_FIELDS)
#: Seconds ``close()`` may take in total: under the runner's per-closer budget at exit
#: (``_runner.CLOSE_TIMEOUT``), with room for the transport and the store.
_CLOSE_BUDGET = min(8.0, _runner.CLOSE_TIMEOUT - 2.0)
#: Seconds of the budget kept for stopping the feed and closing the transport and the store.
_CLOSE_RESERVE = 3.0
#: Seconds after the last batch with fills before the background fill sync.
FILLS_DELAY = 2.0


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
    ) -> None:
        self.config = config
        self._api_key = api_key
        self._api_secret = api_secret
        self._state = _UNOPENED
        self._generation = _runner.generation()
        self._open_lock: asyncio.Lock | None = None
        self._opening: asyncio.Task[None] | None = None
        self._transport: Transport | None = None
        self._adapter: BinanceAdapter | None = None
        self._store: Store | None = None
        self._publisher = Publisher()
        self._open_orders: dict[str, Order] = {}
        # The last finalized state of recent orders, to keep updates from going backwards.
        self._last: dict[str, Order] = {}
        self._finalize_lock: asyncio.Lock | None = None
        # Orders a batch is sending (client order id -> batches), and the stream updates about
        # them held until their answers are finalized (_hold_stream / _release_stream).
        self._sending: collections.Counter[str] = collections.Counter()
        self._held: dict[str, list[Order]] = {}
        #: The live order feed (user-data stream, or polling), started on open.
        self.feed: OrderFeed | None = None
        self._rules: dict[str, SymbolRules] | None = None
        self._rules_at = 0.0
        self._price_cache: dict[str, Decimal] = {}
        self._prices_at: dict[str, float] = {}
        self._closer: int | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self._store_lock = threading.Lock()
        # Guards _open_orders against readers on other threads (open_order_state()).
        self._state_lock = threading.Lock()
        self._venue: str | None = None
        #: The background task that retries PENDING rows later (one at a time).
        self._later: asyncio.Task[Any] | None = None
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
            raise RuntimeError("the session is not open yet; await session.open()")
        return self._transport

    @property
    def adapter(self) -> BinanceAdapter:
        """The exchange adapter (opened on first use)."""
        if self._adapter is None:
            raise RuntimeError("the session is not open yet; await session.open()")
        return self._adapter

    @property
    def venue(self) -> str:
        """The server this session talks to, as recorded with its orders and batches.

        The base URL for Binance and a standalone paper exchange (testnet and mainnet are
        both ``"binance"``, but not the same venue); for the embedded paper exchange an id of
        that exchange instance (its orders die with the process).
        """
        if self._venue is None:
            if self.config.base_url is None:
                raise RuntimeError("the session is not open yet; await session.open()")
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
                    self._store = Store(self.config.store)
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
            from ._connect import embedded_paper

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
            self._adapter = BinanceAdapter(
                self._transport,
                self.config.market,
                exchange=self.config.exchange,
                concurrency=self.config.concurrency,
            )
            await self._db(lambda: self.store)
            self._state = _OPEN
            self._closer = _runner.register_closer(self._aclose, order=0)
            if self.config.stream:
                from ._stream import start_feed

                self.feed = start_feed(self)
        await self._reconcile_stored()
        if self.config.sync_fills and self.transport.has_credentials:
            self._open_snapshot = self._spawn(self._snapshot_quietly("open"), critical=False)

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
                    await self._db(store.close)
                from . import _connect

                _connect.forget(self)

    # -- helpers used by the batch procedure ------------------------------------------------------

    async def _db(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Run a (sync) store call in a worker thread: DuckDB never runs on the I/O loop."""
        loop = asyncio.get_running_loop()
        call = functools.partial(fn, *args, **kwargs)
        try:
            return await loop.run_in_executor(None, call)
        except RuntimeError as exc:  # at interpreter exit worker threads are gone: block briefly
            if "after shutdown" not in str(exc):
                raise
            return call()

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

    async def _symbol_rules(self) -> dict[str, SymbolRules]:
        """Symbol rules from exchangeInfo, cached for ``config.rules_ttl`` seconds."""
        now = asyncio.get_running_loop().time()
        if self._rules is None or now - self._rules_at > self.config.rules_ttl:
            info = await self.adapter.exchange_info()
            self._rules = parse_rules(info, self.config.market)
            self._rules_at = now
        return self._rules

    async def _prices(self, symbols: Sequence[str]) -> dict[str, Decimal]:
        """Prices of ``symbols``, fetched when the last fetch of any of them is older than
        ``config.price_ttl`` seconds (one request for all of them then)."""
        now = asyncio.get_running_loop().time()
        ttl = self.config.price_ttl
        stale = [s for s in symbols if now - self._prices_at.get(s, -math.inf) > ttl]
        if stale:
            fresh = await self.adapter.prices(sorted(stale))
            for symbol, price in fresh.items():
                self._price_cache[symbol] = price
                self._prices_at[symbol] = now
        return {s: self._price_cache[s] for s in symbols if s in self._price_cache}

    def known_prices(self, symbols: Sequence[str]) -> dict[str, tuple[Decimal, float]]:
        """The prices this session holds for ``symbols`` with their age in seconds, without a
        request (a batch records them as its arrival prices); symbols never priced are left out.

        Example::

            session.known_prices(["BTCUSDT"])   # {"BTCUSDT": (Decimal("90000"), 0.4)}
        """
        now = _runner.get_loop().time()
        return {
            s: (self._price_cache[s], max(0.0, now - self._prices_at[s]))
            for s in symbols
            if s in self._price_cache and s in self._prices_at
        }

    def _forget_market_data(self) -> None:
        """The exchange refused an order for a filter: rules and prices are fetched again."""
        self._rules = None
        self._prices_at.clear()

    # -- the one finalize step ----------------------------------------------------------------

    async def _finalize(
        self,
        orders: Sequence[Order],
        source: str,
        *,
        finish: str | None = None,
        claim: tuple[str, pd.Timestamp] | None = None,
        publish_on_error: bool = False,
    ) -> list[Order]:
        """normalize -> persist -> update the order state -> publish. The only path.

        Returns the orders as finalized (positional). Updates are serialized per session, and
        an update that is *behind* what the session already knows (a batch answer saying NEW
        after the stream said FILLED) does not regress it: the known state wins, with the
        update's bookkeeping (batch, key, position) filled in.

        ``finish`` (a batch id) finishes that batch in the same store transaction. ``claim``
        ``(batch_id, not_after)`` re-arms orders proven not placed with a compare-and-set
        (``Store.claim_unplaced``) instead of an upsert: only the orders claimed are returned
        (and published) -- the others were claimed by a concurrent re-run. With
        ``publish_on_error`` a ``StoreError`` still updates the order state and publishes
        (the exchange's answer is the truth) before it is raised.
        """
        if source == "stream" and self._sending:
            orders = self._hold(orders)
        if not orders and finish is None:
            return []
        if self._finalize_lock is None:
            self._finalize_lock = asyncio.Lock()
        async with self._finalize_lock:
            now = pd.Timestamp.now(tz="UTC")
            done = [self._normalize(o, now) for o in orders]
            # An update equal to the state already persisted (the stream echoing a batch
            # answer, a refresh of an unchanged order) costs no store write and no publish;
            # the caller still gets every order back, in place.
            changed = done if claim is not None else [o for o in done if self._changes_known(o)]
            if not changed and finish is None:
                return done
            if claim is not None:  # compare-and-set: rare (a re-run), done under the lock
                batch_id, not_after = claim
                ids = [o.client_order_id for o in done]
                claimed: list[str] = await _runner.outcome(
                    self.store.submit_claim_unplaced(batch_id, ids, not_after)
                )
                won = set(claimed)
                done = changed = [o for o in done if o.client_order_id in won]
                self._publish(changed)
                return done
            # Awaited under the lock: the next finalize of an order must see this one's state
            # (a late answer must not overwrite a fill the stream reported meanwhile). The
            # journal write is a fraction of a millisecond; several share one commit.
            try:
                await _runner.outcome(
                    self.store.submit_apply(changed, source=source, venue=self.venue,
                                            finish=finish)
                )  # fmt: skip
            except StoreError:
                if publish_on_error:  # the exchange's answer is the truth: publish it anyway
                    self._publish(changed, remember=False)
                raise
            self._publish(changed)
            return done

    def _hold_stream(self, client_order_ids: Sequence[str]) -> None:
        """A batch is about to send these orders: stream updates about them wait for their
        answers (:meth:`_release_stream`). The answer and the stream mostly say the same (a
        market order's NEW and FILL), so the updates then cost no store write; finalized
        first, each would cost one, on the I/O loop, while the batch sends."""
        self._sending.update(client_order_ids)

    async def _release_stream(self, client_order_ids: Sequence[str]) -> None:
        """The answers about these orders are finalized: finalize the stream updates held for
        them (the ones that say something new: a later fill) in the order they came."""
        held: list[Order] = []
        for cid in client_order_ids:
            self._sending[cid] -= 1
            if self._sending[cid] <= 0:
                del self._sending[cid]
                held.extend(self._held.pop(cid, ()))
        if held:
            await self._finalize(held, "stream")

    def _hold(self, orders: Sequence[Order]) -> list[Order]:
        """Hold the stream updates about orders being sent; the others, to finalize now."""
        now: list[Order] = []
        for order in orders:
            if order.client_order_id in self._sending:
                self._held.setdefault(order.client_order_id, []).append(order)
            else:
                now.append(order)
        return now

    def _changes_known(self, order: Order) -> bool:
        """False when ``order`` says nothing new about the last state persisted for it."""
        known = self._last.get(order.client_order_id)
        if known is None:
            return True
        if known.batch_id is None and order.batch_id is not None:
            return True  # the stream told the state before the batch answer brought its key
        return _STATE_OF(order) != _STATE_OF(known)

    def _publish(self, done: list[Order], *, remember: bool = True) -> None:
        if remember:
            for order in done:
                self._remember(order)
        if done:
            self._publisher.publish(done, _runner.get_loop())

    def _normalize(self, order: Order, now: pd.Timestamp) -> Order:
        if order.updated_at is None:
            order = order.evolve(updated_at=now)
        known = self._last.get(order.client_order_id)
        if known is None:
            return order
        if is_behind(order, known):
            return fill_bookkeeping(merge_found(order, known), known)
        return fill_bookkeeping(order, known)

    def _remember(self, order: Order) -> None:
        cid = order.client_order_id
        self._last.pop(cid, None)
        self._last[cid] = order
        if len(self._last) > _REMEMBER:
            del self._last[next(iter(self._last))]
        with self._state_lock:
            if order.status in OPEN_STATUSES:
                self._open_orders[cid] = order
            else:
                self._open_orders.pop(cid, None)

    async def _reconcile_stored(self) -> None:
        from ._orderops import reconcile_stored

        await reconcile_stored(self)

    async def _known(self, ids: Sequence[str]) -> dict[str, Order]:
        from ._orderops import known_orders

        return await known_orders(self, ids)

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
        if market is not None and Market(market) is not self.config.market:
            from ._connect import sibling

            other = await sibling(self, Market(market))
            return await other.batch(
                orders,
                key=key,
                all_or_nothing=all_or_nothing,
                progress=progress,
                strict=strict,
                run_params=run_params,
                limits=limits,
            )
        from ._batch import read_input, run_batch

        rows = read_input(orders)
        return await self._call(
            functools.partial(
                run_batch,
                self,
                rows,
                key=key,
                all_or_nothing=all_or_nothing,
                progress=progress,
                strict=strict,
                run_params=run_params,
                limits=limits,
            )
        )

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
        return dict(await self._call(self._symbol_rules))

    async def cancel(self, orders: pd.DataFrame | str | Sequence[str]) -> pd.DataFrame:
        """Cancel orders given as an order frame, client order ids or order ids.

        Returns the order frame of the cancelled orders (a row whose cancel failed shows the
        order's real state and the exchange's error). Rows already done in a frame are skipped.

        Example::

            await session.cancel(frame[frame.status == "NEW"])
        """
        self._check()
        from ._orderops import cancel_ids, ids_of

        return await self._call(functools.partial(cancel_ids, self, ids_of(orders)))

    async def cancel_all(self, symbol: str | None = None) -> pd.DataFrame:
        """Cancel every open order (of ``symbol``); returns the order frame of what was cancelled.

        Example::

            await session.cancel_all("BTCUSDT")
        """
        self._check()
        from ._orderops import cancel_all

        return await self._call(functools.partial(cancel_all, self, symbol))

    async def open_orders(self, symbol: str | None = None) -> pd.DataFrame:
        """Refresh the open orders from the exchange (from the store when it is unreachable).

        Example::

            await session.open_orders("BTCUSDT")
        """
        self._check()
        from ._orderops import open_orders_now

        return await self._call(functools.partial(open_orders_now, self, symbol))

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
            raise ValueError("until must be 'done' or 'accepted'")
        from ._orderops import ids_of, wait

        return await self._call(
            functools.partial(wait, self, ids_of(orders), until=until, timeout=timeout)
        )

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
            now = int(pd.Timestamp.now(tz="UTC").value // 1_000_000)
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
            rules = await self._symbol_rules()
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
                start=begin, end=stop,
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
        the latest. See :mod:`toolkit._costs`.

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
        rules = self._rules or {}
        quote = {s: r.quote_asset for s, r in rules.items()}
        for symbol in set(inputs.orders["symbol"].astype(str)) - set(quote):
            quote[symbol] = _quote_of(symbol)
        return compute(inputs, quote=quote)

    async def positions(self) -> pd.DataFrame:
        """What the account holds, from the exchange, also kept as a snapshot in the store.

        Spot: ``asset, free, locked, total, price, value, weight`` (valued in USDT at the last
        prices); USD-M: ``symbol, side, qty, entry_price, mark_price, unrealized_pnl, leverage,
        notional, liquidation_price`` (open positions). The view ``batch_positions`` pairs
        each batch with the snapshots before and after it (see :mod:`toolkit._positions`).

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
                now = int(pd.Timestamp.now(tz="UTC").value // 1_000_000)
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
        return await self._db(self.store.duckdb, work, "research data")

    def sql(self, query: str, *, write: bool = False) -> pd.DataFrame:
        """Run SQL on the store (tables ``orders``, ``order_events``, ``batches``); sync.

        Reads only; ``write=True`` allows changes, meant for tables of your own (the toolkit's
        tables are rewritten from its journal).

        Example::

            session.sql("select status, count(*) n from orders group by status")
        """
        self._check()
        return self.store.sql(query, write=write)

    def export(self, path: str) -> Any:
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
        with self._state_lock:
            return list(self._open_orders.values())


#: Quote assets recognised by suffix when the session has not loaded the symbol rules.
_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY")


def _quote_of(symbol: str) -> str:
    return next((q for q in _QUOTES if symbol.endswith(q) and symbol != q), "")


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a background task's failure as seen (its awaiter may have been cancelled)."""
    if not task.cancelled():
        task.exception()
