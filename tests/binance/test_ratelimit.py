"""The client-side limiter: windows from exchangeInfo, header corrections, waits and pauses."""

from __future__ import annotations

import pytest
from aioresponses import aioresponses

from toolkit.binance._ratelimit import RateLimitConfig, RateLimiter
from toolkit.binance._transport import Transport
from toolkit.binance.adapter import BinanceAdapter
from toolkit.core._exceptions import RateLimitError
from toolkit.core._models import Market

from .conftest import make_config, url


class Clock:
    """A wall clock that stands still; :meth:`sleep` (patched over the limiter's) moves it."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def patch_sleep(self, monkeypatch: pytest.MonkeyPatch) -> list[float]:
        """The limiter sleeps on this clock; returns the list of sleeps."""
        monkeypatch.setattr("toolkit.binance._ratelimit.asyncio.sleep", self.sleep)
        return self.slept


def test_configure_from_exchange_info() -> None:
    limiter = RateLimiter(RateLimitConfig())
    limiter.configure(
        [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5,
             "limit": 61000},
            {"rateLimitType": "SOMETHING", "interval": "MINUTE", "intervalNum": 1, "limit": 1},
            {"rateLimitType": "ORDERS", "interval": "SECOND"},
        ]
    )  # fmt: skip
    assert limiter.limits() == [
        ("weight", 60, 6000),
        ("orders", 10, 100),
        ("orders", 86400, 200000),
        ("raw", 300, 61000),
    ]


async def test_headers_correct_the_counters() -> None:
    clock = Clock(1_700_000_000.0)
    limiter = RateLimiter(RateLimitConfig(), clock=clock)
    await limiter.acquire(weight=3, orders=1)
    assert limiter.used("weight", 60) == 3
    limiter.observe({"x-mbx-used-weight-1m": "250", "X-MBX-ORDER-COUNT-10S": "7", "Other": "1"})
    assert limiter.used("weight", 60) == 250
    assert limiter.used("orders", 10) == 7
    limiter.observe({"X-MBX-USED-WEIGHT-1M": "2"})  # in-flight requests are not in the header yet
    assert limiter.used("weight", 60) == 250
    clock.now += 60
    assert limiter.used("weight", 60) == 0  # a new window


async def test_waits_for_the_next_window_instead_of_exceeding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock(1_800_000_000.0 - 0.08)  # wall time 80 ms before a minute boundary
    slept = clock.patch_sleep(monkeypatch)
    limiter = RateLimiter(RateLimitConfig(weight_per_minute=10, headroom=1.0), clock=clock)
    await limiter.acquire(weight=10)
    assert slept == []
    await limiter.acquire(weight=5)  # does not fit: waits for the next minute
    assert clock.now >= 1_800_000_000.0  # it went out in the next window ...
    assert limiter.stats.waits == len(slept) == 1
    assert 0.08 <= limiter.stats.waited_seconds < 0.2  # ... and waited for that (plus its
    # small margin), not for a whole window
    assert limiter.used("weight", 60) == 5


async def test_budget_exhaustion_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(120.0)
    limiter = RateLimiter(RateLimitConfig(orders_per_10s=4, headroom=1.0), clock=clock)
    slept = clock.patch_sleep(monkeypatch)
    for _ in range(4):
        await limiter.acquire(orders=1)
    assert slept == []
    await limiter.acquire(orders=1)
    assert len(slept) == 1
    assert slept[0] == pytest.approx(10.01)
    assert limiter.stats.waits == 1
    assert limiter.used("orders", 10) == 1


async def test_a_request_larger_than_the_budget_still_goes_alone() -> None:
    limiter = RateLimiter(RateLimitConfig(weight_per_minute=10), clock=Clock(0.5))
    await limiter.acquire(weight=80)  # e.g. openOrders without a symbol
    assert limiter.used("weight", 60) == 80


async def test_disabled_limiter_never_waits_but_honours_bans() -> None:
    limiter = RateLimiter(RateLimitConfig(enabled=False, weight_per_minute=1))
    for _ in range(50):
        await limiter.acquire(weight=10)
    assert limiter.stats.waits == 0
    limiter.pause(30, ban=True)
    with pytest.raises(RateLimitError, match="not sent"):
        await limiter.acquire()


async def test_long_pause_fails_fast() -> None:
    limiter = RateLimiter(RateLimitConfig(max_retry_after=5))
    limiter.pause(30)
    with pytest.raises(RateLimitError) as info:
        await limiter.acquire()
    assert info.value.status == 429
    assert info.value.retry_after > 25


async def test_transport_feeds_headers_to_the_limiter(mock: aioresponses) -> None:
    transport = Transport(make_config(rate_limits=RateLimitConfig(weight_per_minute=6000)))
    mock.get(url("/api/v3/ping"), payload={}, headers={"X-MBX-USED-WEIGHT-1M": "1234"})
    try:
        await transport.request("GET", "/api/v3/ping")
    finally:
        await transport.close()
    assert transport.limiter.used("weight", 60) in (1234, 0)  # 0 only across a minute boundary


async def test_exchange_info_without_limits_removes_the_windows_but_pauses_apply() -> None:
    limiter = RateLimiter(RateLimitConfig(weight_per_minute=10, orders_per_10s=2))
    limiter.configure([])  # exchangeInfo said "rateLimits": [] (paper --no-rate-limits)
    assert limiter.limits() == []
    for _ in range(50):
        await limiter.acquire(weight=5, orders=1)
    assert limiter.stats.waits == 0
    limiter.pause(1.0)  # a 429's Retry-After still holds every request
    await limiter.acquire()
    assert limiter.stats.waits == 1
    assert limiter.stats.waited_seconds > 0.5  # (a loaded machine may take a while to get here)


def test_unreadable_rate_limits_keep_the_windows() -> None:
    limiter = RateLimiter(RateLimitConfig())
    before = limiter.limits()
    limiter.configure([{"rateLimitType": "SOMETHING", "interval": "MINUTE", "limit": 1}])
    assert limiter.limits() == before == [("weight", 60, 1200), ("orders", 10, 50)]


async def test_adapter_applies_empty_rate_limits_and_ignores_a_missing_key(
    mock: aioresponses,
) -> None:
    transport = Transport(make_config(rate_limits=RateLimitConfig()))
    adapter = BinanceAdapter(transport, Market.SPOT)
    before = transport.limiter.limits()
    mock.get(url("/api/v3/exchangeInfo"), payload={"symbols": []})
    mock.get(url("/api/v3/exchangeInfo"), payload={"symbols": [], "rateLimits": []})
    try:
        await adapter.exchange_info()
        assert transport.limiter.limits() == before  # no key: nothing said, keep the windows
        await adapter.exchange_info()
        assert transport.limiter.limits() == []  # explicitly no limits
    finally:
        await transport.close()
