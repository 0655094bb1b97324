"""USD-M account views in their current shapes: ``/fapi/v3/account``, ``/fapi/v3/positionRisk``
and ``/fapi/v2/account`` with the fields Binance added to it.

Shapes follow the recorded examples of Binance's USD-M docs ("Account Information V3",
"Position Information V3", "Account Information V2"), which the official
``binance-sdk-derivatives-trading-usds-futures`` unit tests (``test_account_api.py``,
``test_trade_api.py``) use as their expected responses:

* v2 account: ``feeBurn``, ``multiAssetsMargin``, ``tradeGroupId`` at the top; positions carry
  ``bidNotional``/``askNotional``;
* v3 account: the totals, ``assets`` and slim ``positions`` (only symbols with a position), no
  ``feeTier``/``canTrade``/... flags;
* v3 positionRisk: only symbols with a position; ``marginAsset``, ``initialMargin``,
  ``maintMargin``, ``positionInitialMargin``, ``openOrderInitialMargin``, ``adl``,
  ``bidNotional``, ``askNotional``; no ``leverage``/``marginType``/``isAutoAddMargin``/
  ``maxNotionalValue`` (those moved to ``/fapi/v1/symbolConfig``).

Example::

    state.routes.update(futures_v3_routes())
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ._accounts import futures_account_view, position_risk_view
from ._app import Route, ServerState
from ._errors import PaperError
from ._market import FUTURES, fmt

__all__ = ["futures_v3_routes"]

_ZERO = Decimal(0)


def account_v2(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /fapi/v2/account`` with ``feeBurn``, ``multiAssetsMargin``, ``tradeGroupId``."""
    eng = state.engine
    view = futures_account_view(eng.account(api_key), eng.feed, eng.specs[FUTURES], eng.now())
    out: dict[str, Any] = {"feeTier": view.pop("feeTier"), "feeBurn": False}
    out.update({k: view.pop(k) for k in ("canDeposit", "canWithdraw", "updateTime")})
    out.update({"multiAssetsMargin": False, "tradeGroupId": -1})
    out.update(view)
    out["canTrade"] = out.pop("canTrade")
    for pos in out["positions"]:
        pos["bidNotional"] = "0"
        pos["askNotional"] = "0"
    return out


def _risk_rows(state: ServerState, api_key: str, symbol: str | None) -> list[dict[str, Any]]:
    eng = state.engine
    specs = eng.specs[FUTURES]
    if symbol is not None and symbol not in specs:
        raise PaperError(-1121, "Invalid symbol.")
    acct = eng.account(api_key)
    rows = position_risk_view(acct, eng.feed, specs, symbol, eng.now())
    return [r for r in rows if Decimal(r["positionAmt"]) != 0]


def position_risk_v3(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /fapi/v3/positionRisk``: symbols with a position, in the v3 shape."""
    acct = state.engine.account(api_key)
    out = []
    for row in _risk_rows(state, api_key, params.get("symbol") or None):
        notional = abs(Decimal(row["notional"]))
        margin = notional / acct.lever(row["symbol"])
        out.append({
            "symbol": row["symbol"], "positionSide": "BOTH", "positionAmt": row["positionAmt"],
            "entryPrice": row["entryPrice"], "breakEvenPrice": row["breakEvenPrice"],
            "markPrice": row["markPrice"], "unRealizedProfit": row["unRealizedProfit"],
            "liquidationPrice": "0", "isolatedMargin": "0", "notional": row["notional"],
            "marginAsset": "USDT", "isolatedWallet": "0",
            "initialMargin": fmt(margin, 8), "maintMargin": fmt(margin / 4, 8),
            "positionInitialMargin": fmt(margin, 8), "openOrderInitialMargin": "0",
            "adl": 0, "bidNotional": "0", "askNotional": "0", "updateTime": row["updateTime"],
        })
    return out


def account_v3(state: ServerState, params: dict[str, str], api_key: str) -> Any:
    """``GET /fapi/v3/account``: totals, assets and the open positions."""
    eng = state.engine
    view = futures_account_view(eng.account(api_key), eng.feed, eng.specs[FUTURES], eng.now())
    out = {k: v for k, v in view.items() if k.startswith("total")}
    out["availableBalance"] = view["availableBalance"]
    out["maxWithdrawAmount"] = view["maxWithdrawAmount"]
    out["assets"] = [{k: v for k, v in a.items() if k != "marginAvailable"}
                     for a in view["assets"]]
    out["positions"] = [
        {"symbol": p["symbol"], "positionSide": "BOTH", "positionAmt": p["positionAmt"],
         "unrealizedProfit": p["unRealizedProfit"], "isolatedMargin": "0",
         "notional": p["notional"], "isolatedWallet": "0", "initialMargin": p["initialMargin"],
         "maintMargin": p["maintMargin"], "updateTime": p["updateTime"]}
        for p in position_risk_v3(state, {}, api_key)
    ]
    return out


def futures_v3_routes() -> dict[str, dict[str, Route]]:
    """``{path: {method: Route}}``: the v3 account views and the current v2 account."""
    m, s = FUTURES, "SIGNED"
    return {
        "/fapi/v2/account": {"GET": Route(m, account_v2, 5, security=s)},
        "/fapi/v3/account": {"GET": Route(m, account_v3, 5, security=s)},
        "/fapi/v3/positionRisk": {"GET": Route(m, position_risk_v3, 5, security=s)},
    }
