"""Publish/subscribe of order updates, delivered on each subscriber's own loop.

The session publishes every state change (one list of :class:`~toolkit.core._models.Order` per
finalize step) from the I/O loop. A subscriber that subscribed from inside a running loop (a
notebook cell, the panel) gets its callback on *that* loop, via ``call_soon_threadsafe``, so it
may touch widgets; a subscriber without a running loop gets it on the I/O thread. Publishing only
schedules deliveries: a subscriber never runs inside the finalize step, and a failing callback is
logged, never raised into the session. Callbacks that run on the I/O thread must be quick.

Example::

    sub = session.subscribe(lambda orders: print([o.status for o in orders]))
    ...
    sub.unsubscribe()

    async for orders in session.updates():   # or as an async iterator
        print(orders)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence

from ..core._models import Order

__all__ = ["Callback", "Publisher", "Subscription"]

_log = logging.getLogger("toolkit")

Callback = Callable[[list[Order]], object]
_ids = itertools.count(1)


class Subscription:
    """A live subscription; :meth:`unsubscribe` (or ``with``) ends it.

    Example::

        with session.subscribe(print):
            await tk.batch(df)
    """

    def __init__(
        self,
        publisher: Publisher,
        callback: Callback,
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        self.id = next(_ids)
        self.callback = callback
        #: The loop the callback runs on; None means the I/O thread.
        self.loop = loop
        self._publisher = publisher
        self.active = True
        # Called (on the subscriber's loop) when the publisher closes, to wake iterators.
        self._on_close: Callable[[], object] | None = None

    def unsubscribe(self) -> None:
        """Stop deliveries (idempotent). Deliveries already scheduled are dropped."""
        self.active = False
        self._publisher._remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.unsubscribe()

    def __repr__(self) -> str:
        state = "active" if self.active else "ended"
        return f"<Subscription {self.id} {state} callback={self.callback!r}>"

    def _deliver(self, orders: list[Order]) -> None:
        if not self.active:
            return
        try:
            self.callback(orders)
        except Exception:
            _log.exception("toolkit: subscriber %r failed; it stays subscribed", self.callback)


class Publisher:
    """The subscriber list of one session; :meth:`publish` is called on the I/O loop."""

    def __init__(self) -> None:
        self._subs: dict[int, Subscription] = {}
        self._lock = threading.Lock()

    def subscribe(self, callback: Callback) -> Subscription:
        """Subscribe ``callback(list[Order])``; it runs on the caller's running loop if any."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        sub = Subscription(self, callback, loop)
        with self._lock:
            self._subs[sub.id] = sub
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Same as ``sub.unsubscribe()``."""
        sub.unsubscribe()

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.pop(sub.id, None)

    def __len__(self) -> int:
        return len(self._subs)

    def publish(self, orders: Sequence[Order], io_loop: asyncio.AbstractEventLoop) -> None:
        """Schedule one delivery of ``orders`` per subscriber; never waits for any of them."""
        if not orders:
            return
        batch = list(orders)
        with self._lock:
            subs = list(self._subs.values())
        for sub in subs:
            loop = sub.loop or io_loop
            try:
                if loop is io_loop:
                    loop.call_soon(sub._deliver, batch)
                else:
                    loop.call_soon_threadsafe(sub._deliver, batch)
            except RuntimeError:  # that loop is closed: the subscriber is gone with it
                sub.unsubscribe()

    def close(self) -> None:
        """End every subscription (the session closed); running ``updates()`` loops stop."""
        with self._lock:
            subs = list(self._subs.values())
        for sub in subs:
            sub.unsubscribe()
            if sub._on_close is not None and sub.loop is not None:
                with contextlib.suppress(RuntimeError):  # that loop is closed already
                    sub.loop.call_soon_threadsafe(sub._on_close)

    async def updates(self) -> AsyncIterator[list[Order]]:
        """Yield each published list of orders, on the iterating loop, until the session closes.

        The subscription ends when the iteration stops (``break``, exception, ``aclose``).
        """
        queue: asyncio.Queue[list[Order] | None] = asyncio.Queue()
        sub = self.subscribe(queue.put_nowait)
        sub._on_close = lambda: queue.put_nowait(None)
        try:
            while True:
                orders = await queue.get()
                if orders is None:
                    return
                yield orders
        finally:
            sub.unsubscribe()
