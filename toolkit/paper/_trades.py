"""Account trade lists: ``GET /api/v3/myTrades`` (spot) and ``GET /fapi/v1/userTrades`` (USD-M).

Selection as Binance documents it (spot ``rest-api.md`` "Account trade list"; USD-M "Account
Trade List" on developers.binance.com):

* ``symbol`` is mandatory; ``limit`` defaults to 500, at most 1000; results are oldest first.
* ``orderId``: only that order's trades. ``fromId``: trades with ``id >= fromId``, the first
  ``limit`` of them. ``startTime``/``endTime``: trades in the window (at most 24 hours on spot,
  7 days on USD-M); from ``startTime`` forward, or the latest before ``endTime``.
* ``fromId`` cannot be combined with ``startTime``/``endTime`` (``-1128``). Spot does not
  combine ``orderId`` with a time window either. Without any of them the latest trades come back
  (USD-M: of the last 7 days).
* Weight: spot 20 (5 with ``orderId``); USD-M 5.
"""

from __future__ import annotations

from typing import Any

from ._app import Route, ServerState
from ._errors import PaperError, illegal_chars, mandatory
from ._market import FUTURES, SPOT
from ._tradelog import Trade

__all__ = ["check_window", "trade_routes"]

_SPOT_WINDOW = 24 * 3_600_000
_FUTURES_WINDOW = 7 * 24 * 3_600_000


def check_window(market: str, start: int | None, end: int | None) -> None:
    """Refuse a ``startTime``/``endTime`` window as Binance does (``myTrades``, ``allOrders``):
    backwards, or longer than 24 hours (spot) or 7 days (USD-M)."""
    if start is None or end is None:
        return
    if start > end:
        raise PaperError(-1023, "Start time is greater than end time.")
    if end - start > (_SPOT_WINDOW if market == SPOT else _FUTURES_WINDOW):
        raise PaperError(-1127, "More than 24 hours between startTime and endTime."
                         if market == SPOT else
                         "More than 7 days between startTime and endTime.")


_COMBINATION = PaperError(-1128, "Combination of optional parameters invalid.")


def _int(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 20:
        raise illegal_chars(name, "^[0-9]{1,20}$")
    return int(raw)


def select_trades(state: ServerState, params: dict[str, str], api_key: str, market: str
                  ) -> list[Trade]:
    """The trades a ``myTrades``/``userTrades`` request selects, oldest first."""
    symbol = params.get("symbol")
    if not symbol:
        raise mandatory("symbol")
    if symbol not in state.engine.specs[market]:
        raise PaperError(-1121, "Invalid symbol.")
    order_id = _int(params, "orderId")
    from_id = _int(params, "fromId")
    start = _int(params, "startTime")
    end = _int(params, "endTime")
    limit = _int(params, "limit")
    limit = 500 if limit is None else limit
    if not 1 <= limit <= 1000:
        raise illegal_chars("limit", "1-1000")
    timed = start is not None or end is not None
    if from_id is not None and timed:
        raise _COMBINATION
    if market == SPOT and order_id is not None and timed:
        raise _COMBINATION
    check_window(market, start, end)
    if market == FUTURES and not timed and from_id is None and order_id is None:
        start = state.engine.now() - _FUTURES_WINDOW  # USD-M: the last 7 days by default
    elif market == FUTURES and start is not None and end is None:
        end = start + _FUTURES_WINDOW
    elif market == FUTURES and end is not None and start is None:
        start = end - _FUTURES_WINDOW
    elif market == SPOT and start is not None and end is None:
        end = start + _SPOT_WINDOW
    elif market == SPOT and end is not None and start is None:
        start = end - _SPOT_WINDOW
    trades = [
        t for t in state.engine.trades.of(market, api_key, symbol)
        if (order_id is None or t.order_id == order_id)
        and (from_id is None or t.id >= from_id)
        and (start is None or t.time >= start) and (end is None or t.time <= end)
    ]
    forward = from_id is not None or bool(params.get("startTime"))
    return trades[:limit] if forward else trades[-limit:]


def my_trades(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /api/v3/myTrades``."""
    return [t.view() for t in select_trades(state, params, api_key, SPOT)]


def user_trades(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /fapi/v1/userTrades``."""
    return [t.view() for t in select_trades(state, params, api_key, FUTURES)]


def _my_trades_weight(params: dict[str, str]) -> int:
    return 5 if params.get("orderId") else 20


def trade_routes() -> dict[str, dict[str, Route]]:
    """``{path: {method: Route}}`` of the account trade lists."""
    return {
        "/api/v3/myTrades": {
            "GET": Route(SPOT, my_trades, 20, security="SIGNED", weigh=_my_trades_weight)},
        "/fapi/v1/userTrades": {"GET": Route(FUTURES, user_trades, 5, security="SIGNED")},
    }
