"""The paper exchange's price history: candles for any time range, before and after the start.

Binance answers ``klines`` for years back; a paper exchange that started a minute ago must too. The
history is split at the *anchor*, the minute the exchange was created:

* **Before the anchor** the path is generated, backwards from the starting price, so the last
  generated close is exactly the price the live feed starts at. Each UTC day has its own random
  stream (seeded by ``(seed, symbol, day)``), so any day can be produced on its own, vectorized,
  in well under a millisecond, and the result never depends on which ranges were asked first.
  Days are cached (minutes in a small LRU, hourly aggregates for good).
* **From the anchor on** candles are recorded: every price change of the feed and every fill
  extends the current minute's candle, so each fill lies inside its candle's high and low.

Both markets share one path (the feed moves spot and USD-M by the same factor); prices are scaled
by each market's starting price and snapped to its tick. Volumes are synthetic (a seeded lognormal
around a fixed notional per minute) plus the paper fills. Intervals of an hour or more are built
from hourly aggregates, shorter ones from minutes; ``1s`` candles spread each minute evenly.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from ._market import MARKETS, SPOT, SymbolSpec

__all__ = ["HISTORY_DAYS", "Candles", "MarketHistory"]

Arr = npt.NDArray[np.float64]

SECOND = 1000
MINUTE = 60_000
HOUR = 3_600_000
DAY = 86_400_000
DAY_MINUTES = 1440
#: How far back the generated history goes (the paper "listing date").
HISTORY_DAYS = 1000
_NOTIONAL = 50_000.0  # mean quote volume of one minute, before the lognormal factor
_FIELDS = ("o", "h", "l", "c", "v", "qv", "n", "tbv", "tbqv")


@dataclass
class Candles:
    """Column arrays of consecutive candles (prices in the market's units)."""

    o: Arr
    h: Arr
    l: Arr  # noqa: E741 - the OHLC letter
    c: Arr
    v: Arr
    qv: Arr
    n: Arr
    tbv: Arr
    tbqv: Arr

    def __len__(self) -> int:
        return len(self.o)

    @staticmethod
    def concat(parts: list[Candles]) -> Candles:
        """One block from consecutive blocks."""
        return Candles(*(np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS))

    def slice(self, start: int, stop: int) -> Candles:
        """Rows ``start:stop``."""
        return Candles(*(getattr(self, f)[start:stop] for f in _FIELDS))

    def aggregate(self, starts: npt.NDArray[np.int64]) -> Candles:
        """Merge rows into buckets beginning at the row indices ``starts`` (ascending)."""
        ends = np.append(starts[1:], len(self.o)) - 1
        add = np.add.reduceat
        return Candles(
            self.o[starts], np.maximum.reduceat(self.h, starts),
            np.minimum.reduceat(self.l, starts), self.c[ends], add(self.v, starts),
            add(self.qv, starts), add(self.n, starts), add(self.tbv, starts),
            add(self.tbqv, starts),
        )


#: Recorded one-second prices are kept this long (seconds); older ``1s`` candles are spread
#: from their minute like the generated ones.
SECONDS_KEPT = 3600


class _Live:
    """Recorded minute candles of one symbol on one market, from the anchor on (and the last
    hour's one-second prices)."""

    def __init__(self, price: float, first_second: int) -> None:
        self.last = price
        self.size = 0
        self.cols = {f: np.zeros(1024) for f in _FIELDS}
        self.seen = np.zeros(1024, dtype=bool)
        self.sec: dict[int, list[float]] = {}  # second -> [open, high, low, close]
        self.sec_from = first_second  # seconds from here on are recorded (no event: flat)
        self.sec_before = price  # the price just before ``sec_from``

    def _second(self, second: int, price: float) -> None:
        """Extend the one-second candle of ``second`` with ``price`` (before ``self.last``
        moves, so a new second opens at the previous price)."""
        second = max(second, self.sec_from)
        candle = self.sec.get(second)
        if candle is None:
            candle = self.sec[second] = [self.last] * 4
            if len(self.sec) > SECONDS_KEPT + 600:
                self._prune(second - SECONDS_KEPT)
        candle[1] = max(candle[1], price)
        candle[2] = min(candle[2], price)

    def _prune(self, cutoff: int) -> None:
        old = sorted(s for s in self.sec if s < cutoff)
        if old:
            self.sec_before = self.sec[old[-1]][3]
        for s in old:
            del self.sec[s]
        self.sec_from = cutoff

    def seconds(self, s0: int, s1: int) -> tuple[Arr, Arr, Arr, Arr]:
        """Open, high, low, close of seconds ``s0:s1`` (``s0 >= sec_from``); seconds without
        events repeat the last close."""
        earlier = [s for s in self.sec if s < s0]
        prev = self.sec[max(earlier)][3] if earlier else self.sec_before
        out = np.empty((4, s1 - s0))
        for i, second in enumerate(range(s0, s1)):
            candle = self.sec.get(second)
            if candle is None:
                out[:, i] = prev
            else:
                out[:, i] = candle
                prev = candle[3]
        return out[0], out[1], out[2], out[3]

    def _slot(self, k: int) -> int:
        if k >= len(self.seen):
            grow = max(len(self.seen) * 2, k + 1)
            for f, col in self.cols.items():
                self.cols[f] = np.concatenate([col, np.zeros(grow - len(col))])
            self.seen = np.concatenate([self.seen, np.zeros(grow - len(self.seen), dtype=bool)])
        if not self.seen[k]:
            self.seen[k] = True
            for f in ("o", "h", "l", "c"):
                self.cols[f][k] = self.last
        self.size = max(self.size, k + 1)
        return k

    def price(self, k: int, price: float, second: int) -> None:
        self._second(second, price)
        self.sec[max(second, self.sec_from)][3] = price
        k = self._slot(k)
        c = self.cols
        c["h"][k] = max(c["h"][k], price)
        c["l"][k] = min(c["l"][k], price)
        c["c"][k] = price
        self.last = price

    def trade(self, k: int, price: float, qty: float, buyer_taker: bool, second: int) -> None:
        self._second(second, price)
        k = self._slot(k)
        c = self.cols
        c["h"][k] = max(c["h"][k], price)
        c["l"][k] = min(c["l"][k], price)
        c["v"][k] += qty
        c["qv"][k] += qty * price
        c["n"][k] += 1
        if buyer_taker:
            c["tbv"][k] += qty
            c["tbqv"][k] += qty * price

    def block(self, k0: int, k1: int, start_price: float) -> Candles:
        """Minutes ``k0:k1`` after the anchor; minutes without events repeat the last close."""
        cols = {f: np.zeros(k1 - k0) for f in _FIELDS}
        stop = min(k1, self.size)
        if stop > k0:
            for f in _FIELDS:
                cols[f][: stop - k0] = self.cols[f][k0:stop]
        seen = np.zeros(k1 - k0, dtype=bool)
        if stop > k0:
            seen[: stop - k0] = self.seen[k0:stop]
        before = np.flatnonzero(self.seen[: min(k0, self.size)])
        prev = self.cols["c"][before[-1]] if len(before) else start_price
        idx = np.where(seen, np.arange(k1 - k0), -1)
        last = np.maximum.accumulate(idx) if len(idx) else idx
        fill = np.where(last >= 0, cols["c"][np.maximum(last, 0)], prev)
        for f in ("o", "h", "l", "c"):
            cols[f] = np.where(seen, cols[f], fill)
        return Candles(**cols)


class MarketHistory:
    """Candles of every symbol on both markets (see the module docstring).

    Args:
        specs: ``{market: {symbol: spec}}``; the spec prices are the starting prices.
        seed: seeds the generated history (with the symbol and the day).
        minute_sigma: standard deviation of one minute's log return.
        clock_ms: the exchange clock (ms); read once for the anchor, then for "now".
    """

    def __init__(
        self,
        specs: dict[str, dict[str, SymbolSpec]],
        *,
        seed: int,
        minute_sigma: float,
        clock_ms: Callable[[], int],
    ) -> None:
        self.specs = specs
        self.seed = seed % (2**63)
        self.sigma = minute_sigma
        self.clock_ms = clock_ms
        self.anchor = clock_ms() // MINUTE
        self.anchor_day = self.anchor // DAY_MINUTES
        self.first_minute = (self.anchor_day - HISTORY_DAYS) * DAY_MINUTES
        self.symbol_index = {s: i for i, s in enumerate(sorted(specs[SPOT]))}
        self.start = {m: {s: float(spec.price) for s, spec in by.items()}
                      for m, by in specs.items()}
        self._live = {(m, s): _Live(self.start[m][s], self.anchor * 60)
                      for m in MARKETS for s in specs[m]}
        self.update_ids = {(m, s): 1_000_000 for m in MARKETS for s in specs[m]}
        self._day_sum: dict[tuple[str, int], float] = {}
        self._after: dict[tuple[str, int], float] = {}
        self._minutes: OrderedDict[tuple[str, int], Candles] = OrderedDict()
        self._hours: dict[tuple[str, str, int], Candles] = {}

    # ----------------------------------------------------------------- recording
    def on_price(self, market: str, symbol: str, price: Decimal, time_ms: int) -> None:
        """The feed moved (engine price listener)."""
        live = self._live.get((market, symbol))
        if live is not None:
            live.price(max(0, time_ms // MINUTE - self.anchor), float(price), time_ms // SECOND)
            self.update_ids[(market, symbol)] += 1

    def on_fill(self, market: str, symbol: str, price: Decimal, qty: Decimal, buyer_taker: bool,
                time_ms: int) -> None:
        """A paper fill: extends the candle's range and adds to its volume."""
        live = self._live.get((market, symbol))
        if live is not None:
            live.trade(max(0, time_ms // MINUTE - self.anchor), float(price), float(qty),
                       buyer_taker, time_ms // SECOND)
            self.update_ids[(market, symbol)] += 1

    # ----------------------------------------------------------------- generation
    def _rng(self, symbol: str, day: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.symbol_index[symbol], day])

    def _returns(self, symbol: str, day: int) -> Arr:
        return self._rng(symbol, day).normal(0.0, self.sigma, DAY_MINUTES)

    def _draws(self, symbol: str, day: int) -> tuple[Arr, Arr, Arr, Arr]:
        """The day's returns, wicks (2 rows), volume factors and taker-buy shares."""
        rng = self._rng(symbol, day)
        r = rng.normal(0.0, self.sigma, DAY_MINUTES)  # first: ``_returns`` draws the same
        wick = np.abs(rng.normal(0.0, self.sigma * 0.6, (2, DAY_MINUTES)))
        vol = np.exp(rng.normal(0.0, 0.5, DAY_MINUTES))
        taker = rng.uniform(0.35, 0.65, DAY_MINUTES)
        return r, wick, vol, taker

    def _history_len(self, day: int) -> int:
        """Minutes of ``day`` before the anchor."""
        return DAY_MINUTES if day < self.anchor_day else self.anchor - day * DAY_MINUTES

    def _sum_after(self, symbol: str, day: int) -> float:
        """Sum of the generated returns after ``day`` and before the anchor."""
        if day >= self.anchor_day:
            return 0.0
        cached = self._after.get((symbol, day))
        if cached is not None:
            return cached
        d = day + 1
        while d < self.anchor_day and (symbol, d) not in self._after:
            d += 1
        total = self._after.get((symbol, d), 0.0) if d < self.anchor_day else 0.0
        while d > day:  # walk back towards ``day``, caching every step
            day_sum = self._day_sum.get((symbol, d))
            if day_sum is None:
                day_sum = float(self._returns(symbol, d)[: self._history_len(d)].sum())
                self._day_sum[(symbol, d)] = day_sum
            total += day_sum
            d -= 1
            self._after[(symbol, d)] = total
        return total

    def _day(self, symbol: str, day: int) -> Candles:
        """Generated minutes of ``day`` before the anchor, in log-price / unit-volume space."""
        key = (symbol, day)
        cached = self._minutes.get(key)
        if cached is not None:
            self._minutes.move_to_end(key)
            return cached
        n = self._history_len(day)
        r, wick, vol, taker = self._draws(symbol, day)
        r, wick, vol, taker = r[:n], wick[:, :n], vol[:n], taker[:n]
        suffix = np.cumsum(r[::-1])[::-1] - r  # returns after each minute, within the day
        close = -(suffix + self._sum_after(symbol, day))
        open_ = close - r
        high = np.maximum(open_, close) + wick[0]
        low = np.minimum(open_, close) - wick[1]
        mid = np.exp((open_ + high + low + close) / 4)
        trades = np.ceil(vol * 40)
        out = Candles(open_, high, low, close, vol, vol * mid, trades, vol * taker,
                      vol * mid * taker)
        self._minutes[key] = out
        if len(self._minutes) > 256:
            self._minutes.popitem(last=False)
        return out

    def _day_hours(self, market: str, symbol: str, day: int) -> Candles:
        # Aggregated from the market's rounded minutes, so an hour is exactly its 60 minutes.
        key = (market, symbol, day)
        cached = self._hours.get(key)
        if cached is None:
            minutes = self._to_market(market, symbol, self._day(symbol, day))
            cached = self._hours[key] = minutes.aggregate(
                np.arange(0, DAY_MINUTES, 60, dtype=np.int64))
        return cached

    def _volume_places(self, market: str, symbol: str) -> tuple[int, int]:
        """Decimals of base and quote volumes (quote: 8 on spot, price + qty places on USD-M)."""
        spec = self.specs[market][symbol]
        quote = 8 if market == SPOT else spec.price_places + spec.qty_places
        return spec.qty_places, quote

    def _to_market(self, market: str, symbol: str, block: Candles) -> Candles:
        spec = self.specs[market][symbol]
        tick = float(spec.tick)
        p0 = self.start[market][symbol]
        scale = _NOTIONAL / self.start[SPOT][symbol]

        def price(logs: Arr) -> Arr:
            return np.maximum(np.round(p0 * np.exp(logs) / tick), 1.0) * tick

        qp, vp = self._volume_places(market, symbol)
        return Candles(
            price(block.o), price(block.h), price(block.l), price(block.c),
            np.round(block.v * scale, qp), np.round(block.qv * scale * p0, vp), block.n,
            np.round(block.tbv * scale, qp), np.round(block.tbqv * scale * p0, vp),
        )

    # ----------------------------------------------------------------- blocks
    def minutes(self, market: str, symbol: str, m0: int, m1: int) -> Candles:
        """Minute candles for absolute minutes ``m0:m1`` (within history and up to now)."""
        parts: list[Candles] = []
        m = m0
        while m < min(m1, self.anchor):
            day = m // DAY_MINUTES
            base = day * DAY_MINUTES
            stop = min(m1, self.anchor, base + DAY_MINUTES)
            parts.append(self._to_market(
                market, symbol, self._day(symbol, day).slice(m - base, stop - base)))
            m = stop
        if m < m1:
            block = self._live[(market, symbol)].block(
                m - self.anchor, m1 - self.anchor, self.start[market][symbol])
            # Synthetic market volume on top of the paper fills, from the same daily streams.
            scale = _NOTIONAL / self.start[SPOT][symbol]
            qp, vp = self._volume_places(market, symbol)
            live_start = m
            while m < m1:
                day = m // DAY_MINUTES
                base = day * DAY_MINUTES
                stop = min(m1, base + DAY_MINUTES)
                _r, _wick, vol_all, taker_all = self._draws(symbol, day)
                vol = vol_all[m - base: stop - base]
                taker = taker_all[m - base: stop - base]
                i0 = m - live_start
                i1 = i0 + (stop - m)
                mid = (block.o[i0:i1] + block.h[i0:i1] + block.l[i0:i1] + block.c[i0:i1]) / 4
                v = np.round(vol * scale, qp)
                tbv = np.round(v * taker, qp)
                block.v[i0:i1] += v
                block.qv[i0:i1] += np.round(v * mid, vp)
                block.n[i0:i1] += np.ceil(vol * 40)
                block.tbv[i0:i1] += tbv
                block.tbqv[i0:i1] += np.round(tbv * mid, vp)
                m = stop
            parts.append(block)
        if not parts:
            return Candles(*(np.zeros(0) for _ in _FIELDS))
        return parts[0] if len(parts) == 1 else Candles.concat(parts)

    def hours(self, market: str, symbol: str, h0: int, h1: int) -> Candles:
        """Hourly candles for absolute hours ``h0:h1`` (the last may be in progress)."""
        split = self.anchor_day * 24
        parts: list[Candles] = []
        h = h0
        while h < min(h1, split):
            day = h // 24
            stop = min(h1, split, (day + 1) * 24)
            parts.append(self._day_hours(market, symbol, day).slice(h - day * 24, stop - day * 24))
            h = stop
        if h < h1:
            now_minute = self.clock_ms() // MINUTE
            m1 = min(h1 * 60, now_minute + 1)
            block = self.minutes(market, symbol, h * 60, m1)
            parts.append(block.aggregate(np.arange(0, len(block), 60, dtype=np.int64)))
        return parts[0] if len(parts) == 1 else Candles.concat(parts)

    def live_seconds(self, market: str, symbol: str, s0: int, s1: int
                     ) -> tuple[int, tuple[Arr, Arr, Arr, Arr]] | None:
        """Recorded one-second prices inside ``s0:s1``: ``(first recorded second, (o, h, l, c))``,
        or ``None`` when the range ends before what is kept."""
        live = self._live[(market, symbol)]
        first = max(s0, live.sec_from)
        if first >= s1:
            return None
        return first, live.seconds(first, s1)

    def last_price(self, market: str, symbol: str) -> float:
        """The latest recorded price (the feed's price)."""
        return self._live[(market, symbol)].last


#: Cap of the generated history's per-minute volatility (about 3 % a day): the live walk is made
#: lively for tests, but compounded over years it would leave no sensible price.
MAX_MINUTE_SIGMA = 0.0008


def minute_sigma(volatility: float, tick_interval: float) -> float:
    """Per-minute volatility of a walk of ``volatility`` per tick every ``tick_interval`` s
    (capped at :data:`MAX_MINUTE_SIGMA`)."""
    return min(volatility * math.sqrt(60.0 / tick_interval), MAX_MINUTE_SIGMA)
