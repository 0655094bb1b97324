"""Positions and what a batch cost (issue 16), through the real adapter, session, store and
paper exchange, compared with what the paper exchange holds (its admin endpoints)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pandas as pd
import pytest

import toolkit as tk
from toolkit.paper import FaultConfig, PaperExchange
from toolkit.runtime import _runner
from toolkit.store._costs import COST_DTYPES

from .conftest import _GENEROUS

pytestmark = pytest.mark.loop


async def _admin(exchange: PaperExchange, path: str, **query: str) -> Any:
    url = f"{exchange.url}/paper/{path}"
    async with aiohttp.ClientSession() as http, http.get(url, params=query) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def _poll(what: str, check: Any, bound: float = 60.0) -> Any:
    """Poll ``check()`` until it returns something (not None), within a generous bound."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        value = check()
        if value is not None:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not within {bound} s")


@pytest.fixture
async def fee_paper() -> AsyncIterator[PaperExchange]:
    """A paper exchange of its own, with a 0.1% commission, fixed prices, generous limits."""
    exchange = PaperExchange(price_mode="fixed", rate_limits=_GENEROUS, fee_rate="0.001")
    await _runner.call(exchange.start())
    try:
        yield exchange
    finally:
        await _runner.call(exchange.stop())


async def _connect(exchange: PaperExchange, **settings: Any) -> tuple[tk.Session, str]:
    key, secret = exchange.create_key()
    session = await tk.connect(
        "paper", base_url=exchange.url, api_key=key, api_secret=secret, stream=False, **settings
    )
    return session, key


async def test_spot_positions_match_the_exchange_and_are_snapshotted(
    fee_paper: PaperExchange, tkh: Any
) -> None:
    session, api_key = await _connect(fee_paper)
    await session.batch([tkh.market(qty="0.01"), tkh.market("ETHUSDT", "sell", "0.5"), tkh.limit()])
    held = await tk.positions()
    assert list(held.columns) == ["asset", "free", "locked", "total", "price", "value", "weight"]
    assert str(held["asset"].dtype) == "string"
    assert str(held["free"].dtype) == "float64"
    paper = fee_paper
    truth = (await _admin(paper, "holdings", api_key=api_key))["balances"]
    nonzero = {a for a, v in truth.items() if float(v["free"]) or float(v["locked"])}
    assert set(held["asset"]) == nonzero
    prices = (await _admin(paper, "prices"))["spot"]
    rows: list[Any] = list(held.itertuples())  # (fields by name)
    for row in rows:
        assert row.free == pytest.approx(float(truth[row.asset]["free"]))
        assert row.locked == pytest.approx(float(truth[row.asset]["locked"]))
        price = 1.0 if row.asset == "USDT" else float(prices[f"{row.asset}USDT"])
        assert row.price == pytest.approx(price)
        assert row.value == pytest.approx(row.total * price)
    assert held.set_index("asset").loc["USDT", "locked"] == pytest.approx(88.0)  # the limit
    assert held["weight"].sum() == pytest.approx(1.0)
    stored = session.sql(
        "select p.asset, p.total from positions p join position_snapshots s using (snapshot_id)"
        " where s.source = 'positions' order by p.asset"
    )
    assert stored["asset"].tolist() == held["asset"].tolist()
    assert stored["total"].tolist() == pytest.approx(held["total"].tolist())


async def test_usdm_positions_match_the_exchange(fee_paper: PaperExchange, tkh: Any) -> None:
    session, api_key = await _connect(fee_paper, market="usdm")
    await session.batch([tkh.market(side="sell", qty="0.010"), tkh.market("ETHUSDT", qty="0.100")])
    held = await session.positions()
    assert list(held.columns) == [
        "symbol",
        "side",
        "qty",
        "entry_price",
        "mark_price",
        "unrealized_pnl",
        "leverage",
        "notional",
        "liquidation_price",
    ]
    truth = (await _admin(fee_paper, "holdings", api_key=api_key, market="usdm"))["positions"]
    prices = (await _admin(fee_paper, "prices"))["usdm"]
    assert held["symbol"].tolist() == sorted(truth)
    rows: list[Any] = list(held.itertuples())  # (fields by name)
    for row in rows:
        amount = float(truth[row.symbol]["amount"])
        assert row.side == ("long" if amount > 0 else "short")
        assert row.qty == pytest.approx(abs(amount))
        assert row.entry_price == pytest.approx(float(truth[row.symbol]["entry"]))
        assert row.mark_price == pytest.approx(float(prices[row.symbol]))
        assert row.notional == pytest.approx(amount * row.mark_price)
        assert row.leverage == 20
    assert held.set_index("symbol").loc["BTCUSDT", "side"] == "short"


async def test_a_batchs_before_and_after_is_a_query(tkh: Any) -> None:
    """A new store's first batch: its "before" is the snapshot the session took when it opened,
    its "after" the background step's (fills, then a snapshot)."""
    session = await tk.connect(stream=False)
    await session.open()

    def opened() -> bool | None:
        tables = session.sql("select table_name from information_schema.tables")
        if "position_snapshots" not in set(tables["table_name"]):
            return None
        taken = len(session.sql("select 1 from position_snapshots where source = 'open'"))
        return True if taken else None

    await _poll("the snapshot taken at open", opened)
    frame = await session.batch([tkh.market(qty="0.02")], key="around")
    assert frame["status"].tolist() == ["FILLED"]
    query = (
        "select phase, total from batch_positions where key = 'around' and asset = 'BTC'"
        " order by phase"
    )

    def both() -> pd.DataFrame | None:
        rows = session.sql(query)
        return rows if len(rows) == 2 else None

    rows = await _poll("the snapshot after the batch", both)
    after, before = rows["total"].tolist()  # 'after' < 'before' alphabetically
    assert after - before == pytest.approx(0.02)
    snaps = session.sql("select source, batch_id from position_snapshots order by taken_at")
    assert snaps["source"].tolist() == ["open", "after_batch"]
    assert snaps["batch_id"].iloc[1] == frame["batch_id"].iloc[0]


async def test_costs_per_order_and_batch(fee_paper: PaperExchange, tkh: Any) -> None:
    session, key = await _connect(fee_paper, price_ttl=3600.0)
    await session.batch([tkh.market(qty="0.001"), tkh.market("ETHUSDT", "sell", "0.01")])
    # the session now knows BTC at 90,000 and ETH at 3,000 (cached for an hour); the market
    # moves before the next batch, which records the prices it knew as its arrival prices
    fee_paper.set_price("BTCUSDT", 90_090)
    fee_paper.set_price("ETHUSDT", 2_997)
    frame = await session.batch(
        [tkh.market(qty="0.01"), tkh.market("ETHUSDT", "sell", "0.5"), tkh.limit(price="88000")],
        key="cost",
    )
    assert frame["status"].tolist() == ["FILLED", "FILLED", "NEW"]
    await session.sync_fills()
    report = tk.costs(key="cost")
    assert len(report) == 3
    assert list(report.columns) == list(COST_DTYPES)
    btc, eth, rest = (report.orders.iloc[i] for i in range(3))
    assert (btc.arrival_price, eth.arrival_price) == (90_000, 3_000)
    assert btc.arrival_age > 0
    assert eth.arrival_age > 0
    assert btc.avg_fill_price == pytest.approx(90_090)
    assert btc.slippage_bps == pytest.approx(10.0)  # bought 0.1% above arrival: a cost
    assert eth.slippage_bps == pytest.approx(10.0)  # sold 0.1% below arrival: a cost
    assert btc.fees_quote == pytest.approx(0.01 * 0.001 * 90_090)  # paid in BTC, valued
    assert eth.fees_quote == pytest.approx(0.5 * 2_997 * 0.001)  # paid in USDT
    assert (btc.fill_ratio, eth.fill_ratio, rest.fill_ratio) == (1.0, 1.0, 0.0)
    assert 0 <= btc.first_fill_s <= btc.last_fill_s < 60
    assert pd.isna(rest.first_fill_s)
    assert rest.n_fills == 0
    trades = {str(t["id"]) for t in fee_paper.trades(api_key=key)}
    assert set(report.fills["trade_id"]) <= trades
    assert len(report.fills) == 2
    summary = report.summary.iloc[0]
    assert summary.key == "cost"
    assert summary.n_orders == 3
    assert summary.n_filled == 2
    assert summary.slippage_bps == pytest.approx(10.0)
    assert summary.fees_quote == pytest.approx(btc.fees_quote + eth.fees_quote)
    assert summary.fees_bps == pytest.approx(10.0)
    assert tk.costs().summary["key"].iloc[0] == "cost"  # default: the last batch
    with pytest.raises(tk.InputError, match="no batch with key 'nope'"):
        tk.costs(key="nope")
    await session.close()


async def test_cost_chart_renders_fills_against_candles(tkh: Any) -> None:
    session = await tk.connect(stream=False)
    frame = await session.batch(
        [tkh.market(qty="0.01"), tkh.market("ETHUSDT", "sell", "0.1")], key="chart"
    )
    await session.sync_fills()
    created = frame["created_at"].iloc[0]
    await session.candles(["BTCUSDT", "ETHUSDT"], "1m", start=created - pd.Timedelta("30min"))
    report = session.costs(key="chart")
    assert not report.candles.empty
    assert set(report.candles["symbol"]) == {"BTCUSDT", "ETHUSDT"}
    chart = report.plot()
    png = chart._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 10_000
    axes = chart.figure.axes
    assert [ax.get_title(loc="left") for ax in axes] == ["BTCUSDT", "ETHUSDT"]
    labels = axes[0].get_legend_handles_labels()[1]
    assert {"close", "arrival", "buy fills"} <= set(labels)
    assert "<b>orders</b>" in report._repr_html_()


async def test_fills_add_up_under_fault_injection(tkh: Any) -> None:
    """Unknown outcomes (5xx and dropped connections after the order is accepted), 5xx before
    it, 429 bursts and added latency -- the backfill's requests too: once reconciled and
    backfilled, each order's fills sum to its filled_qty and the store has every fill."""
    faults = FaultConfig(
        error_after_rate=0.25,
        drop_after_rate=0.15,
        error_before_rate=0.1,
        burst_429_rate=0.1,
        burst_429_length=2,
        latency=0.01,
        latency_jitter=0.02,
        seed=16,
    )
    exchange = PaperExchange(price_mode="fixed", rate_limits=_GENEROUS, faults=faults)
    await _runner.call(exchange.start())
    try:
        session, key = await _connect(exchange, sync_fills=False)
        rows = [
            tkh.market(
                "BTCUSDT" if i % 2 else "ETHUSDT",
                "buy" if i % 3 else "sell",
                "0.001" if i % 2 else "0.01",
            )
            for i in range(30)
        ]
        frame = await session.batch(rows, key="faults")
        injected = exchange.counters()["faults"]
        assert {"error_after", "drop_after"} & set(injected), injected  # outcomes unknown

        async def settled() -> pd.DataFrame:
            deadline = time.monotonic() + 60
            while True:
                orders = session.orders(key="faults")
                if not (orders["status"] == "PENDING").any() or time.monotonic() > deadline:
                    return orders
                await asyncio.sleep(0.2)

        orders = await settled()
        assert not (orders["status"] == "PENDING").any()
        assert (frame["status"] != "INVALID").all()
        await session.sync_fills()
        fills = session.fills(key="faults")
        per_order = fills.groupby("client_order_id")["qty"].sum()
        filled = orders.set_index("client_order_id")["filled_qty"].fillna(0.0)
        assert (filled > 0).sum() >= 10
        for cid, qty in filled.items():
            assert per_order.get(cid, 0.0) == pytest.approx(qty), cid
        assert exchange.counters()["responses_by_status"].get("429"), "no 429 was answered"
        truth = {str(t["id"]) for t in exchange.trades(api_key=key)}
        assert set(fills["trade_id"]) == truth
        await session.close()
    finally:
        await _runner.call(exchange.stop())


@pytest.mark.parametrize("market", ["spot", "usdm"])
async def test_stored_candles_are_the_exchanges(
    fee_paper: PaperExchange, tkh: Any, market: str
) -> None:
    """The store's candles, loaded in pages and twice (the second time incrementally), are the
    exchange's klines, value for value."""
    session, _ = await _connect(fee_paper, market=market)
    await session.batch([tkh.market(qty="0.010")])  # a fill inside the recorded history
    end = pd.Timestamp.now(tz="UTC").floor("min") + pd.Timedelta(minutes=1)
    start = end - pd.Timedelta(hours=30)  # two pages of 1m candles
    await session.candles("BTCUSDT", "1m", start=start, end=end - pd.Timedelta(hours=1))
    stored = await session.candles("BTCUSDT", "1m", start=start, end=end)
    path = "/api/v3/klines" if market == "spot" else "/fapi/v1/klines"
    rows: list[Any] = []
    cursor = int(start.value // 1_000_000)
    # up to the last candle stored (a new minute may have begun since: not a difference)
    last = int(stored["open_time"].iloc[-1].value // 1_000_000)
    async with aiohttp.ClientSession() as http:
        while True:
            params = {
                "symbol": "BTCUSDT",
                "interval": "1m",
                "limit": "1000",
                "startTime": str(cursor),
                "endTime": str(last),
            }
            async with http.get(fee_paper.url + path, params=params) as resp:
                page = await resp.json()
            rows += page
            if len(page) < 1000:
                break
            cursor = page[-1][0] + 60_000
    assert len(stored) == len(rows) >= 30 * 60 - 1  # (end is a minute ahead)
    assert stored["open_time"].tolist() == [pd.Timestamp(r[0], unit="ms", tz="UTC") for r in rows]
    for i, column in ((1, "open"), (2, "high"), (3, "low"), (4, "close"), (5, "volume")):
        assert stored[column].tolist()[:-1] == [float(r[i]) for r in rows][:-1], column
    fill = fee_paper.trades()[-1]
    minute = stored[
        stored["open_time"] == pd.Timestamp(fill["time"] // 60_000 * 60_000, unit="ms", tz="UTC")
    ]
    assert float(minute["low"].iloc[0]) <= float(fill["price"]) <= float(minute["high"].iloc[0])
