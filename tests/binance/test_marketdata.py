"""Research data through the adapter: parsing into typed frames, and paging against the paper.

The parsing tests feed real Binance answers recorded in ccxt's static response tests (ccxt/ccxt
``ts/src/test/static/response/binance.json``: ``fetchMyTrades``, ``fetchOHLCV``,
``fetchOrderBook``) and the 24hr ticker example of Binance's spot ``rest-api.md``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal

import pandas as pd
import pytest

from toolkit.binance._marketdata import (
    DEPTH_DTYPES,
    KLINE_DTYPES,
    TICKER_DTYPES,
    TRADE_DTYPES,
    depth_frame,
    klines_frame,
    tickers_frame,
    trades_frame,
)
from toolkit.binance._ratelimit import RateLimitConfig
from toolkit.binance._transport import Transport, TransportConfig
from toolkit.binance.adapter import BinanceAdapter
from toolkit.core._exceptions import InputError
from toolkit.core._models import Market, OrderRequest, OrderType, Side
from toolkit.paper import PaperExchange

from ..recorded import REAL_SPOT_KLINE as SPOT_KLINE
from ..recorded import REAL_SPOT_TRADE as SPOT_TRADE
from ..recorded import REAL_USDM_TRADE as USDM_TRADE

USDM_DEPTH = {
    "lastUpdateId": 35263532345,
    "E": 1706803917264,
    "T": 1706803917258,
    "bids": [["42651.10", "470.672"], ["42650.00", "66.452"]],
    "asks": [["42878.00", "7.011"]],
}
SPOT_TICKER = {
    "symbol": "BNBBTC",
    "priceChange": "-94.99999800",
    "priceChangePercent": "-95.960",
    "weightedAvgPrice": "0.29628482",
    "prevClosePrice": "0.10002000",
    "lastPrice": "4.00000200",
    "lastQty": "200.00000000",
    "bidPrice": "4.00000000",
    "bidQty": "100.00000000",
    "askPrice": "4.00000200",
    "askQty": "100.00000000",
    "openPrice": "99.00000000",
    "highPrice": "100.00000000",
    "lowPrice": "0.10000000",
    "volume": "8913.30000000",
    "quoteVolume": "15.30000000",
    "openTime": 1499783499040,
    "closeTime": 1499869899040,
    "firstId": 28385,
    "lastId": 28460,
    "count": 76,
}


def _dtypes(frame: pd.DataFrame) -> dict[str, str]:
    return {str(k): str(v) for k, v in frame.dtypes.items()}


def _declared(dtypes: dict[str, object]) -> dict[str, str]:
    return {k: str(v) for k, v in dtypes.items()}


def test_frames_keep_columns_and_dtypes_also_when_empty() -> None:
    cases = [
        (trades_frame([], exchange="x", market="spot"), TRADE_DTYPES),
        (klines_frame([], exchange="x", market="spot", symbol="S", interval="1m"), KLINE_DTYPES),
        (
            depth_frame(
                {"lastUpdateId": 1, "bids": [], "asks": []}, exchange="x", market="spot", symbol="S"
            ),
            DEPTH_DTYPES,
        ),
        (tickers_frame([], exchange="x", market="spot"), TICKER_DTYPES),
    ]
    for frame, dtypes in cases:
        assert len(frame) == 0
        assert _dtypes(frame) == _declared(dtypes)


def test_recorded_trades_parse() -> None:
    spot = trades_frame([SPOT_TRADE], exchange="binance", market="spot")
    assert _dtypes(spot) == _declared(TRADE_DTYPES)
    row = spot.iloc[0]
    assert (row["trade_id"], row["order_id"], row["side"], bool(row["maker"])) == (
        "309520010",
        "3784695242",
        "sell",
        False,
    )
    assert (row["price"], row["qty"], row["commission"]) == (69.63, 0.2, 0.013926)
    assert pd.isna(row["realized_pnl"])
    assert row["time"] == pd.Timestamp(1698138992358, unit="ms", tz="UTC")
    usdm = trades_frame([USDM_TRADE], exchange="binance", market="usdm").iloc[0]
    assert (usdm["side"], usdm["realized_pnl"], usdm["quote_qty"]) == ("buy", 0.0, 365.671)


def test_recorded_klines_depth_and_ticker_parse() -> None:
    candles = klines_frame(
        [SPOT_KLINE], exchange="binance", market="spot", symbol="BTCUSDT", interval="1h"
    )
    first = candles.iloc[0]
    assert (first["open"], first["close"], first["trades"]) == (43519.34, 43488.71, 3743)
    assert first["close_time"] - first["open_time"] == pd.Timedelta(milliseconds=3_599_999)
    book = depth_frame(USDM_DEPTH, exchange="binance", market="usdm", symbol="BTCUSDT")
    assert list(book["side"]) == ["bid", "bid", "ask"]
    assert list(book["level"]) == [0, 1, 0]
    assert book["price"].tolist() == [42651.1, 42650.0, 42878.0]
    assert set(book["last_update_id"]) == {35263532345}
    ticker = tickers_frame(SPOT_TICKER, exchange="binance", market="spot").iloc[0]
    assert (ticker["symbol"], ticker["last_price"], ticker["price_change_pct"]) == (
        "BNBBTC",
        4.000002,
        -95.96,
    )
    assert ticker["trades"] == 76


# --------------------------------------------------------------------- against the paper
@pytest.fixture
async def paper() -> AsyncIterator[PaperExchange]:
    ex = PaperExchange(price_mode="fixed")  # Binance's rate limits on
    await ex.start()
    yield ex
    await ex.stop()


@pytest.fixture
async def transport(paper: PaperExchange) -> AsyncIterator[Transport]:
    key, secret = paper.create_key()
    config = TransportConfig(base_url=paper.url, rate_limits=RateLimitConfig(max_retry_after=5))
    t = Transport(config, api_key=key, api_secret=secret)
    yield t
    await t.close()


@pytest.mark.parametrize("market", [Market.SPOT, Market.USDM])
async def test_adapter_research_calls(transport: Transport, market: Market) -> None:
    adapter = BinanceAdapter(transport, market, exchange="paper")
    assert len(await adapter.my_trades("BTCUSDT")) == 0
    pages: list[int] = []
    now = int(time.time() * 1000)
    start = now - now % 60_000 - 2999 * 60_000
    candles = await adapter.klines(
        "BTCUSDT", "1m", start=start, end=start + 2999 * 60_000, progress=pages.append
    )  # an end: no race with the minute
    assert len(candles) == 3000
    assert candles["open_time"].is_monotonic_increasing
    assert candles["open_time"].diff().dropna().eq(pd.Timedelta(minutes=1)).all()
    assert pages[-1] == 3000
    assert pages == [1000, 2000, 3000]  # USD-M too: 1000-row pages weigh least per candle
    latest = await adapter.klines("BTCUSDT", "1h", limit=24)
    assert len(latest) == 24
    with pytest.raises(InputError, match="valid: "):
        await adapter.klines("BTCUSDT", "2m")
    book = await adapter.depth("BTCUSDT", limit=5)
    assert list(book["side"]) == ["bid"] * 5 + ["ask"] * 5
    tickers = await adapter.ticker_24h(["BTCUSDT", "ETHUSDT"])
    assert list(tickers["symbol"]) == ["BTCUSDT", "ETHUSDT"]


async def test_adapter_fills_page_by_id(paper: PaperExchange, transport: Transport) -> None:
    adapter = BinanceAdapter(transport, Market.SPOT, exchange="paper")
    requests = [
        OrderRequest(
            client_order_id=f"fill-{i}",
            symbol="ETHUSDT",
            side=Side.BUY,
            type=OrderType.MARKET,
            qty=Decimal("0.01"),
            market=Market.SPOT,
        )
        for i in range(5)
    ]
    placed = await adapter.place(requests)
    fills = await adapter.my_trades("ETHUSDT", from_id=0, limit=2)  # three pages
    assert list(fills["order_id"]) == [o.order_id for o in placed]
    assert fills["trade_id"].is_unique
    one = await adapter.my_trades("ETHUSDT", order_id=placed[2].order_id)
    assert list(one["order_id"]) == [placed[2].order_id]


async def test_thirty_days_of_minutes_through_the_adapter(transport: Transport) -> None:
    """The research target: 30 days x 3 symbols of 1m candles, rate limits on, within the
    exchange's budget: no request ever waits for the rate limiter (what makes it take minutes;
    its speed is measured by the benchmark, not here)."""
    adapter = BinanceAdapter(transport, Market.SPOT, exchange="paper")
    paced: list[str] = []
    stop = transport.limiter.watch(lambda why: paced.append(why) if why else None)
    sent_before = transport.stats.requests - transport.stats.time_syncs
    now = int(time.time() * 1000)
    try:
        frames = [
            await adapter.klines(s, "1m", start=now - 30 * 86_400_000)
            for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")
        ]
    finally:
        stop()
    assert sum(len(f) for f in frames) >= 3 * 30 * 1440
    assert paced == []
    assert (transport.limiter.stats.waits, transport.limiter.stats.pauses) == (0, 0)
    stats = transport.stats
    assert stats.requests - stats.time_syncs - sent_before <= 3 * 45  # 1000-row pages
