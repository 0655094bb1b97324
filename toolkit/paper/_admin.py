"""Admin and inspection endpoints under ``/paper/`` (no signing; loopback clients only).

=======  =========================  =====================================================
method   path                       body / query -> answer
=======  =========================  =====================================================
GET      /paper/health              -> {"ok": true, "url": ...}
GET      /paper/prices              -> {market: {symbol: price}}
POST     /paper/price               {"symbol", "price", "market"?} -> {"symbol", "prices"}
POST     /paper/balance             {"api_key", "asset", "amount", "market"?="spot"}
POST     /paper/liquidity           {"symbol", "qty" (null: unlimited), "market"?}
GET      /paper/faults              -> the fault configuration
POST     /paper/faults              FaultConfig fields -> the new configuration
GET      /paper/counters            -> counters()
POST     /paper/reset               clears counters and rate-limit usage
POST     /paper/hold                {"after": n=0} -> the gate: n more order requests pass,
                                    later ones are held (not processed) until released
POST     /paper/release             {} -> the gate: held order requests go on
POST     /paper/keys                {} -> a new pair; {"api_key", "api_secret"} -> registers it
GET      /paper/orders              ?api_key=&market= -> every order the exchange holds
GET      /paper/trades              ?api_key=&market= -> every fill (trade views + market, apiKey,
                                    clientOrderId)
GET      /paper/holdings            ?api_key=&market= -> the key's balances (spot) or wallet and
                                    open positions (USD-M)
POST     /paper/userstream/drop     {} -> {"dropped": n}: closes every user-data WebSocket
                                    (listen-key streams and WebSocket API connections)
=======  =========================  =====================================================
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from aiohttp import web

from ._app import json_response
from ._engine import Engine
from ._faults import FaultConfig, FaultInjector

__all__ = ["AdminTarget", "handle_admin"]

_LOOPBACK = ("127.", "::1", "::ffff:127.")


class _AdminError(Exception):
    def __init__(self, status: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.msg = msg


class AdminTarget(Protocol):
    """What the admin endpoints read and change of a paper exchange (``PaperExchange``)."""

    url: str
    engine: Engine
    faults: FaultInjector

    def counters(self) -> dict[str, Any]: ...
    def reset_counters(self) -> None: ...
    def orders(
        self, api_key: str | None = None, market: str | None = None
    ) -> list[dict[str, Any]]: ...
    def trades(
        self, api_key: str | None = None, market: str | None = None
    ) -> list[dict[str, Any]]: ...
    def set_price(self, symbol: str, price: Decimal, market: str | None = None) -> None: ...
    def set_balance(self, api_key: str, asset: str, amount: Decimal, market: str = ...) -> None: ...
    def set_liquidity(
        self, symbol: str, qty: Decimal | None, market: str | None = None
    ) -> None: ...
    def configure_faults(self, config: FaultConfig) -> None: ...
    async def drop_user_streams(self) -> int: ...
    def add_key(self, api_key: str, api_secret: str) -> None: ...
    def create_key(self) -> tuple[str, str]: ...
    def holdings(self, api_key: str, market: str = ...) -> dict[str, Any]: ...
    def hold_orders(self, after: int = 0) -> None: ...
    def release_orders(self) -> None: ...


def _decimal(value: Any, name: str) -> Decimal:
    try:
        out = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise _AdminError(400, f"{name} must be a decimal number") from None
    if not out.is_finite():
        raise _AdminError(400, f"{name} must be finite")
    return out


def _market(value: Any, default: str | None) -> str | None:
    if value is None:
        return default
    if value not in ("spot", "usdm"):
        raise _AdminError(400, "market must be 'spot' or 'usdm'")
    return str(value)


async def _body(request: web.BaseRequest) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise _AdminError(400, "body must be JSON") from None
    if not isinstance(data, dict):
        raise _AdminError(400, "body must be a JSON object")
    return data


async def handle_admin(ex: AdminTarget, request: web.BaseRequest) -> web.Response:
    """Answer one ``/paper/...`` request."""
    remote = request.remote or ""
    if not remote.startswith(_LOOPBACK):
        return json_response({"error": "admin endpoints answer loopback clients only"}, 403)
    try:
        body = await _route(ex, request)
    except _AdminError as exc:
        return json_response({"error": exc.msg}, exc.status)
    except (ValueError, TypeError, KeyError) as exc:
        return json_response({"error": str(exc)}, 400)
    return json_response(body)


async def _route(ex: AdminTarget, request: web.BaseRequest) -> Any:
    action = (request.method, request.path)
    query = request.query
    if action == ("GET", "/paper/health"):
        return {"ok": True, "url": ex.url}
    if action == ("GET", "/paper/prices"):
        return {m: {s: str(p) for s, p in prices.items()}
                for m, prices in ex.engine.feed.prices.items()}
    if action == ("GET", "/paper/faults"):
        return ex.faults.config.to_dict()
    if action == ("GET", "/paper/counters"):
        return ex.counters()
    if action == ("GET", "/paper/orders"):
        return ex.orders(api_key=query.get("api_key"), market=_market(query.get("market"), None))
    if action == ("GET", "/paper/trades"):
        return ex.trades(api_key=query.get("api_key"), market=_market(query.get("market"), None))
    if action == ("GET", "/paper/holdings"):
        key = query.get("api_key")
        if not key:
            raise _AdminError(400, "api_key is required")
        return ex.holdings(key, market=_market(query.get("market"), "spot") or "spot")
    if request.method != "POST":
        raise _AdminError(404 if not _known(request.path) else 405,
                          f"no admin endpoint {request.method} {request.path}")
    data = await _body(request)
    if request.path == "/paper/price":
        market = _market(data.get("market"), None)
        ex.set_price(str(data["symbol"]), _decimal(data["price"], "price"), market=market)
        return {"symbol": data["symbol"], "prices": {
            m: str(p[data["symbol"]]) for m, p in ex.engine.feed.prices.items()}}
    if request.path == "/paper/balance":
        market = _market(data.get("market"), "spot") or "spot"
        ex.set_balance(str(data["api_key"]), str(data["asset"]),
                       _decimal(data["amount"], "amount"), market=market)
        return {"ok": True}
    if request.path == "/paper/liquidity":
        qty = data.get("qty")
        ex.set_liquidity(str(data["symbol"]), None if qty is None else _decimal(qty, "qty"),
                         market=_market(data.get("market"), None))
        return {"ok": True}
    if request.path == "/paper/faults":
        config = FaultConfig.from_dict(data)
        ex.configure_faults(config)
        return config.to_dict()
    if request.path == "/paper/userstream/drop":  # tests: close every user-data WebSocket
        return {"dropped": await ex.drop_user_streams()}
    if request.path == "/paper/hold":
        after = data.get("after", 0)
        if isinstance(after, bool) or not isinstance(after, int):
            raise _AdminError(400, "after must be an integer")
        ex.hold_orders(after)
        return ex.counters()["gate"]
    if request.path == "/paper/release":
        ex.release_orders()
        return ex.counters()["gate"]
    if request.path == "/paper/reset":
        ex.reset_counters()
        return {"ok": True}
    if request.path == "/paper/keys":
        if data.get("api_key") or data.get("api_secret"):
            ex.add_key(str(data["api_key"]), str(data["api_secret"]))
            return {"api_key": data["api_key"]}
        key, secret = ex.create_key()
        return {"api_key": key, "api_secret": secret}
    raise _AdminError(404, f"no admin endpoint POST {request.path}")


def _known(path: str) -> bool:
    return path in {"/paper/price", "/paper/balance", "/paper/liquidity", "/paper/faults",
                    "/paper/reset", "/paper/keys", "/paper/health", "/paper/prices",
                    "/paper/counters", "/paper/orders", "/paper/trades", "/paper/userstream/drop",
                    "/paper/hold", "/paper/release", "/paper/holdings"}
