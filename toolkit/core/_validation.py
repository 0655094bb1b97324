"""From input rows to wire-ready requests: sizing, the exchange's filters, readable reasons.

``prepare`` turns every :class:`~toolkit.core._input.InputRow` into one :class:`Prepared`: a valid
row gets an exact :class:`~toolkit.core._models.OrderRequest` and a ``PENDING`` order; an invalid
row gets no request and an ``INVALID`` order whose ``error_msg`` says what is wrong and what would
be valid.
``prepare`` never raises for a bad row and does no I/O: rules, prices and balances are passed in.

Sizing (exactly one of these per row):

* ``qty``: the base quantity, sent as given (it must already be on the step size).
* ``quote_qty``: an amount of the quote asset. A spot ``market`` order sends it as
  ``quoteOrderQty`` (the exchange sizes it); otherwise ``qty = quote_qty / price`` floored to the
  step, where the price is the row's price, else its stop price, else the latest price
  in ``prices``.
* ``qty_pct``: a percent (0-100] of the free balance of the asset being spent: a spot buy spends the
  quote asset (``qty = free_quote * pct / 100 / price``), a spot sell the base asset
  (``qty = free_base * pct / 100``); USD-M spends the margin asset's available balance at 1x
  (``qty = available_margin * pct / 100 / price``; leverage is not applied). Floored to the step.

Defaults: ``GTC`` for types that need a time in force (spot ``limit``, ``stop_loss_limit``,
``take_profit_limit``; USD-M ``limit``, ``stop``, ``take_profit``); a time in force on other types
is dropped, as ccxt does. USD-M conditional types (``stop``, ``stop_market``, ``take_profit``,
``take_profit_market``) need a ``stop_price`` (the trigger) and go through Binance's Algo Order
API (see ``toolkit.binance._algo``); ``trailing_stop_market`` is refused.

Example::

    >>> import pandas as pd
    >>> from toolkit.core._input import read_orders
    >>> from toolkit.core._rules import parse_rules
    >>> info = {"symbols": [{"symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC",
    ...     "quoteAsset": "USDT", "filters": [
    ...     {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "0", "tickSize": "0.01"},
    ...     {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000",
    ...      "stepSize": "0.00001"}]}]}
    >>> rows = read_orders([{"symbol": "BTC/USDT", "order_type": "LIMIT", "side": "buy",
    ...                      "price": "90000", "qty_per": 5}])
    >>> [p] = prepare(rows, market=Market.SPOT, exchange="paper",
    ...     rules=parse_rules(info, Market.SPOT), prices={}, balances={"USDT": Decimal(100000)},
    ...     id_seed="demo", batch_id="b1", key=None, all_or_nothing=False,
    ...     now=pd.Timestamp("2026-01-01", tz="UTC"))
    >>> p.request.qty, p.request.price, p.order.status.value
    (Decimal('0.05555'), Decimal('90000'), 'PENDING')
"""

from __future__ import annotations

import difflib
import functools
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Context, Decimal, localcontext

import pandas as pd

from ._ids import client_order_id, is_valid_client_order_id
from ._input import InputRow, InputRows
from ._models import Market, Order, OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from ._rules import SymbolRules

__all__ = [
    "MARKET_TYPES",
    "PRICE_TYPES",
    "STOP_TYPES",
    "SUPPORTED_TYPES",
    "Needs",
    "Prepared",
    "needs",
    "prepare",
    "to_wire",
    "wire_decimal",
]

_T = OrderType
#: The order types toolkit sends on each market.
SUPPORTED_TYPES: dict[Market, frozenset[OrderType]] = {
    Market.SPOT: frozenset(
        {
            _T.LIMIT,
            _T.MARKET,
            _T.LIMIT_MAKER,
            _T.STOP_LOSS,
            _T.STOP_LOSS_LIMIT,
            _T.TAKE_PROFIT,
            _T.TAKE_PROFIT_LIMIT,
        }
    ),
    Market.USDM: frozenset(
        {_T.LIMIT, _T.MARKET, _T.STOP, _T.STOP_MARKET, _T.TAKE_PROFIT, _T.TAKE_PROFIT_MARKET}
    ),
}
_USDM_ALGO_TYPES = frozenset(
    {_T.STOP, _T.STOP_MARKET, _T.TAKE_PROFIT, _T.TAKE_PROFIT_MARKET, _T.TRAILING_STOP_MARKET}
)
#: Types that need a limit price.
PRICE_TYPES = frozenset(
    {_T.LIMIT, _T.LIMIT_MAKER, _T.STOP_LOSS_LIMIT, _T.TAKE_PROFIT_LIMIT, _T.STOP, _T.TAKE_PROFIT}
)
#: Types that need a stop (trigger) price.
STOP_TYPES = frozenset(
    {
        _T.STOP_LOSS,
        _T.STOP_LOSS_LIMIT,
        _T.TAKE_PROFIT,
        _T.TAKE_PROFIT_LIMIT,
        _T.STOP,
        _T.STOP_MARKET,
        _T.TAKE_PROFIT_MARKET,
    }
)
#: Types that execute as market orders (MARKET_LOT_SIZE applies; notional from a reference price).
MARKET_TYPES = frozenset(
    {
        _T.MARKET,
        _T.STOP_LOSS,
        _T.TAKE_PROFIT,
        _T.STOP_MARKET,
        _T.TAKE_PROFIT_MARKET,
        _T.TRAILING_STOP_MARKET,
    }
)
_TIF_TYPES: dict[Market, frozenset[OrderType]] = {
    Market.SPOT: frozenset({_T.LIMIT, _T.STOP_LOSS_LIMIT, _T.TAKE_PROFIT_LIMIT}),
    Market.USDM: frozenset({_T.LIMIT, _T.STOP, _T.TAKE_PROFIT}),
}
_TIF_OK: dict[Market, tuple[TimeInForce, ...]] = {
    Market.SPOT: (TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK),
    Market.USDM: (TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK, TimeInForce.GTX),
}
_SIZES = ("qty", "quote_qty", "qty_pct")
_HUNDRED = Decimal(100)
#: For normalize(): trailing zeros go, digits never get rounded away.
_EXACT = Context(prec=200)


@dataclass(frozen=True)
class Prepared:
    """One input row after validation: ``request`` to send (``None`` if INVALID) and its order.

    Example::

        >>> from toolkit.core._models import Order
        >>> Prepared(0, None, Order("tk1", "paper", "spot", "BTCUSDT",
        ...          status=OrderStatus.INVALID)).valid
        False
    """

    position: int
    request: OrderRequest | None
    order: Order

    @property
    def valid(self) -> bool:
        """True if the row will be sent."""
        return self.request is not None


@dataclass(frozen=True)
class Needs:
    """What ``prepare`` needs besides the rules: prices of ``price_symbols``, and balances or not.

    Example::

        >>> from toolkit.core._input import read_orders
        >>> needs(read_orders([{"symbol": "BTCUSDT", "qty_pct": 5}]))
        Needs(price_symbols=frozenset({'BTCUSDT'}), balances=True)
    """

    price_symbols: frozenset[str]
    balances: bool


def needs(rows: InputRows) -> Needs:
    """Which prices and whether balances must be fetched before :func:`prepare` (so a batch of
    limit orders sized by ``qty`` costs no extra request). Without a price a row still validates,
    but market-order notional and percent-price bands are then left to the exchange.

    Example::

        >>> from toolkit.core._input import read_orders
        >>> needs(read_orders([{"symbol": "BTCUSDT", "qty": 1, "price": 90000}]))
        Needs(price_symbols=frozenset(), balances=False)
    """
    symbols = {
        row.symbol
        for row in rows
        if row.symbol is not None and row.price is None and row.stop_price is None
    }
    return Needs(frozenset(symbols), any(row.qty_pct is not None for row in rows))


def wire_decimal(value: Decimal) -> Decimal:
    """``value`` without trailing zeros or exponent, as it goes on the wire (``1E+1`` -> ``10``).

    Example::

        >>> wire_decimal(Decimal("1E+1")), wire_decimal(Decimal("0.10000000"))
        (Decimal('10'), Decimal('0.1'))
    """
    return Decimal(format(value.normalize(_EXACT), "f"))


def to_wire(value: Decimal) -> str:
    """The exact decimal string for a request parameter (never scientific notation).

    Example::

        >>> to_wire(Decimal("1E-7")), to_wire(Decimal("90000.00"))
        ('0.0000001', '90000')
    """
    return format(value.normalize(_EXACT), "f")


def _fmt(value: Decimal) -> str:
    return format(value.normalize(_EXACT), "f")


@dataclass
class _Draft:
    """Working state of one row while it is checked."""

    row: InputRow
    problems: list[str]
    type: OrderType | None = None
    time_in_force: TimeInForce | None = None
    qty: Decimal | None = None
    quote_qty: Decimal | None = None
    reduce_only: bool = False
    client_order_id: str = ""
    generated_id: str = ""
    rules: SymbolRules | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Context:
    market: Market
    rules: Mapping[str, SymbolRules]
    prices: Mapping[str, Decimal]
    balances: Mapping[str, Decimal]


def prepare(
    rows: InputRows,
    *,
    market: Market,
    exchange: str,
    rules: Mapping[str, SymbolRules],
    prices: Mapping[str, Decimal],
    balances: Mapping[str, Decimal],
    id_seed: str,
    batch_id: str,
    key: str | None,
    all_or_nothing: bool,
    now: pd.Timestamp,
) -> list[Prepared]:
    """Validate and size every row: one :class:`Prepared` per row, in input order.

    ``prices`` (spot: latest price, USD-M: mark price) size market orders and check notional and
    percent-price bands when known; ``balances`` (free/available per asset) size ``qty_pct`` rows.
    ``id_seed`` seeds the deterministic client order ids (the batch key, or a random batch id).
    With ``all_or_nothing`` one invalid row makes every row INVALID.

    Example::

        >>> from toolkit.core._input import read_orders
        >>> [p] = prepare(read_orders([{"symbol": "NOPE", "side": "buy", "qty": 1}]),
        ...     market=Market.SPOT, exchange="paper", rules={}, prices={}, balances={},
        ...     id_seed="s", batch_id="b", key=None, all_or_nothing=False,
        ...     now=pd.Timestamp("2026-01-01", tz="UTC"))
        >>> p.order.status.value, p.order.error_msg
        ('INVALID', "unknown symbol 'NOPE' on spot")
    """
    market = Market(market)
    ctx = _Context(market, rules, prices, balances)
    # Enough digits that remainders of values below 1e30 on steps down to 1e-30 are exact.
    with localcontext() as dctx:
        dctx.prec = 80
        drafts = [_check_row(row, ctx, id_seed) for row in rows]
        _check_batch(drafts, rows.index)
        invalid = [str(rows.index[d.row.position]) for d in drafts if d.problems]
        if all_or_nothing and invalid:
            reason = (
                f"not sent: all_or_nothing and row{'s' if len(invalid) > 1 else ''} "
                f"{', '.join(invalid)} invalid"
            )
            for draft in drafts:
                if not draft.problems:
                    draft.problems.append(reason)
        return [_finish(draft, market, exchange, batch_id, key, now) for draft in drafts]


# --------------------------------------------------------------------------- one row


def _check_row(row: InputRow, ctx: _Context, id_seed: str) -> _Draft:
    d = _Draft(row=row, problems=list(row.problems), type=row.type)
    d.generated_id = client_order_id(id_seed, row.position, row.fingerprint)
    d.client_order_id = d.generated_id
    try:
        _check_identity(d, ctx)
        _check_type(d, ctx.market)
        _check_values(d, ctx.market)
        if d.rules is not None and not d.problems:
            _check_prices(d, ctx)
            if not d.problems:
                _size(d, ctx)
            if not d.problems:
                _check_qty_and_notional(d, ctx)
    except ArithmeticError as exc:  # values the decimal context cannot hold; never raise per row
        d.problems.append(f"numbers out of range ({type(exc).__name__})")
    return d


def _check_identity(d: _Draft, ctx: _Context) -> None:
    row, market = d.row, ctx.market
    if row.market is not None and row.market is not market:
        d.problems.append(
            f"row market {row.market.value!r} differs from the session market {market.value!r}; "
            f"use a session connected with market={row.market.value!r}"
        )
    if row.symbol_market is not None and row.symbol_market is not market:
        kind = "a USD-M futures" if row.symbol_market is Market.USDM else "a spot"
        d.problems.append(
            f"symbol {row.symbol} was written as {kind} symbol (ccxt style) but the session "
            f"market is {market.value!r}"
        )
    if row.symbol is not None:
        d.rules = ctx.rules.get(row.symbol)
        if d.rules is None:
            close = difflib.get_close_matches(row.symbol, list(ctx.rules), n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            d.problems.append(f"unknown symbol {row.symbol!r} on {market.value}{hint}")
        elif not d.rules.is_trading:
            d.problems.append(
                f"symbol {row.symbol} is not trading (status {d.rules.status}); "
                "orders are accepted only while the status is TRADING"
            )
    if row.side is None and "side" not in row.unreadable:
        d.problems.append("missing side: give buy or sell")
    cid = row.client_order_id
    if cid is not None:
        if is_valid_client_order_id(cid, market):
            d.client_order_id = cid
        else:
            allowed = "A-Z a-z 0-9 _ -" + (" . : /" if market is Market.USDM else "")
            d.problems.append(
                f"client_order_id {cid!r} is not valid on {market.value}: use 1 to 36 characters "
                f"from {allowed}"
            )


def _check_type(d: _Draft, market: Market) -> None:
    t, row = d.type, d.row
    if t is None:
        return  # unreadable: already reported
    supported = SUPPORTED_TYPES[market]
    if t not in supported:
        if market is Market.USDM and t in _USDM_ALGO_TYPES:
            d.problems.append(
                f"type {t.value} is not supported on usdm (trailing stops are not); use limit, "
                "market, stop, stop_market, take_profit or take_profit_market"
            )
        else:
            names = ", ".join(sorted(x.value for x in supported))
            d.problems.append(
                f"type {t.value} is not supported on {market.value}; use one of {names}"
            )
        return
    rules = d.rules
    if rules is not None and rules.order_types and t not in rules.order_types:
        names = ", ".join(sorted(x.value for x in rules.order_types))
        d.problems.append(f"type {t.value} is not allowed for {rules.symbol}; allowed: {names}")
        return

    if t in _TIF_TYPES[market]:
        tif = row.time_in_force or TimeInForce.GTC
        ok = _TIF_OK[market]
        if tif not in ok:
            hint = ""
            if tif is TimeInForce.GTX:
                hint = " (for post-only on spot use type limit_maker)"
            elif tif is TimeInForce.GTD:
                hint = " (GTD needs an expiry time, which toolkit does not send)"
            d.problems.append(
                f"time_in_force {tif.value} is not available on {market.value}; use one of "
                f"{', '.join(x.value for x in ok)}{hint}"
            )
        elif rules is not None and rules.time_in_force and tif.value not in rules.time_in_force:
            d.problems.append(
                f"time_in_force {tif.value} is not allowed for {rules.symbol}; allowed: "
                f"{', '.join(sorted(rules.time_in_force))}"
            )
        d.time_in_force = tif
    # Other types take no time in force: a tif column filled for every row is ignored there.

    if row.reduce_only:
        if market is Market.SPOT:
            d.problems.append("reduce_only is for usdm futures; spot has no positions to reduce")
        else:
            d.reduce_only = True

    if t in PRICE_TYPES and row.price is None and "price" not in row.unreadable:
        d.problems.append(f"type {t.value} needs a price")
    if t not in PRICE_TYPES and row.price is not None:
        d.problems.append(
            f"type {t.value} takes no price (got {_fmt(row.price)}); leave price empty or use a "
            "limit type"
        )
    if t in STOP_TYPES and row.stop_price is None and "stop_price" not in row.unreadable:
        d.problems.append(f"type {t.value} needs a stop_price")
    if t not in STOP_TYPES and row.stop_price is not None:
        d.problems.append(
            f"type {t.value} takes no stop_price (got {_fmt(row.stop_price)}); leave it empty or "
            "use a stop type"
        )


def _check_values(d: _Draft, market: Market) -> None:
    row = d.row
    for name in ("price", "stop_price", *_SIZES):
        value = getattr(row, name)
        if value is not None and value <= 0:
            d.problems.append(f"{name} must be positive, got {_fmt(value)}")
    if row.qty_pct is not None and row.qty_pct > _HUNDRED:
        d.problems.append(
            f"qty_pct is a percent of the free balance (0 to 100), got {_fmt(row.qty_pct)}"
        )
    given = [n for n in _SIZES if getattr(row, n) is not None or n in row.unreadable]
    if not given:
        d.problems.append("missing quantity: give one of qty, quote_qty or qty_pct")
    elif len(given) > 1:
        d.problems.append(
            f"give exactly one of qty, quote_qty or qty_pct (this row has {' and '.join(given)})"
        )


def _check_prices(d: _Draft, ctx: _Context) -> None:
    rules, row = d.rules, d.row
    assert rules is not None
    for name in ("price", "stop_price"):
        value = getattr(row, name)
        if value is None:
            continue
        if rules.min_price and value < rules.min_price:
            d.problems.append(
                f"{name} {_fmt(value)} is below the minimum price {_fmt(rules.min_price)} "
                f"for {rules.symbol}"
            )
        elif rules.max_price and value > rules.max_price:
            d.problems.append(
                f"{name} {_fmt(value)} is above the maximum price {_fmt(rules.max_price)} "
                f"for {rules.symbol}"
            )
        elif not rules.price_on_tick(value):
            low, high = rules.nearest_prices(value)
            d.problems.append(
                f"{name} {_fmt(value)} is not a multiple of tick size {_fmt(rules.tick_size)}; "
                f"nearest valid prices: {low:f} or {high:f}"
            )
    ref = ctx.prices.get(rules.symbol)
    if row.price is None or ref is None or ref <= 0 or row.side is None:
        return
    buy = row.side is Side.BUY
    down, up = (rules.buy_down, rules.buy_up) if buy else (rules.sell_down, rules.sell_up)
    floor = ref * down if down is not None else None
    ceiling = ref * up if up is not None else None
    if (floor is not None and row.price < floor) or (ceiling is not None and row.price > ceiling):
        band = (
            f"{_fmt(floor) if floor is not None else '0'} to "
            f"{_fmt(ceiling) if ceiling is not None else 'any'}"
        )
        d.problems.append(
            f"price {_fmt(row.price)} is outside the allowed range for a {row.side.value} on "
            f"{rules.symbol}: {band} (percent-price filter around the reference price {_fmt(ref)})"
        )


def _exec_price(d: _Draft, ctx: _Context) -> Decimal | None:
    """The price a quantity is valued at: the limit price, else the stop price, else the latest."""
    row = d.row
    if row.price is not None:
        return row.price
    if row.stop_price is not None:
        return row.stop_price
    assert d.rules is not None
    ref = ctx.prices.get(d.rules.symbol)
    return ref if ref is not None and ref > 0 else None


def _size(d: _Draft, ctx: _Context) -> None:
    row, rules, market = d.row, d.rules, ctx.market
    assert rules is not None
    assert d.type is not None
    is_market = d.type in MARKET_TYPES
    if row.qty is not None:
        d.qty = row.qty
        return
    px = _exec_price(d, ctx)
    if row.quote_qty is not None:
        if market is Market.SPOT and d.type is _T.MARKET:
            if not rules.quote_order_qty_market_allowed:
                d.problems.append(
                    f"{rules.symbol} does not accept quote_qty market orders; give qty"
                )
            d.quote_qty = row.quote_qty
            return
        if px is None:
            d.problems.append(
                "quote_qty needs a price to compute the quantity; no price known for "
                f"{rules.symbol}"
            )
            return
        raw = row.quote_qty / px
        how = f"quote_qty {_fmt(row.quote_qty)} at price {_fmt(px)}"
    else:
        pct = row.qty_pct
        assert pct is not None
        assert row.side is not None
        if market is Market.SPOT:
            asset = rules.quote_asset if row.side is Side.BUY else rules.base_asset
        else:
            asset = rules.margin_asset or rules.quote_asset
        balance = ctx.balances.get(asset, Decimal(0))
        if balance <= 0:
            d.problems.append(
                f"qty_pct {_fmt(pct)}% of the free {asset} balance is nothing: no free {asset}"
            )
            return
        spend = balance * pct / _HUNDRED
        how = f"qty_pct {_fmt(pct)}% of free {asset} {_fmt(balance)}"
        if market is Market.SPOT and row.side is Side.SELL:
            raw = spend
        elif px is None:
            d.problems.append(
                f"qty_pct needs a price to compute the quantity; no price known for {rules.symbol}"
            )
            return
        else:
            raw = spend / px
            how += f" at price {_fmt(px)}"
    qty = rules.floor_qty(raw, is_market=is_market)
    if qty <= 0:
        steps = ", ".join(_fmt(lot.step_size) for lot in rules.lots(is_market=is_market))
        d.problems.append(
            f"{how} is qty {_fmt(_round_sig(raw))}, which rounds down to 0 at step size {steps}"
        )
        return
    d.qty = qty
    d.notes.append(how)


def _round_sig(value: Decimal) -> Decimal:
    return (
        value if value.adjusted() > 8 else value.quantize(Decimal(1).scaleb(value.adjusted() - 7))
    )


def _check_qty_and_notional(d: _Draft, ctx: _Context) -> None:
    rules = d.rules
    assert rules is not None
    assert d.type is not None
    is_market = d.type in MARKET_TYPES
    qty = d.qty
    origin = f" (from {d.notes[0]})" if d.notes else ""
    if qty is not None:
        for lot in rules.lots(is_market=is_market):
            if lot.min_qty and qty < lot.min_qty:
                d.problems.append(
                    f"qty {_fmt(qty)}{origin} is below the minimum quantity {_fmt(lot.min_qty)} "
                    f"for {rules.symbol} ({lot.name})"
                )
            elif lot.max_qty and qty > lot.max_qty:
                d.problems.append(
                    f"qty {_fmt(qty)}{origin} is above the maximum quantity {_fmt(lot.max_qty)} "
                    f"for {rules.symbol} ({lot.name})"
                )
            elif not lot.on_step(qty):
                low, high = lot.nearest(qty)
                d.problems.append(
                    f"qty {_fmt(qty)} is not a multiple of step size {_fmt(lot.step_size)} "
                    f"({lot.name}); nearest valid quantities: {low:f} or {high:f}"
                )
    if d.problems:
        return

    # Notional: spot market orders sized by quote_qty spend exactly that amount.
    px = _exec_price(d, ctx)
    if d.quote_qty is not None:
        notional: Decimal | None = d.quote_qty
    elif qty is not None and px is not None:
        notional = qty * px
    else:
        notional = None  # market order with no known price: the exchange has the final say
    if notional is None:
        return
    if ctx.market is Market.USDM:
        check_min = not d.reduce_only  # -4164: "... (unless you choose reduce only)"
        check_max = False
    else:
        check_min = not is_market or rules.min_notional_applies_to_market
        check_max = not is_market or rules.max_notional_applies_to_market
    quote = rules.quote_asset

    def shown() -> str:  # how the notional was found: formatted only for a problem
        if d.quote_qty is not None:
            return f"quote_qty {_fmt(d.quote_qty)}"
        assert qty is not None and px is not None  # noqa: PT018 - not a test
        return f"qty {_fmt(qty)} × price {_fmt(px)}"

    if check_min and rules.min_notional is not None and notional < rules.min_notional:
        need = ""
        if px is not None and d.quote_qty is None:
            min_qty = _min_qty_for(rules.min_notional, px, rules, is_market)
            need = f"; at price {_fmt(px)} that is qty {_fmt(min_qty)} or more"
        d.problems.append(
            f"notional {_fmt(notional)} {quote} ({shown()}){origin} is below the minimum "
            f"{_fmt(rules.min_notional)} {quote} for {rules.symbol}{need}"
        )
    elif check_max and rules.max_notional is not None and notional > rules.max_notional:
        d.problems.append(
            f"notional {_fmt(notional)} {quote} ({shown()}) is above the maximum "
            f"{_fmt(rules.max_notional)} {quote} for {rules.symbol}"
        )


def _min_qty_for(
    min_notional: Decimal, px: Decimal, rules: SymbolRules, is_market: bool
) -> Decimal:
    raw = min_notional / px
    steps = [lot.step_size for lot in rules.lots(is_market=is_market) if lot.step_size]
    if not steps:
        return raw
    step = max(steps)
    return ((raw / step).to_integral_value(rounding=ROUND_CEILING) * step).normalize()


# --------------------------------------------------------------------------- the batch


def _check_batch(drafts: list[_Draft], index: pd.Index) -> None:
    # Duplicate client order ids (user-given ones can collide): every row sharing one is invalid.
    users: dict[str, list[_Draft]] = defaultdict(list)
    for d in drafts:
        users[d.client_order_id].append(d)
    for cid, group in users.items():
        if len(group) > 1:
            labels = ", ".join(str(index[d.row.position]) for d in group)
            for d in group:
                d.problems.append(
                    f"client_order_id {cid!r} is used by rows {labels}; ids must be unique "
                    "within a batch"
                )
                d.client_order_id = d.generated_id  # the store needs a unique id per row

    # MAX_NUM_ORDERS: more resting orders on one symbol than the exchange would ever hold open.
    resting: dict[str, list[_Draft]] = defaultdict(list)
    for d in drafts:
        if not d.problems and d.rules is not None and d.type not in MARKET_TYPES:
            resting[d.rules.symbol].append(d)
    for symbol, group in resting.items():
        limit = group[0].rules.max_num_orders if group[0].rules else None
        if limit is not None and len(group) > limit:
            for d in group[limit:]:
                d.problems.append(
                    f"the batch has {len(group)} resting orders on {symbol}; the exchange holds at "
                    f"most {limit} open orders per symbol (MAX_NUM_ORDERS)"
                )


def _finish(
    d: _Draft, market: Market, exchange: str, batch_id: str, key: str | None, now: pd.Timestamp
) -> Prepared:
    row = d.row
    valid = not d.problems
    qty = d.qty if d.qty is not None else row.qty
    tif = d.time_in_force or (None if valid else row.time_in_force)
    order = Order.from_fields(  # Order(...) without its per-field frozen sets: one per row
        {
            "client_order_id": d.client_order_id,
            "exchange": exchange,
            "market": market,
            "symbol": row.symbol or "",
            "side": row.side,
            "type": d.type,
            "status": OrderStatus.PENDING if valid else OrderStatus.INVALID,
            "time_in_force": tif.value if tif else None,
            "price": _float(row.price),
            "stop_price": _float(row.stop_price),
            "qty": _float(qty),
            "reduce_only": d.reduce_only if valid else bool(row.reduce_only),
            "error_msg": None if valid else "; ".join(_dedupe(d.problems)),
            "batch_id": batch_id,
            "key": key,
            "created_at": now,
            "updated_at": now,
            "position": row.position,
        }
    )
    if not valid:
        return Prepared(row.position, None, order)
    assert row.side is not None
    assert d.type is not None
    request = OrderRequest(
        client_order_id=d.client_order_id,
        market=market,
        symbol=row.symbol or "",
        side=row.side,
        type=d.type,
        qty=_wire(d.qty),
        quote_qty=_wire(d.quote_qty),
        price=_wire(row.price),
        stop_price=_wire(row.stop_price),
        time_in_force=d.time_in_force,
        reduce_only=d.reduce_only,
    )
    return Prepared(row.position, request, order)


def _wire(value: Decimal | None) -> Decimal | None:
    return None if value is None else _wire_positive(value)


@functools.lru_cache(maxsize=4096)
def _wire_positive(value: Decimal) -> Decimal:
    # Only valid (positive, finite) values get here, and for those the result depends on the
    # numeric value alone (1.0 and 1 both give 1), so equal decimals may share one result; a
    # batch repeats its quantities and prices, and normalize + format + parse costs ~1 us.
    return wire_decimal(value)


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
