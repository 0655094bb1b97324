"""USD-M conditional orders on the wire: Binance's Algo Order API <-> our names.

Since 2025-12-02 Binance takes ``STOP``, ``STOP_MARKET``, ``TAKE_PROFIT`` and
``TAKE_PROFIT_MARKET`` only through ``POST /fapi/v1/algoOrder`` (USD-M CHANGELOG 2025-11-06);
``/fapi/v1/order`` and ``batchOrders`` answer ``-4120``. In the order frame such an order is one
row like any other:

* the row's ``client_order_id`` goes out as ``clientAlgoId``, ``stop_price`` as
  ``triggerPrice``;
* ``order_id`` is the ``algoId`` while the algo order waits, and the triggered order's id
  (``actualOrderId``) once it fired (the adapter then reports that order's own state);
* algo statuses map onto the frame's status set (:data:`ALGO_STATUS_MAP`):

  ===============  =============  ==================================================
  ``algoStatus``    frame status   why
  ===============  =============  ==================================================
  NEW, TRIGGERING   NEW            waiting for (or placing) its trigger: open
  TRIGGERED         NEW            its order is on the book (the adapter reads that
                                   order's status when it can)
  FINISHED          FILLED         its order is done (filled, unless the order itself
                                   says otherwise)
  CANCELED          CANCELED
  EXPIRED           EXPIRED
  REJECTED          REJECTED       the trigger fired but the order was refused
  ===============  =============  ==================================================

Response shapes: ccxt 4.5.90 ``binance.parse_order`` comment (POST answer) and Binance's "Query
Algo Order" example (``actualOrderId``, ``actualPrice``).

Example::

    >>> parse_algo_order({"algoId": 7, "clientAlgoId": "sl-1", "orderType": "STOP_MARKET",
    ...                   "symbol": "BTCUSDT", "side": "SELL", "quantity": "0.002",
    ...                   "algoStatus": "NEW", "triggerPrice": "89000.0", "price": "0.0"},
    ...                  exchange="paper").order_id
    '7'
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pandas as pd

from ..core._models import Market, Order, OrderRequest, OrderStatus, OrderType, Side
from ._signing import wire_value

__all__ = ["ALGO_STATUS_MAP", "ALGO_TYPES", "algo_params", "is_algo", "parse_algo_order"]

#: The USD-M types that go through the Algo Order API (trailing stops are not supported).
ALGO_TYPES = frozenset(
    {OrderType.STOP, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_MARKET}
)
_LIMIT_KINDS = frozenset({OrderType.STOP, OrderType.TAKE_PROFIT})

#: Binance ``algoStatus`` -> the frame's status (see the module docstring for why).
ALGO_STATUS_MAP: dict[str, OrderStatus] = {
    "NEW": OrderStatus.NEW,
    "TRIGGERING": OrderStatus.NEW,
    "TRIGGERED": OrderStatus.NEW,
    "FINISHED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "CANCELLED": OrderStatus.CANCELED,
    "EXPIRED": OrderStatus.EXPIRED,
    "REJECTED": OrderStatus.REJECTED,
}


def is_algo(request: OrderRequest) -> bool:
    """Whether ``request`` goes through the Algo Order API (a USD-M conditional type)."""
    return request.market is Market.USDM and request.type in ALGO_TYPES


def algo_params(request: OrderRequest) -> dict[str, Any]:
    """The ``POST /fapi/v1/algoOrder`` parameters of a conditional USD-M order."""
    params: dict[str, Any] = {
        "algoType": "CONDITIONAL",
        "symbol": request.symbol,
        "side": request.side.value.upper(),
        "type": request.type.value.upper(),
    }
    if request.qty is not None:
        params["quantity"] = wire_value(request.qty)
    if request.type in _LIMIT_KINDS and request.price is not None:
        params["price"] = wire_value(request.price)
        params["timeInForce"] = (request.time_in_force.value if request.time_in_force
                                 else "GTC")
    if request.stop_price is not None:
        params["triggerPrice"] = wire_value(request.stop_price)
    if request.reduce_only:
        params["reduceOnly"] = "true"
    params["clientAlgoId"] = request.client_order_id
    return params


def _num(value: Any) -> float | None:
    if value in (None, ""):
        return None
    number = float(Decimal(str(value)))
    return number or None


def _millis(value: Any) -> pd.Timestamp | None:
    if not value:
        return None
    stamp: pd.Timestamp = pd.Timestamp(int(value), unit="ms", tz="UTC")
    return stamp


def parse_algo_order(payload: Mapping[str, Any], *, exchange: str) -> Order:
    """One algo order answer (POST / GET / open / all) -> ``Order`` (see the module docstring)."""
    cid = payload.get("clientAlgoId")
    symbol = payload.get("symbol")
    if not cid or not symbol:
        raise ValueError("algo order payload has no clientAlgoId or symbol")
    status = ALGO_STATUS_MAP.get(str(payload.get("algoStatus", "")), OrderStatus.PENDING)
    kind_text = str(payload.get("orderType") or "").lower()
    side_text = str(payload.get("side") or "").lower()
    kind = OrderType.from_exchange(kind_text) if kind_text else None
    side = Side.from_exchange(side_text) if side_text else None
    tif = payload.get("timeInForce") if kind_text in ("stop", "take_profit") else None
    return Order(
        client_order_id=str(cid),
        exchange=exchange,
        market=Market.USDM,
        symbol=str(symbol),
        side=side,
        type=kind,
        status=status,
        order_id=str(payload["algoId"]) if payload.get("algoId") is not None else None,
        algo_id=str(payload["algoId"]) if payload.get("algoId") is not None else None,
        time_in_force=tif,
        price=_num(payload.get("price")),
        stop_price=_num(payload.get("triggerPrice")),
        qty=_num(payload.get("quantity")),
        filled_qty=0.0 if status is not OrderStatus.FILLED else _num(payload.get("quantity")),
        avg_price=_num(payload.get("actualPrice")),
        reduce_only=bool(payload.get("reduceOnly", False)),
        created_at=_millis(payload.get("createTime")),
        updated_at=_millis(payload.get("updateTime")),
        raw=dict(payload),
    )
