"""Market-data endpoints: ``klines``, ``depth``, ``ticker/24hr`` and ``avgPrice`` (spot and USD-M).

Everything is derived from the exchange's own price path (:class:`~._history.MarketHistory`), so it
is deterministic under the seed and consistent with the fills: candles contain every fill, depth is
centred on the current price (best bid one tick below, best ask one tick above), the 24-hour
ticker and the average price are computed from the same candles.

Shapes, limits and weights follow Binance's documentation (spot ``rest-api.md`` of
binance/binance-spot-api-docs; USD-M "Kline/Candlestick Data", "Order Book", "24hr Ticker Price
Change Statistics" on developers.binance.com):

========================  ==================================  ==================================
endpoint                  limit (default / max)               weight
========================  ==================================  ==================================
``/api/v3/klines``        500 / 1000                          2
``/fapi/v1/klines``       500 / 1500                          1 (<100), 2 (<500), 5 (<=1000), 10
``/api/v3/depth``         100 / 5000                          5, 25 (>100), 50 (>500), 250
``/fapi/v1/depth``        500; 5, 10, 20, 50, 100, 500, 1000  2, 5 (100), 10 (500), 20 (1000)
``/api/v3/ticker/24hr``   symbol or symbols                   2 (1-20 symbols), 40, 80 (all)
``/fapi/v1/ticker/24hr``  symbol or none                      1, 40 (all)
``/api/v3/avgPrice``      symbol                              2
========================  ==================================  ==================================
"""

from __future__ import annotations

import calendar
import json
from datetime import datetime, timezone
from typing import Any

import numpy as np

from ._app import Route, ServerState
from ._errors import PaperError, illegal_chars, mandatory
from ._history import DAY, HOUR, MINUTE, SECOND, Candles, MarketHistory
from ._market import FUTURES, MARKETS, SPOT, SymbolSpec

__all__ = ["INTERVALS", "market_data_routes"]

#: Kline intervals in milliseconds (``1M`` is a calendar month); ``1s`` exists on spot only.
INTERVALS: dict[str, int] = {
    "1s": SECOND, "1m": MINUTE, "3m": 3 * MINUTE, "5m": 5 * MINUTE, "15m": 15 * MINUTE,
    "30m": 30 * MINUTE, "1h": HOUR, "2h": 2 * HOUR, "4h": 4 * HOUR, "6h": 6 * HOUR,
    "8h": 8 * HOUR, "12h": 12 * HOUR, "1d": DAY, "3d": 3 * DAY, "1w": 7 * DAY, "1M": 0,
}
_WEEK_OFFSET = 4 * DAY  # weeks open on Monday 00:00 UTC; the epoch was a Thursday
_FUT_DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
_INVALID_SYMBOL = PaperError(-1121, "Invalid symbol.")
_INVALID_INTERVAL = PaperError(-1120, "Invalid interval.")


def _history(state: ServerState) -> MarketHistory:
    history = state.history
    if history is None:  # pragma: no cover - PaperExchange always sets it
        raise PaperError(-1000, "Market data is not available.", 500)
    return history


def _spec(state: ServerState, params: dict[str, str], market: str) -> SymbolSpec:
    symbol = params.get("symbol")
    if not symbol:
        raise mandatory("symbol")
    spec = state.engine.specs[market].get(symbol)
    if spec is None:
        raise _INVALID_SYMBOL
    return spec


def _int(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.lstrip("-").isdigit() or len(raw) > 20:
        raise illegal_chars(name, "^[0-9]{1,20}$")
    return int(raw)


def _limit_param(params: dict[str, str], default: int) -> int:
    try:
        value = _int(params, "limit")
    except PaperError:
        return default
    return default if value is None else value


# --------------------------------------------------------------------- candle selection
def _month_open(t: int, step: int = 0) -> int:
    when = datetime.fromtimestamp(t / 1000, tz=timezone.utc)
    months = when.year * 12 + when.month - 1 + step
    return calendar.timegm((months // 12, months % 12 + 1, 1, 0, 0, 0)) * 1000


def _floor(t: int, interval: str) -> int:
    if interval == "1M":
        return _month_open(t)
    dur = INTERVALS[interval]
    offset = _WEEK_OFFSET if interval == "1w" else 0
    return t - (t - offset) % dur


def _next(t: int, interval: str) -> int:
    return _month_open(t, 1) if interval == "1M" else t + INTERVALS[interval]


def _ceil(t: int, interval: str) -> int:
    floor = _floor(t, interval)
    return floor if floor == t else _next(floor, interval)


def select_opens(interval: str, first: int, now: int, start: int | None, end: int | None,
                 limit: int) -> list[int]:
    """Open times Binance would answer: ``openTime`` in ``[startTime, endTime]``, at most
    ``limit``; from ``startTime`` forward when given, otherwise the latest ones."""
    lo = _ceil(max(first, start if start is not None else first), interval)
    hi = _floor(min(now, end if end is not None else now), interval)
    if hi < lo:
        return []
    if interval != "1M":
        dur = INTERVALS[interval]
        count = (hi - lo) // dur + 1
        if start is not None:
            return [lo + i * dur for i in range(min(count, limit))]
        return [hi - i * dur for i in range(min(count, limit) - 1, -1, -1)]
    opens = [lo]
    while opens[-1] < hi:
        opens.append(_next(opens[-1], interval))
    return opens[:limit] if start is not None else opens[-limit:]


def candles(history: MarketHistory, market: str, symbol: str, interval: str, opens: list[int],
            now: int) -> Candles:
    """The candles opening at ``opens`` (consecutive open times of ``interval``)."""
    first = opens[0]
    stop = min(_next(opens[-1], interval), now - now % SECOND + SECOND)
    if interval == "1s":
        m0 = first // MINUTE
        block = history.minutes(market, symbol, m0, (stop - 1) // MINUTE + 1)
        seconds = _spread_seconds(block, float(history.specs[market][symbol].tick))
        s0 = m0 * 60
        recorded = history.live_seconds(market, symbol, s0, s0 + len(seconds))
        if recorded is not None:  # the last hour: the prices the feed really had
            at, prices = recorded
            for col, values in zip((seconds.o, seconds.h, seconds.l, seconds.c), prices,
                                   strict=True):
                col[at - s0:] = values
        skip = (first - m0 * MINUTE) // SECOND
        return seconds.slice(skip, skip + len(opens))
    starts_ms = np.asarray(opens, dtype=np.int64) - first
    if INTERVALS[interval] and INTERVALS[interval] < HOUR:
        block = history.minutes(market, symbol, first // MINUTE, (stop - 1) // MINUTE + 1)
        return block.aggregate(starts_ms // MINUTE)
    block = history.hours(market, symbol, first // HOUR, (stop - 1) // HOUR + 1)
    return block.aggregate(starts_ms // HOUR)


def _spread_seconds(block: Candles, tick: float) -> Candles:
    """Sixty one-second candles per minute: a straight line from open to close (on the tick),
    the minute's high at second 20 and its low at second 40, volume split evenly."""
    frac = np.arange(61) / 60.0
    path = block.o[:, None] + (block.c - block.o)[:, None] * frac[None, :]
    path = np.round(path / tick) * tick
    o, c = path[:, :-1], path[:, 1:]
    h, lo = np.maximum(o, c), np.minimum(o, c)
    h[:, 20] = np.maximum(h[:, 20], block.h)
    lo[:, 40] = np.minimum(lo[:, 40], block.l)

    def per(col: Any) -> Any:
        return np.repeat(col / 60.0, 60)

    return Candles(o.ravel(), h.ravel(), lo.ravel(), c.ravel(), per(block.v), per(block.qv),
                   np.repeat(np.ceil(block.n / 60.0), 60), per(block.tbv), per(block.tbqv))


def _places(spec: SymbolSpec, market: str) -> tuple[int, int, int, int, int]:
    """Decimals to round to and to print: prices, quantities, quote amounts (and paddings)."""
    if market == SPOT:
        return spec.price_places, spec.qty_places, 8, 8, 8
    pp, qp = spec.price_places, spec.qty_places
    return pp, qp, pp + qp, pp, qp


def _rows(block: Candles, opens: list[int], closes: list[int], spec: SymbolSpec,
          market: str) -> list[list[Any]]:
    pp, qp, quote_places, price_pad, qty_pad = _places(spec, market)
    pf = f"{{:.{price_pad}f}}".format
    qf = f"{{:.{qty_pad}f}}".format
    vf = f"{{:.{quote_places}f}}".format
    cols = [np.round(block.o, pp), np.round(block.h, pp), np.round(block.l, pp),
            np.round(block.c, pp), np.round(block.v, qp), np.round(block.qv, quote_places),
            block.n.astype(np.int64), np.round(block.tbv, qp), np.round(block.tbqv, quote_places)]
    o, h, lo, c, v, qv, n, tbv, tbqv = (col.tolist() for col in cols)
    return [
        [t, pf(o[i]), pf(h[i]), pf(lo[i]), pf(c[i]), qf(v[i]), closes[i], vf(qv[i]), n[i],
         qf(tbv[i]), vf(tbqv[i]), "0"]
        for i, t in enumerate(opens)
    ]


def _klines(state: ServerState, params: dict[str, str], market: str) -> Any:
    spec = _spec(state, params, market)
    interval = params.get("interval")
    if not interval:
        raise mandatory("interval")
    if interval not in INTERVALS or (interval == "1s" and market != SPOT):
        raise _INVALID_INTERVAL
    max_limit = 1000 if market == SPOT else 1500
    limit = _int(params, "limit")
    if limit is None:
        limit = 500
    if not 1 <= limit <= max_limit:
        raise illegal_chars("limit", f"1-{max_limit}")
    start, end = _int(params, "startTime"), _int(params, "endTime")
    if start is not None and end is not None and start > end:
        raise PaperError(-1023, "Start time is greater than end time.")
    history = _history(state)
    now = state.engine.now()
    opens = select_opens(interval, history.first_minute * MINUTE, now, start, end, limit)
    if not opens:
        return []
    block = candles(history, market, spec.symbol, interval, opens, now)
    closes = [_next(t, interval) - 1 for t in opens]
    return _rows(block, opens, closes, spec, market)


def spot_klines(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /api/v3/klines``."""
    return _klines(state, params, SPOT)


def futures_klines(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /fapi/v1/klines``."""
    return _klines(state, params, FUTURES)


def _futures_kline_weight(params: dict[str, str]) -> int:
    limit = _limit_param(params, 500)
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


# --------------------------------------------------------------------- depth
def _depth_levels(state: ServerState, spec: SymbolSpec, market: str, n: int
                  ) -> tuple[list[list[str]], list[list[str]], int]:
    history = _history(state)
    update_id = history.update_ids[(market, spec.symbol)]
    price = state.engine.feed.get(market, spec.symbol)
    tick, step = float(spec.tick), float(spec.step)
    size = 2_000.0 / float(price)  # about 2,000 USDT per level, lognormal
    # One stream per side, so a level's quantity does not depend on how many levels are asked.
    draws = [np.random.default_rng(
        [history.seed, history.symbol_index[spec.symbol], MARKETS.index(market), update_id, side]
    ).normal(0.0, 0.8, n) for side in (0, 1)]
    qty = np.maximum(np.round(np.exp(np.array(draws)) * size / step), 1) * step
    levels = np.arange(1, n + 1)
    centre = round(float(price) / tick)
    bids = (centre - levels) * tick
    asks = (centre + levels) * tick
    pp, qp, _quote, price_pad, qty_pad = _places(spec, market)
    keep = bids > 0
    pf, qf = f"{{:.{price_pad}f}}".format, f"{{:.{qty_pad}f}}".format
    bid_rows = [[pf(p), qf(q)] for p, q in zip(np.round(bids[keep], pp).tolist(),
                                               np.round(qty[0][keep], qp).tolist(), strict=True)]
    ask_rows = [[pf(p), qf(q)] for p, q in zip(np.round(asks, pp).tolist(),
                                               np.round(qty[1], qp).tolist(), strict=True)]
    return bid_rows, ask_rows, update_id


def spot_depth(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /api/v3/depth``: ``limit`` default 100; above 5000 the answer stops at 5000."""
    spec = _spec(state, params, SPOT)
    limit = _int(params, "limit")
    limit = 100 if limit is None else min(limit, 5000)
    if limit < 1:
        raise illegal_chars("limit", "1-5000")
    bids, asks, update_id = _depth_levels(state, spec, SPOT, limit)
    return {"lastUpdateId": update_id, "bids": bids, "asks": asks}


def futures_depth(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /fapi/v1/depth``: ``limit`` one of 5, 10, 20, 50, 100, 500, 1000 (default 500)."""
    spec = _spec(state, params, FUTURES)
    limit = _int(params, "limit")
    limit = 500 if limit is None else limit
    if limit not in _FUT_DEPTH_LIMITS:
        raise illegal_chars("limit", "5, 10, 20, 50, 100, 500, 1000")
    bids, asks, update_id = _depth_levels(state, spec, FUTURES, limit)
    now = state.engine.now()
    return {"lastUpdateId": update_id, "E": now, "T": now, "bids": bids, "asks": asks}


def _spot_depth_weight(params: dict[str, str]) -> int:
    limit = _limit_param(params, 100)
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def _futures_depth_weight(params: dict[str, str]) -> int:
    limit = _limit_param(params, 500)
    return 2 if limit < 100 else 5 if limit < 500 else 10 if limit < 1000 else 20


# --------------------------------------------------------------------- tickers
def _ticker(state: ServerState, spec: SymbolSpec, market: str, mini: bool = False
            ) -> dict[str, Any]:
    history = _history(state)
    now = state.engine.now()
    now_minute = now // MINUTE
    first = max(history.first_minute, now_minute - 1439)
    block = history.minutes(market, spec.symbol, first - 1, now_minute + 1)
    prev_close, day = block.c[0], block.slice(1, len(block))
    last = float(state.engine.feed.get(market, spec.symbol))
    high = max(float(day.h.max()), last)
    low = min(float(day.l.min()), last)
    open_ = float(day.o[0])
    volume, quote = float(day.v.sum()), float(day.qv.sum())
    count = int(day.n.sum())
    first_id = (first - history.first_minute) * 100 + 1
    pp, qp, quote_places, price_pad, qty_pad = _places(spec, market)

    def price(x: float) -> str:
        return f"{round(x, pp):.{price_pad}f}"

    def qty(x: float) -> str:
        return f"{round(x, qp):.{qty_pad}f}"

    out: dict[str, Any] = {"symbol": spec.symbol}
    if not mini:
        change = last - open_
        out.update({
            "priceChange": price(change),
            "priceChangePercent": f"{change / open_ * 100:.3f}",
            "weightedAvgPrice": price(quote / volume if volume else last),
        })
        if market == SPOT:
            out["prevClosePrice"] = price(float(prev_close))
        out["lastPrice"] = price(last)
        out["lastQty"] = qty(float(spec.step))
        if market == SPOT:  # the best levels of ``depth``
            (bid, bid_qty), (ask, ask_qty) = (side[0] for side in _depth_levels(
                state, spec, market, 1)[:2])
            out.update({"bidPrice": bid, "bidQty": bid_qty, "askPrice": ask, "askQty": ask_qty})
    out["openPrice"] = price(open_)
    out["highPrice"] = price(high)
    out["lowPrice"] = price(low)
    if mini:  # MINI: symbol, open, high, low, last, volumes, times, ids
        out["lastPrice"] = price(last)
    out["volume"] = qty(volume)
    out["quoteVolume"] = f"{round(quote, quote_places):.{quote_places}f}"
    out.update({"openTime": now - DAY, "closeTime": now, "firstId": first_id,
                "lastId": first_id + count - 1, "count": count})
    return out


def spot_ticker_24h(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /api/v3/ticker/24hr`` (``symbol`` or ``symbols``; ``type`` FULL or MINI)."""
    specs = state.engine.specs[SPOT]
    kind = params.get("type", "FULL")
    if kind not in ("FULL", "MINI"):
        raise PaperError(-1139, "Invalid ticker type.")
    names = _symbols(params, specs)
    tickers = [_ticker(state, specs[s], SPOT, kind == "MINI") for s in (names or specs)]
    return tickers[0] if params.get("symbol") else tickers


def futures_ticker_24h(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /fapi/v1/ticker/24hr``."""
    specs = state.engine.specs[FUTURES]
    symbol = params.get("symbol")
    if symbol and symbol not in specs:
        raise _INVALID_SYMBOL
    tickers = [_ticker(state, specs[s], FUTURES) for s in ([symbol] if symbol else specs)]
    return tickers[0] if symbol else tickers


def _symbols(params: dict[str, str], specs: dict[str, SymbolSpec]) -> list[str] | None:
    symbol, raw = params.get("symbol"), params.get("symbols")
    if symbol and raw:
        raise PaperError(-1101, "Parameter 'symbol' and 'symbols' cannot be sent together.")
    if symbol:
        if symbol not in specs:
            raise _INVALID_SYMBOL
        return [symbol]
    if not raw:
        return None
    try:
        names = json.loads(raw)
    except ValueError:
        raise PaperError(-1130, "Data sent for parameter 'symbols' is not valid.") from None
    if not isinstance(names, list) or not names or any(n not in specs for n in names):
        raise _INVALID_SYMBOL
    return [str(n) for n in names]


def _spot_ticker_weight(params: dict[str, str]) -> int:
    if params.get("symbol"):
        return 2
    try:
        count = len(json.loads(params.get("symbols") or "null") or ())
    except (ValueError, TypeError):
        return 2
    if not count:
        return 80
    return 2 if count <= 20 else 40 if count <= 100 else 80


def avg_price(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /api/v3/avgPrice``: the volume-weighted price of the last 5 minutes."""
    spec = _spec(state, params, SPOT)
    history = _history(state)
    now = state.engine.now()
    block = history.minutes(SPOT, spec.symbol, now // MINUTE - 4, now // MINUTE + 1)
    volume = float(block.v.sum())
    price = float(block.qv.sum()) / volume if volume else history.last_price(SPOT, spec.symbol)
    return {"mins": 5, "price": f"{round(price, 8):.8f}", "closeTime": now}


def market_data_routes() -> dict[str, dict[str, Route]]:
    """``{path: {method: Route}}`` of the market-data endpoints of both markets."""
    return {
        "/api/v3/klines": {"GET": Route(SPOT, spot_klines, 2)},
        "/api/v3/uiKlines": {"GET": Route(SPOT, spot_klines, 2)},
        "/api/v3/depth": {"GET": Route(SPOT, spot_depth, 5, weigh=_spot_depth_weight)},
        "/api/v3/ticker/24hr": {
            "GET": Route(SPOT, spot_ticker_24h, 2, weigh=_spot_ticker_weight)},
        "/api/v3/avgPrice": {"GET": Route(SPOT, avg_price, 2)},
        "/fapi/v1/klines": {
            "GET": Route(FUTURES, futures_klines, 5, weigh=_futures_kline_weight)},
        "/fapi/v1/depth": {
            "GET": Route(FUTURES, futures_depth, 10, weigh=_futures_depth_weight)},
        "/fapi/v1/ticker/24hr": {"GET": Route(FUTURES, futures_ticker_24h, 1, 40)},
    }
