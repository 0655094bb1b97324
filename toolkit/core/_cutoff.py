"""When a batch stops sending: the end of its send window, or a stop (an interrupt, a halt).

A :class:`Cutoff` goes wherever a request may wait before it is sent -- a free request slot, the
rate limiter's budget -- and every one of those waits ends, without sending, once the cutoff has
passed: at its deadline (``loop.time()`` seconds), or at once when :meth:`Cutoff.stop` is called.
Requests already on the wire are never cut short. A plain ``float`` deadline is accepted
wherever a cutoff is (:func:`as_cutoff`).

Example::

    >>> import asyncio
    >>> async def demo():
    ...     cutoff = Cutoff(None)
    ...     cutoff.stop("interrupted")
    ...     return cutoff.passed(0.0), await cutoff.sleep(10), cutoff.why
    >>> asyncio.run(demo())
    (True, False, 'interrupted')
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["ACTIVE", "Cutoff", "Deadline", "as_cutoff", "stop_all"]


class Cutoff:
    """A deadline (``loop.time()`` seconds, or ``None``) and a stop. Use on one event loop."""

    def __init__(self, at: float | None) -> None:
        #: The deadline in ``loop.time()`` seconds, or ``None``.
        self.at = at
        #: Why it stopped (``"interrupted"``, ``"halted: ..."``), or ``None``.
        self.reason: str | None = None
        self._stopped: asyncio.Event | None = None
        self._callbacks: list[Callable[[], None]] = []

    def __repr__(self) -> str:
        return f"<Cutoff at={self.at!r} stopped={self.reason!r}>"

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` was called."""
        return self.reason is not None

    @property
    def why(self) -> str:
        """The reason a request was not sent: the stop's, else the window's."""
        return self.reason or "the send window closed"

    def stop(self, reason: str) -> None:
        """Stop now: no request waiting behind this cutoff is sent (idempotent)."""
        if self.reason is not None:
            return
        self.reason = reason
        if self._stopped is not None:
            self._stopped.set()
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_stop(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` when stopped (at once if already); returns an unregister."""
        if self.stopped:
            callback()
            return lambda: None
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    def passed(self, now: float) -> bool:
        """True if a request must not start at ``now`` (loop time)."""
        return self.stopped or (self.at is not None and now >= self.at)

    async def sleep(self, delay: float) -> bool:
        """Sleep ``delay`` seconds unless stopped first; ``False`` if stopped."""
        if self.stopped:
            return False
        if self._stopped is None:
            self._stopped = asyncio.Event()
        try:
            await asyncio.wait_for(self._stopped.wait(), delay)
        except asyncio.TimeoutError:
            return True
        return False


#: A deadline as the send path takes it: a cutoff, a bare ``loop.time()`` instant, or none.
Deadline = Cutoff | float | None


def as_cutoff(deadline: Deadline) -> Cutoff | None:
    """The cutoff of a deadline given either way."""
    if deadline is None or isinstance(deadline, Cutoff):
        return deadline
    return Cutoff(float(deadline))


#: The cutoffs of the batches sending now in this process (a halt stops them at once). Used on
#: the I/O loop only.
ACTIVE: set[Cutoff] = set()


def stop_all(reason: str) -> None:
    """Stop every batch sending now in this process (call on the I/O loop)."""
    for cutoff in list(ACTIVE):
        cutoff.stop(reason)
