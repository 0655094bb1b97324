"""USD-M conditional orders: Binance's Algo Order API on the paper exchange.

Since 2025-12-02 Binance takes ``STOP``, ``STOP_MARKET``, ``TAKE_PROFIT`` and
``TAKE_PROFIT_MARKET`` only through the Algo Order API (USD-M CHANGELOG 2025-11-06);
``/fapi/v1/order`` and ``/fapi/v1/batchOrders`` refuse them with ``-4120``. Endpoints:

* ``POST /fapi/v1/algoOrder`` (``algoType=CONDITIONAL``, ``type``, ``triggerPrice``,
  ``clientAlgoId``, ``quantity`` or ``closePosition=true``, ``price`` for the limit kinds);
* ``GET``/``DELETE /fapi/v1/algoOrder`` (``algoId`` or ``clientAlgoId``);
* ``GET /fapi/v1/openAlgoOrders``, ``GET /fapi/v1/allAlgoOrders``,
  ``DELETE /fapi/v1/algoOpenOrders``.

An algo order waits (``algoStatus`` ``NEW``) until the paper exchange's own price crosses its
trigger: ``STOP*`` BUY when price >= trigger, SELL when price <= trigger; ``TAKE_PROFIT*`` the
other way round. It then places a ``MARKET`` (``*_MARKET``) or ``LIMIT`` order on the matching
engine whose ``clientOrderId`` is the ``clientAlgoId`` and whose ``origType`` is the algo's type;
the algo becomes ``TRIGGERED`` with ``actualOrderId`` set, and ``FINISHED`` once that order is
done. A trigger that would fire at once is refused (``-2021``), as Binance does. Margin is
checked only when the order is placed, as on Binance; a refused trigger ends ``REJECTED``.
``TRAILING_STOP_MARKET`` is not simulated (refused with ``-1116``).

Response shapes: the POST answer is the one recorded in ccxt 4.5.90 ``binance.parse_order``'s
comment; queries use the example of Binance's "Query Algo Order" page (adds ``actualOrderId``,
``actualPrice`` and the tp/sl fields); each state change also goes out as an ``ALGO_UPDATE``
user-data event (Binance docs "Event: Algo Order Update"); cancel answers ``{algoId,
clientAlgoId, code: "200", msg: "success"}`` (binance-sdk-derivatives-trading-usds-futures unit
test ``cancel_algo_order``).

Example::

    algos = AlgoOrders(engine)
    state.routes.update(algos.routes())   # engine ticks drive the triggers
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ._app import Route, ServerState
from ._engine import Engine
from ._errors import PaperError, bad_param, mandatory
from ._market import FUTURES, SymbolSpec, fmt
from ._orders import Order
from ._validate import parse_new_order

__all__ = ["ALGO_OPEN", "AlgoOrder", "AlgoOrders"]

#: ``notify(api_key, market, event)``: where ``ALGO_UPDATE`` events go (the user-data streams).
Notify = Callable[[str, str, dict[str, Any]], None]

#: Algo statuses in which the order still waits for (or is placing) its trigger.
ALGO_OPEN = frozenset({"NEW", "TRIGGERING"})
_TYPES = frozenset({"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"})
_LIMIT_KINDS = frozenset({"STOP", "TAKE_PROFIT"})
_ZERO = Decimal(0)
_INVALID_TYPE = PaperError(-1116, "Invalid orderType.")
_WOULD_TRIGGER = PaperError(-2021, "Order would immediately trigger.")
_DUPLICATE = PaperError(-4116, "ClientOrderId is duplicated.")
_NOT_FOUND = PaperError(-2013, "Order does not exist.")
_UNKNOWN = PaperError(-2011, "Unknown order sent.")
_TICK = PaperError(-4014, "Price not increased by tick size.")


@dataclass
class AlgoOrder:
    """One conditional order of the Algo Service (mutable; :class:`AlgoOrders` owns it)."""

    algo_id: int
    client_algo_id: str
    api_key: str
    spec: SymbolSpec
    order_type: str
    side: str
    tif: str
    qty: Decimal
    price: Decimal
    trigger_price: Decimal
    working_type: str
    close_position: bool
    reduce_only: bool
    price_protect: bool
    create_time: int
    update_time: int
    status: str = "NEW"
    trigger_time: int = 0
    actual_order_id: int | None = None
    actual_price: Decimal = field(default=_ZERO)
    actual_qty: Decimal = field(default=_ZERO)

    @property
    def is_open(self) -> bool:
        """Still waiting for its trigger."""
        return self.status in ALGO_OPEN

    def fires(self, price: Decimal) -> bool:
        """Whether ``price`` reaches the trigger."""
        stop = self.order_type.startswith("STOP")
        up = (self.side == "BUY") == stop
        return price >= self.trigger_price if up else price <= self.trigger_price

    def event(self, now: int) -> dict[str, Any]:
        """The USD-M ``ALGO_UPDATE`` user-data event (Binance docs "Event: Algo Order Update")."""
        pp, qp = self.spec.price_places, self.spec.qty_places
        return {
            "e": "ALGO_UPDATE", "T": self.update_time, "E": now,
            "o": {
                "caid": self.client_algo_id, "aid": self.algo_id, "at": "CONDITIONAL",
                "o": self.order_type, "s": self.spec.symbol, "S": self.side, "ps": "BOTH",
                "f": self.tif, "q": fmt(self.qty, qp), "X": self.status,
                "ai": "" if self.actual_order_id is None else str(self.actual_order_id),
                "ap": fmt(self.actual_price, pp + qp), "aq": fmt(self.actual_qty, qp),
                "act": "0" if self.actual_order_id is None else (
                    "LIMIT" if self.order_type in _LIMIT_KINDS else "MARKET"),
                "tp": fmt(self.trigger_price, pp), "p": fmt(self.price, pp),
                "V": "EXPIRE_MAKER", "wt": self.working_type, "pm": "NONE",
                "cp": self.close_position, "pP": self.price_protect, "R": self.reduce_only,
                "tt": self.trigger_time, "gtd": 0,
            },
        }

    def view(self, *, query: bool = True) -> dict[str, Any]:
        """The algo order as Binance shows it (``query``: the GET shape, else the POST one)."""
        pp, qp = self.spec.price_places, self.spec.qty_places
        out: dict[str, Any] = {
            "algoId": self.algo_id,
            "clientAlgoId": self.client_algo_id,
            "algoType": "CONDITIONAL",
            "orderType": self.order_type,
            "symbol": self.spec.symbol,
            "side": self.side,
            "positionSide": "BOTH",
            "timeInForce": self.tif,
            "quantity": fmt(self.qty, qp),
            "algoStatus": self.status,
        }
        if query:
            out["actualOrderId"] = "" if self.actual_order_id is None else str(
                self.actual_order_id)
            out["actualPrice"] = fmt(self.actual_price, pp + qp)
        out.update({
            "triggerPrice": fmt(self.trigger_price, pp),
            "price": fmt(self.price, pp),
            "icebergQuantity": None,
        })
        if query:
            zero = fmt(_ZERO, pp)
            out.update({"tpTriggerPrice": zero, "tpPrice": zero, "slTriggerPrice": zero,
                        "slPrice": zero, "tpOrderType": ""})
        out.update({
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "workingType": self.working_type,
            "priceMatch": "NONE",
            "closePosition": self.close_position,
            "priceProtect": self.price_protect,
            "reduceOnly": self.reduce_only,
            "createTime": self.create_time,
            "updateTime": self.update_time,
            "triggerTime": self.trigger_time,
            "goodTillDate": 0,
        })
        return out


def _flag(params: dict[str, str], name: str) -> bool:
    raw = params.get(name, "false").lower()
    if raw not in ("true", "false"):
        raise bad_param(name)
    return raw == "true"


class AlgoOrders:
    """The Algo Service of one paper exchange, triggered by the engine's price ticks."""

    def __init__(self, engine: Engine, notify: Notify | None = None) -> None:
        self.engine = engine
        self._notify = notify
        self.orders: dict[int, AlgoOrder] = {}
        self._ids = itertools.count(1_000_000_001)
        self._by_actual: dict[int, AlgoOrder] = {}
        engine.add_tick_hook(self.on_tick)
        engine.subscribe(self._on_order)

    def _changed(self, algo: AlgoOrder) -> None:
        if self._notify is not None:
            self._notify(algo.api_key, FUTURES, algo.event(self.engine.now()))

    # ----------------------------------------------------------------- lifecycle of one algo
    def place(self, api_key: str, params: dict[str, str]) -> AlgoOrder:
        """Validate and accept ``POST /fapi/v1/algoOrder``."""
        algo_type = params.get("algoType")
        if not algo_type:
            raise mandatory("algoType")
        if algo_type != "CONDITIONAL":
            raise bad_param("algoType")
        otype = params.get("type", "")
        if not otype:
            raise mandatory("type")
        if otype not in _TYPES:
            raise _INVALID_TYPE
        close = _flag(params, "closePosition")
        reduce_only = _flag(params, "reduceOnly")
        cid = params.get("clientAlgoId") or ("paper_" + secrets.token_hex(8))
        # The order the trigger would place checks symbol, side, quantity, price, tif and id.
        probe = {"symbol": params.get("symbol", ""), "side": params.get("side", ""),
                 "type": "LIMIT" if otype in _LIMIT_KINDS else "MARKET",
                 "newClientOrderId": cid}
        if otype in _LIMIT_KINDS:
            probe["timeInForce"] = params.get("timeInForce") or "GTC"
            probe["price"] = params.get("price", "")
        probe["quantity"] = params.get("quantity", "")
        if close:
            if params.get("quantity"):
                raise PaperError(-1106, "Parameter 'quantity' sent when not required.")
            spec = self.engine.specs[FUTURES].get(params.get("symbol", ""))
            probe["quantity"] = format(spec.min_qty, "f") if spec is not None else "1"
        new = parse_new_order(probe, self.engine.specs[FUTURES], FUTURES)
        raw_trigger = params.get("triggerPrice")
        if not raw_trigger:
            raise mandatory("triggerPrice")
        try:
            trigger = Decimal(raw_trigger)
        except ArithmeticError:
            raise bad_param("triggerPrice") from None
        if not trigger.is_finite() or trigger <= 0:
            raise bad_param("triggerPrice")
        if trigger % new.spec.tick:
            raise _TICK
        if any(a.is_open and a.api_key == api_key and a.client_algo_id == cid
               for a in self.orders.values()):
            raise _DUPLICATE
        open_count = sum(1 for a in self.orders.values()
                         if a.is_open and a.api_key == api_key and a.spec is new.spec)
        if open_count >= new.spec.max_algo_orders:
            raise PaperError(-4045, "Reach max stop order limit.")
        now = self.engine.now()
        algo = AlgoOrder(
            algo_id=next(self._ids), client_algo_id=cid, api_key=api_key, spec=new.spec,
            order_type=otype, side=new.side, tif=new.tif if otype in _LIMIT_KINDS else "GTC",
            qty=_ZERO if close else new.qty, price=new.price, trigger_price=trigger,
            working_type=params.get("workingType") or "CONTRACT_PRICE", close_position=close,
            reduce_only=reduce_only or close, price_protect=_flag(params, "priceProtect"),
            create_time=now, update_time=now,
        )
        if algo.fires(self.engine.feed.get(FUTURES, new.spec.symbol)):
            raise _WOULD_TRIGGER
        self.orders[algo.algo_id] = algo
        self._changed(algo)
        return algo

    def find(self, api_key: str, params: dict[str, str], *, cancel: bool = False) -> AlgoOrder:
        """The algo named by ``algoId`` or ``clientAlgoId`` (``-2013``; ``-2011`` to cancel)."""
        raw_id, cid = params.get("algoId"), params.get("clientAlgoId")
        if not raw_id and not cid:
            raise PaperError(-1102, "Param 'algoId' or 'clientAlgoId' must be sent, but both "
                             "were empty/null!")
        missing = _UNKNOWN if cancel else _NOT_FOUND
        found: AlgoOrder | None = None
        if raw_id:
            if not raw_id.isdigit():
                raise bad_param("algoId")
            found = self.orders.get(int(raw_id))
        else:
            mine = [a for a in self.orders.values()
                    if a.api_key == api_key and a.client_algo_id == cid]
            found = max(mine, key=lambda a: a.algo_id) if mine else None
        if found is None or found.api_key != api_key or (cancel and not found.is_open):
            raise missing
        return found

    def cancel(self, algo: AlgoOrder) -> None:
        """Cancel a waiting algo order."""
        algo.status = "CANCELED"
        algo.update_time = self.engine.now()
        self._changed(algo)

    def open_orders(self, api_key: str, symbol: str | None = None) -> list[AlgoOrder]:
        """The account's waiting algo orders, oldest first."""
        return [a for a in self.orders.values() if a.api_key == api_key and a.is_open
                and (symbol is None or a.spec.symbol == symbol)]

    # ----------------------------------------------------------------- triggers
    def on_tick(self, moved: list[tuple[str, str]] | None) -> None:
        """The engine's tick hook: fire every waiting algo whose trigger the price reached."""
        symbols = None if moved is None else {s for m, s in moved if m == FUTURES}
        for algo in list(self.orders.values()):
            if not algo.is_open or (symbols is not None and algo.spec.symbol not in symbols):
                continue
            if algo.fires(self.engine.feed.get(FUTURES, algo.spec.symbol)):
                self._trigger(algo)

    def _trigger(self, algo: AlgoOrder) -> None:
        engine = self.engine
        algo.status = "TRIGGERING"
        algo.trigger_time = algo.update_time = engine.now()
        qty = algo.qty
        if algo.close_position:
            qty = abs(engine.account(algo.api_key).position(algo.spec.symbol)[0])
            if not qty:
                algo.status = "EXPIRED"
                self._changed(algo)
                return
        params = {"symbol": algo.spec.symbol, "side": algo.side,
                  "quantity": format(qty, "f"), "newClientOrderId": algo.client_algo_id,
                  "newOrderRespType": "RESULT"}
        if algo.reduce_only:
            params["reduceOnly"] = "true"
        if algo.order_type in _LIMIT_KINDS:
            params.update(type="LIMIT", price=format(algo.price, "f"), timeInForce=algo.tif)
        else:
            params["type"] = "MARKET"
        try:
            order, _ = engine.place(algo.api_key, FUTURES, params,
                                    trigger=(algo.order_type, algo.trigger_price))
        except PaperError:
            algo.status = "REJECTED"
            self._changed(algo)
            return
        algo.actual_order_id = order.order_id
        algo.status = "TRIGGERED" if order.is_open else "FINISHED"
        self._record_fill(algo, order)
        if order.is_open:
            self._by_actual[order.order_id] = algo
        self._changed(algo)

    def _on_order(self, api_key: str, market: str, order: dict[str, Any]) -> None:
        if market != FUTURES:
            return
        algo = self._by_actual.get(int(order.get("orderId", 0)))
        if algo is None:
            return
        actual = self.engine.orders[FUTURES].get(algo.actual_order_id or 0)
        if actual is None:
            return
        self._record_fill(algo, actual)
        if not actual.is_open:
            algo.status = "FINISHED"
            algo.update_time = self.engine.now()
            self._by_actual.pop(actual.order_id, None)
            self._changed(algo)

    @staticmethod
    def _record_fill(algo: AlgoOrder, order: Order) -> None:
        algo.actual_qty = order.executed
        if order.executed:
            algo.actual_price = order.cum_quote / order.executed

    # ----------------------------------------------------------------- HTTP
    def routes(self) -> dict[str, dict[str, Route]]:
        """``{path: {method: Route}}`` of the Algo Order API."""
        m, p, s = FUTURES, "/fapi/v1/", "SIGNED"
        return {
            p + "algoOrder": {
                "POST": Route(m, self._post, 0, security=s, orders=1, per_minute=1, places=True),
                "GET": Route(m, self._get, 1, security=s),
                "DELETE": Route(m, self._delete, 1, security=s),
            },
            p + "openAlgoOrders": {"GET": Route(m, self._open, 1, 40, security=s)},
            p + "allAlgoOrders": {"GET": Route(m, self._all, 5, security=s)},
            p + "algoOpenOrders": {"DELETE": Route(m, self._cancel_all, 1, security=s)},
        }

    def _symbol(self, params: dict[str, str], required: bool) -> str | None:
        symbol = params.get("symbol")
        if not symbol:
            if required:
                raise mandatory("symbol")
            return None
        if symbol not in self.engine.specs[FUTURES]:
            raise PaperError(-1121, "Invalid symbol.")
        return symbol

    def _post(self, state: ServerState, params: dict[str, str], api_key: str) -> Any:
        return self.place(api_key, params).view(query=False)

    def _get(self, state: ServerState, params: dict[str, str], api_key: str) -> Any:
        return self.find(api_key, params).view()

    def _delete(self, state: ServerState, params: dict[str, str], api_key: str) -> Any:
        algo = self.find(api_key, params, cancel=True)
        self.cancel(algo)
        return {"algoId": algo.algo_id, "clientAlgoId": algo.client_algo_id, "code": "200",
                "msg": "success"}

    def _open(self, state: ServerState, params: dict[str, str], api_key: str) -> Any:
        return [a.view() for a in self.open_orders(api_key, self._symbol(params, False))]

    def _all(self, state: ServerState, params: dict[str, str], api_key: str) -> Any:
        symbol = self._symbol(params, True)
        from_id = int(params["algoId"]) if params.get("algoId", "").isdigit() else 0
        start = int(params["startTime"]) if params.get("startTime", "").isdigit() else None
        end = int(params["endTime"]) if params.get("endTime", "").isdigit() else None
        raw_limit = params.get("limit", "500")
        limit = int(raw_limit) if raw_limit.isdigit() else 500
        if not 1 <= limit <= 1000:
            raise bad_param("limit")
        out = [a for a in self.orders.values()
               if a.api_key == api_key and a.spec.symbol == symbol and a.algo_id >= from_id
               and (start is None or a.create_time >= start)
               and (end is None or a.create_time <= end)]
        return [a.view() for a in (out[:limit] if from_id else out[-limit:])]

    def _cancel_all(self, state: ServerState, params: dict[str, str], api_key: str) -> Any:
        symbol = self._symbol(params, True)
        for algo in self.open_orders(api_key, symbol):
            self.cancel(algo)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

