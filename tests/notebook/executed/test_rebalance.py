"""``rebalance_orders``: the arithmetic of the rebalance notebook, checked by hand-sized cases."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

from toolkit.core._input import read_orders
from toolkit.core._models import Market
from toolkit.core._rebalance import ORDER_COLUMNS, PLAN_COLUMNS, rebalance_orders
from toolkit.core._rules import LotRule, SymbolRules

D = Decimal
PRICES = {"BTCUSDT": D("90000"), "ETHUSDT": D("3000")}
BALANCES = {"BTC": D("1"), "ETH": D("10"), "USDT": D("100000"), "SOL": D("200")}


def rules(symbol: str, step: str, min_notional: str = "5") -> SymbolRules:
    return SymbolRules(
        symbol=symbol,
        market=Market.SPOT,
        status="TRADING",
        base_asset=symbol[:-4],
        quote_asset="USDT",
        lot=LotRule("LOT_SIZE", D(step), D("9000"), D(step)),
        min_notional=D(min_notional),
    )


RULES = {"BTCUSDT": rules("BTCUSDT", "0.00001"), "ETHUSDT": rules("ETHUSDT", "0.0001")}


def by_asset(plan: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {str(r["asset"]): {str(k): v for k, v in r.items()} for r in plan.to_dict("records")}


def test_moves_the_target_assets_to_their_weights() -> None:
    plan = rebalance_orders({"BTC": 0.4, "ETH": 0.3, "USDT": 0.3}, BALANCES, PRICES, rules=RULES)
    assert list(plan.columns) == list(PLAN_COLUMNS)
    rows = by_asset(plan)
    # portfolio: 90,000 BTC + 30,000 ETH + 100,000 USDT = 220,000 (SOL is not a target: ignored)
    assert plan.value.sum() == 220_000
    assert rows["BTC"]["target_value"] == 88_000
    assert rows["BTC"]["side"] == "sell"
    assert rows["BTC"]["qty"] == 0.02222  # 2,000 / 90,000 = 0.0222.. floored to the 0.00001 step
    assert rows["ETH"]["side"] == "buy"
    assert rows["ETH"]["quote_qty"] == 36_000
    assert not rows["USDT"]["send"]
    assert pd.isna(rows["USDT"]["side"])
    assert plan.send.tolist() == [True, True, False]


def test_the_orders_are_a_valid_batch_input() -> None:
    plan = rebalance_orders({"BTC": 0.4, "ETH": 0.3, "USDT": 0.3}, BALANCES, PRICES, rules=RULES)
    rows = read_orders(plan.loc[plan.send, ORDER_COLUMNS])
    assert [
        (r.symbol, r.side and r.side.value, r.type and r.type.value, r.qty, r.quote_qty, r.problems)
        for r in rows
    ] == [
        ("BTCUSDT", "sell", "market", D("0.02222"), None, ()),
        ("ETHUSDT", "buy", "market", None, D("36000.0"), ()),
    ]


def test_differences_below_the_minimum_are_skipped() -> None:
    balances = {"BTC": D("1"), "USDT": D("90003")}  # 1.5 USDT off target
    plan = rebalance_orders({"BTC": 0.5, "USDT": 0.5}, balances, PRICES, rules=RULES)
    btc = by_asset(plan)["BTC"]
    assert not btc["send"]
    assert "below the minimum 5 USDT" in str(btc["note"])
    plan = rebalance_orders(
        {"BTC": 0.5, "USDT": 0.5},
        {"BTC": D("1"), "USDT": D("92000")},
        PRICES,
        rules=RULES,
        min_trade=2000,
    )
    assert not plan.send.any()  # 1,000 USDT off, below min_trade


def test_a_sell_floored_below_the_minimum_is_skipped() -> None:
    coarse = {"BTCUSDT": rules("BTCUSDT", "0.1")}
    plan = rebalance_orders(
        {"BTC": 0.49, "USDT": 0.51}, {"BTC": D("1"), "USDT": D("90000")}, PRICES, rules=coarse
    )  # sell 0.02 BTC -> floored to 0
    btc = by_asset(plan)["BTC"]
    assert not btc["send"]
    assert "floored" in str(btc["note"])


def test_weight_zero_sells_the_whole_balance() -> None:
    plan = rebalance_orders({"ETH": 0, "USDT": 1}, BALANCES, PRICES, rules=RULES)
    eth = by_asset(plan)["ETH"]
    assert eth["side"] == "sell"
    assert eth["qty"] == 10


def test_an_unlisted_asset_becomes_a_buy_that_the_batch_will_reject() -> None:
    plan = rebalance_orders({"BTC": 0.5, "FOO": 0.1, "USDT": 0.4}, BALANCES, PRICES)
    foo = by_asset(plan)["FOO"]
    assert foo["send"]
    assert foo["side"] == "buy"
    assert foo["symbol"] == "FOOUSDT"
    assert foo["note"] == "no price for FOOUSDT"


def test_a_held_asset_without_a_price_cannot_be_valued() -> None:
    with pytest.raises(ValueError, match="SOL is held"):
        rebalance_orders({"SOL": 0.5, "USDT": 0.5}, BALANCES, PRICES)


@pytest.mark.parametrize(
    ("targets", "match"),
    [
        ({}, "targets is empty"),
        ({"BTC": 0.5, "USDT": 0.4}, "sum to 1"),
        ({"BTC": 1.5, "USDT": -0.5}, "negative: USDT"),
        ({"BTC": "lots", "USDT": 1}, "weight of BTC must be a number"),
    ],
)
def test_bad_weights_raise(targets: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        rebalance_orders(targets, BALANCES, PRICES)


def test_asset_names_are_case_insensitive_and_on_target_sends_nothing() -> None:
    plan = rebalance_orders({"btc": 0.5, "usdt": 0.5}, {"BTC": D("1"), "USDT": D("90000")}, PRICES)
    assert plan.asset.tolist() == ["BTC", "USDT"]
    assert not plan.send.any()
    assert by_asset(plan)["BTC"]["note"] == "on target"
