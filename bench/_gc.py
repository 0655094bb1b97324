"""What the garbage collector cost while a measurement ran: every collection, by generation.

``gc.callbacks`` see each collection start and stop on the thread that runs it; a pause stops
every thread of the process, so its wall time is what a batch waiting meanwhile loses.

Example::

    with Collections() as collections:
        run()
    collections.cpu_seconds, collections.pauses(generation=2)
"""

from __future__ import annotations

import gc
import threading
import time
from typing import Any

__all__ = ["Collections"]


class Collections:
    """Each collection while installed: ``(generation, wall seconds, CPU seconds)``."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, float, float]] = []
        self._started: dict[int, tuple[float, float]] = {}

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        me = threading.get_ident()
        if phase == "start":
            self._started[me] = (time.perf_counter(), time.thread_time())
        elif me in self._started:
            wall, cpu = self._started.pop(me)
            self.seen.append(
                (int(info.get("generation", -1)), time.perf_counter() - wall,
                 time.thread_time() - cpu)
            )  # fmt: skip

    @property
    def cpu_seconds(self) -> float:
        """CPU seconds spent in collections (any thread)."""
        return sum(cpu for _, _, cpu in self.seen)

    def pauses(self, generation: int) -> list[float]:
        """Wall seconds of each collection of ``generation``."""
        return [wall for gen, wall, _ in self.seen if gen == generation]

    def __enter__(self) -> Collections:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)
