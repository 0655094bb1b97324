"""A candle load only reports its progress: to what its caller hands in, once it is long enough.

``load_candles`` draws nothing itself (the session hands it ``caller_bar``); here a fake
adapter serves pages of candles and a recording reporter stands in for the bar.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import pandas as pd

from toolkit.binance._marketdata import INTERVALS, kline_page_size, klines_frame
from toolkit.core._models import Market
from toolkit.store._research import CANDLES_DDL, PAGES_FOR_A_BAR, load_candles

MINUTE = INTERVALS["1m"]
START = 1_700_000_000_000 // MINUTE * MINUTE


class PagedKlines:
    """The adapter's ``klines``: one page of ``kline_page_size`` candles at a time, telling
    ``progress`` the rows so far after each page (as ``BinanceAdapter.klines`` does)."""

    market = Market.SPOT

    async def klines(
        self,
        symbol: str,
        interval: str,
        *,
        start: int,
        end: int,
        progress: Callable[[int], None] | None = None,
    ) -> pd.DataFrame:
        times = list(range(start, end + 1, MINUTE))
        page = kline_page_size("spot")
        for done in range(page, len(times) + page, page):
            if progress is not None:
                progress(min(done, len(times)))
        rows = [[t, "1", "1", "1", "1", "1", t + MINUTE - 1, "1", 1, "1", "1"] for t in times]
        return klines_frame(rows, exchange="paper", market="spot", symbol=symbol, interval=interval)


class Reporter:
    """What the load reports to, recorded."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.advanced: list[int] = []
        self.closed = False

    def advance(self, n: int) -> None:
        self.advanced.append(n)

    def close(self) -> None:
        self.closed = True


async def _load(candles: int, symbols: list[str]) -> tuple[pd.DataFrame, list[Reporter]]:
    made: list[Reporter] = []

    def progress(total: int) -> Reporter:
        made.append(Reporter(total))
        return made[-1]

    con = duckdb.connect(":memory:")
    con.execute(CANDLES_DDL)

    async def db(work: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        return work(con)

    try:
        adapter: Any = PagedKlines()
        frame = await load_candles(
            adapter, db, venue="paper", symbols=symbols, interval="1m", start=START,
            end=START + (candles - 1) * MINUTE, progress=progress,
        )  # fmt: skip
    finally:
        con.close()
    return frame, made


async def test_a_long_load_reports_every_page_and_its_end() -> None:
    candles = PAGES_FOR_A_BAR * kline_page_size("spot") // 2 + 1  # over the threshold for two
    frame, made = await _load(candles, ["BTCUSDT", "ETHUSDT"])
    assert len(frame) == 2 * candles
    (reporter,) = made
    assert reporter.total == 2 * candles
    assert sum(reporter.advanced) == 2 * candles
    assert len(reporter.advanced) == 2 * 3  # three pages a symbol
    assert reporter.closed


async def test_a_load_of_a_few_pages_asks_for_no_bar() -> None:
    candles = PAGES_FOR_A_BAR * kline_page_size("spot")  # just at the threshold
    frame, made = await _load(candles, ["BTCUSDT"])
    assert len(frame) == candles
    assert made == []


async def test_a_caller_with_no_bar_gets_the_candles_all_the_same() -> None:
    """``caller_bar`` returns ``None`` when nobody waits (a background task)."""
    candles = PAGES_FOR_A_BAR * kline_page_size("spot") + 1
    asked: list[int] = []

    def no_bar(total: int) -> None:
        asked.append(total)

    con = duckdb.connect(":memory:")
    con.execute(CANDLES_DDL)

    async def db(work: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        return work(con)

    try:
        adapter: Any = PagedKlines()
        frame = await load_candles(
            adapter, db, venue="paper", symbols=["BTCUSDT"], interval="1m", start=START,
            end=START + (candles - 1) * MINUTE, progress=no_bar,
        )  # fmt: skip
    finally:
        con.close()
    assert asked == [candles]
    assert len(frame) == candles
