"""USD-M futures endpoints (``/fapi/...``) and a minimal COIN-M ``/dapi`` for market loaders."""

from __future__ import annotations

import json
from typing import Any

from ._accounts import futures_account_view, futures_balance_view, position_risk_view
from ._app import Route, ServerState
from ._errors import PaperError, bad_param, mandatory
from ._market import FUTURES, SymbolSpec, fmt
from ._spot import empty_list, ping, select_orders, server_time

__all__ = ["futures_routes"]

_INVALID_SYMBOL = PaperError(-1121, "Invalid symbol.")
_BATCH_SIZE = PaperError(-4082, "Invalid number of batch place orders.")
_CANCEL_SIZE = PaperError(-4084, "Invalid number of batch cancel orders.")


def _symbol(state: ServerState, params: dict[str, str], required: bool = False) -> str | None:
    symbol = params.get("symbol")
    if not symbol:
        if required:
            raise mandatory("symbol")
        return None
    if symbol not in state.engine.specs[FUTURES]:
        raise _INVALID_SYMBOL
    return symbol


def _symbol_json(spec: SymbolSpec) -> dict[str, Any]:
    return {
        "symbol": spec.symbol, "pair": spec.symbol, "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000, "onboardDate": 1569398400000, "status": "TRADING",
        "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
        "baseAsset": spec.base, "quoteAsset": spec.quote, "marginAsset": spec.quote,
        "pricePrecision": spec.price_places, "quantityPrecision": spec.qty_places,
        "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN",
        "underlyingSubType": [], "settlePlan": 0, "triggerProtect": "0.0500",
        "liquidationFee": "0.012500", "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
        "filters": spec.filters(),
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
                       "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }


def exchange_info(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /fapi/v1/exchangeInfo``."""
    symbols = state.cache.get("usdm_symbols")
    if symbols is None:
        symbols = state.cache["usdm_symbols"] = [
            _symbol_json(spec) for spec in state.engine.specs[FUTURES].values()
        ]
    return {
        "timezone": "UTC", "serverTime": state.engine.now(), "futuresType": "U_MARGINED",
        "rateLimits": state.limiter.exchange_info(FUTURES), "exchangeFilters": [],
        "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
        "symbols": symbols,
    }


def coin_exchange_info(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /dapi/v1/exchangeInfo``: COIN-M is not simulated; no symbols."""
    return {"timezone": "UTC", "serverTime": state.engine.now(), "rateLimits": [],
            "exchangeFilters": [], "symbols": []}


def ticker_price(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /fapi/v1/ticker/price``."""
    symbol = _symbol(state, params)
    now = state.engine.now()
    feed = state.engine.feed
    specs = state.engine.specs[FUTURES]
    out = [{"symbol": s, "price": fmt(feed.get(FUTURES, s), specs[s].price_places), "time": now}
           for s in ([symbol] if symbol else specs)]
    return out[0] if symbol else out


def premium_index(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /fapi/v1/premiumIndex``: mark price = index price = the paper price."""
    symbol = _symbol(state, params)
    now = state.engine.now()
    next_funding = (now // 28_800_000 + 1) * 28_800_000
    feed = state.engine.feed
    out = [{"symbol": s, "markPrice": fmt(feed.get(FUTURES, s), 8),
            "indexPrice": fmt(feed.get(FUTURES, s), 8),
            "estimatedSettlePrice": fmt(feed.get(FUTURES, s), 8),
            "lastFundingRate": "0.00010000", "interestRate": "0.00010000",
            "nextFundingTime": next_funding, "time": now}
           for s in ([symbol] if symbol else state.engine.specs[FUTURES])]
    return out[0] if symbol else out


def new_order(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``POST /fapi/v1/order``."""
    order, _resp = state.engine.place(api_key, FUTURES, params)
    return order.view("result")


def _batch_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _json_list(params: dict[str, str], name: str) -> list[Any]:
    raw = params.get(name)
    if raw is None:
        for key, value in params.items():  # ccxt sends the list names in lower case
            if key.lower() == name.lower():
                raw = value
                break
    if raw is None or raw == "":
        raise mandatory(name)
    try:
        value = json.loads(raw, parse_float=str, parse_int=str)
    except ValueError:
        raise bad_param(name) from None
    if not isinstance(value, list):
        raise bad_param(name)
    return value


def batch_orders(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``POST /fapi/v1/batchOrders``: at most 5; positional results, each an order or an error."""
    items = _json_list(params, "batchOrders")
    if not 1 <= len(items) <= 5:
        raise _BATCH_SIZE
    out: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            out.append(bad_param("batchOrders").body())
            continue
        try:
            order, _resp = state.engine.place(
                api_key, FUTURES, {str(k): _batch_value(v) for k, v in item.items()}
            )
        except PaperError as exc:
            out.append(exc.body())
        else:
            out.append(order.view("result"))
    return out


def cancel_batch(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``DELETE /fapi/v1/batchOrders``: at most 10 ``orderIdList`` or ``origClientOrderIdList``."""
    symbol = _symbol(state, params, required=True)
    lower = {k.lower() for k in params}
    if "orderidlist" in lower:
        ids, key = _json_list(params, "orderIdList"), "orderId"
    elif "origclientorderidlist" in lower:
        ids, key = _json_list(params, "origClientOrderIdList"), "origClientOrderId"
    else:
        raise PaperError(-1102, "Param 'orderIdList' or 'origClientOrderIdList' must be sent, "
                         "but both were empty/null!")
    if not 1 <= len(ids) <= 10:
        raise _CANCEL_SIZE
    out: list[dict[str, Any]] = []
    for ident in ids:
        try:
            order = state.engine.cancel(api_key, FUTURES, {"symbol": symbol or "", key: str(ident)})
        except PaperError as exc:
            out.append(exc.body())
        else:
            out.append(order.view("result"))
    return out


def query_order(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /fapi/v1/order``."""
    return state.engine.find(api_key, FUTURES, params).view("query")


def cancel_order(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``DELETE /fapi/v1/order``."""
    return state.engine.cancel(api_key, FUTURES, params).view("result")


def open_orders(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /fapi/v1/openOrders``."""
    symbol = _symbol(state, params)
    return [o.view("query") for o in state.engine.open_orders(api_key, FUTURES, symbol)]


def cancel_all(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``DELETE /fapi/v1/allOpenOrders``."""
    symbol = _symbol(state, params, required=True)
    state.engine.cancel_all(api_key, FUTURES, symbol or "")
    return {"code": 200, "msg": "The operation of cancel all open order is done."}


def all_orders(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /fapi/v1/allOrders``."""
    return [o.view("query") for o in select_orders(state, params, api_key, FUTURES)]


def account(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /fapi/v2/account``."""
    eng = state.engine
    return futures_account_view(eng.account(api_key), eng.feed, eng.specs[FUTURES], eng.now())


def balance(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /fapi/v2/balance``."""
    eng = state.engine
    return futures_balance_view(eng.account(api_key), eng.feed, eng.now())


def position_risk(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /fapi/v2/positionRisk``."""
    eng = state.engine
    return position_risk_view(eng.account(api_key), eng.feed, eng.specs[FUTURES],
                              _symbol(state, params), eng.now())


def leverage(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``POST /fapi/v1/leverage``: 1..125."""
    symbol = _symbol(state, params, required=True) or ""
    raw = params.get("leverage", "")
    if not raw.isdigit() or not 1 <= int(raw) <= 125:
        raise PaperError(-4028, "Leverage is not valid")
    state.engine.account(api_key).leverage[symbol] = int(raw)
    return {"leverage": int(raw), "maxNotionalValue": "1000000", "symbol": symbol}


def leverage_brackets(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /fapi/v1/leverageBracket``: one flat bracket table for every symbol."""
    symbol = _symbol(state, params)
    brackets = [
        {"bracket": i + 1, "initialLeverage": lev, "notionalCap": cap, "notionalFloor": floor,
         "maintMarginRatio": ratio, "cum": cum}
        for i, (lev, cap, floor, ratio, cum) in enumerate((
            (125, 50_000, 0, 0.004, 0.0), (100, 500_000, 50_000, 0.005, 50.0),
            (50, 10_000_000, 500_000, 0.01, 2550.0), (10, 100_000_000, 10_000_000, 0.05, 402550.0),
        ))
    ]
    return [{"symbol": s, "brackets": brackets}
            for s in ([symbol] if symbol else state.engine.specs[FUTURES])]


def position_mode(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /fapi/v1/positionSide/dual``: always one-way mode."""
    return {"dualSidePosition": False}


def futures_routes() -> dict[str, dict[str, Route]]:
    """``{path: {method: Route}}`` of the USD-M API (plus COIN-M market loading)."""
    m, p, s = FUTURES, "/fapi/v1/", "SIGNED"
    routes = {
        p + "ping": {"GET": Route(m, ping)},
        p + "time": {"GET": Route(m, server_time)},
        p + "exchangeInfo": {"GET": Route(m, exchange_info)},
        p + "ticker/price": {"GET": Route(m, ticker_price, 1, 2)},
        p + "premiumIndex": {"GET": Route(m, premium_index, 1, 10)},
        p + "order": {
            "POST": Route(m, new_order, 0, security=s, orders=1, per_minute=1, places=True),
            "GET": Route(m, query_order, 1, security=s),
            "DELETE": Route(m, cancel_order, 1, security=s),
        },
        p + "batchOrders": {
            "POST": Route(m, batch_orders, 5, security=s, orders=5, per_minute=1, places=True),
            "DELETE": Route(m, cancel_batch, 1, security=s),
        },
        p + "openOrders": {"GET": Route(m, open_orders, 1, 40, security=s)},
        p + "allOpenOrders": {"DELETE": Route(m, cancel_all, 1, security=s)},
        p + "allOrders": {"GET": Route(m, all_orders, 5, security=s)},
        p + "leverage": {"POST": Route(m, leverage, 1, security=s)},
        p + "positionSide/dual": {"GET": Route(m, position_mode, 30, security=s)},
        p + "leverageBracket": {"GET": Route(m, leverage_brackets, 1, security=s)},
        "/dapi/v1/exchangeInfo": {"GET": Route(m, coin_exchange_info)},
        "/dapi/v1/ping": {"GET": Route(m, ping)},
        "/dapi/v1/time": {"GET": Route(m, server_time)},
        "/dapi/v1/positionSide/dual": {"GET": Route(m, position_mode, 30, security=s)},
        "/dapi/v1/openOrders": {"GET": Route(m, empty_list, 1, security=s)},
    }
    for version in ("v2", "v3"):
        routes[f"/fapi/{version}/account"] = {"GET": Route(m, account, 5, security=s)}
        routes[f"/fapi/{version}/balance"] = {"GET": Route(m, balance, 5, security=s)}
        routes[f"/fapi/{version}/positionRisk"] = {"GET": Route(m, position_risk, 5, security=s)}
    return routes
