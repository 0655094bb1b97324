"""USD-M endpoints common clients call beyond the core order set.

* ``GET /fapi/v1/openOrder``: one open order by ``orderId``/``origClientOrderId``; a filled or
  canceled order answers ``-2013 "Order does not exist."`` (USD-M docs "Query Current Open Order");
* ``POST /fapi/v1/order/test``: the new-order checks without placing anything; answers ``{}``
  (python-binance ``futures_create_test_order`` and ccxt ``create_order(..., {"test": True})``
  read nothing from it);
* ``GET /fapi/v2/ticker/price``: the v2 symbol price ticker, same shape as v1
  (``symbol``, ``price``, ``time``).

Example::

    state.routes.update(futures_extra_routes())
"""

from __future__ import annotations

from typing import Any

from ._app import Route, ServerState
from ._errors import PaperError
from ._futures import ticker_price
from ._market import FUTURES
from ._validate import check_futures_filters, parse_new_order

__all__ = ["futures_extra_routes"]

_NOT_OPEN = PaperError(-2013, "Order does not exist.")


def open_order(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /fapi/v1/openOrder``."""
    order = state.engine.find(api_key, FUTURES, params)
    if not order.is_open:
        raise _NOT_OPEN
    return order.view("query")


def order_test(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``POST /fapi/v1/order/test``: validate like ``POST /fapi/v1/order``, place nothing."""
    eng = state.engine
    new = parse_new_order(params, eng.specs[FUTURES], FUTURES)
    symbol = new.spec.symbol
    check_futures_filters(new, eng.feed.get(FUTURES, symbol),
                          eng.open_count.get((api_key, FUTURES, symbol), 0))
    return {}


def futures_extra_routes() -> dict[str, dict[str, Route]]:
    """``{path: {method: Route}}`` of the endpoints above."""
    m, s = FUTURES, "SIGNED"
    return {
        "/fapi/v1/openOrder": {"GET": Route(m, open_order, 1, security=s)},
        "/fapi/v1/order/test": {"POST": Route(m, order_test, 0, security=s)},
        "/fapi/v2/ticker/price": {"GET": Route(m, ticker_price, 1, 2)},
    }
