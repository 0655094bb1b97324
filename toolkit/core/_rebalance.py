"""Rebalancing arithmetic: holdings and target weights -> the orders that close the gap.

A pure function, no I/O: give it the free balances, the prices and the weights; it returns a
*plan* (one row per target asset: what is held, what should be held, the difference and the order
that closes it, or why there is none). The rows to send are ``plan[plan.send]``; their
``symbol``/``side``/``qty``/``quote_qty`` columns (:data:`ORDER_COLUMNS`) are a ready
``tk.batch`` input of market orders.

Rules, kept deliberately simple so that the plan can be read and checked by hand:

* The portfolio is the assets named in ``targets`` (the quote asset included), valued in the quote
  asset at ``prices``; assets not named are left alone. Weights must be >= 0 and sum to 1; a weight
  of 0 sells the whole free balance.
* Each non-quote asset trades against the quote asset (``BTC`` -> ``BTCUSDT``) with a market order:
  buys are sized in the quote asset (``quote_qty``; the exchange computes the quantity), sells in
  the base asset (``qty``: at most the free balance, floored to the symbol's step). ``tk.batch``
  then checks every filter.
* A difference smaller than the symbol's minimum notional (or ``min_trade``) is skipped, not sent:
  it cannot be placed, and a strict run should not fail on rounding dust.
* An asset without a price (not listed on the exchange) that is not held still gets its buy row, so
  that ``tk.batch`` reports it as ``INVALID`` with the exchange's reason (a strict run then fails,
  naming it). One that is held cannot be valued: the plan raises ``ValueError``.

Example::

    >>> from decimal import Decimal
    >>> plan = rebalance_orders({"BTC": 0.5, "USDT": 0.5},
    ...                         balances={"BTC": Decimal("1"), "USDT": Decimal("50000")},
    ...                         prices={"BTCUSDT": Decimal("100000")})
    >>> print(plan[["asset", "value", "target_value", "side", "qty", "send"]]
    ...       .to_string(index=False))
    asset    value  target_value side  qty  send
      BTC 100000.0       75000.0 sell 0.25  True
     USDT  50000.0       75000.0 <NA>  NaN False
    >>> plan.loc[1, "note"]
    'the quote asset: what the trades leave over'
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pandas as pd

from ._exceptions import InputError
from ._rules import SymbolRules

__all__ = ["ORDER_COLUMNS", "PLAN_COLUMNS", "rebalance_orders"]

#: The columns of a rebalance plan, in order.
PLAN_COLUMNS = (
    "asset", "symbol", "weight", "balance", "last_price", "value", "target_value", "diff_value",
    "side", "qty", "quote_qty", "send", "note",
)
_TEXT = pd.StringDtype()
_DTYPES: dict[str, Any] = {
    "asset": _TEXT, "symbol": _TEXT, "weight": "float64", "balance": "float64",
    "last_price": "float64", "value": "float64", "target_value": "float64",
    "diff_value": "float64", "side": _TEXT, "qty": "float64", "quote_qty": "float64",
    "send": "bool", "note": _TEXT,
}
#: The plan columns that make the ``tk.batch`` input (no price column: market orders).
ORDER_COLUMNS = ["symbol", "side", "qty", "quote_qty"]
_TOLERANCE = Decimal("0.000001")


def _dec(value: Any, what: str) -> Decimal:
    try:
        out = Decimal(str(value))
    except ArithmeticError:
        raise InputError(f"{what} must be a number, got {value!r}") from None
    if not out.is_finite():
        raise InputError(f"{what} must be finite, got {value!r}")
    return out


def _weights(targets: Mapping[str, Any]) -> dict[str, Decimal]:
    if not targets:
        raise InputError("targets is empty: give weights per asset, e.g. {'BTC': 0.5, 'USDT': 0.5}")
    weights = {str(a).upper(): _dec(w, f"the weight of {a}") for a, w in targets.items()}
    negative = [a for a, w in weights.items() if w < 0]
    if negative:
        raise InputError(f"weights must be >= 0; negative: {', '.join(negative)}")
    total = sum(weights.values(), Decimal(0))
    if abs(total - 1) > _TOLERANCE:
        raise InputError(f"weights must sum to 1 (they sum to {total}): {weights}")
    return weights


def rebalance_orders(
    targets: Mapping[str, Any],
    balances: Mapping[str, Any],
    prices: Mapping[str, Any],
    *,
    quote: str = "USDT",
    rules: Mapping[str, SymbolRules] | None = None,
    min_trade: Any = 0,
) -> pd.DataFrame:
    """The plan that moves the ``targets`` assets to their weights (see the module docstring).

    ``balances`` are free balances per asset, ``prices`` last prices per symbol (``BTCUSDT``),
    ``rules`` the symbols' filters (``await session.symbol_rules()``: minimum notional and
    quantity step), ``min_trade`` a minimum of your own (in the quote asset). Returns a frame
    with :data:`PLAN_COLUMNS`, one row per target asset in the order given;
    ``plan.loc[plan.send, ORDER_COLUMNS]`` is the ``tk.batch`` input.

    Example::

        plan = tk.rebalance_orders({"BTC": 0.4, "ETH": 0.3, "USDT": 0.3},
                                   await session.balances(), await session.prices(),
                                   rules=await session.symbol_rules())
        orders = plan.loc[plan.send, ["symbol", "side", "qty", "quote_qty"]]
        result = await tk.batch(orders, key="rebalance-2026-11-25")
    """
    quote = quote.upper()
    weights = _weights(targets)
    own_minimum = _dec(min_trade, "min_trade")
    rows: list[dict[str, Any]] = []
    for asset in weights:
        symbol = None if asset == quote else asset + quote
        held = _dec(balances.get(asset, 0), f"the balance of {asset}")
        known = Decimal(1) if symbol is None else prices.get(symbol)
        price = None if known is None else _dec(known, f"the price of {symbol}")
        if price is None and held != 0:
            raise InputError(f"{asset} is held ({held}) but {symbol} has no price to value it")
        rows.append({"asset": asset, "symbol": symbol, "weight": weights[asset], "balance": held,
                     "price": price, "value": held * (price or 0)})
    total = sum((r["value"] for r in rows), Decimal(0))
    for row in rows:
        row["target_value"] = total * row["weight"]
        row["diff_value"] = row["target_value"] - row["value"]
        rule = (rules or {}).get(row["symbol"] or "")
        minimum = max(own_minimum, (rule.min_notional if rule else None) or Decimal(0))
        row.update(_order(row, rule, minimum, quote))
    return _frame(rows)


def _order(row: Mapping[str, Any], rule: SymbolRules | None, minimum: Decimal,
           quote: str) -> dict[str, Any]:
    """The order (or the reason for none) that closes one row's difference."""
    none: dict[str, Any] = {"side": None, "qty": None, "quote_qty": None, "send": False}
    diff: Decimal = row["diff_value"]
    price: Decimal | None = row["price"]
    if row["symbol"] is None:
        return {**none, "note": "the quote asset: what the trades leave over"}
    if diff == 0:
        return {**none, "note": "on target"}
    if abs(diff) < minimum:
        return {**none, "note": f"difference {abs(diff):.2f} {quote} is below the minimum "
                                f"{minimum.normalize()} {quote}"}
    if diff > 0:  # an unlisted asset has no price: tk.batch will say why it cannot be bought
        note = "" if price is not None else f"no price for {row['symbol']}"
        return {**none, "side": "buy", "quote_qty": diff, "send": True, "note": note}
    assert price is not None  # held, so priced (checked when the row was made)
    qty = min(-diff / price, row["balance"])
    if rule is not None:
        qty = rule.floor_qty(qty, is_market=True)
    if qty * price < minimum:
        return {**none, "note": f"{qty.normalize()} {row['asset']} (floored to the step) is below "
                                f"the minimum {minimum.normalize()} {quote}"}
    return {**none, "side": "sell", "qty": qty, "send": True, "note": ""}


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    data = {column: [_cell(r, column) for r in rows] for column in PLAN_COLUMNS}
    frame: pd.DataFrame = pd.DataFrame(data, columns=list(PLAN_COLUMNS)).astype(_DTYPES)
    return frame


def _cell(row: Mapping[str, Any], column: str) -> Any:
    value = row["price" if column == "last_price" else column]
    if _DTYPES[column] == "float64":
        return None if value is None else float(value)
    return value
