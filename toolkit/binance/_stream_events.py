"""User-data stream events -> the ``Order`` states they report (spot, USD-M, USD-M algo).

Binance's event letters are mapped here to the REST names of the same fields (small tables:
:data:`SPOT_EVENT_KEYS`, :data:`USDM_EVENT_KEYS`, :data:`ALGO_EVENT_KEYS`); the REST vocabulary
itself (statuses, types, numbers, times) stays in :mod:`toolkit.binance._wire` and
:mod:`toolkit.binance._algo`, whose parsers build the :class:`~toolkit.core._models.Order`. So there
is still one place that knows Binance's order JSON.

Example::

    >>> from toolkit.core._models import Market
    >>> parse_event({"e": "executionReport", "s": "BTCUSDT", "c": "x", "C": "a1", "i": 7,
    ...              "X": "CANCELED", "x": "CANCELED", "S": "BUY", "o": "LIMIT", "q": "1",
    ...              "p": "100", "z": "0", "Z": "0", "T": 1700000000000},
    ...             market=Market.SPOT, exchange="paper").status.value
    'CANCELED'
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from ..core._models import Market, Order, OrderStatus
from ._algo import parse_algo_order
from ._wire import parse_order

__all__ = ["ALGO_EVENT_KEYS", "SPOT_EVENT_KEYS", "USDM_EVENT_KEYS", "parse_event"]

log = logging.getLogger("toolkit.stream")

#: Spot ``executionReport`` letter -> REST order key (``c``/``C`` are resolved separately: on a
#: cancel ``c`` is the cancel request's id and ``C`` the order's own client id).
SPOT_EVENT_KEYS: dict[str, str] = {
    "s": "symbol",
    "i": "orderId",
    "S": "side",
    "o": "type",
    "f": "timeInForce",
    "q": "origQty",
    "p": "price",
    "P": "stopPrice",
    "z": "executedQty",
    "Z": "cummulativeQuoteQty",
    "X": "status",
    "O": "time",
    "T": "updateTime",
}
#: USD-M ``ORDER_TRADE_UPDATE`` (its ``o`` object) letter -> REST order key.
USDM_EVENT_KEYS: dict[str, str] = {
    "s": "symbol",
    "c": "clientOrderId",
    "i": "orderId",
    "S": "side",
    "o": "type",
    "ot": "type",  # the original type wins: a triggered stop_market row stays stop_market
    "f": "timeInForce",
    "q": "origQty",
    "p": "price",
    "sp": "stopPrice",
    "z": "executedQty",
    "ap": "avgPrice",
    "X": "status",
    "R": "reduceOnly",
    "T": "updateTime",
}
#: USD-M ``ALGO_UPDATE`` (its ``o`` object) letter -> the Algo Order API's REST key
#: (:func:`toolkit.binance._algo.parse_algo_order` reads those).
ALGO_EVENT_KEYS: dict[str, str] = {
    "caid": "clientAlgoId",
    "aid": "algoId",
    "o": "orderType",
    "s": "symbol",
    "S": "side",
    "f": "timeInForce",
    "q": "quantity",
    "X": "algoStatus",
    "tp": "triggerPrice",
    "p": "price",
    "R": "reduceOnly",
    "ap": "actualPrice",
    "T": "updateTime",
}


def _algo_event(body: Mapping[str, Any], exchange: str) -> Order:
    """An ``ALGO_UPDATE`` -> the row's state: the algo's, or once it fired its order's id."""
    rest = {key: body[letter] for letter, key in ALGO_EVENT_KEYS.items() if letter in body}
    order = parse_algo_order(rest, exchange=exchange)
    actual = body.get("ai")
    if actual:
        order = dataclasses.replace(order, order_id=str(actual))
    if body.get("X") == "FINISHED":  # the triggered order is done: filled, or not in full
        filled = float(body.get("aq") or 0)
        status = OrderStatus.FILLED if order.qty and filled >= order.qty else (
            OrderStatus.CANCELED)
        order = dataclasses.replace(order, status=status, filled_qty=filled)
    return order


def parse_event(
    payload: Mapping[str, Any], *, market: Market, exchange: str
) -> Order | None:
    """One user-data stream message -> the ``Order`` state it reports, or None if not an order.

    Example::

        >>> order = parse_event({"e": "executionReport", "s": "BTCUSDT", "c": "x", "C": "a1",
        ...                      "i": 7, "X": "CANCELED", "x": "CANCELED", "S": "BUY",
        ...                      "o": "LIMIT", "q": "1", "p": "100", "z": "0", "Z": "0",
        ...                      "T": 1700000000000}, market=Market.SPOT, exchange="paper")
        >>> (order.client_order_id, order.status.value)
        ('a1', 'CANCELED')
    """
    event = payload.get("e")
    if event == "executionReport":
        rest = {key: payload[k] for k, key in SPOT_EVENT_KEYS.items() if k in payload}
        rest["clientOrderId"] = payload.get("C") or payload.get("c")
    elif event == "ORDER_TRADE_UPDATE":
        body = payload.get("o")
        if not isinstance(body, Mapping):
            return None
        rest = {key: body[letter] for letter, key in USDM_EVENT_KEYS.items() if letter in body}
    elif event == "ALGO_UPDATE":
        body = payload.get("o")
        if not isinstance(body, Mapping):
            return None
        try:
            return _algo_event(body, exchange)
        except (ValueError, TypeError, ArithmeticError):
            log.debug("unreadable ALGO_UPDATE: %s", str(payload)[:200])
            return None
    else:
        return None
    try:
        return parse_order(rest, market=market, exchange=exchange)
    except ValueError:
        log.debug("user-data event without symbol or client order id: %s", str(payload)[:200])
        return None
