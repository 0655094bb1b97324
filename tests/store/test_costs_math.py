"""The cost arithmetic on hand-made inputs: signs, fee conversion, missing data."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from toolkit.store._costs import COST_DTYPES, SUMMARY_DTYPES, CostInputs, compute
from toolkit.store._research import FILL_COLUMNS

T0 = pd.Timestamp("2026-11-30 12:00", tz="UTC")


def _orders(*rows: tuple[str, str, str, float, float, float | None]) -> pd.DataFrame:
    frame: pd.DataFrame = pd.DataFrame(
        [
            {"client_order_id": cid, "order_id": cid, "symbol": symbol, "side": side,
             "type": "market", "status": "FILLED" if filled else "NEW", "qty": qty,
             "filled_qty": filled, "avg_price": avg, "key": "k"}
            for cid, symbol, side, qty, filled, avg in rows
        ]
    )  # fmt: skip
    return frame


def _fills(*rows: tuple[str, str, str, float, float, float, str, float]) -> pd.DataFrame:
    frame = pd.DataFrame(
        [
            {"trade_id": str(i), "order_id": cid, "client_order_id": cid, "batch_id": "b",
             "key": "k", "exchange": "paper", "market": "spot", "symbol": symbol, "side": side,
             "price": price, "qty": qty, "quote_qty": price * qty, "commission": fee,
             "commission_asset": asset, "maker": False, "realized_pnl": 0.0,
             "time": T0 + pd.Timedelta(seconds=after)}
            for i, (cid, symbol, side, price, qty, fee, asset, after) in enumerate(rows)
        ],
        columns=list(FILL_COLUMNS),
    )  # fmt: skip
    typed: pd.DataFrame = frame.astype(FILL_COLUMNS)
    return typed


def _inputs(orders: pd.DataFrame, fills: pd.DataFrame, arrival: dict[str, float]) -> CostInputs:
    known = {s: {"price": str(p), "age": 1.5} for s, p in arrival.items()}
    batch = {"batch_id": "b", "key": "k", "created_at": T0, "finished_at": T0,
             "params": {"arrival": known}}  # fmt: skip
    return CostInputs(batch=batch, orders=orders, fills=fills, candles=pd.DataFrame())


def test_slippage_is_signed_by_side_and_fees_are_in_quote() -> None:
    orders = _orders(("a", "BTCUSDT", "buy", 0.02, 0.02, None),
                     ("b", "ETHUSDT", "sell", 1.0, 1.0, None),
                     ("c", "SOLUSDT", "buy", 10.0, 10.0, None))  # fmt: skip
    fills = _fills(
        ("a", "BTCUSDT", "buy", 100_100.0, 0.01, 0.00001, "BTC", 0.5),   # in base: x price
        ("a", "BTCUSDT", "buy", 100_300.0, 0.01, 0.00001, "BTC", 2.0),
        ("b", "ETHUSDT", "sell", 2_990.0, 1.0, 2.99, "USDT", 1.0),      # in quote
        ("c", "SOLUSDT", "buy", 150.0, 10.0, 0.002, "BNB", 3.0),       # a third asset
    )  # fmt: skip
    report = compute(_inputs(orders, fills, {"BTCUSDT": 100_000, "ETHUSDT": 3_000}),
                     quote={"BTCUSDT": "USDT", "ETHUSDT": "USDT", "SOLUSDT": "USDT"})  # fmt: skip
    assert list(report.orders.dtypes) == list(COST_DTYPES.values())
    assert list(report.summary.dtypes) == list(SUMMARY_DTYPES.values())
    a, b, c = (report.orders.iloc[i] for i in range(3))
    assert a.avg_fill_price == pytest.approx(100_200)
    assert a.slippage_bps == pytest.approx(20.0)  # bought above arrival: +
    assert b.slippage_bps == pytest.approx(100 / 3)  # sold below arrival: +
    assert a.fees_quote == pytest.approx(0.00001 * 100_100 + 0.00001 * 100_300)
    assert b.fees_quote == pytest.approx(2.99)
    assert c.fees_quote == 0.0
    assert c.fees_unpriced == 1
    assert math.isnan(c.arrival_price)
    assert math.isnan(c.slippage_bps)  # no arrival price known: no slippage
    assert (a.first_fill_s, a.last_fill_s, a.n_fills) == (0.5, 2.0, 2)
    assert a.arrival_age == 1.5
    s = report.summary.iloc[0]
    notional_a, notional_b = 0.02 * 100_200, 2_990.0
    expected = (20.0 * notional_a + 100 / 3 * notional_b) / (notional_a + notional_b)
    assert s.slippage_bps == pytest.approx(expected)  # weighted by filled notional
    assert s.n_filled == 3
    assert (s.first_fill_s, s.last_fill_s) == (0.5, 3.0)


def test_orders_without_fills_fall_back_to_the_order() -> None:
    orders = _orders(("a", "BTCUSDT", "buy", 0.02, 0.01, 99_000.0),
                     ("b", "BTCUSDT", "sell", 0.01, 0.0, None))  # fmt: skip
    report = compute(_inputs(orders, _fills(), {"BTCUSDT": 100_000}), quote={})
    a, b = report.orders.iloc[0], report.orders.iloc[1]
    assert a.fill_ratio == 0.5
    assert a.avg_fill_price == 99_000.0  # the order's avg price until fills are synced
    assert a.slippage_bps == pytest.approx(-100.0)  # bought below arrival: a gain
    assert math.isnan(a.fees_quote)
    assert b.fill_ratio == 0.0
    assert math.isnan(b.avg_fill_price)
    assert report.summary["fill_ratio"].iloc[0] == pytest.approx(1_000 / 3_000)
    assert len(report) == 2
    assert report["side"].tolist() == ["buy", "sell"]
    with pytest.raises(AttributeError):
        report._repr_latex_  # noqa: B018 - private names are not the frame's
