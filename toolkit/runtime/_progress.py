"""A batch's progress bar: moved by each answer, the true rate, and why it waits.

The batch tells :class:`Progress`, on the I/O loop, each time answers arrive (:meth:`advance`:
one per spot order, five per USD-M ``batchOrders`` chunk) and when the client-side rate limiter
starts or stops holding requests back (:meth:`paced`, a
:meth:`~toolkit.binance._ratelimit.RateLimiter.watch` listener). The bar itself -- ``tqdm.auto``: a
widget in Jupyter and Voilà, text on a terminal -- lives on the *caller's* side and is only
touched there, through the caller's dispatcher (see :func:`toolkit.runtime._runner.ui_dispatcher`).
A long candle load reports to the same kind of bar, counting candles: the session hands
:func:`caller_bar` to the store's ``load_candles``, which only reports.

**The rate is the average since the batch began sending** (answers / elapsed), computed here
from an injected clock and shown as the bar's postfix (``"25.0 orders/s"``); tqdm's own rate is
hidden. tqdm's default is an exponential moving average of the rate between two redraws, and a
batch arrives in bursts: 16 answers at once (the concurrency), a chunk of 5, then nothing while
the exchange's order budget refills. The moving average then shows the speed of the last burst
(150 orders in 6 s were shown as 713 orders/s) and swings between bursts and pauses; the average
is what the batch really achieves, and the time left estimated from it (tqdm with
``smoothing=0``) is honest too. While any request waits for the rate-limit budget or a
``Retry-After`` pause, the postfix says ``paced by rate limit (...)``, so a slow bar says why.

Redraws are coalesced: at most one per ``interval`` seconds while answers stream in, always one
for the last answer before a pause (a trailing redraw), and one at once when pacing starts or
stops -- a 10,000-order batch does not send 10,000 widget messages.

**A bar you display yourself.** ``batch(..., progress=bar)`` with a tqdm bar (``tqdm.auto``)
moves that bar instead of making one: it is reset to the batch's total, shows the average rate,
and is left open for the next batch. That is what Voilà needs: Voilà shows a cell's output only
once the cell has run (by default, once the whole notebook has), so a bar made by the batch
itself appears at 100%; a bar displayed by an earlier cell (or in a dashboard's layout) is on
the page already and moves while the batch runs -- with Voilà's progressive rendering when a
later cell awaits the batch, or with the batch started as a task (a button's handler).

Example::

    bar = Progress(dispatch, total=150, desc="paper spot")
    bar.advance(1)               # on the I/O loop, per answer
    bar.paced("orders 100/10s")  # the limiter holds requests back
    bar.close()
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from typing import Any, Protocol

from . import _runner

__all__ = ["PACED", "Bar", "Progress", "ProgressOption", "adopt", "caller_bar", "tqdm_bar"]

#: What the bar says while the client-side rate limiter holds requests back.
PACED = "paced by rate limit"

#: tqdm's layout without tqdm's own (smoothed) rate: the postfix carries ours.
_BAR_FORMAT = (
    "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"
)


class Bar(Protocol):
    """The part of a tqdm bar that :class:`Progress` uses (tests pass a recording fake)."""

    def reset(self, total: int | None = None) -> None:
        """Start again from 0 of ``total``."""

    def update(self, n: int = 1) -> Any:
        """Add ``n`` to the count and redraw."""

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        """Set the text after the counts."""

    def refresh(self) -> Any:
        """Redraw."""

    def close(self) -> None:
        """Finish the bar."""


#: What ``batch(progress=...)`` takes: ``None`` (a bar from ``progress_threshold`` orders on),
#: ``True``/``False`` (a bar or none), or a tqdm bar to move (see "A bar you display yourself").
ProgressOption = bool | Bar | None


def adopt(bar: Any) -> Callable[[int, str], Bar]:
    """A bar factory that hands out ``bar`` (a tqdm bar the caller displayed), reset to the
    batch's total and set to redraw when :class:`Progress` says and to estimate the time left
    from the average rate (its description stays the caller's)."""

    def make(total: int, desc: str) -> Bar:
        # tqdm's own throttles would drop the last redraw before a pause: Progress decides
        bar.mininterval, bar.miniters, bar.dynamic_miniters = 0, 1, False
        bar.smoothing = 0  # its time left from the average rate, like ours
        bar.bar_format = _BAR_FORMAT
        adopted: Bar = bar
        adopted.reset(total=total)
        return adopted

    return make


def tqdm_bar(total: int, desc: str, unit: str = "order") -> Bar:
    """A ``tqdm.auto`` bar (a widget in notebooks) that redraws on every call (``Progress``
    decides how often) and estimates the time left from the average rate."""
    from tqdm.auto import tqdm

    bar: Bar = tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=unit != "order",  # (129.6k candles; orders are counted one by one)
        leave=True,
        mininterval=0,
        miniters=1,
        smoothing=0,
        bar_format=_BAR_FORMAT,
    )
    return bar


class Progress:
    """A bar of work done on the I/O loop (a batch's orders, a load's candles):
    :meth:`advance`, :meth:`paced` and :meth:`close` are called on the I/O loop; the bar is
    created and drawn through ``dispatch``, on the caller's side.

    ``unit`` names what is counted (``"order"``); ``clock`` (monotonic seconds) measures the
    rate; ``bar`` makes the bar (default: ``tqdm_bar`` of that unit);
    ``interval`` is the least time between two redraws while answers stream in;
    ``close_bar=False`` leaves the bar open at the end (a bar the caller owns).
    """

    def __init__(
        self,
        dispatch: Callable[..., None],
        total: int,
        desc: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        bar: Callable[[int, str], Bar] | None = None,
        interval: float = 0.1,
        close_bar: bool = True,
        unit: str = "order",
    ) -> None:
        self._dispatch = dispatch
        self._unit = unit
        if bar is None:
            bar = functools.partial(tqdm_bar, unit=unit)
        self._close_bar = close_bar  # False: the caller's bar stays open for the next batch
        self._clock = clock
        self._interval = interval
        self._started = clock()
        self._done = 0  # answers so far (I/O side)
        self._shown = 0  # answers handed to the bar
        self._pacing: str | None = None
        self._last_draw = float("-inf")
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._bar: Bar | None = None  # caller side only
        dispatch(self._open, bar, total, desc)

    @property
    def done(self) -> int:
        """Answers counted so far."""
        return self._done

    def rate(self) -> float:
        """Answers per second since the batch began sending (0 before the clock moves)."""
        elapsed = self._clock() - self._started
        return self._done / elapsed if elapsed > 0 else 0.0

    def postfix(self) -> str:
        """The text after the counts: the rate, and the pacing note while it applies."""
        text = f"{self.rate():.1f} {self._unit}s/s"
        if self._pacing is not None:
            text += f", {PACED}" + (f" ({self._pacing})" if self._pacing else "")
        return text

    def advance(self, n: int) -> None:
        """``n`` more answers arrived (or rows were settled without a request)."""
        if n <= 0 or self._closed:
            return
        self._done += n
        wait = self._last_draw + self._interval - self._clock()
        if wait <= 0:
            self._draw()
        elif self._timer is None:  # draw the last answers of a burst even if none follow
            self._timer = asyncio.get_running_loop().call_later(wait, self._draw)

    def paced(self, why: str | None) -> None:
        """The rate limiter holds requests back (``why``: which limit) or, ``None``, no more."""
        if why == self._pacing or self._closed:
            return
        self._pacing = why
        self._draw()

    def close(self) -> None:
        """Draw the final state and finish the bar."""
        if self._closed:
            return
        self._pacing = None
        self._draw()
        self._closed = True
        self._dispatch(self._finish)

    def _draw(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._closed:
            return
        self._last_draw = self._clock()
        n, self._shown = self._done - self._shown, self._done
        self._dispatch(self._show, n, self.postfix())

    # -- the caller's side ---------------------------------------------------------------

    def _open(self, make: Callable[[int, str], Bar], total: int, desc: str) -> None:
        self._bar = make(total, desc)

    def _show(self, n: int, postfix: str) -> None:
        if self._bar is None:
            return
        self._bar.set_postfix_str(postfix, refresh=False)
        if n > 0:
            self._bar.update(n)
        else:
            self._bar.refresh()

    def _finish(self) -> None:
        if self._bar is not None and self._close_bar:
            self._bar.close()


def caller_bar(
    total: int, desc: str, *, unit: str = "order", own: Any = None
) -> Progress | None:
    """A :class:`Progress` of ``total`` units of work on the I/O loop, drawn on the side of the
    caller that waits for it; ``None`` when nobody waits on another side (a background task) or
    there is nothing to count. ``own``: the caller's own tqdm bar (displayed already, e.g. in
    Voila), moved and left open (:func:`adopt`).

    Example::

        load_candles(..., progress=functools.partial(caller_bar, desc="candles 1m", unit="candle"))
    """
    dispatch = _runner.ui_dispatcher()
    if dispatch is None or total == 0:
        return None
    if own is not None:
        return Progress(dispatch, total, desc, unit=unit, bar=adopt(own), close_bar=False)
    return Progress(dispatch, total, desc, unit=unit)
