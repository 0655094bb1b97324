"""Spot endpoints (``/api/v3/...``) and the few ``/sapi`` reads client libraries make at start."""

from __future__ import annotations

import json
import secrets
from typing import Any

from ._accounts import spot_account_view
from ._app import Route, ServerState
from ._errors import PaperError, bad_param, mandatory
from ._market import SPOT, SymbolSpec, fmt
from ._orders import Order, spot_cancel_view
from ._trades import check_window
from ._validate import parse_new_order

__all__ = ["spot_routes"]

_INVALID_SYMBOL = PaperError(-1121, "Invalid symbol.")


def _symbols_param(state: ServerState, params: dict[str, str]) -> list[str] | None:
    """``symbol`` or ``symbols`` (a JSON array) -> list of symbols; ``None`` when neither."""
    specs = state.engine.specs[SPOT]
    symbol = params.get("symbol")
    raw = params.get("symbols")
    if symbol and raw:
        raise PaperError(-1101, "Parameter 'symbol' and 'symbols' cannot be sent together.")
    if symbol:
        if symbol not in specs:
            raise _INVALID_SYMBOL
        return [symbol]
    if raw:
        try:
            names = json.loads(raw)
        except ValueError:
            raise bad_param("symbols") from None
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise bad_param("symbols")
        if any(n not in specs for n in names):
            raise _INVALID_SYMBOL
        return list(names)
    return None


def _symbol_json(spec: SymbolSpec) -> dict[str, Any]:
    return {
        "symbol": spec.symbol, "status": "TRADING", "baseAsset": spec.base,
        "baseAssetPrecision": 8, "quoteAsset": spec.quote, "quotePrecision": 8,
        "quoteAssetPrecision": 8, "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT",
                       "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": False, "otoAllowed": False, "opoAllowed": False,
        "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": False,
        "cancelReplaceAllowed": False, "amendAllowed": False, "pegInstructionsAllowed": False,
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "filters": spec.filters(), "permissions": [], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def exchange_info(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /api/v3/exchangeInfo`` (``symbol``/``symbols`` select)."""
    cache = state.cache.get("spot_symbols")
    if cache is None:
        cache = state.cache["spot_symbols"] = {
            s: _symbol_json(spec) for s, spec in state.engine.specs[SPOT].items()
        }
    names = _symbols_param(state, params)
    return {
        "timezone": "UTC", "serverTime": state.engine.now(),
        "rateLimits": state.limiter.exchange_info(SPOT), "exchangeFilters": [],
        "symbols": [cache[s] for s in (names or cache)],
    }


def ticker_price(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /api/v3/ticker/price``."""
    names = _symbols_param(state, params)
    feed = state.engine.feed
    out = [{"symbol": s, "price": fmt(feed.get(SPOT, s), 8)}
           for s in (names or state.engine.specs[SPOT])]
    return out[0] if "symbol" in params else out


def _order_json(order: Order, resp_type: str) -> dict[str, Any]:
    return order.view(resp_type.lower())


def new_order(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``POST /api/v3/order``."""
    order, resp_type = state.engine.place(api_key, SPOT, params)
    return _order_json(order, resp_type)


def test_order(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``POST /api/v3/order/test``: validates the parameters only."""
    parse_new_order(params, state.engine.specs[SPOT], SPOT)
    return {}


def query_order(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /api/v3/order``."""
    return state.engine.find(api_key, SPOT, params).view("query")


def _cancel_id(params: dict[str, str]) -> str:
    return params.get("newClientOrderId") or "cancel_" + secrets.token_hex(8)


def cancel_order(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``DELETE /api/v3/order``."""
    order = state.engine.cancel(api_key, SPOT, params)
    return spot_cancel_view(order, _cancel_id(params), state.engine.now())


def open_orders(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /api/v3/openOrders``."""
    symbol = params.get("symbol")
    if symbol and symbol not in state.engine.specs[SPOT]:
        raise _INVALID_SYMBOL
    return [o.view("query") for o in state.engine.open_orders(api_key, SPOT, symbol)]


def cancel_open_orders(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``DELETE /api/v3/openOrders``: cancels every open order of the symbol."""
    symbol = params.get("symbol")
    if not symbol:
        raise mandatory("symbol")
    if symbol not in state.engine.specs[SPOT]:
        raise _INVALID_SYMBOL
    orders = state.engine.cancel_all(api_key, SPOT, symbol)
    if not orders:
        raise PaperError(-2011, "Unknown order sent.")
    now = state.engine.now()
    return [spot_cancel_view(o, _cancel_id({}), now) for o in orders]


def _int_param(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 20:
        raise PaperError(-1100, f"Illegal characters found in parameter '{name}'; legal range is "
                         "'^[0-9]{1,20}$'.")
    return int(raw)


def select_orders(state: ServerState, params: dict[str, str], api_key: str, market: str
                  ) -> list[Order]:
    """``allOrders`` selection: symbol, ``orderId`` (from), ``startTime``/``endTime``, ``limit``."""
    symbol = params.get("symbol")
    if not symbol:
        raise mandatory("symbol")
    if symbol not in state.engine.specs[market]:
        raise _INVALID_SYMBOL
    from_id = _int_param(params, "orderId")
    start = _int_param(params, "startTime")
    end = _int_param(params, "endTime")
    limit = _int_param(params, "limit") or 500
    check_window(market, start, end)
    if limit > 1000:
        raise PaperError(-1100, "Illegal characters found in parameter 'limit'; legal range is "
                         "'1-1000'.")
    out = [
        o for o in state.engine.all_orders(api_key, market)
        if o.symbol == symbol and (from_id is None or o.order_id >= from_id)
        and (start is None or o.time >= start) and (end is None or o.time <= end)
    ]
    return out[:limit] if from_id is not None else out[-limit:]


def all_orders(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /api/v3/allOrders``."""
    return [o.view("query") for o in select_orders(state, params, api_key, SPOT)]


def account(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /api/v3/account``."""
    return spot_account_view(state.engine.account(api_key), state.engine.now())


def ping(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET ping``."""
    return {}


def server_time(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET time``."""
    return {"serverTime": state.engine.now()}


def empty_list(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """Endpoints the paper exchange has nothing for (margin pairs, currency configs)."""
    return []


def spot_routes() -> dict[str, dict[str, Route]]:
    """``{path: {method: Route}}`` of the spot API."""
    p = "/api/v3/"
    return {
        p + "ping": {"GET": Route(SPOT, ping)},
        p + "time": {"GET": Route(SPOT, server_time)},
        p + "exchangeInfo": {"GET": Route(SPOT, exchange_info, 20)},
        p + "ticker/price": {"GET": Route(SPOT, ticker_price, 2, 4)},
        p + "account": {"GET": Route(SPOT, account, 20, security="SIGNED")},
        p + "order": {
            "POST": Route(SPOT, new_order, 1, security="SIGNED", orders=1, places=True),
            "GET": Route(SPOT, query_order, 4, security="SIGNED"),
            "DELETE": Route(SPOT, cancel_order, 1, security="SIGNED"),
        },
        p + "order/test": {"POST": Route(SPOT, test_order, 1, security="SIGNED")},
        p + "openOrders": {
            "GET": Route(SPOT, open_orders, 6, 80, security="SIGNED"),
            "DELETE": Route(SPOT, cancel_open_orders, 1, security="SIGNED"),
        },
        p + "allOrders": {"GET": Route(SPOT, all_orders, 20, security="SIGNED")},
        "/sapi/v1/margin/allPairs": {"GET": Route(SPOT, empty_list, 1, security="KEY")},
        "/sapi/v1/margin/isolated/allPairs": {"GET": Route(SPOT, empty_list, 10, security="KEY")},
        "/sapi/v1/capital/config/getall": {"GET": Route(SPOT, empty_list, 10, security="SIGNED")},
    }

