"""The batch's progress bar (issue 13): it moves with each answer, shows the average rate since
the batch began sending, and says when the exchange's rate limit paces the batch.

Unit tests drive :class:`toolkit.runtime._progress.Progress` with an injected clock and a
recording bar, and the real :class:`~toolkit.binance._ratelimit.RateLimiter` with an injected
clock; the integration tests run real batches against the embedded paper exchange, held by its
order gate (no timer decides anything) or paced by its real rate limits, and read the terminal
bar tqdm draws.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest

import toolkit as tk
from toolkit.binance._ratelimit import RateLimitConfig, RateLimiter
from toolkit.paper import RateLimits
from toolkit.runtime import _embedded
from toolkit.runtime._progress import PACED, Progress

from .conftest import PATIENCE, eventually


class FakeClock:
    """Seconds that move only when the test says so."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RecordingBar:
    """The tqdm calls :class:`Progress` makes, recorded."""

    def __init__(self, total: int, desc: str) -> None:
        self.total, self.desc = total, desc
        self.n = 0
        self.postfix = ""
        self.draws: list[tuple[int, str]] = []  # (n, postfix) at every redraw
        self.closed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        self.draws.append((self.n, self.postfix))

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s
        if refresh:
            self.draws.append((self.n, self.postfix))

    def refresh(self) -> None:
        self.draws.append((self.n, self.postfix))

    def reset(self, total: int | None = None) -> None:
        self.n, self.total = 0, total if total is not None else self.total

    def close(self) -> None:
        self.closed = True


def _progress(clock: FakeClock, total: int = 150, interval: float = 0.1) -> tuple[Progress, Any]:
    bars: list[RecordingBar] = []

    def make(total: int, desc: str) -> RecordingBar:
        bars.append(RecordingBar(total, desc))
        return bars[-1]

    def dispatch(fn: Any, *args: Any) -> None:  # the caller's side, synchronously
        fn(*args)

    progress = Progress(dispatch, total, "paper spot", clock=clock, bar=make, interval=interval)
    return progress, bars[0]


async def test_the_bar_moves_with_each_answer_at_the_average_rate() -> None:
    clock = FakeClock(100.0)
    progress, bar = _progress(clock)
    assert (bar.total, bar.desc) == (150, "paper spot")
    clock.now = 100.5
    progress.advance(1)
    assert bar.n == 1  # the first answer is drawn at once
    assert bar.postfix == "2.0 orders/s"
    # a burst: 15 answers within the redraw interval are coalesced, and the last of them is
    # drawn even though no answer follows (a trailing redraw)
    clock.now = 100.55
    for _ in range(15):
        progress.advance(1)
    assert progress.done == 16
    await eventually(lambda: bar.n == 16, "the trailing redraw of the burst")
    assert bar.postfix == f"{16 / 0.55:.1f} orders/s"
    # then the exchange's budget refills for 9.45 s: the rate is the average since the
    # start (16 in 10 s), not the speed of the last burst (tqdm's smoothed rate)
    clock.now = 110.0
    progress.advance(1)
    assert (bar.n, bar.postfix) == (17, "1.7 orders/s")
    progress.close()
    assert bar.closed
    assert bar.n == 17
    progress.advance(5)  # nothing after the end
    assert bar.n == 17


async def test_the_bar_says_when_the_rate_limit_paces_the_batch() -> None:
    clock = FakeClock(109.99)  # 10 ms before the next 10-second window
    limiter = RateLimiter(RateLimitConfig(headroom=1.0), clock=clock)
    limiter.configure([{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                        "limit": 2}])  # fmt: skip
    progress, bar = _progress(FakeClock(0.0))
    stop = limiter.watch(progress.paced)
    assert await limiter.acquire(orders=1)
    assert await limiter.acquire(orders=1)
    assert not limiter.pacing
    third = asyncio.ensure_future(limiter.acquire(orders=1))
    await eventually(lambda: limiter.pacing, "the third order waiting for budget")
    assert bar.postfix.endswith(f"{PACED} (orders 2/10s)")
    assert not third.done()  # the window has not rolled on the limiter's clock
    clock.now = 110.5  # the next window: the wait ends
    assert await asyncio.wait_for(third, PATIENCE)
    assert not limiter.pacing
    assert PACED not in bar.postfix
    assert [PACED in p for _, p in bar.draws] == [True, False]
    # a 429's Retry-After pause holds every request: heard too (the wait starts at once,
    # in the same step as the pause, so it always happens)
    limiter.pause(0.5)
    assert await asyncio.wait_for(limiter.acquire(), PATIENCE)
    assert [p.endswith(f"{PACED} (Retry-After)") for _, p in bar.draws[2:]] == [True, False]
    stop()  # the batch is over: its bar hears nothing more
    limiter.pause(0.5)
    assert await asyncio.wait_for(limiter.acquire(), PATIENCE)
    assert len(bar.draws) == 4
    assert limiter.stats.waits >= 3


def _err_text(capsys: pytest.CaptureFixture[str], seen: list[str]) -> str:
    seen.append(capsys.readouterr().err)
    return "".join(seen)


async def test_a_running_batch_shows_each_answer_before_it_ends(
    tkh: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    session = await tk.connect()
    paper = tkh.paper()
    paper.hold_orders(after=10)  # 10 answers, then every order request waits at the exchange
    rows = [tkh.market() for _ in range(60)]
    task = asyncio.ensure_future(session.batch(rows, progress=True, key="held"))
    seen: list[str] = []
    try:
        # answered one by one, not per group of 20 requests
        await eventually(lambda: re.search(r"\b10/60\b", _err_text(capsys, seen)), "10/60")
        assert not task.done()
        assert paper.counters()["gate"]["held"] > 0
    finally:
        paper.release_orders()
    frame = await asyncio.wait_for(task, PATIENCE)
    assert (frame["status"] == "FILLED").all()
    text = _err_text(capsys, seen)
    assert "60/60" in text
    assert re.search(r"\d+\.\d orders/s", text)


async def test_a_batch_paced_by_the_exchange_order_limit_says_so(
    tkh: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # 5 orders per second at the exchange (4 with the client's headroom): 20 orders cannot go
    # out in fewer than 5 one-second windows, so the client must wait for budget
    limits = RateLimits(spot_orders=((5, "1S"),))
    _embedded.configure({"price_mode": "fixed", "rate_limits": limits})  # (the fixture restores)
    session = await tk.connect()
    frame = await session.batch([tkh.market() for _ in range(20)], progress=True)
    assert (frame["status"] == "FILLED").all()
    assert session.transport.limiter.stats.waits > 0
    err = capsys.readouterr().err
    assert f"{PACED} (orders 5/1s)" in err
    assert "20/20" in err
    last = err.rsplit("\r", 1)[-1]
    assert PACED not in last  # the final state no longer says paced


async def test_a_bar_the_caller_displayed_is_moved_and_left_open(tkh: Any) -> None:
    # Voila shows a cell's output only once the cell has run: a dashboard displays its bar
    # first and hands it to the batch
    bar = RecordingBar(0, "my orders")
    bar.n = 7  # left over from an earlier batch
    frame = await tk.batch([tkh.limit() for _ in range(30)], progress=bar, key="own-bar")
    assert (frame["status"] == "NEW").all()
    assert (bar.total, bar.n, bar.desc) == (30, 30, "my orders")
    assert bar.postfix.endswith("orders/s")
    assert not bar.closed  # the caller's bar stays for the next batch
    assert vars(bar)["smoothing"] == 0  # its time left from the average rate
    again = await tk.batch([tkh.limit() for _ in range(5)], progress=bar, key="own-bar-2")
    assert len(again) == 5
    assert (bar.total, bar.n) == (5, 5)
    params = tk.sql("select params from batches where key = 'own-bar'")["params"].iloc[0]
    assert json.loads(params)["progress"] == "bar"  # recorded as JSON, not the object
