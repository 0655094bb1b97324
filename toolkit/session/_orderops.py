"""Order operations of a session: cancel, cancel_all, open_orders, wait, reconcile.

Each runs on the I/O loop and ends in the ledger's one finalize step, so the store and the
subscribers see cancels and refreshes exactly like batch results. :class:`OrderOps` is given
what it uses: the ledger, the adapter, the market cache, the settings and a spawn function.

Example::

    ops = OrderOps(ledger, adapter, config, cache, spawn)
    frame = await ops.cancel_ids(["tk1b42...", "10000001"])
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Coroutine, Sequence
from typing import Any, Protocol

import pandas as pd

from ..core._adapter import ExchangeAdapter
from ..core._exceptions import InputError, OrderRejected, ToolkitError, TransportError
from ..core._frame import orders_to_frame
from ..core._models import DONE_STATUSES, Order, OrderStatus
from ._config import SessionConfig
from ._ledger import Ledger
from ._market_cache import MarketCache
from ._reconcile import changes, merge_found, resolve_pending

__all__ = ["OrderOps", "Spawn", "ids_of"]

_log = logging.getLogger("toolkit")


class Spawn(Protocol):
    """Starts a task owned by the session (``critical``: ``close()`` waits for it; else it is
    cancelled at close)."""

    def __call__(
        self, coro: Coroutine[Any, Any, Any], *, critical: bool = True
    ) -> asyncio.Task[Any]: ...


#: Seconds between retries of rows still PENDING in the background (doubling up to the cap).
_LATER_FIRST, _LATER_CAP, _LATER_TRIES = 5.0, 300.0, 12


class OrderOps:
    """Cancel, cancel_all, open orders, wait and reconcile for one session; see the module
    docstring. Use it on the I/O loop; :meth:`close` ends its background work."""

    def __init__(
        self,
        ledger: Ledger,
        adapter: ExchangeAdapter,
        config: SessionConfig,
        market: MarketCache,
        spawn: Spawn,
    ) -> None:
        self.ledger = ledger
        self.adapter = adapter
        self.config = config
        self.market = market
        self.spawn = spawn
        #: True once the session closed: background retries end.
        self.closed = False
        #: The background task that retries PENDING rows later (one at a time).
        self.later: asyncio.Task[Any] | None = None

    def close(self) -> None:
        """The session closed: no new background retry starts."""
        self.closed = True

    async def reconcile_and_finalize(
        self,
        orders: Sequence[Order],
        *,
        wait: bool,
        sent_before: pd.Timestamp | None = None,
    ) -> list[Order]:
        """Resolve the PENDING ``orders`` (:func:`resolve_pending`) and finalize what changed.

        The one "reconcile" step of connect, the background retry, a batch and its re-run.
        Positional: result ``i`` is the (finalized, if changed) state of ``orders[i]``.
        """
        resolved = await resolve_pending(
            self.adapter,
            orders,
            recv_window=self.config.recv_window,
            wait=wait,
            sent_before=sent_before,
        )
        changed = [i for i, (a, b) in enumerate(zip(orders, resolved, strict=True)) if a is not b]
        done = await self.ledger.finalize([resolved[i] for i in changed], "reconcile")
        for i, order in zip(changed, done, strict=True):
            resolved[i] = order
        # a batch whose process died is finished once none of its orders is unknown (its
        # counts and finish time; and its orders may be archived)
        batches = {o.batch_id for o in done if o.batch_id and o.status is not OrderStatus.PENDING}
        if batches:
            await self.ledger.finish_resolved(batches)
        return resolved

    async def _pending_here(self) -> list[Order]:
        """The PENDING rows sent to this session's venue (not another server of the same name)."""
        return await self.ledger.run(
            self.ledger.store.pending,
            exchange=self.config.exchange,
            market=self.config.market.value,
            venue=self.ledger.venue,
        )

    async def reconcile_stored(self) -> None:
        """On connect: resolve the PENDING rows of this venue/market that can be decided now."""
        pending = await self._pending_here()
        if not pending:
            return
        try:  # exchangeInfo sets the limiter's real budgets before the queries
            await self.market.rules()
        except ToolkitError as exc:
            _log.warning("toolkit: no exchangeInfo before reconciling: %s", exc)
        resolved = await self.reconcile_and_finalize(pending, wait=False)
        if any(o.status is OrderStatus.PENDING for o in resolved):
            self.reconcile_later()

    def reconcile_later(self) -> None:
        """Retry this venue's PENDING rows in the background (one such task per session)."""
        task = self.later
        if self.closed or (task is not None and not task.done()):
            return
        self.later = self.spawn(self._reconcile_later(), critical=False)

    async def _reconcile_later(self) -> None:
        """Decide the rows that could still arrive once their deadline has passed; when the
        exchange is unreachable, try again (backing off) while the session lives."""
        await asyncio.sleep(self.config.send_window + self.config.recv_window + 3)
        pause = _LATER_FIRST
        for _ in range(_LATER_TRIES):
            if self.closed:
                return
            try:
                pending = await self._pending_here()
                if not pending:
                    return
                resolved = await self.reconcile_and_finalize(pending, wait=True)
                if not any(o.status is OrderStatus.PENDING for o in resolved):
                    return
            except ToolkitError as exc:  # the store or the exchange failed: try again later
                _log.warning("toolkit: background reconcile failed, will retry: %s", exc)
            await asyncio.sleep(pause)
            pause = min(_LATER_CAP, pause * 2)

    async def _stored_open(self, symbol: str | None) -> list[Order]:
        """The orders the store believes open on this exchange/market (of ``symbol``)."""
        return await self.ledger.run(
            self.ledger.store.records,
            open_only=True,
            exchange=self.config.exchange,
            market=self.config.market.value,
            symbol=symbol,
        )

    async def _resolve_ids(self, ids: Sequence[str]) -> list[Order]:
        """The known orders for ``ids`` (client order ids or order ids), deduplicated, in order."""
        known = await self.ledger.known(ids)
        missing = [i for i in ids if i not in known]
        if missing:
            shown = ", ".join(repr(i) for i in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise InputError(f"unknown order id(s) {shown}{more}: not in this session's store")
        seen: dict[str, Order] = {}
        for i in ids:
            order = known[i]
            seen.setdefault(order.client_order_id, order)
        return list(seen.values())

    async def _cancel_one(self, order: Order) -> tuple[Order, ToolkitError | None, bool]:
        """Cancel one order -> (its state, the cancel's error or None, whether the state is news).

        A refused cancel (already done, unknown) and a cancel whose outcome is unknown (timeout,
        5xx) both ask the exchange for the order's real state; if that fails too, the known state
        comes back unchanged with the error.
        """
        try:
            got = await self.adapter.cancel(order.symbol, client_order_id=order.client_order_id)
        except ToolkitError as exc:
            current = await self._query(order)
            return (order if current is None else current), exc, current is not None
        return merge_found(order, got), None, True

    async def cancel_ids(self, ids: Sequence[str]) -> pd.DataFrame:
        """Cancel each order on its own: one failure (a timeout, a 5xx) loses no other result.

        Rows the store knows are done (filled, canceled, rejected, expired, invalid) are skipped:
        no request, shown as stored. Every cancel that succeeded is finalized (``cancel``), every
        real state learned by a query after a failed cancel too (``query``): an order the exchange
        reports done is shown as it is (it was not cancelled, and that is no failure); the other
        failed rows come back with ``error_msg`` "cancel failed ...".
        """
        targets = await self._resolve_ids(ids)
        todo = [o for o in targets if o.status not in DONE_STATUSES]
        results = await asyncio.gather(*(self._cancel_one(o) for o in todo))
        cancelled = await self.ledger.finalize(
            [o for o, exc, _ in results if exc is None], "cancel"
        )
        learned = await self.ledger.finalize(
            [o for o, exc, news in results if exc is not None and news], "query"
        )
        done = iter(cancelled)
        seen = iter(learned)
        shown = {o.client_order_id: o for o in targets}
        for order, exc, news in results:
            if exc is None:
                now = next(done)
            elif news:
                now = next(seen)
                if now.status not in DONE_STATUSES:
                    now = _failed(now, exc, "cancel")
            else:
                now = _failed(order, exc, "cancel")
            shown[order.client_order_id] = now
        return orders_to_frame(list(shown.values()))

    async def cancel_all(self, symbol: str | None) -> pd.DataFrame:
        """Cancel every open order per symbol; a symbol whose cancel fails loses no other's result.

        For a failed symbol the orders believed open there are queried: their real state is
        finalized, and they come back with ``error_msg`` "cancel_all failed ...".
        """
        if symbol is not None:
            symbols = [symbol]
        else:
            live = await self.adapter.open_orders()
            symbols = sorted({o.symbol for o in live})
        answers = await asyncio.gather(
            *(self.adapter.cancel_all(sym) for sym in symbols), return_exceptions=True
        )
        cancelled: list[Order] = []
        failures: dict[str, ToolkitError] = {}
        for sym, answer in zip(symbols, answers, strict=True):
            if isinstance(answer, ToolkitError):
                failures[sym] = answer
            elif isinstance(answer, BaseException):
                raise answer
            else:
                cancelled.extend(answer)
        known = await self.ledger.known([o.client_order_id for o in cancelled])
        merged = [_merge(known.get(o.client_order_id), o) for o in cancelled]
        merged = await self.ledger.finalize(merged, "cancel")
        if not failures:
            return orders_to_frame(merged)
        believed: list[Order] = []
        for sym, exc in failures.items():
            _log.warning("toolkit: cancel_all(%s) failed: %s", sym, exc)
            believed.extend(await self._stored_open(sym))
        states = await asyncio.gather(*(self._query(o) for o in believed))
        learned = await self.ledger.finalize(
            [s for o, s in zip(believed, states, strict=True) if s is not None and changes(o, s)],
            "query",
        )
        latest = {o.client_order_id: o for o in learned}
        shown = [
            _failed(latest.get(o.client_order_id, s or o), failures[o.symbol], "cancel_all")
            for o, s in zip(believed, states, strict=True)
        ]
        return orders_to_frame(merged + shown)

    async def open_orders_now(self, symbol: str | None) -> pd.DataFrame:
        try:
            live = await self.adapter.open_orders(symbol)
        except TransportError as exc:  # offline: the store's view
            _log.warning("toolkit: exchange unreachable (%s); open orders from the store", exc)
            return orders_to_frame(await self._stored_open(symbol))
        known = await self.ledger.known([o.client_order_id for o in live])
        merged = [_merge(known.get(o.client_order_id), o) for o in live]
        live_ids = {o.client_order_id for o in merged}
        # Orders we believe open but the exchange does not list: ask what became of them.
        believed = {o.client_order_id: o for o in await self._stored_open(symbol)}
        believed.update(
            (o.client_order_id, o)
            for o in self.ledger.open_orders()
            if symbol is None or o.symbol == symbol
        )
        gone = [o for cid, o in believed.items() if cid not in live_ids]
        finished = await asyncio.gather(*(self._query(o) for o in gone))
        changed = [o for o in merged if changes(known.get(o.client_order_id), o)] + [
            o for o in finished if o is not None
        ]
        await self.ledger.finalize(changed, "refresh")
        return orders_to_frame(merged)

    async def _query(self, order: Order) -> Order | None:
        """The exchange's current state of ``order`` (merged), or None if unknown/unreachable."""
        try:
            found = await self.adapter.query(order.symbol, client_order_id=order.client_order_id)
        except ToolkitError as exc:
            _log.warning("toolkit: query of %s failed: %s", order.client_order_id, exc)
            return None
        return None if found is None else merge_found(order, found)

    async def wait(self, ids: Sequence[str], *, until: str, timeout: float) -> pd.DataFrame:
        current = await self._resolve_ids(ids)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            todo = [i for i, o in enumerate(current) if not _done(o, until)]
            remaining = deadline - loop.time()
            if not todo or remaining <= 0:
                break
            found = await asyncio.gather(*(self._query(current[i]) for i in todo))
            changed: list[Order] = []
            for i, order in zip(todo, found, strict=True):
                if order is not None and changes(current[i], order):
                    current[i] = order
                    changed.append(order)
            await self.ledger.finalize(changed, "query")
            if all(_done(o, until) for o in current):
                break
            await asyncio.sleep(min(self.config.poll_interval, max(0.0, remaining)))
        return orders_to_frame(current)


def ids_of(orders: pd.DataFrame | str | Sequence[str]) -> list[str]:
    """Client order ids (or order ids) from a frame, one id, or a list of ids.

    Rows of a frame that are already done (filled, cancelled, invalid...) are skipped.
    """
    if isinstance(orders, str):
        return [orders]
    if isinstance(orders, pd.DataFrame):
        if "client_order_id" not in orders.columns and "order_id" not in orders.columns:
            raise InputError("the frame has neither a client_order_id nor an order_id column")
        ids: list[str] = []
        done = {s.value for s in DONE_STATUSES}
        for rec in orders.to_dict("records"):
            if str(rec.get("status")) in done:
                continue
            for column in ("client_order_id", "order_id"):
                value = rec.get(column)
                if value is not None and not pd.isna(value):
                    ids.append(str(value))
                    break
        return ids
    ids = [str(i) for i in orders]
    return ids


def _done(order: Order, until: str) -> bool:
    if until == "done":
        return order.status in DONE_STATUSES
    return order.status is not OrderStatus.PENDING


def _merge(known: Order | None, got: Order) -> Order:
    return got if known is None else merge_found(known, got)


def _failed(order: Order, exc: ToolkitError, what: str) -> Order:
    """``order`` shown with the error of its cancel."""
    if isinstance(exc, OrderRejected):
        return dataclasses.replace(
            order, error_code=exc.code, error_msg=f"{what} failed: {exc.msg}"
        )
    code = getattr(exc, "code", None)
    return dataclasses.replace(
        order,
        error_code=code if isinstance(code, int) else None,
        error_msg=f"{what} failed ({type(exc).__name__}): {getattr(exc, 'msg', exc)}",
    )
