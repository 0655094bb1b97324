"""Response shapes recorded from the real Binance API, shared by the conformance tests.

Each constant is ``{key: JSON value type}`` and names its source (see the module docstring of
``test_conformance_ccxt``: CCXT-STATIC, CCXT-COMMENT, DOCS).
"""

from __future__ import annotations

from typing import Any

#: CCXT-STATIC spot createOrder (RESULT/FULL), minus ``icebergQty`` (iceberg orders only);
#: types from DOCS rest-api.md "New order" FULL example.
SPOT_NEW = {
    "symbol": str,
    "orderId": int,
    "orderListId": int,
    "clientOrderId": str,
    "transactTime": int,
    "price": str,
    "origQty": str,
    "executedQty": str,
    "origQuoteOrderQty": str,
    "cummulativeQuoteQty": str,
    "status": str,
    "timeInForce": str,
    "type": str,
    "side": str,
    "workingTime": int,
    "fills": list,
    "selfTradePreventionMode": str,
}
#: DOCS rest-api.md "Query order" example.
SPOT_QUERY = {
    "symbol": str,
    "orderId": int,
    "orderListId": int,
    "clientOrderId": str,
    "price": str,
    "origQty": str,
    "executedQty": str,
    "cummulativeQuoteQty": str,
    "status": str,
    "timeInForce": str,
    "type": str,
    "side": str,
    "stopPrice": str,
    "icebergQty": str,
    "time": int,
    "updateTime": int,
    "isWorking": bool,
    "workingTime": int,
    "origQuoteOrderQty": str,
    "selfTradePreventionMode": str,
}
#: CCXT-STATIC USD-M createOrders element; types from DOCS USD-M "New Order".
FUT_ORDER = {
    "orderId": int,
    "symbol": str,
    "status": str,
    "clientOrderId": str,
    "price": str,
    "avgPrice": str,
    "origQty": str,
    "executedQty": str,
    "cumQty": str,
    "cumQuote": str,
    "timeInForce": str,
    "type": str,
    "reduceOnly": bool,
    "closePosition": bool,
    "side": str,
    "positionSide": str,
    "stopPrice": str,
    "workingType": str,
    "priceProtect": bool,
    "origType": str,
    "priceMatch": str,
    "selfTradePreventionMode": str,
    "goodTillDate": int,
    "updateTime": int,
}
#: DOCS USD-M "Query Order": GET adds ``time`` and has no ``cumQty``.
FUT_QUERY = {**{k: v for k, v in FUT_ORDER.items() if k != "cumQty"}, "time": int}
#: CCXT-COMMENT "linear swap conditional order" (createOrder answer).
ALGO_NEW = {
    "algoId": int,
    "clientAlgoId": str,
    "algoType": str,
    "orderType": str,
    "symbol": str,
    "side": str,
    "positionSide": str,
    "timeInForce": str,
    "quantity": str,
    "algoStatus": str,
    "triggerPrice": str,
    "price": str,
    "icebergQuantity": type(None),
    "selfTradePreventionMode": str,
    "workingType": str,
    "priceMatch": str,
    "closePosition": bool,
    "priceProtect": bool,
    "reduceOnly": bool,
    "createTime": int,
    "updateTime": int,
    "triggerTime": int,
    "goodTillDate": int,
}
#: DOCS USD-M "Query Algo Order" / "Current All Algo Open Orders".
ALGO_QUERY = {
    **ALGO_NEW,
    "actualOrderId": str,
    "actualPrice": str,
    "tpTriggerPrice": str,
    "tpPrice": str,
    "slTriggerPrice": str,
    "slPrice": str,
    "tpOrderType": str,
}
#: DOCS USD-M "Position Information V3".
POSITION_V3 = {
    "symbol": str,
    "positionSide": str,
    "positionAmt": str,
    "entryPrice": str,
    "breakEvenPrice": str,
    "markPrice": str,
    "unRealizedProfit": str,
    "liquidationPrice": str,
    "isolatedMargin": str,
    "notional": str,
    "marginAsset": str,
    "isolatedWallet": str,
    "initialMargin": str,
    "maintMargin": str,
    "positionInitialMargin": str,
    "openOrderInitialMargin": str,
    "adl": int,
    "bidNotional": str,
    "askNotional": str,
    "updateTime": int,
}


def shape(body: dict[str, Any]) -> dict[str, type]:
    """Key -> JSON value type."""
    return {key: type(value) for key, value in body.items()}
