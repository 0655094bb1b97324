"""Pre-trade guards: order and batch caps and a price band, checked before anything is written
ahead or sent. Pure: no I/O.

Binance's own filters are wide (its percent-price filters allow prices several times away from
the market), so a fat-fingered cell or a wrong targets file in a scheduled job would otherwise go
straight to the market. Professional order systems put a risk check between the strategy and the
venue; these are toolkit's:

- ``max_order_notional`` -- one order's value in the quote currency (limit orders at their price,
  market orders at the session's known price, ``quote_qty`` orders at that amount);
- ``max_batch_notional`` and ``max_orders`` -- the whole batch: over either, the batch is refused
  whole (nothing is sent, and its key stays free for corrected orders);
- ``price_band`` -- the aggressive side of plain limit orders only: a buy priced above
  last x (1 + band) or a sell below last x (1 - band) is refused. Resting orders away from the
  market are not (ladders stay possible); market orders carry no price, stop-limit orders wait
  for their trigger and post-only orders never take, so the band does not apply to them.

Notionals are summed as they are: a batch mixing quote currencies (USDT and BTC) adds their
amounts without conversion.

A row that breaks a limit becomes ``INVALID`` with a reason naming the limit and the value.

Example::

    >>> Limits(max_orders=50).price_band
    0.05
    >>> Limits(price_band=None).replace(max_order_notional=1000).max_order_notional
    1000
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ._exceptions import ConfigError
from ._models import OrderRequest, OrderStatus, OrderType, Side

if TYPE_CHECKING:  # the value object is imported by the config layer: no import of validation
    from ._validation import Prepared

__all__ = ["DEFAULT_LIMITS", "Limits", "apply_limits", "needs_prices"]


@dataclass(frozen=True)
class Limits:
    """Pre-trade limits of a session (``connect(limits=...)``) or of one batch
    (``batch(..., limits=...)``, to tighten or loosen it explicitly). ``None`` turns one off.

    Example::

        tk.connect(limits=tk.Limits(max_order_notional=50_000, max_batch_notional=250_000))
        await tk.batch(df, limits=tk.Limits(max_orders=2_000))
    """

    #: Largest value of one order, in the quote currency.
    max_order_notional: float | None = None
    #: Largest total value of one batch, in the quote currency.
    max_batch_notional: float | None = None
    #: Most orders in one batch.
    max_orders: int | None = None
    #: Farthest an aggressive limit price may be from the last price (0.05 = 5%).
    price_band: float | None = 0.05

    def __post_init__(self) -> None:
        for name in ("max_order_notional", "max_batch_notional", "max_orders", "price_band"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not value > 0):
                raise ConfigError(f"Limits.{name} must be a positive number or None, not {value!r}")

    def replace(self, **changes: Any) -> Limits:
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)


#: The limits when none are given: only the 5% price band (the same on the paper exchange).
DEFAULT_LIMITS = Limits()


def _fmt(value: Decimal | float) -> str:
    return f"{float(value):,.8g}"


def needs_prices(limits: Limits) -> bool:
    """True if checking ``limits`` needs the last prices of a batch's limit orders too."""
    return limits.price_band is not None


def _notional(request: OrderRequest, price: Decimal | None) -> Decimal | None:
    if request.quote_qty is not None:
        return request.quote_qty
    at = request.price if request.price is not None else price
    if request.qty is None or at is None:
        return None
    return request.qty * at


def _band_breach(request: OrderRequest, last: Decimal | None, band: float) -> str | None:
    # Only a plain limit order can take liquidity at its price now (a stop-limit waits for its
    # trigger, a post-only order never takes).
    if request.type is not OrderType.LIMIT or request.price is None or not last or last <= 0:
        return None
    off = (request.price - last) / last
    if request.side is Side.BUY and off > Decimal(str(band)):
        where = "above"
    elif request.side is Side.SELL and -off > Decimal(str(band)):
        where = "below"
    else:
        return None
    return (
        f"price {_fmt(request.price)} is {abs(float(off)):.2%} {where} the last price"
        f" {_fmt(last)}: beyond price_band {band:.2%} (an aggressive order this far from the"
        " market is refused; give limits=tk.Limits(price_band=...) to allow it)"
    )


def _invalid(p: Prepared, reason: str) -> Prepared:
    why = f"{p.order.error_msg}; {reason}" if p.request is None and p.order.error_msg else reason
    return dataclasses.replace(
        p, request=None, order=p.order.evolve(status=OrderStatus.INVALID, error_msg=why)
    )


def apply_limits(
    prepared: Sequence[Prepared],
    limits: Limits,
    prices: Mapping[str, Decimal],
    *,
    quote: Mapping[str, str] | None = None,
) -> list[Prepared]:
    """``prepared`` with every row that breaks ``limits`` made INVALID (a reason each); a batch
    over its caps has every row INVALID. ``prices`` are the last prices by symbol; ``quote``
    names each symbol's quote asset for the messages."""
    quote = quote or {}
    out: list[Prepared] = []
    total = Decimal(0)
    for p in prepared:
        request = p.request
        if request is None:
            out.append(p)
            continue
        last = prices.get(request.symbol)
        notional = _notional(request, last)
        unit = quote.get(request.symbol, "")
        if notional is not None:
            total += notional
        if limits.max_order_notional is not None:
            if notional is None:
                out.append(_invalid(p, f"no price known for {request.symbol} to check"
                                       " max_order_notional"))  # fmt: skip
                continue
            if notional > Decimal(str(limits.max_order_notional)):
                out.append(_invalid(
                    p, f"notional {_fmt(notional)} {unit} exceeds max_order_notional"
                       f" {_fmt(limits.max_order_notional)} {unit}".replace("  ", " "),
                ))  # fmt: skip
                continue
        breach = (
            None if limits.price_band is None else _band_breach(request, last, limits.price_band)
        )
        out.append(p if breach is None else _invalid(p, breach))
    valid = [p for p in out if p.request is not None]
    whole = None
    if limits.max_orders is not None and len(valid) > limits.max_orders:
        whole = f"{len(valid)} orders exceed max_orders {limits.max_orders}"
    elif limits.max_batch_notional is not None and total > Decimal(str(limits.max_batch_notional)):
        whole = (
            f"batch notional {_fmt(total)} exceeds max_batch_notional"
            f" {_fmt(limits.max_batch_notional)}"
        )
    if whole is not None:
        reason = f"not sent: the batch is refused whole: {whole}"
        out = [_invalid(p, reason) if p.request is not None else p for p in out]
    return out
