"""Binance JSON <-> toolkit names: the one place that knows Binance's order vocabulary.

Responses become :class:`~toolkit.core._models.Order` through :func:`parse_order` only, driven by
the mapping table :data:`ORDER_FIELDS` (wire keys -> order fields, first key present wins). Requests
become wire parameters through :func:`order_params` only. Everything else (transport, session,
store) sees ``Order`` and never a raw Binance key, so an ``id``/``order_id`` mix-up cannot recur.

Example::

    >>> from toolkit.core._models import Market
    >>> from toolkit.binance._wire import parse_order
    >>> order = parse_order({"symbol": "BTCUSDT", "orderId": 7, "clientOrderId": "a1",
    ...                      "status": "FILLED", "origQty": "2", "executedQty": "2",
    ...                      "cummulativeQuoteQty": "10", "side": "BUY", "type": "MARKET",
    ...                      "transactTime": 1700000000000}, market=Market.SPOT, exchange="paper")
    >>> (order.order_id, order.status.value, order.avg_price)
    ('7', 'FILLED', 5.0)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd

from ..core._models import Market, Order, OrderRequest, OrderStatus, OrderType, Outcome, Side
from ._codes import error_parts
from ._signing import wire_value

__all__ = [
    "ORDER_FIELDS",
    "QUOTE_FILLED_KEYS",
    "REQUEST_KEYS",
    "STATUS_MAP",
    "element_error",
    "order_from_request",
    "order_params",
    "parse_order",
]

#: Order field <- Binance keys, first present wins. Spot and USD-M share most names; where they
#: differ (``time`` only on queries, ``transactTime`` on spot answers, ``updateTime`` on USD-M ones)
#: the tuple lists every spelling. ``origClientOrderId`` comes first because on a spot cancel
#: ``clientOrderId`` is the id of the cancel request, not of the order.
ORDER_FIELDS: dict[str, tuple[str, ...]] = {
    "client_order_id": ("origClientOrderId", "clientOrderId"),
    "order_id": ("orderId",),
    "symbol": ("symbol",),
    "side": ("side",),
    "type": ("origType", "type"),  # USD-M: a triggered conditional order keeps its own type
    "time_in_force": ("timeInForce",),
    "status": ("status",),
    "price": ("price",),
    "stop_price": ("stopPrice",),
    "qty": ("origQty",),
    "filled_qty": ("executedQty",),
    "avg_price": ("avgPrice",),  # USD-M only; spot's is derived from the quote amount
    "reduce_only": ("reduceOnly",),  # USD-M only
    "created_at": ("time", "transactTime", "updateTime", "workingTime"),
    "updated_at": ("updateTime", "transactTime", "time", "workingTime"),
}

#: Quote amount filled so far (spot spells it with a double m); avg price = this / executedQty.
QUOTE_FILLED_KEYS: tuple[str, ...] = ("cummulativeQuoteQty", "cumQuote")

#: Binance order status -> ours. PENDING_CANCEL is resolved by the filled quantity (see below).
STATUS_MAP: dict[str, OrderStatus] = {
    "NEW": OrderStatus.NEW,
    "PENDING_NEW": OrderStatus.NEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
    "NEW_INSURANCE": OrderStatus.FILLED,  # USD-M liquidation fills
    "NEW_ADL": OrderStatus.FILLED,
}

#: OrderRequest field -> Binance parameter name, in the order they go on the wire.
REQUEST_KEYS: dict[str, str] = {
    "symbol": "symbol",
    "side": "side",
    "type": "type",
    "time_in_force": "timeInForce",
    "qty": "quantity",
    "quote_qty": "quoteOrderQty",
    "price": "price",
    "stop_price": "stopPrice",
    "reduce_only": "reduceOnly",
    "client_order_id": "newClientOrderId",
}


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _number(value: Any) -> float | None:
    # float(text) is correctly rounded, as float(Decimal(text)) is: the same float, at half the
    # cost, and answers carry every quantity as text. Anything else goes the Decimal way.
    if type(value) is str:
        try:
            return float(value) if value else None
        except ValueError:
            pass
    dec = _decimal(value)
    return None if dec is None else float(dec)


def _nonzero(value: Any) -> float | None:
    """Binance sends ``"0.00000000"`` for "no price" (MARKET) and "no average yet"."""
    number = _number(value)
    return None if number is None or number == 0 else number


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


#: Wire text -> our enum member: one dict look-up per answer instead of an ``Enum(value)``
#: call (a value no member has, an order type added later, takes the slow way once).
_SIDES: dict[Any, Side] = {m.value.upper(): m for m in Side}
_TYPES: dict[Any, OrderType] = {m.value.upper(): m for m in OrderType}


def _side(value: Any) -> Side | None:
    if value is None or value == "":
        return None
    return _SIDES.get(value) or Side.from_exchange(str(value).lower())


def _type(value: Any) -> OrderType | None:
    if value is None or value == "":
        return None
    return _TYPES.get(value) or OrderType.from_exchange(str(value).lower())


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool) or value is None:
        return value
    return str(value).lower() == "true"


@functools.lru_cache(maxsize=4096)
def _stamp(ms: int) -> pd.Timestamp:
    # Orders answered within the same millisecond share a time: a Timestamp costs ~2 µs to build
    # and is immutable, so one per distinct millisecond is enough.
    stamp: pd.Timestamp = pd.Timestamp(ms, unit="ms", tz="UTC")
    return stamp


def _millis(value: Any) -> pd.Timestamp | None:
    if type(value) is int:  # the usual case: JSON integers
        return _stamp(value) if value > 0 else None
    dec = _decimal(value)
    if dec is None or dec <= 0:
        return None
    return _stamp(int(dec))


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "client_order_id": _text,
    "order_id": _text,
    "symbol": _text,
    "side": _side,
    "type": _type,
    "time_in_force": _text,
    "status": _text,
    "price": _nonzero,
    "stop_price": _nonzero,
    "qty": _number,
    "filled_qty": _number,
    "avg_price": _nonzero,
    "reduce_only": _flag,
    "created_at": _millis,
    "updated_at": _millis,
}
# ORDER_FIELDS and _CONVERT joined once, so parse_order walks two flat tables per answer: the
# fields with one wire key, then those with several spellings (first present wins).
_PLAN_ONE: tuple[tuple[str, str, Callable[[Any], Any]], ...] = tuple(
    (name, keys[0], _CONVERT[name]) for name, keys in ORDER_FIELDS.items() if len(keys) == 1
)
_PLAN_ANY: tuple[tuple[str, tuple[str, ...], Callable[[Any], Any]], ...] = tuple(
    (name, keys, _CONVERT[name]) for name, keys in ORDER_FIELDS.items() if len(keys) > 1
)


def _status(wire: str | None, filled: float | None) -> OrderStatus:
    if wire == "PENDING_CANCEL":  # still working until the cancel lands
        return OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.NEW
    # an unknown status is treated as unknown outcome, to be resolved by a later query
    return STATUS_MAP.get(wire or "", OrderStatus.PENDING)


def parse_order(
    payload: Mapping[str, Any],
    *,
    market: Market,
    exchange: str,
    request: OrderRequest | None = None,
) -> Order:
    """One Binance order object (place / query / cancel / openOrders / batch element) -> ``Order``.

    ``request`` fills what a short answer leaves out (side, type, price, qty of an ACK answer).
    """
    values: dict[str, Any] = {"exchange": exchange, "market": market}
    get = payload.get
    # every conversion takes None to None: a key not sent costs no call
    for name, key, convert in _PLAN_ONE:
        raw = get(key)
        values[name] = None if raw is None else convert(raw)
    for name, keys, convert in _PLAN_ANY:
        for key in keys:
            raw = get(key)
            if raw is not None:
                values[name] = convert(raw)
                break
        else:
            values[name] = None
    if values["avg_price"] is None:
        quote = None
        for key in QUOTE_FILLED_KEYS:
            if key in payload:
                quote = _decimal(payload[key])
                break
        filled = _decimal(values["filled_qty"])
        if quote is not None and filled and quote > 0:
            values["avg_price"] = float(quote / filled)
    if market is not Market.USDM:
        values["reduce_only"] = None
    values["status"] = _status(values["status"], values["filled_qty"])
    if request is not None:
        _fill_from_request(values, request)
    if not values["client_order_id"] or not values["symbol"]:
        raise ValueError("order payload has no clientOrderId or symbol")
    values["raw"] = dict(payload)
    return Order.from_fields(values)


def _fill_from_request(values: dict[str, Any], request: OrderRequest) -> None:
    """The fields an answer left out, from the request (as :func:`order_from_request` has them)."""
    if values["client_order_id"] is None:
        values["client_order_id"] = request.client_order_id
    if values["symbol"] is None:
        values["symbol"] = request.symbol
    if values["side"] is None:
        values["side"] = request.side
    if values["type"] is None:
        values["type"] = request.type
    if values["time_in_force"] is None and request.time_in_force:
        values["time_in_force"] = request.time_in_force.value
    for name in ("price", "stop_price", "qty"):
        if values[name] is None:
            given = getattr(request, name)
            values[name] = None if given is None else float(given)
    if values["reduce_only"] is None and request.market is Market.USDM:
        values["reduce_only"] = request.reduce_only


def order_from_request(
    request: OrderRequest,
    *,
    exchange: str,
    status: OrderStatus = OrderStatus.PENDING,
    error_code: int | None = None,
    error_msg: str | None = None,
    outcome: Outcome = Outcome.PLACED,
) -> Order:
    """The ``Order`` for a request the exchange has not (or not yet) described: PENDING/REJECTED."""

    def num(value: Decimal | None) -> float | None:
        return None if value is None else float(value)

    return Order(
        client_order_id=request.client_order_id,
        exchange=exchange,
        market=request.market,
        symbol=request.symbol,
        side=request.side,
        type=request.type,
        status=status,
        time_in_force=request.time_in_force.value if request.time_in_force else None,
        price=num(request.price),
        stop_price=num(request.stop_price),
        qty=num(request.qty),
        reduce_only=request.reduce_only if request.market is Market.USDM else None,
        error_code=error_code,
        error_msg=error_msg,
        outcome=outcome,
    )


def order_params(request: OrderRequest, *, resp_type: str = "RESULT") -> dict[str, Any]:
    """The Binance parameters of one order (also one ``batchOrders`` element).

    Side and type go upper case, decimals as exact strings
    (:func:`toolkit.binance._signing.wire_value`, the one decimal formatter), ``reduceOnly`` only
    on USD-M and only when true, ``newOrderRespType`` last.
    """
    params: dict[str, Any] = {}
    for name, key in REQUEST_KEYS.items():
        value = getattr(request, name)
        if value is None:
            continue
        if name in ("side", "type"):
            value = value.value.upper()
        elif name == "time_in_force":
            value = value.value
        elif isinstance(value, Decimal):
            value = wire_value(value)
        elif name == "reduce_only":
            if not value or request.market is not Market.USDM:
                continue
            value = "true"
        params[key] = value
    params["newOrderRespType"] = resp_type
    return params


def element_error(element: Any) -> tuple[int | None, str] | None:
    """``(code, msg)`` if a batch answer element is an error ``{"code", "msg"}``, else ``None``."""
    if isinstance(element, Mapping) and "orderId" not in element and "code" in element:
        code, msg = error_parts(element)
        if code != 200:
            return code, msg
    if not isinstance(element, Mapping):
        return None, f"unexpected batch element: {str(element)[:100]}"
    return None
