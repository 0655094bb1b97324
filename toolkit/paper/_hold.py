"""A gate for order requests that a test (or a demo) opens and closes: no clock involved.

``hold(after=n)`` lets the next ``n`` order-placing requests (``POST order``, ``POST
batchOrders``) through and holds every later one -- read in full, not yet processed, no order
created -- until ``release()``; another ``hold(after=m)`` lets ``m`` more go (the longest-held
first), so a test can move a client forward step by step. A test can then look at a client
*while its batch is still running*, for as long as it needs, without racing a timer; releasing
lets the held requests go on in the order they arrived. Stopping the exchange releases everything.

Example::

    ex.hold_orders(after=10)       # 10 orders are answered, the rest wait
    ...                            # look at the client's progress: 10 answered
    ex.release_orders()            # the rest are processed and answered
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import Any

__all__ = ["OrderGate"]


class OrderGate:
    """The hold on order requests (one per exchange; used on the exchange's loop)."""

    def __init__(self) -> None:
        self._open = True
        self._passes_left = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self.passed = 0  # requests let through since the hold began

    @property
    def holding(self) -> bool:
        """Whether requests beyond the allowance are held."""
        return not self._open

    @property
    def held(self) -> int:
        """Requests waiting now."""
        return sum(1 for w in self._waiters if not w.done())

    def hold(self, after: int = 0) -> None:
        """Let ``after`` more order requests through -- the longest-held first, then new ones
        -- and hold the rest until :meth:`release` (or the next ``hold``)."""
        if after < 0:
            raise ValueError("after must be >= 0")
        if self._open:
            self.passed = 0
        self._open = False
        self._passes_left = after
        while self._passes_left > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._pass()
                waiter.set_result(None)

    def release(self) -> None:
        """Let every held request go on, and stop holding."""
        self._open = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _pass(self) -> None:
        self._passes_left -= 1
        self.passed += 1

    async def wait(self) -> None:
        """Return at once while open or within the allowance; else when let through."""
        if self._open:
            return
        if self._passes_left > 0:
            self._pass()
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if not waiter.done():  # the request was cancelled (its client left)
                waiter.cancel()
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def state(self) -> dict[str, Any]:
        """As JSON: ``holding``, ``passed``, ``held`` and the allowance left."""
        return {
            "holding": self.holding,
            "passed": self.passed,
            "held": self.held,
            "passes_left": self._passes_left if self.holding else None,
        }
