"""The research half (issue 16): fills and candles in the store, compared with what the paper
exchange holds."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pandas as pd
import pytest

import toolkit as tk

pytestmark = pytest.mark.loop


async def test_fills_add_up_to_each_orders_filled_qty(tkh: Any) -> None:
    session = await tk.connect(stream=False)
    frame = await session.batch(
        [tkh.market(qty="0.002"), tkh.market(side="sell", qty="0.001"), tkh.limit()],
        key="fills",
    )
    assert frame["status"].tolist() == ["FILLED", "FILLED", "NEW"]
    assert await session.sync_fills() >= 2
    assert await session.sync_fills() == 0  # idempotent: nothing new
    fills = session.fills(key="fills")
    assert list(fills.columns)[:5] == ["trade_id", "order_id", "client_order_id", "batch_id", "key"]
    assert str(fills["time"].dtype) == "datetime64[ns, UTC]"
    per_order = fills.groupby("client_order_id")["qty"].sum()
    filled = frame.set_index("client_order_id")["filled_qty"]
    for cid, qty in per_order.items():
        assert qty == pytest.approx(filled[cid])
    assert set(per_order.index) == set(frame["client_order_id"][:2])
    exchange = {str(t["id"]) for t in tkh.paper().trades() if t.get("symbol") == "BTCUSDT"}
    assert set(fills["trade_id"]) <= exchange
    assert (fills["side"].tolist()[0], fills["key"].unique().tolist()) == ("buy", ["fills"])
    with pytest.raises(tk.InputError, match="unknown fill filter 'stauts'"):
        session.fills(stauts="x")


async def test_candles_load_incrementally_and_match_the_exchange(tkh: Any) -> None:
    session = await tk.connect(stream=False)
    end = pd.Timestamp.now(tz="UTC").floor("min") - pd.Timedelta(minutes=1)
    start = end - pd.Timedelta(hours=3)
    paper = tkh.paper()
    paper.reset_counters()
    first = await session.candles(["BTCUSDT", "ETH/USDT"], "1m", start=start, end=end)
    assert set(first["symbol"]) == {"BTCUSDT", "ETHUSDT"}
    assert len(first) == 2 * 181
    assert (first["low"] <= first["open"]).all()
    assert (first["high"] >= first["close"]).all()
    made = paper.counters()["requests"]
    paper.reset_counters()
    again = await session.candles(["BTCUSDT", "ETHUSDT"], "1m", start=start, end=end)
    pd.testing.assert_frame_equal(again, first)
    assert paper.counters()["requests"] == 2 < made  # one (latest) page per symbol
    stored = session.sql("select count(*) as n from candles")["n"].tolist()
    assert stored == [2 * 181]
    with pytest.raises(tk.InputError, match="interval"):
        await session.candles("BTCUSDT", "7m")
    with pytest.raises(tk.InputError, match="unknown symbol"):
        await session.candles("NOPEUSDT", "1m")


async def test_depth_and_tickers(tkh: Any) -> None:
    session = await tk.connect(stream=False)
    book = await session.depth("BTC/USDT", limit=5)
    assert book["side"].tolist() == ["bid"] * 5 + ["ask"] * 5
    assert book["price"].iloc[0] < 90000 < book["price"].iloc[5]
    tick = await session.tickers("BTCUSDT")
    assert tick["symbol"].tolist() == ["BTCUSDT"]


async def test_fills_are_synced_in_the_background_after_a_batch(tkh: Any) -> None:
    session = await tk.connect(stream=False)  # sync_fills=True by default
    frame = await session.batch([tkh.market()])
    cid = frame["client_order_id"].iloc[0]
    deadline = time.monotonic() + 60  # a generous bound: the sync runs ~2 s after the batch
    while time.monotonic() < deadline and session.fills(order_ids=[cid]).empty:  # noqa: ASYNC110 - polled, generous bound
        await asyncio.sleep(0.1)
    fills = session.fills(order_ids=[cid])
    assert fills["qty"].sum() == pytest.approx(frame["filled_qty"].iloc[0])


async def test_a_long_candle_load_shows_a_progress_bar(
    tkh: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    session = await tk.connect(stream=False)
    end = pd.Timestamp.now(tz="UTC").floor("min") - pd.Timedelta(minutes=1)
    short = await session.candles("BTCUSDT", "1m", start=end - pd.Timedelta(hours=2), end=end)
    assert "candles 1m" not in capfd.readouterr().err  # one page: no bar
    frame = await session.candles("ETHUSDT", "1m", start=end - pd.Timedelta(days=5), end=end)
    assert len(frame) == 5 * 1440 + 1
    assert len(short) == 121
    err = capfd.readouterr().err
    assert "candles 1m" in err
    assert "100%" in err
    assert "7.20k/7.20k" in err
