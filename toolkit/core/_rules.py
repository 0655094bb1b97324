"""Trading rules per symbol, parsed once from Binance's ``exchangeInfo`` (spot or USD-M).

``parse_rules`` turns the exchange's filter list into one frozen :class:`SymbolRules` per symbol,
with every number as an exact ``Decimal``. The spot and USD-M documents differ in key names and in
one rule, and this module is the one place that knows it (Binance's "Filters" pages):

============================  ===================================  ================================
filter                        spot                                 USD-M
============================  ===================================  ================================
PRICE_FILTER tick rule        ``price % tickSize == 0``            ``(price-minPrice) % tick == 0``
LOT_SIZE / MARKET_LOT_SIZE    ``qty % stepSize == 0``              ``(qty - minQty) % step == 0``
minimum notional              NOTIONAL / MIN_NOTIONAL              MIN_NOTIONAL ``notional``
                              ``minNotional`` (+ applyToMarket)    (market orders: mark price)
percent price                 PERCENT_PRICE_BY_SIDE/PERCENT_PRICE  PERCENT_PRICE vs mark price
                              (band around the average price)      (BUY <= up, SELL >= down)
MAX_NUM_ORDERS                ``maxNumOrders``                     ``limit``
============================  ===================================  ================================

A value of zero disables a bound (Binance: "disabled on == 0"); missing filters disable theirs.

Example::

    >>> from toolkit.core._models import Market
    >>> info = {"symbols": [{"symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC",
    ...     "quoteAsset": "USDT", "orderTypes": ["LIMIT", "MARKET"], "filters": [
    ...     {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000",
    ...      "tickSize": "0.01"}]}]}
    >>> rules = parse_rules(info, Market.SPOT)["BTCUSDT"]
    >>> rules.price_on_tick(Decimal("90000.005")), rules.nearest_prices(Decimal("90000.005"))
    (False, (Decimal('90000.00'), Decimal('90000.01')))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from ._models import Market, OrderType

__all__ = ["LotRule", "SymbolRules", "parse_rules"]

_ZERO = Decimal(0)


@dataclass(frozen=True)
class LotRule:
    """One quantity filter (LOT_SIZE or MARKET_LOT_SIZE); a zero bound or step is disabled.

    Example::

        >>> LotRule("LOT_SIZE", Decimal("0.001"), Decimal(0), Decimal("0.001")).floor(
        ...     Decimal("1.23456"))
        Decimal('1.234')
    """

    name: str
    min_qty: Decimal
    max_qty: Decimal
    step_size: Decimal
    #: USD-M counts steps from ``min_qty``; spot (since 2023) from zero.
    from_min: bool = False

    def on_step(self, qty: Decimal) -> bool:
        """True if ``qty`` is a whole number of steps (always True when the step is disabled)."""
        return _on_grid(qty, self.step_size, self._origin())

    def floor(self, qty: Decimal) -> Decimal:
        """``qty`` rounded down to the step (unchanged when the step is disabled)."""
        return _floor_to(qty, self.step_size, self._origin())

    def nearest(self, qty: Decimal) -> tuple[Decimal, Decimal]:
        """The valid quantities just below and just above ``qty``."""
        return _neighbours(qty, self.step_size, self._origin())

    def _origin(self) -> Decimal:
        return self.min_qty if self.from_min else _ZERO


@dataclass(frozen=True)
class SymbolRules:
    """What the exchange accepts for one symbol. Bounds that are ``None`` (or zero) are not checked.

    Percent-price bounds are multipliers of a reference price (spot: the average price, for which
    toolkit uses its latest price; USD-M: the mark price), per side.

    Example::

        >>> r = SymbolRules(symbol="BTCUSDT", market=Market.SPOT, status="TRADING",
        ...     base_asset="BTC", quote_asset="USDT", tick_size=Decimal("0.01"))
        >>> r.is_trading, r.price_on_tick(Decimal("1.005"))
        (True, False)
    """

    symbol: str
    market: Market
    status: str
    base_asset: str
    quote_asset: str
    margin_asset: str | None = None
    #: Types the exchange lists for the symbol (empty: not listed, the market's defaults apply).
    order_types: frozenset[OrderType] = frozenset()
    #: USD-M lists allowed time-in-force values per symbol; empty when not listed.
    time_in_force: frozenset[str] = frozenset()
    quote_order_qty_market_allowed: bool = True
    min_price: Decimal = _ZERO
    max_price: Decimal = _ZERO
    tick_size: Decimal = _ZERO
    lot: LotRule | None = None
    market_lot: LotRule | None = None
    min_notional: Decimal | None = None
    min_notional_applies_to_market: bool = True
    max_notional: Decimal | None = None
    max_notional_applies_to_market: bool = False
    buy_up: Decimal | None = None
    buy_down: Decimal | None = None
    sell_up: Decimal | None = None
    sell_down: Decimal | None = None
    max_num_orders: int | None = None

    @property
    def is_trading(self) -> bool:
        """True if the symbol accepts new orders now."""
        return self.status == "TRADING"

    @property
    def tick_from_min(self) -> bool:
        """USD-M counts ticks from ``min_price``; spot (since 2022) from zero."""
        return self.market is Market.USDM

    def price_on_tick(self, price: Decimal) -> bool:
        """True if ``price`` is a whole number of ticks (always True when the tick is disabled)."""
        return _on_grid(price, self.tick_size, self._price_origin())

    def nearest_prices(self, price: Decimal) -> tuple[Decimal, Decimal]:
        """The valid prices just below and just above ``price``."""
        return _neighbours(price, self.tick_size, self._price_origin())

    def lots(self, *, is_market: bool) -> tuple[LotRule, ...]:
        """The quantity filters that apply: LOT_SIZE, plus MARKET_LOT_SIZE for market orders."""
        found = [self.lot] + ([self.market_lot] if is_market else [])
        return tuple(r for r in found if r is not None)

    def floor_qty(self, qty: Decimal, *, is_market: bool) -> Decimal:
        """``qty`` rounded down to every applicable step size."""
        for rule in self.lots(is_market=is_market):
            qty = rule.floor(qty)
        return qty

    def _price_origin(self) -> Decimal:
        return self.min_price if self.tick_from_min else _ZERO


def _on_grid(value: Decimal, step: Decimal, origin: Decimal) -> bool:
    if step <= 0:
        return True
    try:
        return (value - origin) % step == 0
    except InvalidOperation:  # quotient beyond the context's precision: treat as off grid
        return False


def _floor_to(value: Decimal, step: Decimal, origin: Decimal) -> Decimal:
    if step <= 0:
        return value
    steps = ((value - origin) / step).to_integral_value(rounding=ROUND_FLOOR)
    return (origin + steps * step).quantize(_quantum(step, origin))


def _quantum(step: Decimal, origin: Decimal) -> Decimal:
    """The display precision of a grid: the step's decimals ("0.01000000" -> 0.01), at least 1."""
    exponents = [0]
    for d in (step, origin):
        exponent = d.normalize().as_tuple().exponent
        if isinstance(exponent, int) and d:
            exponents.append(exponent)
    return Decimal(1).scaleb(min(exponents))


def _neighbours(value: Decimal, step: Decimal, origin: Decimal) -> tuple[Decimal, Decimal]:
    if step <= 0:
        return value, value
    low = _floor_to(value, step, origin)
    if low == value:
        return low, low
    return low, (low + step).quantize(_quantum(step, origin))


def _dec(value: Any) -> Decimal:
    """Exchange numbers arrive as strings ("0.01000000") or numbers; missing means disabled (0)."""
    if value is None:
        return _ZERO
    try:
        out = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return _ZERO
    return out if out.is_finite() and out > 0 else _ZERO


def _opt(value: Any) -> Decimal | None:
    out = _dec(value)
    return out if out > 0 else None


def _order_types(names: Any) -> frozenset[OrderType]:
    known = {t.value for t in OrderType}
    found = {str(n).lower() for n in names or ()}
    return frozenset(OrderType(n) for n in found if n in known)


def _symbol_rules(raw: Mapping[str, Any], market: Market) -> SymbolRules:
    filters = {f.get("filterType"): f for f in raw.get("filters") or () if isinstance(f, Mapping)}
    from_min = market is Market.USDM
    fields: dict[str, Any] = {}

    if (f := filters.get("PRICE_FILTER")) is not None:
        fields.update(
            min_price=_dec(f.get("minPrice")),
            max_price=_dec(f.get("maxPrice")),
            tick_size=_dec(f.get("tickSize")),
        )
    for name, attr in (("LOT_SIZE", "lot"), ("MARKET_LOT_SIZE", "market_lot")):
        if (f := filters.get(name)) is not None:
            rule = LotRule(
                name,
                _dec(f.get("minQty")),
                _dec(f.get("maxQty")),
                _dec(f.get("stepSize")),
                from_min,
            )
            if rule.min_qty or rule.max_qty or rule.step_size:  # all zero: the filter is off
                fields[attr] = rule

    if market is Market.USDM:
        if (f := filters.get("MIN_NOTIONAL")) is not None:
            fields["min_notional"] = _opt(f.get("notional", f.get("minNotional")))
        if (f := filters.get("PERCENT_PRICE")) is not None:
            # Futures bound one side each, against the mark price.
            fields.update(
                buy_up=_opt(f.get("multiplierUp")), sell_down=_opt(f.get("multiplierDown"))
            )
        if (f := filters.get("MAX_NUM_ORDERS")) is not None and _opt(f.get("limit")):
            fields["max_num_orders"] = int(_dec(f.get("limit")))
    else:
        if (f := filters.get("MIN_NOTIONAL")) is not None:
            fields.update(
                min_notional=_opt(f.get("minNotional")),
                min_notional_applies_to_market=bool(f.get("applyToMarket", True)),
            )
        if (f := filters.get("NOTIONAL")) is not None:
            fields.update(
                min_notional=_opt(f.get("minNotional")),
                min_notional_applies_to_market=bool(f.get("applyMinToMarket", True)),
                max_notional=_opt(f.get("maxNotional")),
                max_notional_applies_to_market=bool(f.get("applyMaxToMarket", False)),
            )
        if (f := filters.get("PERCENT_PRICE_BY_SIDE")) is not None:
            fields.update(
                buy_up=_opt(f.get("bidMultiplierUp")),
                buy_down=_opt(f.get("bidMultiplierDown")),
                sell_up=_opt(f.get("askMultiplierUp")),
                sell_down=_opt(f.get("askMultiplierDown")),
            )
        elif (f := filters.get("PERCENT_PRICE")) is not None:
            up, down = _opt(f.get("multiplierUp")), _opt(f.get("multiplierDown"))
            fields.update(buy_up=up, buy_down=down, sell_up=up, sell_down=down)
        if (f := filters.get("MAX_NUM_ORDERS")) is not None and _opt(f.get("maxNumOrders")):
            fields["max_num_orders"] = int(_dec(f.get("maxNumOrders")))

    margin = raw.get("marginAsset")
    return SymbolRules(
        symbol=str(raw["symbol"]),
        market=market,
        status=str(raw.get("status", "")),
        base_asset=str(raw.get("baseAsset", "")),
        quote_asset=str(raw.get("quoteAsset", "")),
        margin_asset=str(margin) if margin else None,
        # The futures doc example spells it "OrderType"; real responses say "orderTypes".
        order_types=_order_types(raw.get("orderTypes", raw.get("OrderType"))),
        time_in_force=frozenset(str(t).upper() for t in raw.get("timeInForce") or ()),
        quote_order_qty_market_allowed=bool(raw.get("quoteOrderQtyMarketAllowed", True)),
        **fields,
    )


def parse_rules(exchange_info: Mapping[str, Any], market: Market) -> dict[str, SymbolRules]:
    """One :class:`SymbolRules` per symbol of a spot or USD-M ``exchangeInfo`` answer.

    Entries without a ``symbol`` are skipped; missing filters disable their checks.

    Example::

        >>> parse_rules({"symbols": []}, Market.USDM)
        {}
    """
    market = Market(market)
    out: dict[str, SymbolRules] = {}
    for raw in exchange_info.get("symbols") or ():
        if isinstance(raw, Mapping) and raw.get("symbol"):
            rules = _symbol_rules(raw, market)
            out[rules.symbol] = rules
    return out
