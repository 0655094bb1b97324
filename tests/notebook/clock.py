"""A fake :class:`toolkit.notebook._panel.Clock`: time moves only when a test says so.

Timers run in time order when :meth:`FakeClock.advance` passes them, with the loop drained
between them (so the tasks they wake finish their work first). Nothing depends on how fast the
machine is: the same steps give the same renders, ticks and polls every time.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

#: An arbitrary wall-clock start (2027-01-15), far from the real time on purpose.
WALL_START = 1_800_000_000.0


async def drain(rounds: int = 50) -> None:
    """Let every callback and task that is ready run (no clock involved: only loop turns)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class FakeHandle:
    """A timer of :class:`FakeClock`."""

    def __init__(self, when: float, seq: int, callback: Callable[[], object]) -> None:
        self.when = when
        self.seq = seq
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """Monotonic time starts at 0; wall time at :data:`WALL_START`."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[FakeHandle] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self.now

    def wall(self) -> float:
        return WALL_START + self.now

    def call_later(self, delay: float, callback: Callable[[], object]) -> FakeHandle:
        handle = FakeHandle(self.now + max(0.0, delay), next(self._seq), callback)
        self._timers.append(handle)
        return handle

    async def sleep(self, seconds: float) -> None:
        fut = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not fut.done():
                fut.set_result(None)

        self.call_later(seconds, wake)
        await fut

    def pending(self) -> list[FakeHandle]:
        return sorted((h for h in self._timers if not h.cancelled), key=lambda h: (h.when, h.seq))

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, running each timer due on the way, in order."""
        target = self.now + seconds
        await drain()
        while True:
            due = [h for h in self.pending() if h.when <= target]
            if not due:
                break
            handle = due[0]
            self._timers.remove(handle)
            self.now = max(self.now, handle.when)
            handle.callback()
            await drain()
        self.now = target
