"""Symbols, their filters (as ``exchangeInfo`` shows them) and the price feed.

Each symbol exists on both markets (``"spot"`` and ``"usdm"``) with the filter values of the real
Binance symbol at the time of writing. Filter decimals are parsed once here so the order path only
compares ``Decimal`` values.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from decimal import Decimal

__all__ = [
    "FUTURES",
    "MARKETS",
    "SPOT",
    "PriceFeed",
    "SymbolSpec",
    "default_specs",
    "fmt",
]

SPOT = "spot"
FUTURES = "usdm"
MARKETS = (SPOT, FUTURES)

_ZERO = Decimal(0)
_QUANT: dict[int, Decimal] = {n: Decimal(1).scaleb(-n) for n in range(0, 21)}


def fmt(value: Decimal, places: int) -> str:
    """``value`` as a fixed-point string with ``places`` decimals (Binance pads its numbers)."""
    try:
        return format(value.quantize(_QUANT[places]), "f")
    except ArithmeticError:  # absurd magnitudes: print as is rather than fail a response
        return format(value, "f")


def _places(step: Decimal) -> int:
    exponent = step.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


@dataclass
class SymbolSpec:
    """One symbol on one market: the numbers its filters are built from."""

    symbol: str
    base: str
    quote: str
    market: str
    price: Decimal  # the starting price
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    min_price: Decimal
    max_price: Decimal
    max_num_orders: int = 200
    max_algo_orders: int = 5
    percent_up: Decimal = Decimal("5")  # spot: PERCENT_PRICE_BY_SIDE; usdm: PERCENT_PRICE
    percent_down: Decimal = Decimal("0.2")
    price_places: int = field(init=False)
    qty_places: int = field(init=False)

    def __post_init__(self) -> None:
        self.price_places = _places(self.tick)
        self.qty_places = _places(self.step)

    def snap(self, price: Decimal) -> Decimal:
        """``price`` rounded to the tick and kept inside the price filter."""
        snapped = (price / self.tick).to_integral_value() * self.tick
        return min(max(snapped, self.tick, self.min_price), self.max_price)

    def filters(self) -> list[dict[str, object]]:
        """The ``filters`` list of this symbol in ``exchangeInfo``."""
        if self.market == SPOT:
            return [
                {"filterType": "PRICE_FILTER", "minPrice": fmt(self.min_price, 8),
                 "maxPrice": fmt(self.max_price, 8), "tickSize": fmt(self.tick, 8)},
                {"filterType": "LOT_SIZE", "minQty": fmt(self.min_qty, 8),
                 "maxQty": fmt(self.max_qty, 8), "stepSize": fmt(self.step, 8)},
                {"filterType": "ICEBERG_PARTS", "limit": 10},
                {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000",
                 "maxQty": fmt(self.market_max_qty, 8), "stepSize": "0.00000000"},
                {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10,
                 "maxTrailingAboveDelta": 2000, "minTrailingBelowDelta": 10,
                 "maxTrailingBelowDelta": 2000},
                {"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": str(self.percent_up),
                 "bidMultiplierDown": str(self.percent_down),
                 "askMultiplierUp": str(self.percent_up),
                 "askMultiplierDown": str(self.percent_down), "avgPriceMins": 5},
                {"filterType": "NOTIONAL", "minNotional": fmt(self.min_notional, 8),
                 "applyMinToMarket": True, "maxNotional": "9000000.00000000",
                 "applyMaxToMarket": False, "avgPriceMins": 5},
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": self.max_num_orders},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": self.max_algo_orders},
            ]
        return [
            {"filterType": "PRICE_FILTER", "minPrice": str(self.min_price),
             "maxPrice": str(self.max_price), "tickSize": str(self.tick)},
            {"filterType": "LOT_SIZE", "minQty": str(self.min_qty), "maxQty": str(self.max_qty),
             "stepSize": str(self.step)},
            {"filterType": "MARKET_LOT_SIZE", "minQty": str(self.min_qty),
             "maxQty": str(self.market_max_qty), "stepSize": str(self.step)},
            {"filterType": "MAX_NUM_ORDERS", "limit": self.max_num_orders},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": str(self.min_notional)},
            {"filterType": "PERCENT_PRICE", "multiplierUp": fmt(self.percent_up, 4),
             "multiplierDown": fmt(self.percent_down, 4), "multiplierDecimal": "4"},
        ]


# symbol, price, spot (tick, step, max qty, market max qty), futures (tick, step, max qty,
# market max qty, min notional); real Binance values at the time of writing.
_TABLE: tuple[tuple[str, str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("BTC", "USDT", "90000", ("0.01", "0.00001", "9000", "100"),
     ("0.10", "0.001", "1000", "120", "100")),
    ("ETH", "USDT", "3000", ("0.01", "0.0001", "9000", "3000"),
     ("0.01", "0.001", "10000", "2000", "20")),
    ("BNB", "USDT", "600", ("0.01", "0.001", "9000", "5000"),
     ("0.010", "0.01", "100000", "2000", "5")),
    ("SOL", "USDT", "150", ("0.01", "0.001", "9000", "20000"),
     ("0.0100", "1", "1000000", "5000", "5")),
    ("XRP", "USDT", "2.2", ("0.0001", "0.1", "9000000", "2000000"),
     ("0.0001", "0.1", "10000000", "2000000", "5")),
    ("DOGE", "USDT", "0.15", ("0.00001", "1", "9000000", "5000000"),
     ("0.00001", "1", "50000000", "30000000", "5")),
)

#: Paper balances of a new key: base assets on spot (USDT comes from the exchange's options).
BASE_BALANCES = {
    "BTC": "1", "ETH": "10", "BNB": "50", "SOL": "200", "XRP": "20000", "DOGE": "100000",
}


def default_specs() -> dict[str, dict[str, SymbolSpec]]:
    """``{market: {symbol: spec}}`` for every listed symbol."""
    out: dict[str, dict[str, SymbolSpec]] = {SPOT: {}, FUTURES: {}}
    for base, quote, price, spot, fut in _TABLE:
        symbol = base + quote
        tick, step, max_qty, mkt_max = (Decimal(v) for v in spot)
        out[SPOT][symbol] = SymbolSpec(
            symbol, base, quote, SPOT, Decimal(price), tick, step, step, max_qty, mkt_max,
            Decimal(5), tick, Decimal(1000000),
        )
        tick, step, max_qty, mkt_max, notional = (Decimal(v) for v in fut)
        out[FUTURES][symbol] = SymbolSpec(
            symbol, base, quote, FUTURES, Decimal(price), tick, step, step, max_qty, mkt_max,
            notional, tick, Decimal(price) * 20, percent_up=Decimal("1.05"),
            percent_down=Decimal("0.95"),
        )
    return out


class PriceFeed:
    """The price of every symbol on every market: fixed, or a seeded random walk.

    The walk is geometric (about ``volatility`` per tick, one standard deviation) and snapped to
    each symbol's tick; the two markets move by the same factor so spot and futures stay close.
    """

    def __init__(
        self,
        specs: dict[str, dict[str, SymbolSpec]],
        *,
        seed: int = 0,
        volatility: float = 0.0005,
    ) -> None:
        self.specs = specs
        self.volatility = volatility
        self._rng = random.Random(seed)
        self.prices: dict[str, dict[str, Decimal]] = {
            market: {s: spec.price for s, spec in by_symbol.items()}
            for market, by_symbol in specs.items()
        }

    def get(self, market: str, symbol: str) -> Decimal:
        """The current price of ``symbol`` on ``market``."""
        return self.prices[market][symbol]

    def set(self, market: str, symbol: str, price: Decimal) -> Decimal:
        """Set one price (snapped to the tick); returns the stored value."""
        snapped = self.specs[market][symbol].snap(price)
        self.prices[market][symbol] = snapped
        return snapped

    def step(self) -> list[tuple[str, str]]:
        """Advance the walk by one tick; returns the ``(market, symbol)`` pairs that moved."""
        moved: list[tuple[str, str]] = []
        for symbol in self.specs[SPOT]:
            factor = Decimal(repr(math.exp(self._rng.gauss(0.0, self.volatility))))
            for market in MARKETS:
                if symbol not in self.prices[market]:
                    continue
                old = self.prices[market][symbol]
                new = self.specs[market][symbol].snap(old * factor)
                if new != old:
                    self.prices[market][symbol] = new
                    moved.append((market, symbol))
        return moved
