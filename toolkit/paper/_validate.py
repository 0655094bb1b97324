"""New-order parameters: parsing, Binance's parameter errors and the symbol filters.

Spot refuses filter violations with ``-1013 "Filter failure: <FILTER>"``; USD-M has one code per
rule (``-4014`` tick, ``-4023`` step, ``-4164`` notional, ...). Checks run in Binance's order:
parameters first, then price filters, quantity filters, notional, open-order count.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from ._errors import PaperError, illegal_chars, mandatory
from ._market import SPOT, SymbolSpec

__all__ = ["NewOrder", "check_futures_filters", "check_spot_filters", "parse_new_order"]

_DECIMAL_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_DECIMAL_LEGAL = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
_SPOT_CID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,36}$")
_SPOT_CID_LEGAL = "^[a-zA-Z0-9-_]{1,36}$"
_FUT_CID_RE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
_FUT_CID_LEGAL = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"
_ZERO = Decimal(0)

SPOT_TYPES = (
    "LIMIT", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT",
    "LIMIT_MAKER",
)
FUTURES_TYPES = ("LIMIT", "MARKET")
FUTURES_ALGO_TYPES = frozenset(
    {"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"}
)
_SPOT_TIF = frozenset({"GTC", "IOC", "FOK"})
_FUT_TIF = frozenset({"GTC", "IOC", "FOK", "GTX", "GTD"})
_SPOT_LIMIT_TYPES = frozenset({"LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT", "LIMIT_MAKER"})
_SPOT_TIF_TYPES = frozenset({"LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"})
SPOT_STOP_TYPES = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})

_INVALID_SYMBOL = PaperError(-1121, "Invalid symbol.")
_INVALID_SIDE = PaperError(-1117, "Invalid side.")
_INVALID_TYPE = PaperError(-1116, "Invalid orderType.")
_INVALID_TIF = PaperError(-1115, "Invalid timeInForce.")
_ALGO_ONLY = PaperError(
    -4120,
    "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",
)
_RESP_TYPES = frozenset({"ACK", "RESULT", "FULL"})


@dataclass
class NewOrder:
    """A parsed new-order request (not yet checked against prices or balances)."""

    spec: SymbolSpec
    side: str
    type: str
    tif: str
    qty: Decimal
    price: Decimal
    stop_price: Decimal
    quote_qty: Decimal
    client_order_id: str
    resp_type: str
    reduce_only: bool


def _decimal(params: dict[str, str], name: str) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not _DECIMAL_RE.match(raw):
        raise illegal_chars(name, _DECIMAL_LEGAL)
    try:
        return Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise illegal_chars(name, _DECIMAL_LEGAL) from None


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise mandatory(name)
    return value


def _not_required(name: str) -> PaperError:
    return PaperError(-1106, f"Parameter '{name}' sent when not required.")


def _client_id(params: dict[str, str], market: str) -> str:
    cid = params.get("newClientOrderId")
    if cid is None or cid == "":
        return ("web_" if market == SPOT else "") + secrets.token_urlsafe(16)[:22].replace("-", "x")
    if market == SPOT:
        if not _SPOT_CID_RE.match(cid):
            raise illegal_chars("newClientOrderId", _SPOT_CID_LEGAL)
    elif not _FUT_CID_RE.match(cid):
        if len(cid) > 36:
            raise PaperError(-4015, "Client order id length should not be more than 36 chars")
        raise illegal_chars("newClientOrderId", _FUT_CID_LEGAL)
    return cid


def parse_new_order(
    params: dict[str, str], specs: dict[str, SymbolSpec], market: str
) -> NewOrder:
    """Parameters of ``POST order`` (or one ``batchOrders`` element) -> :class:`NewOrder`."""
    symbol = _required(params, "symbol")
    spec = specs.get(symbol)
    if spec is None:
        raise _INVALID_SYMBOL
    side = _required(params, "side")
    if side not in ("BUY", "SELL"):
        raise _INVALID_SIDE
    otype = _required(params, "type")
    spot = market == SPOT
    if spot:
        if otype not in SPOT_TYPES:
            raise _INVALID_TYPE
    elif otype not in FUTURES_TYPES:
        raise _ALGO_ONLY if otype in FUTURES_ALGO_TYPES else _INVALID_TYPE
    tif = params.get("timeInForce") or ""
    needs_tif = otype in _SPOT_TIF_TYPES if spot else otype == "LIMIT"
    if needs_tif:
        if not tif:
            raise mandatory("timeInForce")
        if tif not in (_SPOT_TIF if spot else _FUT_TIF):
            raise _INVALID_TIF
    elif tif:
        if spot:
            raise _not_required("timeInForce")
        tif = ""  # USD-M ignores it on MARKET orders
    if not spot and not tif:
        tif = "GTC"
    qty = _decimal(params, "quantity")
    quote_qty = _decimal(params, "quoteOrderQty") if spot else None
    if spot and otype == "MARKET":
        if qty is None and quote_qty is None:
            raise PaperError(
                -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"
            )
        if qty is not None and quote_qty is not None:
            raise _not_required("quoteOrderQty")
    elif qty is None:
        raise mandatory("quantity")
    elif quote_qty is not None:
        raise _not_required("quoteOrderQty")
    price = _decimal(params, "price")
    has_price = otype in _SPOT_LIMIT_TYPES if spot else otype == "LIMIT"
    if has_price and price is None:
        raise mandatory("price")
    if not has_price and price is not None:
        raise _not_required("price")
    stop = _decimal(params, "stopPrice") if spot else None
    if spot and otype in SPOT_STOP_TYPES:
        if stop is None:
            raise mandatory("stopPrice")
    elif stop is not None:
        raise _not_required("stopPrice")
    reduce_raw = params.get("reduceOnly")
    reduce_only = False
    if not spot and reduce_raw:
        if reduce_raw.lower() not in ("true", "false"):
            raise illegal_chars("reduceOnly", "^(true|false)$")
        reduce_only = reduce_raw.lower() == "true"
    if not spot and params.get("positionSide", "BOTH") != "BOTH":
        raise PaperError(-4061, "Order's position side does not match user's setting.")
    resp = params.get("newOrderRespType") or ""
    if resp and resp not in _RESP_TYPES:
        raise illegal_chars("newOrderRespType", "^(ACK|RESULT|FULL)$")
    if not resp:
        resp = ("FULL" if otype in ("LIMIT", "MARKET") else "ACK") if spot else "ACK"
    return NewOrder(
        spec=spec,
        side=side,
        type=otype,
        tif=tif,
        qty=qty if qty is not None else _ZERO,
        price=price if price is not None else _ZERO,
        stop_price=stop if stop is not None else _ZERO,
        quote_qty=quote_qty if quote_qty is not None else _ZERO,
        client_order_id=_client_id(params, market),
        resp_type=resp,
        reduce_only=reduce_only,
    )


def _filter(name: str) -> PaperError:
    return PaperError(-1013, f"Filter failure: {name}")


def _off_grid(value: Decimal, step: Decimal) -> bool:
    return bool(step) and value % step != 0


def check_spot_filters(order: NewOrder, last: Decimal, open_count: int, algo_count: int) -> None:
    """Spot filters against the last price ``last``; ``-1013 Filter failure: X`` on violation."""
    spec = order.spec
    checked = [order.stop_price] if order.stop_price else []
    if order.price or order.type in _SPOT_LIMIT_TYPES:
        checked.append(order.price)
    for value in checked:
        if value < spec.min_price or value > spec.max_price or _off_grid(value, spec.tick):
            raise _filter("PRICE_FILTER")
    price = order.price
    if price and (price > last * spec.percent_up or price < last * spec.percent_down):
        raise _filter("PERCENT_PRICE_BY_SIDE")
    if order.type == "MARKET":
        if order.qty and order.qty > spec.market_max_qty:
            raise _filter("MARKET_LOT_SIZE")
        if order.qty and (order.qty < spec.min_qty or _off_grid(order.qty, spec.step)):
            raise _filter("LOT_SIZE")
        notional = order.quote_qty or order.qty * last
    else:
        qty = order.qty
        if qty < spec.min_qty or qty > spec.max_qty or _off_grid(qty, spec.step):
            raise _filter("LOT_SIZE")
        notional = qty * (order.price or order.stop_price)
    if notional < spec.min_notional:
        raise _filter("NOTIONAL")
    if open_count >= spec.max_num_orders:
        raise _filter("MAX_NUM_ORDERS")
    if order.type in SPOT_STOP_TYPES and algo_count >= spec.max_algo_orders:
        raise _filter("MAX_NUM_ALGO_ORDERS")


def check_futures_filters(order: NewOrder, mark: Decimal, open_count: int) -> None:
    """USD-M filters against the mark price, each with its own Binance code."""
    spec = order.spec
    price = order.price
    if order.type == "LIMIT":
        if price < spec.min_price:
            raise PaperError(-4013, "Price less than min price.")
        if price > spec.max_price:
            raise PaperError(-4002, "Price greater than max price.")
        if (price - spec.min_price) % spec.tick != 0:
            raise PaperError(-4014, "Price not increased by tick size.")
    qty = order.qty
    if qty <= 0:
        raise PaperError(-4003, "Quantity less than or equal to zero.")
    if qty < spec.min_qty:
        raise PaperError(-4004, "Quantity less than min quantity.")
    if qty > (spec.market_max_qty if order.type == "MARKET" else spec.max_qty):
        raise PaperError(-4005, "Quantity greater than max quantity.")
    if (qty - spec.min_qty) % spec.step != 0:
        raise PaperError(-4023, "Qty not increased by step size.")
    if order.type == "LIMIT":
        if order.side == "BUY" and price > mark * spec.percent_up:
            raise PaperError(-4016, "Price is higher than mark price multiplier cap.")
        if order.side == "SELL" and price < mark * spec.percent_down:
            raise PaperError(-4024, "Price is lower than mark price multiplier floor.")
    if not order.reduce_only and qty * (price or mark) < spec.min_notional:
        raise PaperError(
            -4164,
            f"Order's notional must be no smaller than {spec.min_notional} "
            "(unless you choose reduce only).",
        )
    if open_count >= spec.max_num_orders:
        raise PaperError(-2025, "Reach max open order limit.")
