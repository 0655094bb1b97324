"""Market data of the paper exchange: klines, depth, 24-hour tickers and the average price.

Shapes are compared with real Binance answers recorded in ccxt's static response tests
(ccxt/ccxt ``ts/src/test/static/response/binance.json``: ``fetchOHLCV`` "Spot OHLCV with since
and limit" and "swap ohlcv", ``fetchOrderBook`` "spot orderbook" and "swap orderbook") and with
the response examples of Binance's spot ``rest-api.md`` (binance/binance-spot-api-docs: 24hr
ticker, avgPrice). The recorded spot klines also show the paging rule tested here: a ``startTime``
inside a candle starts the answer at the next open.

The exchange clock is injected (``clock=``), so candle boundaries never depend on when a test runs.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from toolkit.paper import PaperExchange

from ..recorded import REAL_SPOT_KLINE
from .conftest import Client

START = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC: mid-minute, mid-hour
MINUTE = 60_000

REAL_USDM_KLINE = [
    1712738520000,
    "71471.00",
    "71471.00",
    "70459.40",
    "70459.40",
    "0.120",
    1712738579999,
    "8518.17600",
    9,
    "0.061",
    "4359.72600",
    "0",
]
REAL_SPOT_DEPTH_KEYS = ["lastUpdateId", "bids", "asks"]
REAL_USDM_DEPTH_KEYS = ["lastUpdateId", "E", "T", "bids", "asks"]
SPOT_TICKER_KEYS = [  # rest-api.md, "24hr ticker price change statistics" (FULL)
    "symbol",
    "priceChange",
    "priceChangePercent",
    "weightedAvgPrice",
    "prevClosePrice",
    "lastPrice",
    "lastQty",
    "bidPrice",
    "bidQty",
    "askPrice",
    "askQty",
    "openPrice",
    "highPrice",
    "lowPrice",
    "volume",
    "quoteVolume",
    "openTime",
    "closeTime",
    "firstId",
    "lastId",
    "count",
]
USDM_TICKER_KEYS = [  # USD-M "24hr Ticker Price Change Statistics"
    "symbol",
    "priceChange",
    "priceChangePercent",
    "weightedAvgPrice",
    "lastPrice",
    "lastQty",
    "openPrice",
    "highPrice",
    "lowPrice",
    "volume",
    "quoteVolume",
    "openTime",
    "closeTime",
    "firstId",
    "lastId",
    "count",
]


class Clock:
    """A settable exchange clock (seconds)."""

    def __init__(self, t: float = START) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _types(row: list[Any]) -> list[type]:
    return [type(v) for v in row]


def _decimals(text: str) -> int:
    return len(text.partition(".")[2])


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def timed(clock: Clock) -> AsyncIterator[PaperExchange]:
    """A fixed-price exchange on the injected clock, seed 7."""
    ex = PaperExchange(price_mode="fixed", seed=7, clock=clock)
    await ex.start()
    try:
        yield ex
    finally:
        await ex.stop()


@pytest.fixture
async def api(timed: PaperExchange, session: aiohttp.ClientSession) -> Client:
    key, secret = timed.create_key()
    return Client(session, timed.url, key, secret)


async def _klines(api: Client, path: str = "/api/v3/klines", **params: Any) -> list[list[Any]]:
    reply = await api.get(path, {"symbol": "BTCUSDT", **params}, signed=False)
    assert reply.status == 200, reply.body
    rows: list[list[Any]] = reply.body
    return rows


# --------------------------------------------------------------------- shapes
async def test_kline_rows_have_the_real_shapes(api: Client) -> None:
    [spot] = await _klines(api, interval="1h", limit=1)
    assert _types(spot) == _types(REAL_SPOT_KLINE)
    assert [_decimals(v) for v in spot if isinstance(v, str)] == [
        _decimals(v) for v in REAL_SPOT_KLINE if isinstance(v, str)
    ]
    [usdm] = await _klines(api, "/fapi/v1/klines", interval="1m", limit=1)
    assert _types(usdm) == _types(REAL_USDM_KLINE)
    # USD-M pads to the symbol: price 2 decimals, qty 3, quote volume 5 (as recorded).
    assert [_decimals(v) for v in usdm if isinstance(v, str)] == [
        _decimals(v) for v in REAL_USDM_KLINE if isinstance(v, str)
    ]
    assert spot[6] - spot[0] == 3_600_000 - 1
    assert usdm[6] - usdm[0] == MINUTE - 1


async def test_depth_ticker_and_avg_price_shapes(api: Client) -> None:
    spot = await api.get("/api/v3/depth", {"symbol": "BTCUSDT", "limit": 5}, signed=False)
    assert list(spot.body) == REAL_SPOT_DEPTH_KEYS
    assert spot.body["bids"][0] == ["89999.99000000", spot.body["bids"][0][1]]
    usdm = await api.get("/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": 5}, signed=False)
    assert list(usdm.body) == REAL_USDM_DEPTH_KEYS
    assert [_decimals(p) for p, _q in usdm.body["asks"]] == [2] * 5  # "42878.00" as recorded
    assert [_decimals(q) for _p, q in usdm.body["asks"]] == [3] * 5  # "7.011"
    ticker = await api.get("/api/v3/ticker/24hr", {"symbol": "BTCUSDT"}, signed=False)
    assert list(ticker.body) == SPOT_TICKER_KEYS
    fut = await api.get("/fapi/v1/ticker/24hr", {"symbol": "BTCUSDT"}, signed=False)
    assert list(fut.body) == USDM_TICKER_KEYS
    avg = await api.get("/api/v3/avgPrice", {"symbol": "BTCUSDT"}, signed=False)
    assert list(avg.body) == ["mins", "price", "closeTime"]
    assert avg.body["mins"] == 5
    mini = await api.get("/api/v3/ticker/24hr", {"symbol": "BTCUSDT", "type": "MINI"}, signed=False)
    assert list(mini.body) == [  # rest-api.md, 24hr ticker, type MINI
        "symbol",
        "openPrice",
        "highPrice",
        "lowPrice",
        "lastPrice",
        "volume",
        "quoteVolume",
        "openTime",
        "closeTime",
        "firstId",
        "lastId",
        "count",
    ]
    every = await api.get("/api/v3/ticker/24hr", signed=False)
    assert [t["symbol"] for t in every.body] == [
        "BTCUSDT",
        "ETHUSDT",
        "BNBUSDT",
        "SOLUSDT",
        "XRPUSDT",
        "DOGEUSDT",
    ]


# --------------------------------------------------------------------- paging and intervals
async def test_paging_follows_binance_rules(api: Client, clock: Clock) -> None:
    now = int(clock.t * 1000)
    current = now - now % MINUTE
    latest = await _klines(api, interval="1m")
    assert len(latest) == 500
    assert latest[-1][0] == current
    assert [r[0] for r in latest] == [current - (499 - i) * MINUTE for i in range(500)]
    start = current - 3 * 86_400_000 + 12_345  # inside a candle: the next open comes first
    page = await _klines(api, interval="1m", startTime=start, limit=1000)
    assert len(page) == 1000
    assert page[0][0] == start - start % MINUTE + MINUTE
    nxt = await _klines(api, interval="1m", startTime=page[-1][0] + MINUTE, limit=1000)
    assert nxt[0][0] == page[-1][0] + MINUTE
    assert nxt[0][1] == page[-1][4]  # each candle opens at the previous close
    ending = await _klines(api, interval="1m", endTime=start, limit=3)
    assert [r[0] for r in ending] == [start - start % MINUTE - i * MINUTE for i in (2, 1, 0)]
    both = await _klines(api, interval="1m", startTime=start, endTime=start + 5 * MINUTE)
    assert len(both) == 5
    assert await _klines(api, interval="1m", startTime=now + MINUTE) == []
    assert await _klines(api, interval="1d", endTime=0) == []  # before the paper listing
    assert len(await _klines(api, "/fapi/v1/klines", interval="1m", limit=1500)) == 1500
    too_many = await api.get(
        "/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m", "limit": 1001}, signed=False
    )
    assert too_many.status == 400


async def test_every_binance_interval(api: Client) -> None:
    spot = [
        "1s",
        "1m",
        "3m",
        "5m",
        "15m",
        "30m",
        "1h",
        "2h",
        "4h",
        "6h",
        "8h",
        "12h",
        "1d",
        "3d",
        "1w",
        "1M",
    ]
    for interval in spot:
        rows = await _klines(api, interval=interval, limit=3)
        assert len(rows) == 3, interval
        assert all(r[6] == nxt[0] - 1 for r, nxt in itertools.pairwise(rows)), interval
    for interval in spot[1:]:
        assert len(await _klines(api, "/fapi/v1/klines", interval=interval, limit=2)) == 2
    weeks = await _klines(api, interval="1w", limit=4)
    assert {datetime.fromtimestamp(r[0] / 1000, timezone.utc).weekday() for r in weeks} == {0}
    months = await _klines(api, interval="1M", limit=4)
    opened = [datetime.fromtimestamp(r[0] / 1000, timezone.utc) for r in months]
    assert [(d.day, d.hour) for d in opened] == [(1, 0)] * 4
    for path, interval in (("/fapi/v1/klines", "1s"), ("/api/v3/klines", "2m")):
        bad = await api.get(path, {"symbol": "BTCUSDT", "interval": interval}, signed=False)
        assert (bad.status, bad.code) == (400, -1120)
    unknown = await api.get("/api/v3/klines", {"symbol": "NOPE", "interval": "1m"}, signed=False)
    assert unknown.code == -1121


async def test_coarse_candles_aggregate_the_fine_ones(api: Client, clock: Clock) -> None:
    now = int(clock.t * 1000)
    hour = now - now % 3_600_000 - 30 * 3_600_000  # a generated hour, 30 h back
    [h] = await _klines(api, interval="1h", startTime=hour, limit=1)
    minutes = await _klines(api, interval="1m", startTime=hour, limit=60)
    assert h[1] == minutes[0][1]
    assert h[4] == minutes[-1][4]
    assert Decimal(h[2]) == max(Decimal(m[2]) for m in minutes)
    assert Decimal(h[3]) == min(Decimal(m[3]) for m in minutes)
    assert h[8] == sum(m[8] for m in minutes)
    assert Decimal(h[5]) == sum(Decimal(m[5]) for m in minutes)
    assert Decimal(h[7]) == sum(Decimal(m[7]) for m in minutes)
    day = hour - hour % 86_400_000
    [d] = await _klines(api, interval="1d", startTime=day, limit=1)
    hours = await _klines(api, interval="1h", startTime=day, limit=24)
    assert (d[1], d[4]) == (hours[0][1], hours[-1][4])
    assert Decimal(d[2]) == max(Decimal(x[2]) for x in hours)


# --------------------------------------------------------------------- consistency
async def test_history_meets_the_live_price(
    api: Client, timed: PaperExchange, clock: Clock
) -> None:
    now = int(clock.t * 1000)
    rows = await _klines(api, interval="1m", limit=3)
    assert rows[-1][0] == now - now % MINUTE
    assert rows[-2][4] == rows[-1][1] == "90000.00000000"  # generated past ends at the start
    fut = await _klines(api, "/fapi/v1/klines", interval="1m", limit=2)
    assert fut[0][4] == fut[1][1] == "90000.00"


async def test_fills_lie_inside_their_candles(
    api: Client, timed: PaperExchange, clock: Clock
) -> None:
    trades: list[dict[str, Any]] = []
    for step, price in enumerate((90000, 90450, 89620, 90990, 88800, 89500)):
        clock.t = START + 37 * step  # fills spread over several minutes
        timed.set_price("BTCUSDT", price)
        await api.post(
            "/api/v3/order",
            {
                "symbol": "BTCUSDT",
                "side": "BUY" if step % 2 else "SELL",
                "type": "MARKET",
                "quantity": "0.01",
            },
        )
        # A resting limit that the next move crosses fills at its own price.
        await api.post(
            "/api/v3/order",
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.001",
                "price": str(price - 300),
            },
        )
    clock.t += 61
    timed.set_price("BTCUSDT", 85000)  # crosses every resting buy
    trades = (await api.get("/api/v3/myTrades", {"symbol": "BTCUSDT"})).body
    assert len(trades) == 12
    assert any(t["isMaker"] for t in trades)
    for interval, back in (("1s", 1), ("1m", 10), ("3m", 30), ("1h", 120), ("1d", 3000)):
        rows = await _klines(
            api, interval=interval, startTime=trades[0]["time"] - back * MINUTE, limit=1000
        )
        for trade in trades:
            [row] = [r for r in rows if r[0] <= trade["time"] <= r[6]]
            assert Decimal(row[3]) <= Decimal(trade["price"]) <= Decimal(row[2]), (
                interval,
                trade,
                row,
            )
    depth = await api.get("/api/v3/depth", {"symbol": "BTCUSDT", "limit": 10}, signed=False)
    best_bid, best_ask = Decimal(depth.body["bids"][0][0]), Decimal(depth.body["asks"][0][0])
    assert (best_bid + best_ask) / 2 == Decimal(85000)
    ticker = (await api.get("/api/v3/ticker/24hr", {"symbol": "BTCUSDT"}, signed=False)).body
    assert [ticker["bidPrice"], ticker["bidQty"]] == depth.body["bids"][0]
    assert [ticker["askPrice"], ticker["askQty"]] == depth.body["asks"][0]
    assert Decimal(ticker["lastPrice"]) == 85000
    assert Decimal(ticker["lowPrice"]) <= Decimal(85000) <= Decimal(ticker["highPrice"])
    assert Decimal(ticker["highPrice"]) >= Decimal(90990)
    assert ticker["closeTime"] - ticker["openTime"] == 86_400_000


async def test_depth_is_centred_sorted_and_weighted(api: Client, timed: PaperExchange) -> None:
    timed.set_price("ETHUSDT", "3123.45", market="spot")
    reply = await api.get("/api/v3/depth", {"symbol": "ETHUSDT", "limit": 500}, signed=False)
    bids = [Decimal(p) for p, _q in reply.body["bids"]]
    asks = [Decimal(p) for p, _q in reply.body["asks"]]
    assert len(bids) == len(asks) == 500
    assert (bids[0] + asks[0]) / 2 == Decimal("3123.45")
    assert bids == sorted(bids, reverse=True)
    assert asks == sorted(asks)
    assert all(Decimal(q) > 0 for _p, q in reply.body["bids"] + reply.body["asks"])
    small = await api.get("/api/v3/depth", {"symbol": "ETHUSDT"}, signed=False)
    assert len(small.body["bids"]) == 100  # default limit
    assert small.body["bids"] == reply.body["bids"][:100]  # the same book, fewer levels
    # Weight by limit: 500 -> 25, the default 100 -> 5 (a new minute window may start between).
    before, after = (int(r.headers["X-MBX-USED-WEIGHT-1M"]) for r in (reply, small))
    assert after in (before + 5, 5)
    big = await api.get("/api/v3/depth", {"symbol": "ETHUSDT", "limit": 5000}, signed=False)
    assert int(big.headers["X-MBX-USED-WEIGHT-1M"]) in (after + 250, 250)
    fut = await api.get("/fapi/v1/depth", {"symbol": "ETHUSDT", "limit": 7}, signed=False)
    assert fut.status == 400  # USD-M takes 5, 10, 20, 50, 100, 500 or 1000 only


async def test_avg_price_is_within_recent_candles(api: Client) -> None:
    avg = Decimal(
        (await api.get("/api/v3/avgPrice", {"symbol": "BTCUSDT"}, signed=False)).body["price"]
    )
    rows = await _klines(api, interval="1m", limit=5)
    assert min(Decimal(r[3]) for r in rows) <= avg <= max(Decimal(r[2]) for r in rows)


# --------------------------------------------------------------------- determinism
async def _history(
    seed: int, t: float, first: str, session: aiohttp.ClientSession
) -> dict[str, Any]:
    ex = PaperExchange(price_mode="fixed", seed=seed, clock=Clock(t))
    await ex.start()
    try:
        api = Client(session, ex.url, "", "")
        start = int(t * 1000) - 20 * 86_400_000
        out: dict[str, Any] = {}
        order = ("1d", "1m", "1h") if first == "1d" else ("1m", "1h", "1d")
        for interval in order:
            out[interval] = await _klines(api, interval=interval, startTime=start, limit=200)
        depth = await api.get("/api/v3/depth", {"symbol": "BTCUSDT"}, signed=False)
        out["depth"] = depth.body
        return out
    finally:
        await ex.stop()


async def test_history_is_deterministic_under_the_seed(session: aiohttp.ClientSession) -> None:
    a = await _history(7, START, "1m", session)
    b = await _history(7, START, "1d", session)  # other request order, other cache state
    assert a == b
    c = await _history(8, START, "1m", session)
    assert c["1m"] != a["1m"]
    assert c["depth"] != a["depth"]


# --------------------------------------------------------------------- speed
async def test_thirty_days_of_minutes_for_three_symbols_loads_fast(
    session: aiohttp.ClientSession,
) -> None:
    """~130,000 candles in ~130 requests, with Binance's rate limits on (weight 2 each)."""
    ex = PaperExchange(price_mode="fixed", rate_limits=True)
    await ex.start()
    try:
        api = Client(session, ex.url, "", "")
        now = int(time.time() * 1000)
        began = time.perf_counter()
        rows = requests = 0
        for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
            start = now - 30 * 86_400_000
            while True:
                page = await _klines(api, symbol=symbol, interval="1m", startTime=start, limit=1000)
                requests += 1
                rows += len(page)
                if len(page) < 1000:
                    break
                start = page[-1][0] + MINUTE
        elapsed = time.perf_counter() - began
    finally:
        await ex.stop()
    assert rows >= 3 * 30 * 1440
    assert requests <= 135
    assert elapsed < 30, elapsed  # measured ~1 s on the 2-core CI box


# --------------------------------------------------------------------- ccxt
ccxt = pytest.importorskip("ccxt.async_support")


async def test_ccxt_market_data_spot_and_usdm(timed: PaperExchange, clock: Clock) -> None:
    from .test_ccxt import _point_at

    spot = ccxt.binance(
        {"enableRateLimit": False, "options": {"fetchCurrencies": False, "defaultType": "spot"}}
    )
    usdm = ccxt.binanceusdm({"enableRateLimit": False, "options": {"fetchCurrencies": False}})
    for exchange in (spot, usdm):
        _point_at(exchange, timed.url)
    try:
        for exchange, symbol in ((spot, "BTC/USDT"), (usdm, "BTC/USDT:USDT")):
            since = int(clock.t * 1000) - 10 * 3_600_000
            ohlcv = await exchange.fetch_ohlcv(symbol, "1h", since=since, limit=5)
            assert len(ohlcv) == 5
            assert ohlcv[0][0] >= since
            assert all(low <= o <= high and low <= c <= high for _t, o, high, low, c, _v in ohlcv)
            book = await exchange.fetch_order_book(symbol, 5)
            assert (book["bids"][0][0] + book["asks"][0][0]) / 2 == pytest.approx(90000)
            ticker = await exchange.fetch_ticker(symbol)
            assert ticker["last"] == 90000
            assert ticker["high"] >= 90000 >= ticker["low"]
    finally:
        await spot.close()
        await usdm.close()


async def test_prices_sit_on_the_tick(api: Client) -> None:
    """Every candle price is a multiple of the symbol's tick (USD-M BTC: 0.10, printed 2 dp)."""
    for interval in ("1s", "1m", "1h", "1d"):
        for path in ("/fapi/v1/klines", "/api/v3/klines"):
            if interval == "1s" and path.startswith("/fapi"):
                continue
            tick = Decimal("0.10") if path.startswith("/fapi") else Decimal("0.01")
            rows = await _klines(api, path, interval=interval, limit=200)
            assert all(Decimal(p) % tick == 0 for r in rows for p in r[1:5]), (path, interval)
