"""Binance-shaped exchangeInfo factories (real filter key names), a runner."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from toolkit.core._input import read_orders
from toolkit.core._models import Market
from toolkit.core._rules import SymbolRules, parse_rules
from toolkit.core._validation import Prepared, prepare

NOW = pd.Timestamp("2026-01-02 03:04:05", tz="UTC")
SPOT_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"]


def spot_symbol(
    symbol: str = "BTCUSDT",
    base: str = "BTC",
    quote: str = "USDT",
    *,
    status: str = "TRADING",
    tick: str = "0.01000000",
    min_price: str = "0.01000000",
    max_price: str = "1000000.00000000",
    step: str = "0.00001000",
    min_qty: str = "0.00001000",
    max_qty: str = "9000.00000000",
    market_max_qty: str = "97.92836420",
    min_notional: str = "5.00000000",
    max_notional: str = "9000000.00000000",
    order_types: Sequence[str] = SPOT_TYPES,
    max_num_orders: int = 200,
) -> dict[str, Any]:
    """A spot symbol like the real BTCUSDT exchangeInfo capture."""
    return {
        "symbol": symbol,
        "status": status,
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "orderTypes": list(order_types),
        "icebergAllowed": True,
        "ocoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "isSpotTradingAllowed": True,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": min_price,
                "maxPrice": max_price,
                "tickSize": tick,
            },
            {"filterType": "LOT_SIZE", "minQty": min_qty, "maxQty": max_qty, "stepSize": step},
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.00000000",
                "maxQty": market_max_qty,
                "stepSize": "0.00000000",
            },
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": "5",
                "bidMultiplierDown": "0.2",
                "askMultiplierUp": "5",
                "askMultiplierDown": "0.2",
                "avgPriceMins": 5,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": min_notional,
                "applyMinToMarket": True,
                "maxNotional": max_notional,
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": max_num_orders},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
    }


def exchange_info(*symbols: dict[str, Any]) -> dict[str, Any]:
    """A whole exchangeInfo answer around ``symbols``."""
    return {
        "timezone": "UTC",
        "serverTime": 1767322800000,
        "rateLimits": [],
        "exchangeFilters": [],
        "symbols": list(symbols),
    }


def usdm_symbol(
    symbol: str = "BTCUSDT",
    base: str = "BTC",
    quote: str = "USDT",
    *,
    status: str = "TRADING",
    tick: str = "0.10",
    min_price: str = "556.80",
    max_price: str = "4529764",
    step: str = "0.001",
    min_qty: str = "0.001",
    max_qty: str = "1000",
    notional: str = "100",
    max_num_orders: int = 200,
) -> dict[str, Any]:
    """A USD-M symbol like the real BTCUSDT perpetual (futures keys: ``notional``, ``limit``)."""
    return {
        "symbol": symbol,
        "pair": symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "status": status,
        "baseAsset": base,
        "quoteAsset": quote,
        "marginAsset": quote,
        "pricePrecision": 2,
        "quantityPrecision": 3,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": min_price,
                "maxPrice": max_price,
                "tickSize": tick,
            },
            {"filterType": "LOT_SIZE", "minQty": min_qty, "maxQty": max_qty, "stepSize": step},
            {"filterType": "MARKET_LOT_SIZE", "minQty": min_qty, "maxQty": "120", "stepSize": step},
            {"filterType": "MAX_NUM_ORDERS", "limit": max_num_orders},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": notional},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
        "orderTypes": [
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
            "TRAILING_STOP_MARKET",
        ],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }


SPOT_INFO = exchange_info(
    spot_symbol(),
    spot_symbol("ETHUSDT", "ETH", tick="0.01", step="0.0001", min_qty="0.001"),
    spot_symbol("HALTUSDT", "HALT", status="HALT"),
    spot_symbol("LIMUSDT", "LIM", order_types=["LIMIT"]),
    spot_symbol("FEWUSDT", "FEW", max_num_orders=2),
)
USDM_INFO = exchange_info(
    usdm_symbol(),
    usdm_symbol(
        "ODDUSDT", "ODD", tick="0.01", min_price="0.005", step="1", min_qty="1", notional="5"
    ),
)
SPOT_RULES: dict[str, SymbolRules] = parse_rules(SPOT_INFO, Market.SPOT)
USDM_RULES: dict[str, SymbolRules] = parse_rules(USDM_INFO, Market.USDM)
SPOT_PRICES = {"BTCUSDT": Decimal("90000"), "ETHUSDT": Decimal("3000")}
USDM_PRICES = {"BTCUSDT": Decimal("50000"), "ODDUSDT": Decimal("1.5")}
BALANCES = {"USDT": Decimal("100000"), "BTC": Decimal("2"), "ETH": Decimal("10")}

Runner = Callable[..., list[Prepared]]


def run_prepare(
    orders: pd.DataFrame | Sequence[Mapping[str, Any]],
    market: Market = Market.SPOT,
    *,
    rules: Mapping[str, SymbolRules] | None = None,
    prices: Mapping[str, Decimal] | None = None,
    balances: Mapping[str, Decimal] | None = None,
    key: str | None = None,
    id_seed: str | None = None,
    all_or_nothing: bool = False,
) -> list[Prepared]:
    """read_orders + prepare with the test markets' rules, prices and balances."""
    spot = market is Market.SPOT
    return prepare(
        read_orders(orders),
        market=market,
        exchange="paper",
        rules=rules if rules is not None else (SPOT_RULES if spot else USDM_RULES),
        prices=prices if prices is not None else (SPOT_PRICES if spot else USDM_PRICES),
        balances=balances if balances is not None else BALANCES,
        id_seed=id_seed or key or "batch-1",
        batch_id="batch-1",
        key=key,
        all_or_nothing=all_or_nothing,
        now=NOW,
    )


@pytest.fixture(scope="session")
def run() -> Runner:
    """``run(orders, market, **kw) -> list[Prepared]`` with the test markets."""
    return run_prepare


class _Kit(SimpleNamespace):
    def __repr__(self) -> str:  # keep hypothesis/pytest failure reports short
        return "kit"


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    """The factories and constants above, for tests (conftest modules are not importable)."""
    return _Kit(
        NOW=NOW,
        SPOT_INFO=SPOT_INFO,
        USDM_INFO=USDM_INFO,
        SPOT_RULES=SPOT_RULES,
        USDM_RULES=USDM_RULES,
        SPOT_PRICES=SPOT_PRICES,
        USDM_PRICES=USDM_PRICES,
        BALANCES=BALANCES,
        spot_symbol=spot_symbol,
        usdm_symbol=usdm_symbol,
        exchange_info=exchange_info,
        run=run_prepare,
    )
