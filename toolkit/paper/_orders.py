"""The order record the engine keeps, and its JSON views as Binance shows them.

Spot and USD-M orders share one record; the views differ (spot pads every number to 8 decimals and
spells ``cummulativeQuoteQty``; USD-M pads to the symbol's precision and has ``cumQuote``,
``avgPrice``, ``positionSide`` ...).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ._market import SPOT, SymbolSpec, fmt

__all__ = [
    "OPEN_STATUSES",
    "Order",
    "futures_view",
    "spot_cancel_view",
    "spot_expiry_reason",
    "spot_query_view",
    "spot_result_view",
]

OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})
_ZERO = Decimal(0)


class Order:
    """One order on the paper exchange (mutable; the engine owns it)."""

    __slots__ = (
        "api_key",
        "client_order_id",
        "cum_quote",
        "executed",
        "fills",
        "is_working",
        "lock_asset",
        "lock_price",
        "locked",
        "market",
        "order_id",
        "orig_type",
        "price",
        "qty",
        "quote_qty",
        "reduce_only",
        "side",
        "spec",
        "status",
        "stop_price",
        "symbol",
        "tif",
        "time",
        "type",
        "update_time",
        "working_time",
    )

    def __init__(
        self,
        *,
        api_key: str,
        spec: SymbolSpec,
        order_id: int,
        client_order_id: str,
        side: str,
        type: str,
        tif: str,
        price: Decimal,
        qty: Decimal,
        stop_price: Decimal,
        quote_qty: Decimal,
        reduce_only: bool,
        now: int,
    ) -> None:
        self.api_key = api_key
        self.spec = spec
        self.market = spec.market
        self.symbol = spec.symbol
        self.order_id = order_id
        self.client_order_id = client_order_id
        self.side = side
        self.type = type
        self.orig_type = type
        self.tif = tif
        self.price = price
        self.qty = qty
        self.stop_price = stop_price
        self.quote_qty = quote_qty
        self.reduce_only = reduce_only
        self.executed = _ZERO
        self.cum_quote = _ZERO
        self.status = "NEW"
        self.time = now
        self.update_time = now
        self.working_time = now
        self.is_working = True
        self.fills: list[dict[str, Any]] = []
        self.lock_asset = ""
        self.lock_price = _ZERO
        self.locked = _ZERO

    @property
    def is_open(self) -> bool:
        """NEW or PARTIALLY_FILLED."""
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> Decimal:
        """Quantity still to fill."""
        return self.qty - self.executed

    def view(self, kind: str = "query") -> dict[str, Any]:
        """The order as the REST API of its market shows it (``kind``: query/result/full/ack)."""
        if self.market == SPOT:
            if kind == "ack":
                return spot_ack_view(self)
            if kind in ("result", "full"):
                return spot_result_view(self, full=kind == "full")
            return spot_query_view(self)
        return futures_view(self, query=kind == "query")


def spot_ack_view(o: Order) -> dict[str, Any]:
    """``newOrderRespType=ACK``."""
    return {
        "symbol": o.symbol,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": o.client_order_id,
        "transactTime": o.time,
    }


def _spot_common(o: Order) -> dict[str, Any]:
    return {
        "price": fmt(o.price, 8),
        "origQty": fmt(o.qty, 8),
        "executedQty": fmt(o.executed, 8),
        "cummulativeQuoteQty": fmt(o.cum_quote, 8),
        "status": o.status,
        "timeInForce": o.tif,
        "type": o.type,
        "side": o.side,
    }


def spot_expiry_reason(o: Order) -> str | None:
    """Binance's ``expiryReason`` of an expired spot order (enums.md "Expiry Reasons").

    Spot CHANGELOG: on new-order RESULT/FULL answers since 2026-03-09, on ``GET /api/v3/order``
    and ``allOrders`` since 2026-05-11; only present when the order expired.
    """
    if o.status != "EXPIRED":
        return None
    if o.tif == "FOK":
        return "UNFILLED_FOK_ORDER_EXPIRED"
    if o.tif == "IOC":
        return "UNFILLED_IOC_QUANTITY_EXPIRED"
    return "INSUFFICIENT_LIQUIDITY"  # a MARKET (or triggered stop) that could not fill in full


def spot_result_view(o: Order, *, full: bool = False) -> dict[str, Any]:
    """``newOrderRespType=RESULT`` (or FULL, with ``fills``)."""
    out = spot_ack_view(o)
    out.update(_spot_common(o))
    out["origQuoteOrderQty"] = fmt(o.quote_qty, 8)
    out["workingTime"] = o.working_time if o.is_working else -1
    out["selfTradePreventionMode"] = "EXPIRE_MAKER"
    if o.stop_price:
        out["stopPrice"] = fmt(o.stop_price, 8)
    reason = spot_expiry_reason(o)
    if reason is not None:
        out["expiryReason"] = reason
    if full:
        out["fills"] = list(o.fills)
    return out


def spot_query_view(o: Order) -> dict[str, Any]:
    """``GET /api/v3/order`` and ``openOrders``/``allOrders`` elements."""
    out: dict[str, Any] = {
        "symbol": o.symbol,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": o.client_order_id,
    }
    out.update(_spot_common(o))
    out["stopPrice"] = fmt(o.stop_price, 8)
    out["icebergQty"] = "0.00000000"
    out["time"] = o.time
    out["updateTime"] = o.update_time
    out["isWorking"] = o.is_working
    out["workingTime"] = o.working_time if o.is_working else -1
    out["origQuoteOrderQty"] = fmt(o.quote_qty, 8)
    out["selfTradePreventionMode"] = "EXPIRE_MAKER"
    reason = spot_expiry_reason(o)
    if reason is not None:
        out["expiryReason"] = reason
    return out


def spot_cancel_view(o: Order, cancel_client_id: str, now: int) -> dict[str, Any]:
    """``DELETE /api/v3/order`` and ``DELETE /api/v3/openOrders`` elements."""
    out: dict[str, Any] = {
        "symbol": o.symbol,
        "origClientOrderId": o.client_order_id,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": cancel_client_id,
        "transactTime": now,
    }
    out.update(_spot_common(o))
    out["origQuoteOrderQty"] = fmt(o.quote_qty, 8)
    out["selfTradePreventionMode"] = "EXPIRE_MAKER"
    return out


def futures_view(o: Order, *, query: bool = False) -> dict[str, Any]:
    """A USD-M order object; ``query`` adds ``time`` and drops ``cumQty`` as GET order does."""
    spec = o.spec
    pp, qp = spec.price_places, spec.qty_places
    avg = o.cum_quote / o.executed if o.executed else _ZERO
    out: dict[str, Any] = {
        "orderId": o.order_id,
        "symbol": o.symbol,
        "status": o.status,
        "clientOrderId": o.client_order_id,
        "price": fmt(o.price, pp),
        "avgPrice": fmt(avg, pp + qp) if o.executed else fmt(_ZERO, pp),
        "origQty": fmt(o.qty, qp),
        "executedQty": fmt(o.executed, qp),
    }
    if not query:
        out["cumQty"] = fmt(o.executed, qp)
    out.update(
        {
            "cumQuote": fmt(o.cum_quote, pp + qp),
            "timeInForce": o.tif,
            "type": o.type,
            "reduceOnly": o.reduce_only,
            "closePosition": False,
            "side": o.side,
            "positionSide": "BOTH",
            "stopPrice": fmt(o.stop_price, pp),
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "origType": o.orig_type,
            "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "goodTillDate": 0,
            "updateTime": o.update_time,
        }
    )
    if query:
        out["time"] = o.time
    return out
