"""Client-side rate limits: wait for budget instead of earning a 429, and honour Retry-After.

Binance counts request *weight* per IP (``REQUEST_WEIGHT``, e.g. 6000/minute on spot),
*orders* per account (``ORDERS``, e.g. 300/10 s on USD-M) and raw requests, in fixed calendar
windows. The limiter keeps one counter per window, seeded from exchangeInfo ``rateLimits``
(:meth:`RateLimiter.configure`) and corrected from the ``X-MBX-USED-WEIGHT-1M`` /
``X-MBX-ORDER-COUNT-10S`` headers of every answer (:meth:`RateLimiter.observe`). A request
that would exceed a window waits for the next one.

While any request waits (for budget or a pause), the limiter is *pacing*: listeners registered
with :meth:`RateLimiter.watch` hear when that starts (with which limit) and when it ends -- a
batch's progress bar says so.

A 429/418 answer pauses *every* request of the transport for ``Retry-After`` seconds
(:meth:`RateLimiter.pause`); a ban (418) or a pause longer than ``max_retry_after`` is not waited
out: requests fail fast with :class:`~toolkit.core._exceptions.RateLimitError` and are not sent.

An exchangeInfo that explicitly advertises no limits (``"rateLimits": []``, e.g. the paper exchange
started with ``--no-rate-limits``) removes the budget windows: no budget waits, while 429/418
pauses still apply. A missing ``rateLimits`` key (``configure`` is not called) keeps them.

Example::

    >>> from toolkit.binance._ratelimit import RateLimitConfig, RateLimiter
    >>> limiter = RateLimiter(RateLimitConfig(weight_per_minute=6000))
    >>> limiter.configure([{"rateLimitType": "ORDERS", "interval": "SECOND",
    ...                     "intervalNum": 10, "limit": 100}])
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core._cutoff import Deadline, as_cutoff
from ..core._exceptions import RateLimitError
from ._headers import counter_header

__all__ = ["DEFAULT_RATE_LIMITS", "RateLimitConfig", "RateLimitStats", "RateLimiter"]

_INTERVAL_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
_KINDS = {"REQUEST_WEIGHT": "weight", "ORDERS": "orders", "RAW_REQUESTS": "raw"}


@dataclass(frozen=True)
class RateLimitConfig:
    """Settings of the client-side limiter (conservative until exchangeInfo says more)."""

    #: False: no budget waits (pauses ordered by a 429/418 ``Retry-After`` are still honoured).
    enabled: bool = True
    #: Request weight per minute before exchangeInfo is read (Binance: spot 6000, USD-M 2400).
    weight_per_minute: int = 1200
    #: Orders per 10 seconds before exchangeInfo is read (Binance: spot 100, USD-M 300).
    orders_per_10s: int = 50
    #: Fraction of each limit we allow ourselves: other programs may share the IP.
    headroom: float = 0.9
    #: A Retry-After longer than this is not waited out; the request fails with RateLimitError.
    max_retry_after: float = 60.0


#: The limiter settings a transport uses unless told otherwise.
DEFAULT_RATE_LIMITS = RateLimitConfig()


@dataclass
class RateLimitStats:
    """Counters for tests and benchmarks."""

    waits: int = 0
    waited_seconds: float = 0.0
    pauses: int = 0


@dataclass
class _Window:
    kind: str  # "weight" | "orders" | "raw"
    seconds: int
    limit: int
    bucket: int = -1
    used: int = 0

    @property
    def name(self) -> str:
        """``"orders 100/10s"``: the kind, the limit and the window."""
        return f"{self.kind} {self.limit}/{self.seconds}s"

    def roll(self, now: float) -> None:
        bucket = math.floor(now / self.seconds)
        if bucket != self.bucket:
            self.bucket, self.used = bucket, 0

    def wait_for(self, amount: int, now: float, headroom: float) -> float:
        """Seconds to wait before ``amount`` fits (0 if it fits now)."""
        if amount <= 0:
            return 0.0
        self.roll(now)
        budget = max(1, math.floor(self.limit * headroom))
        # a single request larger than the budget still goes, alone in a fresh window
        if self.used + amount <= budget or self.used == 0:
            return 0.0
        return (self.bucket + 1) * self.seconds - now + 0.01


@dataclass
class RateLimiter:
    """Weight/order budget shared by all requests of one transport (see the module docstring)."""

    config: RateLimitConfig = field(default_factory=RateLimitConfig)
    #: Wall clock in seconds (Binance windows are calendar-aligned); replaceable in tests.
    clock: Callable[[], float] = time.time
    stats: RateLimitStats = field(default_factory=RateLimitStats)

    def __post_init__(self) -> None:
        self._waiting = 0  # acquire() calls waiting now
        self._watchers: list[Callable[[str | None], None]] = []
        self._windows: list[_Window] = [
            _Window("weight", 60, self.config.weight_per_minute),
            _Window("orders", 10, self.config.orders_per_10s),
        ]
        self._paused_until = 0.0  # in time.monotonic() seconds
        self._banned = False

    def configure(self, rate_limits: Sequence[Mapping[str, Any]]) -> None:
        """Replace the windows with exchangeInfo ``rateLimits`` (unknown entries are skipped).

        An empty list means "no limits": every window is removed. A non-empty list of which no
        entry can be read keeps the current windows.
        """
        windows: list[_Window] = []
        for item in rate_limits:
            kind = _KINDS.get(str(item.get("rateLimitType", "")))
            unit = _INTERVAL_SECONDS.get(str(item.get("interval", "")))
            try:
                seconds = int(item.get("intervalNum", 1)) * (unit or 0)
                limit = int(item["limit"])
            except (KeyError, TypeError, ValueError):
                continue
            if kind and seconds > 0 and limit > 0:
                windows.append(_Window(kind, seconds, limit))
        if windows or not rate_limits:
            self._windows = windows

    def limits(self) -> list[tuple[str, int, int]]:
        """The windows as ``(kind, seconds, limit)``, for display and tests."""
        return [(w.kind, w.seconds, w.limit) for w in self._windows]

    def used(self, kind: str, seconds: int) -> int:
        """What the window ``(kind, seconds)`` has used so far (0 if there is no such window)."""
        now = self.clock()
        for window in self._windows:
            if window.kind == kind and window.seconds == seconds:
                window.roll(now)
                return window.used
        return 0

    @property
    def pacing(self) -> bool:
        """Whether a request is waiting for budget or a ``Retry-After`` pause now."""
        return self._waiting > 0

    def watch(self, listener: Callable[[str | None], None]) -> Callable[[], None]:
        """Call ``listener(why)`` when requests start waiting (``why`` names the limit, e.g.
        ``"orders 100/10s"`` or ``"Retry-After"``) and ``listener(None)`` when none waits any
        more; it is called on the loop that sends. Returns the function that stops it."""
        self._watchers.append(listener)

        def stop() -> None:
            if listener in self._watchers:
                self._watchers.remove(listener)

        return stop

    def _tell(self, why: str | None) -> None:
        for listener in list(self._watchers):
            listener(why)

    def take_now(self, weight: int = 1, orders: int = 0) -> bool:
        """Take ``weight`` and ``orders`` if they fit every window now, with no pause on.

        ``False`` (nothing taken) means :meth:`acquire` must decide: wait, refuse or raise.
        The request path asks this first, so a request that fits costs no coroutine.
        """
        if self._paused_until > 0.0 and self._pause_left() > 0:
            return False
        if not self._windows:
            return True
        amounts = {"weight": weight, "orders": orders, "raw": 1}
        now = self.clock()
        if self.config.enabled and any(
            w.wait_for(amounts[w.kind], now, self.config.headroom) > 0 for w in self._windows
        ):
            return False
        for window in self._windows:
            window.roll(now)
            window.used += amounts[window.kind]
        return True

    async def acquire(
        self, weight: int = 1, orders: int = 0, *, deadline: Deadline = None
    ) -> bool:
        """Wait until ``weight`` and ``orders`` fit every window (and any pause is over), take them.

        Raises :class:`RateLimitError` without waiting while banned (418) or when the pause is
        longer than ``max_retry_after``: the request is then not sent at all. With ``deadline``
        (``loop.time()`` seconds) returns ``False`` at once, taking nothing, when the wait would
        end at or after it (the caller must then not send); otherwise returns ``True``.
        """
        amounts = {"weight": weight, "orders": orders, "raw": 1}
        clock = asyncio.get_running_loop().time
        cutoff = as_cutoff(deadline)
        waiting = False
        try:
            while True:
                why = "Retry-After"
                delay = self._pause_left()
                if delay > 0 and (self._banned or delay > self.config.max_retry_after):
                    raise RateLimitError(
                        -1003,
                        f"rate limited for {delay:.1f} more seconds; request not sent",
                        status=418 if self._banned else 429,
                        retry_after=delay,
                    )
                if delay <= 0 and self.config.enabled:
                    now = self.clock()
                    delay, why = max(
                        (
                            (w.wait_for(amounts[w.kind], now, self.config.headroom), w.name)
                            for w in self._windows
                        ),
                        default=(0.0, ""),
                    )
                if cutoff is not None and cutoff.passed(clock() + max(0.0, delay)):
                    return False  # the wait would end too late: not sent, nothing taken
                if delay <= 0:
                    break
                self.stats.waits += 1
                self.stats.waited_seconds += delay
                if not waiting:
                    waiting = True
                    self._waiting += 1
                    if self._waiting == 1:
                        self._tell(why)
                if cutoff is None:
                    await asyncio.sleep(delay)
                elif not await cutoff.sleep(delay):
                    return False  # stopped while waiting (an interrupt, a halt): not sent
        finally:
            if waiting:
                self._waiting -= 1
                if self._waiting == 0:
                    self._tell(None)
        now = self.clock()
        for window in self._windows:
            window.roll(now)
            window.used += amounts[window.kind]
        return True

    def observe(self, headers: Mapping[str, str]) -> None:
        """Correct the counters from the answer's counter headers (:func:`counter_header`)."""
        if not self._windows:  # no limits (e.g. none advertised): nothing to correct
            return
        now = self.clock()
        for name, value in headers.items():
            counter = counter_header(name)
            if counter is None:
                continue
            kind, seconds = counter
            try:
                used = int(value)
            except ValueError:
                continue
            for window in self._windows:
                if window.kind == kind and window.seconds == seconds:
                    window.roll(now)
                    # requests still in flight are not in the header yet: keep the larger count
                    window.used = max(window.used, used)

    def pause(self, seconds: float, *, ban: bool = False) -> None:
        """Hold every request for ``seconds`` (a 429/418 ``Retry-After``); ``ban`` for 418."""
        self.stats.pauses += 1
        until = time.monotonic() + max(0.0, seconds)
        if until > self._paused_until:
            self._paused_until = until
            self._banned = ban

    def _pause_left(self) -> float:
        left = self._paused_until - time.monotonic()
        if left <= 0:
            self._banned = False
            return 0.0
        return left
