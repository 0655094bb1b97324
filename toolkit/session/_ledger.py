"""The ledger: the one finalize step of a session (normalize -> persist -> publish) and the
order state it keeps (the open orders, and the last state of recent orders).

Every state change of an order -- a batch response, a cancel, a refresh, a stream event, a
reconcile -- goes through :meth:`Ledger.finalize`. Nothing else writes the store after the
write-ahead of a batch, or notifies subscribers. The batch procedure, the order operations and
the order feed are given the session's ledger; none of them knows the session.

Example::

    ledger = Ledger(store, venue="https://api.binance.com", publisher=Publisher(), loop=loop)
    [final] = await ledger.finalize([order], "response")
"""

from __future__ import annotations

import asyncio
import collections
import functools
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import pandas as pd

from ..core._exceptions import StoreError
from ..core._models import OPEN_STATUSES, Order
from ..runtime import _runner
from ..runtime._events import Publisher
from ..store._store import Store
from ._reconcile import changes, fill_bookkeeping, is_behind, merge_found

__all__ = ["REMEMBER", "Ledger", "blocking"]

_T = TypeVar("_T")

#: How many recently finalized orders a ledger remembers (to order concurrent updates).
REMEMBER = 50_000


async def blocking(fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Run a (sync) store call in a worker thread: DuckDB never runs on the I/O loop."""
    loop = asyncio.get_running_loop()
    call = functools.partial(fn, *args, **kwargs)
    try:
        return await loop.run_in_executor(None, call)
    except RuntimeError as exc:  # at interpreter exit worker threads are gone: block briefly
        if "after shutdown" not in str(exc):
            raise
        return call()


class Ledger:
    """One session's finalize step and order state; see the module docstring.

    ``store`` is the session's store, ``venue`` the server its orders are recorded for,
    ``publisher`` the session's subscribers and ``loop`` toolkit's I/O loop (publishing is
    marshalled from there). Create and use it on the I/O loop.
    """

    def __init__(
        self,
        store: Store,
        *,
        venue: str,
        publisher: Publisher,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.store = store
        self.venue = venue
        self.publisher = publisher
        self._loop = loop
        self._open: dict[str, Order] = {}
        # The last finalized state of recent orders, to keep updates from going backwards.
        self._last: dict[str, Order] = {}
        self._lock = asyncio.Lock()
        # Guards _open against readers on other threads (open_orders()).
        self._state_lock = threading.Lock()
        # Orders a batch is sending (client order id -> batches), and the stream updates about
        # them held until their answers are finalized (hold_stream / release_stream).
        self._sending: collections.Counter[str] = collections.Counter()
        self._held: dict[str, list[Order]] = {}

    async def run(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """``fn(*args, **kwargs)`` (a store call) in a worker thread."""
        return await blocking(fn, *args, **kwargs)

    def open_orders(self) -> list[Order]:
        """The open orders as last finalized (no request); safe from any thread."""
        with self._state_lock:
            return list(self._open.values())

    def last(self, client_order_id: str) -> Order | None:
        """The last state finalized for ``client_order_id`` (if still remembered)."""
        return self._last.get(client_order_id)

    async def known(self, ids: Sequence[str]) -> dict[str, Order]:
        """Stored and open orders by client order id *and* by order id, for the given ids."""
        if not ids:
            return {}
        found: dict[str, Order] = {}
        for order in await self.run(self.store.records, order_ids=list(ids)):
            found[order.client_order_id] = order
            if order.order_id:
                found.setdefault(order.order_id, order)
        for order in self.open_orders():
            found[order.client_order_id] = order
            if order.order_id:
                found[order.order_id] = order
        return found

    async def finalize(
        self,
        orders: Sequence[Order],
        source: str,
        *,
        finish: str | None = None,
        claim: tuple[str, pd.Timestamp] | None = None,
        publish_on_error: bool = False,
    ) -> list[Order]:
        """normalize -> persist -> update the order state -> publish. The only path.

        Returns the orders as finalized (positional). Updates are serialized per ledger, and
        an update that is *behind* what the ledger already knows (a batch answer saying NEW
        after the stream said FILLED) does not regress it: the known state wins, with the
        update's bookkeeping (batch, key, position) filled in.

        ``finish`` (a batch id) finishes that batch in the same store transaction. ``claim``
        ``(batch_id, not_after)`` re-arms orders proven not placed with a compare-and-set
        (``Store.claim_unplaced``) instead of an upsert: only the orders claimed are returned
        (and published) -- the others were claimed by a concurrent re-run. With
        ``publish_on_error`` a ``StoreError`` still updates the order state and publishes
        (the exchange's answer is the truth) before it is raised. Stream updates about orders a
        batch is sending are held until their answers are finalized (:meth:`hold_stream`).
        """
        if source == "stream" and self._sending:
            orders = self._hold(orders)
        if not orders and finish is None:
            return []
        async with self._lock:
            now: pd.Timestamp | None = None  # taken once, only if an update has no time
            done: list[Order] = []
            changed: list[Order] = []
            for order in orders:
                known = self._last.get(order.client_order_id)
                if claim is None and known is not None and (
                    known is order  # finalized already (a batch's last look at its orders)
                    or (source == "stream" and _echoes(order, known))
                ):
                    # nothing to normalize: the known state, as it is (the stream repeating
                    # what the ledger knows, a batch answer's NEW and FILL, comes back as it)
                    done.append(known)
                    continue
                if order.updated_at is None and now is None:
                    now = pd.Timestamp.now(tz="UTC")
                final = self._normalize(order, now, known)
                done.append(final)
                # An update equal to the state already persisted (the stream echoing a batch
                # answer, a refresh of an unchanged order) costs no store write and no
                # publish; the caller still gets every order back, in place.
                if claim is not None or _is_news(final, known):
                    changed.append(final)
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

    async def finish_resolved(self, batch_ids: Iterable[str]) -> list[str]:
        """Finish the batches that are unfinished and have no PENDING order left (see
        ``Store.submit_finish_resolved``); the ones finished."""
        finished: list[str] = await _runner.outcome(
            self.store.submit_finish_resolved(batch_ids)
        )
        return finished

    def hold_stream(self, client_order_ids: Sequence[str]) -> None:
        """A batch is about to send these orders: stream updates about them wait for their
        answers (:meth:`release_stream`). The answer and the stream mostly say the same (a
        market order's NEW and FILL), so the updates then cost no store write; finalized
        first, each would cost one, on the I/O loop, while the batch sends."""
        self._sending.update(client_order_ids)

    async def release_stream(self, client_order_ids: Sequence[str]) -> None:
        """The answers about these orders are finalized: finalize the stream updates held for
        them (the ones that say something new: a later fill) in the order they came."""
        held: list[Order] = []
        for cid in client_order_ids:
            self._sending[cid] -= 1
            if self._sending[cid] <= 0:
                del self._sending[cid]
                held.extend(self._held.pop(cid, ()))
        if held:
            await self.finalize(held, "stream")

    def _hold(self, orders: Sequence[Order]) -> list[Order]:
        """Hold the stream updates about orders being sent; the others, to finalize now."""
        now: list[Order] = []
        for order in orders:
            if order.client_order_id in self._sending:
                self._held.setdefault(order.client_order_id, []).append(order)
            else:
                now.append(order)
        return now

    def _publish(self, done: list[Order], *, remember: bool = True) -> None:
        if remember:
            for order in done:
                self._remember(order)
        if done:
            self.publisher.publish(done, self._loop)

    @staticmethod
    def _normalize(order: Order, now: pd.Timestamp | None, known: Order | None) -> Order:
        if order.updated_at is None:
            order = order.evolve(updated_at=now)
        if known is None:
            return order
        if is_behind(order, known):
            return fill_bookkeeping(merge_found(order, known), known)
        return fill_bookkeeping(order, known)

    def _remember(self, order: Order) -> None:
        cid = order.client_order_id
        self._last.pop(cid, None)
        self._last[cid] = order
        if len(self._last) > REMEMBER:
            del self._last[next(iter(self._last))]
        with self._state_lock:
            if order.status in OPEN_STATUSES:
                self._open[cid] = order
            else:
                self._open.pop(cid, None)


def _is_news(update: Order, known: Order | None) -> bool:
    """False when ``update`` says nothing new about ``known``, the last state persisted for it:
    the one change rule (:func:`toolkit.session._reconcile.changes`), or it brings its key."""
    return (known is not None and _brings_key(update, known)) or changes(known, update)


def _echoes(update: Order, known: Order) -> bool:
    """True if finalizing ``update`` would surely find nothing new to persist about ``known``:
    it is behind it (normalized, it becomes the known state), or it tells the same state as it
    came (normalizing only fills in fields the update leaves ``None``, and those are ``None`` in
    ``known`` too). Otherwise the full normalize and change rule decide."""
    if _brings_key(update, known):
        return False  # news for the key (_is_news)
    return not changes(known, update) or is_behind(update, known)


def _brings_key(update: Order, known: Order) -> bool:
    """The stream told ``known`` before the batch answer brought its batch and key: news."""
    return known.batch_id is None and update.batch_id is not None
