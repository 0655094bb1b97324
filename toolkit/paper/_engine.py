"""The matching engine: order books of resting orders against the price feed, balances, fills.

There is no counterparty book: a market order (or a marketable limit) fills at the current price,
a resting limit fills at its own price once the price crosses it, a stop triggers when the price
crosses its stop price. An optional per-symbol liquidity cap (base quantity per price tick) makes
partial fills happen; by default liquidity is unlimited so tests stay simple.

Every order state change is published to subscribers (``subscribe``) as
``callback(api_key, market, order_json)``; the user-data stream builds on this.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal
from typing import Any

from ._accounts import Account
from ._errors import PaperError, illegal_chars
from ._market import FUTURES, MARKETS, SPOT, PriceFeed, SymbolSpec
from ._orders import Order
from ._tradelog import Trade, TradeLog
from ._validate import (
    SPOT_STOP_TYPES,
    NewOrder,
    check_futures_filters,
    check_spot_filters,
    parse_new_order,
)

__all__ = ["Engine", "OrderCallback", "PriceListener", "TickHook", "TradeListener"]

OrderCallback = Callable[[str, str, dict[str, Any]], None]
#: ``listener(market, symbol, price, time_ms)`` after a price change; ``trade_listener(trade)``.
PriceListener = Callable[[str, str, Decimal, int], None]
TradeListener = Callable[[Trade], None]
#: Called after every price tick with the (market, symbol) pairs that moved (None: all).
TickHook = Callable[[list[tuple[str, str]] | None], None]

_log = logging.getLogger(__name__)
_ZERO = Decimal(0)
_INSUFFICIENT = PaperError(-2010, "Account has insufficient balance for requested action.")
_MARGIN = PaperError(-2019, "Margin is insufficient.")
_REDUCE_ONLY = PaperError(-2022, "ReduceOnly Order is rejected.")
_DUP_SPOT = PaperError(-2010, "Duplicate order sent.")
_DUP_FUT = PaperError(-4116, "ClientOrderId is duplicated.")
_WOULD_TAKE = PaperError(-2010, "Order would immediately match and take.")
_WOULD_TRIGGER = PaperError(-2010, "Order would trigger immediately.")
_GTX = PaperError(
    -5022,
    "Due to the order could not be executed as maker, the Post Only order will be rejected. "
    "The order will not be recorded in the order history",
)
_FOK = PaperError(
    -5021,
    "Due to the order could not be filled immediately, the FOK order has been rejected. "
    "The order will not be recorded in the order history",
)
_MARKET_LIKE = frozenset({"MARKET", "STOP_LOSS", "TAKE_PROFIT"})


def _crosses(side: str, limit: Decimal, price: Decimal) -> bool:
    return limit >= price if side == "BUY" else limit <= price


def _triggered(order_type: str, side: str, stop: Decimal, price: Decimal) -> bool:
    if order_type.startswith("STOP_LOSS"):
        return price >= stop if side == "BUY" else price <= stop
    return price <= stop if side == "BUY" else price >= stop


class Engine:
    """Orders, accounts and matching for both markets (single-threaded: the server's loop)."""

    def __init__(
        self,
        specs: dict[str, dict[str, SymbolSpec]],
        feed: PriceFeed,
        *,
        spot_balances: dict[str, Decimal],
        futures_balances: dict[str, Decimal],
        fee_rate: Decimal = _ZERO,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.specs = specs
        self.clock = clock  # seconds since the epoch; tests inject a fixed clock
        self.feed = feed
        self.spot_balances = spot_balances
        self.futures_balances = futures_balances
        self.fee_rate = fee_rate
        self.skew_ms = 0.0
        self.accounts: dict[str, Account] = {}
        self.orders: dict[str, dict[int, Order]] = {m: {} for m in MARKETS}
        self.by_client_id: dict[tuple[str, str, str, str], Order] = {}
        self.book: dict[tuple[str, str], dict[int, Order]] = {
            (m, s): {} for m in MARKETS for s in specs[m]
        }
        self.open_count: dict[tuple[str, str, str], int] = {}
        self.accepted_by_client_id: dict[str, int] = {}
        self.liquidity: dict[tuple[str, str], Decimal] = {}
        self._liquidity_left: dict[tuple[str, str], Decimal] = {}
        self._ids = {m: itertools.count(10_000_001) for m in MARKETS}
        self._trade_ids = itertools.count(1_000_001)
        self._subscribers: list[OrderCallback] = []
        #: Every fill as a trade (``myTrades`` / ``userTrades``).
        self.trades = TradeLog()
        self.price_listeners: list[PriceListener] = []
        self.trade_listeners: list[TradeListener] = []
        self._tick_hooks: list[TickHook] = []

    # ----------------------------------------------------------------- clock, events, accounts
    def now(self) -> int:
        """Server time in ms (including any injected clock skew)."""
        return int(self.clock() * 1000 + self.skew_ms)

    def subscribe(self, callback: OrderCallback) -> Callable[[], None]:
        """Call ``callback(api_key, market, order_json)`` on every order state change.

        Returns a function that unsubscribes. Exceptions raised by a callback are logged and
        swallowed: a subscriber can never break matching.
        """
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def _emit(self, order: Order) -> None:
        if not self._subscribers:
            return
        view = order.view("query")
        for callback in list(self._subscribers):
            try:
                callback(order.api_key, order.market, dict(view))
            except Exception:  # a subscriber must not break matching
                _log.exception("order subscriber failed")

    def account(self, api_key: str) -> Account:
        """The account of ``api_key``, funded with the starting balances on first use."""
        acct = self.accounts.get(api_key)
        if acct is None:
            acct = self.accounts[api_key] = Account(
                self.spot_balances, self.futures_balances, self.now()
            )
        return acct

    def set_balance(self, api_key: str, asset: str, amount: Decimal, market: str = SPOT) -> None:
        """Set the free spot balance (or the USD-M wallet balance) of ``asset``."""
        acct = self.account(api_key)
        if market == SPOT:
            acct.balance(asset)[0] = amount
        elif market == FUTURES:
            acct.fut_assets[asset] = amount
        else:
            raise ValueError(f"unknown market {market!r}")
        acct.update_time = self.now()

    # ----------------------------------------------------------------- price and liquidity
    def set_liquidity(self, market: str, symbol: str, qty: Decimal | None) -> None:
        """Cap the base quantity that can fill per price tick (``None``: unlimited)."""
        key = (market, symbol)
        if qty is None:
            self.liquidity.pop(key, None)
            self._liquidity_left.pop(key, None)
        else:
            self.liquidity[key] = qty
            self._liquidity_left[key] = qty

    def set_price(self, market: str, symbol: str, price: Decimal) -> Decimal:
        """Set a price and fill/trigger what it crosses; returns the stored (snapped) price."""
        stored = self.feed.set(market, symbol, price)
        self.on_tick([(market, symbol)])
        return stored

    def on_tick(self, moved: list[tuple[str, str]] | None = None) -> None:
        """Refill liquidity and re-match the books of ``moved`` (default: every book)."""
        keys = list(self.book) if moved is None else moved
        if self.price_listeners:
            now = self.now()
            for market, symbol in keys:
                price = self.feed.get(market, symbol)
                for listener in self.price_listeners:
                    listener(market, symbol, price, now)
        for key in keys:
            qty = self.liquidity.get(key)
            if qty is not None:
                self._liquidity_left[key] = qty
        for key in keys:
            if self.book[key]:
                self._rematch(*key)
        for hook in list(self._tick_hooks):  # e.g. the algo service's triggers
            hook(moved)

    def add_tick_hook(self, hook: TickHook) -> None:
        """Call ``hook(moved)`` after every tick, once resting orders are matched."""
        self._tick_hooks.append(hook)

    def _rematch(self, market: str, symbol: str) -> None:
        price = self.feed.get(market, symbol)
        for order in list(self.book[(market, symbol)].values()):
            if not order.is_open:
                continue
            if not order.is_working:
                if not _triggered(order.type, order.side, order.stop_price, price):
                    continue
                order.is_working = True
                order.working_time = order.update_time = self.now()
                self._emit(order)
            if order.type in _MARKET_LIKE:
                self._take(order, price)
                if order.is_open:
                    self._close(order, "EXPIRED")
            elif _crosses(order.side, order.price, price):
                self._take(order, order.price, maker=True)  # a resting order: the maker side

    # ----------------------------------------------------------------- placing
    def place(
        self, api_key: str, market: str, params: dict[str, str], *,
        trigger: tuple[str, Decimal] | None = None,
    ) -> tuple[Order, str]:
        """Validate, accept and match a new order; returns it and its response type.

        ``trigger``: ``(origType, stopPrice)`` of the conditional order that placed this one.
        """
        new = parse_new_order(params, self.specs[market], market)
        acct = self.account(api_key)
        spec = new.spec
        symbol = spec.symbol
        cid_key = (api_key, market, symbol, new.client_order_id)
        previous = self.by_client_id.get(cid_key)
        if previous is not None and previous.is_open:
            raise _DUP_SPOT if market == SPOT else _DUP_FUT
        price = self.feed.get(market, symbol)
        count_key = (api_key, market, symbol)
        if market == SPOT:
            self._check_spot(new, api_key, acct, price, self.open_count.get(count_key, 0))
        else:
            check_futures_filters(new, price, self.open_count.get(count_key, 0))
            self._check_futures(new, acct, price)
        now = self.now()
        order = Order(
            api_key=api_key, spec=spec, order_id=next(self._ids[market]),
            client_order_id=new.client_order_id, side=new.side, type=new.type, tif=new.tif,
            price=new.price, qty=new.qty, stop_price=new.stop_price, quote_qty=new.quote_qty,
            reduce_only=new.reduce_only, now=now,
        )
        if market == SPOT and new.type in SPOT_STOP_TYPES:
            order.is_working = False
        if trigger is not None:
            order.orig_type, order.stop_price = trigger
        self._lock(order, acct, price)
        self.orders[market][order.order_id] = order
        self.by_client_id[cid_key] = order
        self.book[(market, symbol)][order.order_id] = order
        self.open_count[count_key] = self.open_count.get(count_key, 0) + 1
        cid = new.client_order_id
        self.accepted_by_client_id[cid] = self.accepted_by_client_id.get(cid, 0) + 1
        self._emit(order)
        if order.is_working:
            self._match_new(order, price)
        return order, new.resp_type

    def _check_spot(
        self, new: NewOrder, api_key: str, acct: Account, price: Decimal, open_count: int
    ) -> None:
        spec = new.spec
        algo = 0
        if new.type in SPOT_STOP_TYPES:
            algo = sum(
                1 for o in self.book[(SPOT, spec.symbol)].values()
                if o.api_key == api_key and not o.is_working
            )
        if new.type == "MARKET" and new.quote_qty:
            new.qty = (new.quote_qty / price / spec.step).to_integral_value(ROUND_DOWN) * spec.step
        check_spot_filters(new, price, open_count, algo)
        if new.type == "MARKET" and not new.qty:
            raise PaperError(-1013, "Filter failure: LOT_SIZE")
        if new.type in SPOT_STOP_TYPES and _triggered(new.type, new.side, new.stop_price, price):
            raise _WOULD_TRIGGER
        if new.type == "LIMIT_MAKER" and _crosses(new.side, new.price, price):
            raise _WOULD_TAKE
        if new.side == "BUY":
            need = new.qty * (new.price or new.stop_price or price)
            if new.type == "MARKET":
                need = new.qty * price
            if acct.balance(spec.quote)[0] < need:
                raise _INSUFFICIENT
        elif acct.balance(spec.base)[0] < new.qty:
            raise _INSUFFICIENT

    def _check_futures(self, new: NewOrder, acct: Account, mark: Decimal) -> None:
        amt = acct.positions.get(new.spec.symbol, (_ZERO, _ZERO))[0]
        signed = new.qty if new.side == "BUY" else -new.qty
        if new.reduce_only and (amt == 0 or (amt > 0) == (signed > 0)):
            raise _REDUCE_ONLY
        if new.type == "LIMIT":
            crosses = _crosses(new.side, new.price, mark)
            if new.tif == "GTX" and crosses:
                raise _GTX
            if new.tif == "FOK" and (not crosses or not self._can_fill(new, FUTURES)):
                raise _FOK
        if not new.reduce_only:
            opposite = abs(amt) if amt and (amt > 0) != (signed > 0) else _ZERO
            margin = max(new.qty - opposite, _ZERO) * (new.price or mark)
            if margin / acct.lever(new.spec.symbol) > acct.available(self.feed):
                raise _MARGIN

    def _can_fill(self, new: NewOrder, market: str) -> bool:
        left = self._liquidity_left.get((market, new.spec.symbol))
        return left is None or left >= new.qty

    def _lock(self, order: Order, acct: Account, price: Decimal) -> None:
        """Reserve what a resting order may spend (spot asset, USD-M order margin)."""
        if order.market == SPOT:
            if order.type == "MARKET":
                return
            if order.side == "BUY":
                order.lock_asset = order.spec.quote
                order.lock_price = order.price or order.stop_price
                order.locked = order.qty * order.lock_price
            else:
                order.lock_asset = order.spec.base
                order.lock_price = Decimal(1)
                order.locked = order.qty
            entry = acct.balance(order.lock_asset)
            entry[0] -= order.locked
            entry[1] += order.locked
        elif order.type == "LIMIT" and not order.reduce_only:
            order.lock_price = order.price / acct.lever(order.symbol)
            order.locked = order.qty * order.lock_price
            acct.order_margin += order.locked

    def _release(self, order: Order) -> None:
        if not order.locked:
            return
        acct = self.account(order.api_key)
        if order.market == SPOT:
            entry = acct.balance(order.lock_asset)
            entry[0] += order.locked
            entry[1] -= order.locked
        else:
            acct.order_margin -= order.locked
        order.locked = _ZERO

    def _match_new(self, order: Order, price: Decimal) -> None:
        if order.type in _MARKET_LIKE:
            self._take(order, price)
        elif _crosses(order.side, order.price, price):
            if order.tif == "FOK" and not self._can_fill_order(order):
                self._close(order, "EXPIRED")
                return
            self._take(order, price)
        if order.is_open and (order.type in _MARKET_LIKE or order.tif in ("IOC", "FOK")):
            self._close(order, "EXPIRED")

    def _can_fill_order(self, order: Order) -> bool:
        left = self._liquidity_left.get((order.market, order.symbol))
        return left is None or left >= order.remaining

    # ----------------------------------------------------------------- fills
    def _take(self, order: Order, price: Decimal, *, maker: bool = False) -> None:
        """Fill as much of ``order`` as liquidity (and, spot, the buyer's funds) allow."""
        key = (order.market, order.symbol)
        qty = order.remaining
        left = self._liquidity_left.get(key)
        if left is not None:
            qty = min(qty, left)
        acct = self.account(order.api_key)
        if order.market == SPOT and order.side == "BUY":
            funds = acct.balance(order.spec.quote)[0] + order.locked
            if qty * price > funds:
                step = order.spec.step
                qty = (funds / price / step).to_integral_value(ROUND_DOWN) * step
        elif order.market == FUTURES and order.reduce_only:
            qty = min(qty, abs(acct.position(order.symbol)[0]))
        if qty <= 0:
            if order.market == FUTURES and order.reduce_only:
                self._close(order, "EXPIRED")
            return
        if left is not None:
            self._liquidity_left[key] = left - qty
        self._fill(order, acct, qty, price, maker)

    def _fill(
        self, order: Order, acct: Account, qty: Decimal, price: Decimal, maker: bool = False
    ) -> None:
        spec = order.spec
        quote_amount = qty * price
        order.executed += qty
        order.cum_quote += quote_amount
        done = order.executed >= order.qty
        release = order.locked if done else min(order.locked, qty * order.lock_price)
        order.locked -= release
        trade_id = next(self._trade_ids)
        pnl = _ZERO
        if order.market == SPOT:
            commission_asset = spec.base if order.side == "BUY" else spec.quote
            if order.side == "BUY":
                quote = acct.balance(spec.quote)
                quote[0] += release - quote_amount
                quote[1] -= release
                commission = qty * self.fee_rate
                acct.balance(spec.base)[0] += qty - commission
            else:
                base = acct.balance(spec.base)
                base[0] += release - qty
                base[1] -= release
                commission = quote_amount * self.fee_rate
                acct.balance(spec.quote)[0] += quote_amount - commission
            order.fills.append({
                "price": format(price, "f"), "qty": format(qty, "f"),
                "commission": format(commission, "f"), "commissionAsset": commission_asset,
                "tradeId": trade_id,
            })
        else:
            acct.order_margin -= release
            pnl = self._move_position(
                acct, order.symbol, qty if order.side == "BUY" else -qty, price)
            commission, commission_asset = quote_amount * self.fee_rate, spec.quote
        now = self.now()
        self._record_trade(Trade(
            id=trade_id, market=order.market, api_key=order.api_key, spec=spec,
            order_id=order.order_id, client_order_id=order.client_order_id, side=order.side,
            price=price, qty=qty, commission=commission, commission_asset=commission_asset,
            maker=maker, realized_pnl=pnl, time=now,
        ))
        order.update_time = now
        acct.update_time = now
        if done:
            order.status = "FILLED"
            self._unbook(order)
        else:
            order.status = "PARTIALLY_FILLED"
        self._emit(order)

    def _record_trade(self, trade: Trade) -> None:
        self.trades.add(trade)
        for listener in self.trade_listeners:
            try:
                listener(trade)
            except Exception:  # a listener must not break matching
                _log.exception("trade listener failed")

    def _move_position(
        self, acct: Account, symbol: str, signed: Decimal, price: Decimal
    ) -> Decimal:
        """Apply a fill to a USD-M position; returns the realized PnL."""
        pos = acct.position(symbol)
        pnl = _ZERO
        amt, entry = pos
        new_amt = amt + signed
        if amt == 0 or (amt > 0) == (signed > 0):
            pos[1] = (abs(amt) * entry + abs(signed) * price) / abs(new_amt)
        else:
            closing = min(abs(signed), abs(amt))
            pnl = closing * (price - entry) * (1 if amt > 0 else -1)
            acct.fut_assets["USDT"] = acct.fut_assets.get("USDT", _ZERO) + pnl
            if new_amt == 0:
                pos[1] = _ZERO
            elif (new_amt > 0) != (amt > 0):
                pos[1] = price
        pos[0] = new_amt
        fee = abs(signed) * price * self.fee_rate
        if fee:
            acct.fut_assets["USDT"] = acct.fut_assets.get("USDT", _ZERO) - fee
        return pnl

    def _unbook(self, order: Order) -> None:
        if self.book[(order.market, order.symbol)].pop(order.order_id, None) is not None:
            key = (order.api_key, order.market, order.symbol)
            self.open_count[key] -= 1

    def _close(self, order: Order, status: str) -> None:
        """Cancel or expire an open order and release what it locked."""
        order.status = status
        order.update_time = self.now()
        self._release(order)
        self._unbook(order)
        self._emit(order)

    # ----------------------------------------------------------------- queries and cancels
    def find(
        self, api_key: str, market: str, params: dict[str, str], *, cancel: bool = False
    ) -> Order:
        """The order named by ``orderId``/``origClientOrderId``.

        Unknown (or, for a cancel, no longer open): ``-2013``, or ``-2011`` when ``cancel``.
        """
        symbol = params.get("symbol")
        if not symbol:
            raise PaperError(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, "
                             "or malformed.")
        if symbol not in self.specs[market]:
            raise PaperError(-1121, "Invalid symbol.")
        raw_id = params.get("orderId")
        cid = params.get("origClientOrderId")
        if not raw_id and not cid:
            raise PaperError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, "
                             "but both were empty/null!")
        missing = (
            PaperError(-2011, "Unknown order sent.") if cancel
            else PaperError(-2013, "Order does not exist.")
        )
        order: Order | None
        if raw_id:
            if not raw_id.isdigit() or len(raw_id) > 20:
                raise illegal_chars("orderId", "^[0-9]{1,20}$")
            order = self.orders[market].get(int(raw_id))
            if order is not None and cid and order.client_order_id != cid:
                raise PaperError(-2039 if market == SPOT else -2013,
                                 "Client order ID is not correct for this order ID."
                                 if market == SPOT else "Order does not exist.")
        else:
            order = self.by_client_id.get((api_key, market, symbol, cid or ""))
        if order is None or order.api_key != api_key or order.symbol != symbol:
            raise missing
        if cancel and not order.is_open:
            raise missing
        return order

    def cancel(self, api_key: str, market: str, params: dict[str, str]) -> Order:
        """Cancel one open order."""
        order = self.find(api_key, market, params, cancel=True)
        self._close(order, "CANCELED")
        return order

    def cancel_all(self, api_key: str, market: str, symbol: str) -> list[Order]:
        """Cancel every open order of ``api_key`` on ``symbol``."""
        orders = [o for o in self.book[(market, symbol)].values() if o.api_key == api_key]
        for order in orders:
            self._close(order, "CANCELED")
        return orders

    def open_orders(self, api_key: str, market: str, symbol: str | None = None) -> list[Order]:
        """Open orders of ``api_key``, oldest first."""
        symbols = [symbol] if symbol else list(self.specs[market])
        out = [
            o for s in symbols for o in self.book[(market, s)].values() if o.api_key == api_key
        ]
        out.sort(key=lambda o: o.order_id)
        return out

    def all_orders(self, api_key: str | None, market: str | None) -> list[Order]:
        """Every order (optionally of one key / market), oldest first."""
        markets = [market] if market else list(MARKETS)
        return [
            o for m in markets for o in self.orders[m].values()
            if api_key is None or o.api_key == api_key
        ]
