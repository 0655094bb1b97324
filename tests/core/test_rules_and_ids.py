"""parse_rules on spot and USD-M exchangeInfo; deterministic client order ids."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pandas as pd
import pytest

from toolkit.core._ids import (
    CLIENT_ORDER_ID_PATTERNS,
    client_order_id,
    is_valid_client_order_id,
    new_batch_id,
)
from toolkit.core._models import Market, OrderType
from toolkit.core._rules import LotRule, parse_rules

D = Decimal


# --------------------------------------------------------------------------- rules


def test_spot_rules_from_real_key_names(kit: SimpleNamespace) -> None:
    r = kit.SPOT_RULES["BTCUSDT"]
    assert (r.symbol, r.market, r.status, r.base_asset, r.quote_asset, r.margin_asset) == (
        "BTCUSDT",
        Market.SPOT,
        "TRADING",
        "BTC",
        "USDT",
        None,
    )
    assert r.is_trading
    assert (r.min_price, r.max_price, r.tick_size) == (D("0.01"), D("1000000"), D("0.01"))
    assert r.lot == LotRule("LOT_SIZE", D("0.00001"), D("9000"), D("0.00001"), False)
    # MARKET_LOT_SIZE with zero min and step: only the max is active
    assert r.market_lot == LotRule("MARKET_LOT_SIZE", D(0), D("97.92836420"), D(0), False)
    assert (r.min_notional, r.min_notional_applies_to_market) == (D("5"), True)
    assert (r.max_notional, r.max_notional_applies_to_market) == (D("9000000"), False)
    assert (r.buy_up, r.buy_down, r.sell_up, r.sell_down) == (D(5), D("0.2"), D(5), D("0.2"))
    assert r.max_num_orders == 200
    assert r.order_types == frozenset(
        {
            OrderType.LIMIT,
            OrderType.LIMIT_MAKER,
            OrderType.MARKET,
            OrderType.STOP_LOSS_LIMIT,
            OrderType.TAKE_PROFIT_LIMIT,
        }
    )
    assert all(isinstance(v, Decimal) for v in (r.tick_size, r.min_notional, r.buy_up))
    assert not kit.SPOT_RULES["HALTUSDT"].is_trading


def test_usdm_rules_from_real_key_names(kit: SimpleNamespace) -> None:
    r = kit.USDM_RULES["BTCUSDT"]
    assert (r.market, r.margin_asset, r.tick_from_min) == (Market.USDM, "USDT", True)
    assert (r.min_price, r.tick_size) == (D("556.80"), D("0.10"))
    assert r.lot == LotRule("LOT_SIZE", D("0.001"), D("1000"), D("0.001"), True)
    assert r.market_lot == LotRule("MARKET_LOT_SIZE", D("0.001"), D("120"), D("0.001"), True)
    assert r.min_notional == D("100")  # futures key "notional"
    assert r.max_num_orders == 200  # futures key "limit"
    assert (r.buy_up, r.buy_down, r.sell_up, r.sell_down) == (D("1.05"), None, None, D("0.95"))
    assert "GTX" in r.time_in_force
    assert OrderType.STOP_MARKET in r.order_types


def test_spot_min_notional_filter_and_percent_price(kit: SimpleNamespace) -> None:
    raw = kit.spot_symbol()
    raw["filters"] = [
        {"filterType": "MIN_NOTIONAL", "minNotional": "10", "applyToMarket": False},
        {"filterType": "PERCENT_PRICE", "multiplierUp": "1.3", "multiplierDown": "0.7"},
    ]
    r = parse_rules(kit.exchange_info(raw), Market.SPOT)["BTCUSDT"]
    assert (r.min_notional, r.min_notional_applies_to_market) == (D(10), False)
    assert (r.buy_up, r.buy_down, r.sell_up, r.sell_down) == (
        D("1.3"),
        D("0.7"),
        D("1.3"),
        D("0.7"),
    )
    assert r.lot is None
    assert r.tick_size == 0
    assert r.price_on_tick(D("1.23456789"))  # no PRICE_FILTER: nothing to check


def test_futures_doc_spelling_of_order_types_is_accepted(kit: SimpleNamespace) -> None:
    raw = kit.usdm_symbol()
    raw["OrderType"] = raw.pop("orderTypes")
    r = parse_rules(kit.exchange_info(raw), Market.USDM)["BTCUSDT"]
    assert OrderType.LIMIT in r.order_types


def test_parse_rules_tolerates_sparse_entries() -> None:
    info = {"symbols": [{"symbol": "X"}, {"no": "symbol"}, "junk"]}
    rules = parse_rules(info, Market.SPOT)
    assert list(rules) == ["X"]
    assert parse_rules({}, Market.USDM) == {}


@pytest.mark.parametrize(
    ("market", "price", "on_tick", "nearest"),
    [
        (Market.SPOT, "90000.005", False, ("90000.00", "90000.01")),
        (Market.SPOT, "90000.01", True, ("90000.01", "90000.01")),
        (Market.SPOT, "0.015", False, ("0.01", "0.02")),
        (Market.USDM, "0.015", True, ("0.015", "0.015")),  # counted from minPrice 0.005
        (Market.USDM, "0.02", False, ("0.015", "0.025")),
    ],
)
def test_tick_rules(
    kit: SimpleNamespace, market: Market, price: str, on_tick: bool, nearest: tuple[str, str]
) -> None:
    make = kit.spot_symbol if market is Market.SPOT else kit.usdm_symbol
    raw = make(tick="0.01", min_price="0.005")
    r = parse_rules(kit.exchange_info(raw), market)["BTCUSDT"]
    assert r.price_on_tick(D(price)) is on_tick
    low, high = r.nearest_prices(D(price))
    assert (f"{low:f}", f"{high:f}") == nearest


def test_lot_rule_floor_and_step() -> None:
    spot = LotRule("LOT_SIZE", D("0.001"), D("100"), D("0.001"))
    assert spot.floor(D("1.23456")) == D("1.234")
    assert spot.on_step(D("1.234"))
    assert not spot.on_step(D("1.2345"))
    fut = LotRule("LOT_SIZE", D("0.0005"), D("100"), D("0.001"), from_min=True)
    assert fut.on_step(D("0.0015"))
    assert fut.floor(D("0.0024")) == D("0.0015")
    off = LotRule("MARKET_LOT_SIZE", D(0), D(10), D(0))
    assert off.on_step(D("1.23456789"))
    assert off.floor(D("1.5")) == D("1.5")


# --------------------------------------------------------------------------- ids


def test_generated_id_fits_both_markets() -> None:
    cid = client_order_id("rebalance-2026-11-25", 7, "f" * 64)
    assert cid.startswith("tk")
    assert len(cid) <= 36
    for pattern in CLIENT_ORDER_ID_PATTERNS.values():
        assert pattern.fullmatch(cid)
    # Binance's documented regexes, verbatim
    import re

    assert re.fullmatch(r"^[a-zA-Z0-9-_]{1,36}$", cid)
    assert re.fullmatch(r"^[\.A-Z\:/a-z0-9_-]{1,36}$", cid)


def test_client_id_patterns() -> None:
    assert is_valid_client_order_id("abc-DEF_123", Market.SPOT)
    assert not is_valid_client_order_id("a.b", Market.SPOT)
    assert is_valid_client_order_id("a.b:c/d", Market.USDM)
    assert not is_valid_client_order_id("", Market.USDM)
    assert not is_valid_client_order_id("x" * 37, Market.USDM)
    assert not is_valid_client_order_id("abc\n", Market.SPOT)


def test_new_batch_id_is_random() -> None:
    ids = {new_batch_id() for _ in range(100)}
    assert len(ids) == 100


ROWS = [
    {"symbol": "BTCUSDT", "side": "buy", "qty": 0.001, "price": 90000},
    {"symbol": "BTCUSDT", "side": "buy", "qty": 0.001, "price": 90000},  # same content, other row
    {"symbol": "ETHUSDT", "side": "sell", "qty_pct": 5},
]


def ids(kit: SimpleNamespace, rows: object, **kw: object) -> list[str]:
    prepared = kit.run(rows, **kw)
    assert all(p.valid for p in prepared)
    return [p.request.client_order_id for p in prepared]


def test_same_key_same_ids_even_when_balances_change(kit: SimpleNamespace) -> None:
    first = ids(kit, ROWS, key="rebalance-2026-11-25")
    again = ids(
        kit,
        pd.DataFrame(ROWS),
        key="rebalance-2026-11-25",
        balances={"USDT": D(5), "ETH": D(3)},  # qty_pct sizes differently, same order
    )
    assert first == again
    assert len(set(first)) == 3


def test_different_key_or_no_key_gives_different_ids(kit: SimpleNamespace) -> None:
    a = ids(kit, ROWS, key="k1")
    b = ids(kit, ROWS, key="k2")
    c = ids(kit, ROWS, id_seed=new_batch_id())
    d = ids(kit, ROWS, id_seed=new_batch_id())
    assert not (set(a) & set(b))
    assert not (set(a) & set(c))
    assert not (set(c) & set(d))


def test_changed_row_changes_its_id_only(kit: SimpleNamespace) -> None:
    a = ids(kit, ROWS, key="k")
    changed = [dict(r) for r in ROWS]
    changed[1]["qty"] = 0.002
    b = ids(kit, changed, key="k")
    assert (a[0], a[2]) == (b[0], b[2])
    assert a[1] != b[1]


def test_user_client_order_id_wins(kit: SimpleNamespace) -> None:
    rows = [dict(ROWS[0], client_order_id="mine-1"), ROWS[1]]
    got = ids(kit, rows, key="k")
    assert got[0] == "mine-1"
    assert got[1].startswith("tk")
