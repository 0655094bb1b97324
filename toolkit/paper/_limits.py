"""Rate limits as Binance meters them: request weight per IP, order counts per account.

Fixed windows aligned to the interval (a minute window resets at the full minute), like
Binance's counters. Past a limit the answer is HTTP 429 with ``Retry-After`` and ``-1003``
(weight) or ``-1015`` (orders); an IP that keeps going after ``ban_after`` 429s is banned with
HTTP 418 for ``ban_seconds``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ._errors import PaperError
from ._market import SPOT

__all__ = ["DEFAULT_RATE_LIMITS", "RateLimiter", "RateLimits"]

_INTERVALS = {"S": 1, "M": 60, "H": 3600, "D": 86400}
_NAMES = {"S": "SECOND", "M": "MINUTE", "H": "HOUR", "D": "DAY"}


@dataclass(frozen=True)
class RateLimits:
    """Limits per market; ``(count, interval)`` pairs with intervals like ``"1M"``/``"10S"``."""

    spot_weight: tuple[int, str] = (6000, "1M")
    spot_orders: tuple[tuple[int, str], ...] = ((100, "10S"), (200000, "1D"))
    usdm_weight: tuple[int, str] = (2400, "1M")
    usdm_orders: tuple[tuple[int, str], ...] = ((300, "10S"), (1200, "1M"))
    ban_after: int = 5  # 429 answers within one weight window before a 418 ban
    ban_seconds: float = 120.0

    def weight(self, market: str) -> tuple[int, str]:
        """The request-weight limit of ``market``."""
        return self.spot_weight if market == SPOT else self.usdm_weight

    def order_limits(self, market: str) -> tuple[tuple[int, str], ...]:
        """The order-count limits of ``market``."""
        return self.spot_orders if market == SPOT else self.usdm_orders

    def exchange_info(self, market: str) -> list[dict[str, object]]:
        """The ``rateLimits`` list of ``exchangeInfo``."""
        count, interval = self.weight(market)
        out: list[dict[str, object]] = [_limit_json("REQUEST_WEIGHT", count, interval)]
        out += [_limit_json("ORDERS", c, i) for c, i in self.order_limits(market)]
        return out


DEFAULT_RATE_LIMITS = RateLimits()


def _seconds(interval: str) -> int:
    return int(interval[:-1]) * _INTERVALS[interval[-1]]


def _limit_json(kind: str, count: int, interval: str) -> dict[str, object]:
    return {"rateLimitType": kind, "interval": _NAMES[interval[-1]],
            "intervalNum": int(interval[:-1]), "limit": count}


class _Window:
    __slots__ = ("count", "length", "start")

    def __init__(self, length: int) -> None:
        self.length = length
        self.start = 0.0
        self.count = 0

    def current(self, now: float) -> int:
        start = now - now % self.length
        if start != self.start:
            self.start = start
            self.count = 0
        return self.count

    def retry_after(self, now: float) -> int:
        return max(1, math.ceil(self.start + self.length - now))


class RateLimiter:
    """Counters of one exchange; ``enabled=False`` still reports usage headers, never refuses."""

    def __init__(self, limits: RateLimits = DEFAULT_RATE_LIMITS, *, enabled: bool = True) -> None:
        self.limits = limits
        self.enabled = enabled
        self._weight: dict[tuple[str, str], _Window] = {}
        self._orders: dict[tuple[str, str, str], _Window] = {}
        self._strikes: dict[tuple[str, str], int] = {}
        self._banned_until: dict[tuple[str, str], float] = {}

    def exchange_info(self, market: str) -> list[dict[str, object]]:
        """The ``rateLimits`` exchangeInfo advertises: none when limits are off (``enabled=False``,
        ``--no-rate-limits``), so clients do not throttle against a server that never refuses."""
        return self.limits.exchange_info(market) if self.enabled else []

    def _weight_window(self, market: str, ip: str) -> _Window:
        key = (market, ip)
        window = self._weight.get(key)
        if window is None:
            window = self._weight[key] = _Window(_seconds(self.limits.weight(market)[1]))
        return window

    def charge_weight(self, market: str, ip: str, weight: int) -> dict[str, str]:
        """Add ``weight``; returns the usage headers or raises 429/418."""
        now = time.monotonic()
        limit, interval = self.limits.weight(market)
        window = self._weight_window(market, ip)
        used = window.current(now) + weight
        window.count = used
        headers = {f"X-MBX-USED-WEIGHT-{interval}": str(used), "X-MBX-USED-WEIGHT": str(used)}
        if not self.enabled:
            return headers
        who = (market, ip)  # spot and USD-M are separate services with separate bans
        banned = self._banned_until.get(who, 0.0)
        if banned > now:
            until = int(time.time() * 1000 + (banned - now) * 1000)
            headers["Retry-After"] = str(max(1, math.ceil(banned - now)))
            raise PaperError(
                -1003, f"Way too much request weight used; IP banned until {until}. Please use "
                "WebSocket Streams for live updates to avoid bans.", 418, headers)
        if used > limit:
            strikes = self._strikes.get(who, 0) + 1
            self._strikes[who] = strikes
            if strikes > self.limits.ban_after:
                self._strikes[who] = 0
                self._banned_until[who] = now + self.limits.ban_seconds
                return self.charge_weight(market, ip, 0)
            headers["Retry-After"] = str(window.retry_after(now))
            raise PaperError(
                -1003, f"Too much request weight used; current limit is {limit} request weight "
                f"per {interval[:-1]} {_NAMES[interval[-1]]}. Please use WebSocket Streams for "
                "live updates to avoid polling the API.", 429, headers)
        return headers

    def charge_orders(self, market: str, api_key: str, n: int, per_minute: int) -> dict[str, str]:
        """Count ``n`` new orders (``per_minute`` on 1M windows); headers or 429 ``-1015``."""
        now = time.monotonic()
        headers: dict[str, str] = {}
        windows = []
        for limit, interval in self.limits.order_limits(market):
            key = (market, api_key, interval)
            window = self._orders.get(key)
            if window is None:
                window = self._orders[key] = _Window(_seconds(interval))
            add = per_minute if interval.endswith("M") else n
            used = window.current(now) + add
            if self.enabled and used > limit:
                headers["Retry-After"] = str(window.retry_after(now))
                raise PaperError(
                    -1015, f"Too many new orders; current limit is {limit} orders per "
                    f"{interval[:-1]} {_NAMES[interval[-1]]}.", 429, headers)
            windows.append((window, add, interval))
        for window, add, interval in windows:
            window.count += add
            headers[f"X-MBX-ORDER-COUNT-{interval}"] = str(window.count)
        return headers

    def reset(self) -> None:
        """Forget all usage and bans."""
        self._weight.clear()
        self._orders.clear()
        self._strikes.clear()
        self._banned_until.clear()
