"""A gate for order requests that a test (or a demo) opens and closes: no clock involved.

``hold(after=n)`` lets the next ``n`` order-placing requests (``POST order``, ``POST
batchOrders``) through and holds every later one -- read in full, not yet processed, no order
created -- until ``release()``. A test can then look at a client *while its batch is still
running*, for as long as it needs, without racing a timer; releasing lets the held requests go
on in the order they arrived. Stopping the exchange releases everything.

Example::

    ex.hold_orders(after=10)       # 10 orders are answered, the rest wait
    ...                            # look at the client's progress: 10 answered
    ex.release_orders()            # the rest are processed and answered
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["OrderGate"]


class OrderGate:
    """The hold on order requests (one per exchange; used on the exchange's loop)."""

    def __init__(self) -> None:
        self._open = True
        self._passes_left = 0
        self._released: asyncio.Event | None = None
        self.held = 0  # requests waiting now
        self.passed = 0  # requests let through while holding

    @property
    def holding(self) -> bool:
        """Whether requests beyond the allowance are held."""
        return not self._open

    def hold(self, after: int = 0) -> None:
        """Let ``after`` more order requests through, then hold the rest until :meth:`release`."""
        if after < 0:
            raise ValueError("after must be >= 0")
        self._open = False
        self._passes_left = after
        self.passed = 0

    def release(self) -> None:
        """Let every held request go on, and stop holding."""
        self._open = True
        released, self._released = self._released, None
        if released is not None:
            released.set()

    async def wait(self) -> None:
        """Return at once while open or within the allowance; else when released."""
        if self._open:
            return
        if self._passes_left > 0:
            self._passes_left -= 1
            self.passed += 1
            return
        if self._released is None:
            self._released = asyncio.Event()
        released = self._released
        self.held += 1
        try:
            await released.wait()
        finally:
            self.held -= 1

    def state(self) -> dict[str, Any]:
        """As JSON: ``holding``, ``passed``, ``held`` and the allowance left."""
        return {
            "holding": self.holding,
            "passed": self.passed,
            "held": self.held,
            "passes_left": self._passes_left if self.holding else None,
        }
