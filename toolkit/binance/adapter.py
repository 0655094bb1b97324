"""The Binance adapter: spot and USD-M futures over one
:class:`~toolkit.binance._transport.Transport`.

The same code talks to Binance, its testnets and the embedded paper exchange; only the transport's
base URL and keys differ. Spot sends one ``POST /api/v3/order`` per order, USD-M sends
``POST /fapi/v1/batchOrders`` in chunks of at most 5; either way requests are in flight
concurrently, bounded by ``concurrency``. :meth:`BinanceAdapter.place` is positional and never
raises for a per-order failure: each request comes back as one :class:`~toolkit.core._models.Order`:

* accepted: the exchange's status and fields;
* refused by the exchange: ``REJECTED`` with the exchange's ``error_code``/``error_msg``;
* provably never at the exchange (connection refused, rate-limited, transport closed, the
  ``deadline`` passed before it was sent): ``REJECTED``, ``outcome=Outcome.NOT_PLACED``,
  ``error_msg`` starting with ``"not placed:"``;
* outcome unknown (timeout, 5xx, -1006/-1007, dropped connection, a 2xx answer that is not JSON;
  for USD-M the whole chunk, or one element carrying such a code): ``PENDING``,
  ``outcome=Outcome.UNKNOWN``, ``error_msg`` starting with ``"execution status unknown:"``.
  Resolve it with :meth:`query`;
* duplicate client order id (spot -2010 "Duplicate order sent.", USD-M -4116): an order with this
  id already exists at the exchange, so it is ``PENDING`` (same prefix), never ``REJECTED``.

Which of these an exchange answer means is decided by one rule,
:func:`toolkit.binance._codes.order_outcome`, for whole answers and batch elements alike.

Example::

    adapter = BinanceAdapter(transport, Market.USDM, exchange="paper")
    orders = await adapter.place(requests)
    pending = [o for o in orders if o.status is OrderStatus.PENDING]
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import pandas as pd

from ..core._cutoff import Cutoff, Deadline, as_cutoff
from ..core._exceptions import (
    ConfigError,
    ExchangeError,
    NotSentError,
    SendWindowClosed,
    SessionClosedError,
    ToolkitError,
)
from ..core._models import Market, Order, OrderRequest, OrderStatus, Outcome
from ._account import balances_frame, positions_frame
from ._algo import algo_params, is_algo, parse_algo_order
from ._codes import SEND_WINDOW_CLOSED, OrderOutcome, order_outcome
from ._marketdata import (
    check_interval,
    depth_frame,
    depth_weight,
    kline_page_size,
    kline_weight,
    klines_frame,
    tickers_frame,
    trades_frame,
)
from ._transport import Transport
from ._wire import element_error, order_from_request, order_params, parse_order

__all__ = ["BATCH_SIZE", "BinanceAdapter"]

log = logging.getLogger("toolkit.binance.adapter")

#: Most orders ``POST /fapi/v1/batchOrders`` accepts in one request.
BATCH_SIZE = 5
#: Most order ids ``DELETE /fapi/v1/batchOrders`` accepts in one request.
CANCEL_BATCH_SIZE = 10

_NO_SUCH_ORDER = -2013
_UNKNOWN_ORDER = -2011
_ALGO_ORDER = "/fapi/v1/algoOrder"
_T = TypeVar("_T")


@dataclass(frozen=True)
class _Endpoints:
    """Paths and request weights of one market (weights from Binance's docs)."""

    exchange_info: tuple[str, int]
    prices: str
    price_key: str
    balances: tuple[str, int]
    order: str
    query_weight: int
    open_orders: str
    open_weight: tuple[int, int]  # with a symbol, without
    cancel_all: str
    all_orders: tuple[str, int]


_ENDPOINTS = {
    Market.SPOT: _Endpoints(
        exchange_info=("/api/v3/exchangeInfo", 20),
        prices="/api/v3/ticker/price",
        price_key="price",
        balances=("/api/v3/account", 20),
        order="/api/v3/order",
        query_weight=4,
        open_orders="/api/v3/openOrders",
        open_weight=(6, 80),
        cancel_all="/api/v3/openOrders",
        all_orders=("/api/v3/allOrders", 20),
    ),
    Market.USDM: _Endpoints(
        exchange_info=("/fapi/v1/exchangeInfo", 1),
        prices="/fapi/v1/premiumIndex",
        price_key="markPrice",
        balances=("/fapi/v2/balance", 5),
        order="/fapi/v1/order",
        query_weight=1,
        open_orders="/fapi/v1/openOrders",
        open_weight=(1, 40),
        cancel_all="/fapi/v1/batchOrders",
        all_orders=("/fapi/v1/allOrders", 5),
    ),
}


class BinanceAdapter:
    """Binance REST for one market (``"spot"`` or ``"usdm"``); see the module docstring."""

    def __init__(
        self,
        transport: Transport,
        market: Market | str,
        *,
        exchange: str = "binance",
        concurrency: int = 16,
    ) -> None:
        if concurrency < 1:
            raise ConfigError("concurrency must be at least 1")
        self.transport = transport
        self.market = Market(market)
        self.exchange = exchange
        self.concurrency = concurrency
        self._paths = _ENDPOINTS[self.market]
        self._slots = _Slots(concurrency)

    def __repr__(self) -> str:
        return f"BinanceAdapter({self.exchange!r}, {self.market.value!r}, {self.transport!r})"

    # -- market data and account ----------------------------------------------------------------

    async def exchange_info(self) -> dict[str, Any]:
        """The raw exchangeInfo JSON; its ``rateLimits`` also configure the transport's limiter."""
        path, weight = self._paths.exchange_info
        data = (await self.transport.request("GET", path, weight=weight)).data
        if not isinstance(data, dict):
            raise ExchangeError(None, "exchangeInfo is not an object", method="GET", path=path)
        limits = data.get("rateLimits")
        if isinstance(limits, list):
            self.transport.limiter.configure(limits)
        return data

    async def prices(self, symbols: Sequence[str] | None = None) -> dict[str, Decimal]:
        """Last price per symbol (spot ticker) or mark price (USD-M), all symbols if ``None``."""
        params: dict[str, Any] = {}
        if symbols is not None and len(symbols) == 1:
            params["symbol"] = symbols[0]
        elif symbols is not None and self.market is Market.SPOT:
            params["symbols"] = list(symbols)
        heavy = "symbol" not in params
        weights = (4, 2) if self.market is Market.SPOT else (10, 1)
        weight = weights[0] if heavy else weights[1]
        data = (await self.transport.request("GET", self._paths.prices, params, weight=weight)).data
        rows = data if isinstance(data, list) else [data]
        wanted = set(symbols) if symbols is not None else None
        return {
            str(row["symbol"]): Decimal(str(row[self._paths.price_key]))
            for row in rows
            if wanted is None or row.get("symbol") in wanted
        }

    async def balances(self) -> dict[str, Decimal]:
        """Free (spot) or available (USD-M) balance per asset."""
        path, weight = self._paths.balances
        if self.market is Market.SPOT:
            resp = await self.transport.request(
                "GET", path, {"omitZeroBalances": "true"}, signed=True, weight=weight
            )
            rows, key = resp.data.get("balances", []), "free"
        else:
            resp = await self.transport.request("GET", path, signed=True, weight=weight)
            rows, key = resp.data, "availableBalance"
        return {str(row["asset"]): Decimal(str(row[key])) for row in rows}

    async def holdings(self) -> pd.DataFrame:
        """Spot: the non-zero balances (asset, free, locked; ``/api/v3/account``). USD-M: the
        open positions (``/fapi/v2/positionRisk``: side, qty, entry and mark price, unrealized
        PnL, leverage, notional, liquidation price). Frames of :mod:`._account`."""
        if self.market is Market.SPOT:
            path, weight = self._paths.balances
            resp = await self.transport.request(
                "GET", path, {"omitZeroBalances": "true"}, signed=True, weight=weight
            )
            return balances_frame(resp.data if isinstance(resp.data, dict) else {})
        resp = await self.transport.request("GET", "/fapi/v2/positionRisk", signed=True, weight=5)
        return positions_frame(resp.data if isinstance(resp.data, list) else [])

    # -- orders -----------------------------------------------------------------------------------

    async def place(
        self,
        requests: Sequence[OrderRequest],
        *,
        deadline: Deadline = None,
        on_answer: Callable[[int], None] | None = None,
    ) -> list[Order]:
        """Place ``requests``; result ``i`` is for request ``i`` (see the module docstring).

        ``deadline`` is an instant in ``asyncio.get_running_loop().time()`` seconds (the I/O
        loop's clock), e.g. ``loop.time() + window``, or a :class:`~toolkit.core._cutoff.Cutoff`,
        which can also be stopped at any moment (an interrupt, a halt: the requests still
        waiting come back not placed with its reason); ``None`` (the default) means no limit. A
        request (spot) or chunk of 5 (USD-M) whose concurrency slot or rate-limit wait would only
        end at or after ``deadline`` is **not sent**: it comes back ``REJECTED``, not placed,
        ``error_msg`` starting with ``"not placed: the send window closed before it was sent"``.
        Requests already on the wire are never cut short: they finish normally (accepted,
        rejected, or PENDING on a timeout). ``place`` therefore returns at the latest about one
        transport timeout after the deadline, with every result known to be sent or not sent;
        pass the deadline instead of wrapping ``place`` in ``asyncio.wait_for``, which would
        leave the fate of the queued requests unknown.

        ``on_answer(n)`` is called as results come in, before ``place`` returns: ``n`` requests
        have their result (1 per spot order, a USD-M chunk's size) -- a progress bar's feed.
        """
        if not requests:
            return []
        if not self.transport.has_credentials:
            raise ConfigError("placing orders needs an API key and secret")
        deadline = as_cutoff(deadline)
        if self.market is Market.SPOT:
            if on_answer is None:
                return await asyncio.gather(*(self._place_one(r, deadline) for r in requests))
            return await asyncio.gather(
                *(_told(self._place_one(r, deadline), 1, on_answer) for r in requests)
            )
        # conditional orders go one by one to the Algo Order API (it has no batch form)
        algo = [i for i, r in enumerate(requests) if is_algo(r)]
        plain = [r for r in requests if not is_algo(r)]
        chunks = [plain[i : i + BATCH_SIZE] for i in range(0, len(plain), BATCH_SIZE)]
        results, algos = await asyncio.gather(
            asyncio.gather(*(_told(self._place_chunk(c, deadline), len(c), on_answer)
                             for c in chunks)),
            asyncio.gather(*(_told(self._place_one(requests[i], deadline), 1, on_answer)
                             for i in algo)),
        )
        placed = iter(order for chunk in results for order in chunk)
        by_position = dict(zip(algo, algos, strict=True))
        return [by_position[i] if i in by_position else next(placed)
                for i in range(len(requests))]

    async def _bounded(
        self, fn: Callable[..., Awaitable[_T]], *args: Any, deadline: Cutoff | None = None
    ) -> _T:
        """``await fn(*args)`` holding one of the ``concurrency`` slots.

        The coroutine is created only once the slot is held, so a caller cancelled while queued
        leaves no never-awaited coroutine behind. With ``deadline`` (``loop.time()`` seconds),
        raises :class:`SendWindowClosed` without calling ``fn`` if no slot is free before it.
        """
        if deadline is None:
            async with self._slots:
                return await fn(*args)
        await self._take_slot(deadline)
        try:
            return await fn(*args)
        finally:
            self._slots.release()

    async def _take_slot(self, deadline: Cutoff) -> None:
        loop = asyncio.get_running_loop()
        if not deadline.passed(loop.time()) and await self._slots.acquire_before(deadline):
            if not deadline.passed(loop.time()):
                return
            self._slots.release()  # got it too late
        why = f"{deadline.why} before it was sent" if deadline.stopped else SEND_WINDOW_CLOSED
        raise SendWindowClosed(f"{why} (no free request slot)")

    async def _place_one(self, request: OrderRequest, deadline: Cutoff | None = None) -> Order:
        algo = is_algo(request)
        send = functools.partial(
            self.transport.request,
            "POST",
            _ALGO_ORDER if algo else self._paths.order,
            algo_params(request) if algo else order_params(request),
            signed=True,
            weight=1,
            orders=1,
            kind="order",
            deadline=deadline,
        )
        try:
            resp = await self._bounded(send, deadline=deadline)
        except Exception as exc:
            return self._failed(request, exc)
        if algo:
            try:
                return parse_algo_order(resp.data, exchange=self.exchange)
            except (TypeError, ValueError, AttributeError, ArithmeticError) as exc:
                return self._unknown(request, f"unreadable answer ({exc})")
        return self._accepted(resp.data, request)

    async def _place_chunk(
        self, chunk: Sequence[OrderRequest], deadline: Cutoff | None = None
    ) -> list[Order]:
        send = functools.partial(
            self.transport.request,
            "POST",
            "/fapi/v1/batchOrders",
            {"batchOrders": [order_params(r) for r in chunk]},
            signed=True,
            weight=5,
            orders=len(chunk),
            kind="order",
            deadline=deadline,
        )
        try:
            resp = await self._bounded(send, deadline=deadline)
        except Exception as exc:
            return [self._failed(r, exc) for r in chunk]
        data = resp.data
        if not isinstance(data, list):
            data = []
        out: list[Order] = []
        for i, request in enumerate(chunk):
            if i >= len(data):
                out.append(self._unknown(request, "no result for this order in the batch answer"))
                continue
            error = element_error(data[i])
            if error is None:
                out.append(self._accepted(data[i], request))
            else:
                code, msg = error
                out.append(self._settle(request, order_outcome(resp.status, code, msg), code, msg))
        return out

    def _accepted(self, payload: Any, request: OrderRequest) -> Order:
        try:
            return parse_order(payload, market=self.market, exchange=self.exchange, request=request)
        except (TypeError, ValueError, AttributeError) as exc:
            return self._unknown(request, f"unreadable answer ({exc})")

    def _rejected(self, request: OrderRequest, code: int | None, msg: str) -> Order:
        return order_from_request(
            request,
            exchange=self.exchange,
            status=OrderStatus.REJECTED,
            error_code=code,
            error_msg=msg,
        )

    def _unknown(self, request: OrderRequest, why: str, code: int | None = None) -> Order:
        return order_from_request(
            request,
            exchange=self.exchange,
            error_code=code,
            error_msg=Outcome.UNKNOWN.says(why),
            outcome=Outcome.UNKNOWN,
        )

    def _failed(self, request: OrderRequest, exc: Exception) -> Order:
        """The Order of a request whose send raised ``exc`` (see the module docstring)."""
        if isinstance(exc, (NotSentError, SessionClosedError)):
            return self._settle(request, "not_sent", None, str(exc))
        if isinstance(exc, ExchangeError):  # the exchange answered: the one rule decides
            outcome = order_outcome(exc.status, exc.code, exc.msg)
            if outcome == "unknown":
                return self._settle(request, outcome, exc.code, f"{type(exc).__name__}: {exc}")
            why = str(exc) if outcome == "not_sent" else exc.msg
            return self._settle(request, outcome, exc.code, why)
        if not isinstance(exc, ToolkitError):
            log.exception("unexpected error placing %s", request.client_order_id)
        return self._unknown(request, f"{type(exc).__name__}: {exc}")

    def _settle(
        self, request: OrderRequest, outcome: OrderOutcome, code: int | None, msg: str
    ) -> Order:
        """The Order for an ``outcome`` of :func:`~toolkit.binance._codes.order_outcome`."""
        if outcome == "not_sent":
            return order_from_request(
                request,
                exchange=self.exchange,
                status=OrderStatus.REJECTED,
                error_code=code,
                error_msg=Outcome.NOT_PLACED.says(msg),
                outcome=Outcome.NOT_PLACED,
            )
        if outcome == "rejected":
            return self._rejected(request, code, msg)
        if outcome == "exists":
            why = (
                f"an order with client order id {request.client_order_id!r} already exists at "
                f"the exchange ([{code}] {msg}); resolve it by querying that id"
            )
            return self._unknown(request, why, code)
        return self._unknown(request, msg, code)

    async def query(
        self,
        symbol: str,
        *,
        client_order_id: str | None = None,
        order_id: str | None = None,
    ) -> Order | None:
        """The exchange's view of one order, or ``None`` if it has no such order (-2013)."""
        params = self._order_ref(symbol, client_order_id, order_id)
        try:
            resp = await self.transport.request(
                "GET", self._paths.order, params, signed=True, weight=self._paths.query_weight
            )
        except ExchangeError as exc:
            if exc.code == _NO_SUCH_ORDER:
                if self.market is Market.USDM:  # maybe a conditional order (Algo Order API)
                    return await self._query_algo(symbol, client_order_id, order_id)
                return None
            raise
        return parse_order(resp.data, market=self.market, exchange=self.exchange)

    async def _query_algo(
        self, symbol: str, client_order_id: str | None, order_id: str | None
    ) -> Order | None:
        """The algo order, or once it fired the order it placed (under the algo's client id)."""
        params = {"clientAlgoId": client_order_id} if client_order_id else {"algoId": order_id}
        try:
            resp = await self.transport.request("GET", _ALGO_ORDER, params, signed=True)
        except ExchangeError as exc:
            if exc.code == _NO_SUCH_ORDER:
                return None
            raise
        algo = parse_algo_order(resp.data, exchange=self.exchange)
        actual = resp.data.get("actualOrderId") if isinstance(resp.data, dict) else None
        if not actual:
            return algo
        try:
            placed = await self.transport.request(
                "GET", self._paths.order, {"symbol": symbol, "orderId": str(actual)},
                signed=True, weight=self._paths.query_weight,
            )
        except ExchangeError as exc:
            if exc.code == _NO_SUCH_ORDER:
                return algo
            raise
        order = parse_order(placed.data, market=self.market, exchange=self.exchange)
        # the row is the algo's: keep its client id, type and trigger; the rest is the order's
        return dataclasses.replace(order, client_order_id=algo.client_order_id, type=algo.type,
                                   stop_price=algo.stop_price)

    async def cancel(
        self,
        symbol: str,
        *,
        client_order_id: str | None = None,
        order_id: str | None = None,
    ) -> Order:
        """Cancel one order; an unknown or finished order raises ``OrderRejected`` (-2011)."""
        params = self._order_ref(symbol, client_order_id, order_id)
        try:
            resp = await self.transport.request(
                "DELETE", self._paths.order, params, signed=True, kind="cancel"
            )
        except ExchangeError as exc:
            if exc.code != _UNKNOWN_ORDER or self.market is not Market.USDM:
                raise
            return await self._cancel_algo(exc, client_order_id, order_id)
        return parse_order(resp.data, market=self.market, exchange=self.exchange)

    async def _cancel_algo(
        self, refused: ExchangeError, client_order_id: str | None, order_id: str | None
    ) -> Order:
        """Cancel a waiting conditional order; ``refused`` is raised if there is none."""
        params = {"clientAlgoId": client_order_id} if client_order_id else {"algoId": order_id}
        try:
            await self.transport.request("DELETE", _ALGO_ORDER, params, signed=True,
                                         kind="cancel")
            resp = await self.transport.request("GET", _ALGO_ORDER, params, signed=True)
        except ExchangeError as exc:
            if exc.code in (_UNKNOWN_ORDER, _NO_SUCH_ORDER):
                raise refused from None
            raise
        return parse_algo_order(resp.data, exchange=self.exchange)

    async def cancel_all(self, symbol: str) -> list[Order]:
        """Cancel every open order of ``symbol``; returns the cancelled orders."""
        if self.market is Market.SPOT:
            try:
                resp = await self.transport.request(
                    "DELETE", self._paths.cancel_all, {"symbol": symbol}, signed=True, kind="cancel"
                )
            except ExchangeError as exc:
                if exc.code == _UNKNOWN_ORDER:  # nothing was open
                    return []
                raise
            rows = resp.data if isinstance(resp.data, list) else []
            # order lists (OCO) come back as one entry holding their legs in orderReports
            flat = [leg for row in rows for leg in row.get("orderReports", [row])]
            return [self._parse(row) for row in flat if "orderId" in row]
        # USD-M's allOpenOrders answers only {"code": 200}: cancel by id to get the orders back
        opened = await self.open_orders(symbol)
        waiting = [o for o in opened if isinstance(o.raw, dict) and "algoId" in o.raw]
        cancelled_algos = [await self.cancel(symbol, client_order_id=o.client_order_id)
                           for o in waiting]
        open_ids = [o.order_id for o in opened
                    if o.order_id and not (isinstance(o.raw, dict) and "algoId" in o.raw)]
        chunks = [
            open_ids[i : i + CANCEL_BATCH_SIZE] for i in range(0, len(open_ids), CANCEL_BATCH_SIZE)
        ]
        answers = await asyncio.gather(
            *(self._bounded(self._cancel_chunk, symbol, chunk) for chunk in chunks)
        )
        return [order for answer in answers for order in answer] + cancelled_algos

    async def _cancel_chunk(self, symbol: str, order_ids: Sequence[str]) -> list[Order]:
        params = {"symbol": symbol, "orderIdList": [int(i) for i in order_ids]}
        resp = await self.transport.request(
            "DELETE", self._paths.cancel_all, params, signed=True, kind="cancel"
        )
        rows = resp.data if isinstance(resp.data, list) else []
        # an error element (-2011) means the order finished meanwhile: it was not cancelled
        return [self._parse(row) for row in rows if element_error(row) is None]

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        """The exchange's open orders (of ``symbol``, or all; the latter weighs much more)."""
        with_symbol, without = self._paths.open_weight
        params = {"symbol": symbol} if symbol else {}
        resp = await self.transport.request(
            "GET",
            self._paths.open_orders,
            params,
            signed=True,
            weight=with_symbol if symbol else without,
        )
        rows = resp.data if isinstance(resp.data, list) else []
        orders = [self._parse(row) for row in rows]
        if self.market is Market.USDM:  # and the conditional orders still waiting
            algo = await self.transport.request(
                "GET", "/fapi/v1/openAlgoOrders", params, signed=True,
                weight=with_symbol if symbol else without,
            )
            algos = algo.data if isinstance(algo.data, list) else []
            orders += [parse_algo_order(row, exchange=self.exchange) for row in algos]
        return orders

    async def all_orders(
        self, symbol: str, *, start: int | None = None, end: int | None = None, limit: int = 1000
    ) -> list[Order]:
        """The account's orders of ``symbol`` (any state) created from ``start`` to ``end`` (ms;
        at most 24 h apart on spot, 7 days on USD-M), one page of at most ``limit``; USD-M's
        conditional orders waiting in the Algo Order service are not among them."""
        path, weight = self._paths.all_orders
        params: dict[str, Any] = {"symbol": symbol, "limit": limit}
        if start is not None:
            params["startTime"] = start
        if end is not None:
            params["endTime"] = end
        resp = await self.transport.request("GET", path, params, signed=True, weight=weight)
        rows = resp.data if isinstance(resp.data, list) else []
        return [self._parse(row) for row in rows]

    def _parse(self, payload: Any) -> Order:
        return parse_order(payload, market=self.market, exchange=self.exchange)

    @staticmethod
    def _order_ref(
        symbol: str, client_order_id: str | None, order_id: str | None
    ) -> dict[str, Any]:
        if not client_order_id and not order_id:
            raise ValueError("give client_order_id or order_id")
        params: dict[str, Any] = {"symbol": symbol}
        if order_id:
            params["orderId"] = str(order_id)
        if client_order_id:
            params["origClientOrderId"] = client_order_id
        return params

    # -- research data: fills, candles, depth, tickers (shapes in _marketdata) -------------------

    async def my_trades(
        self,
        symbol: str,
        *,
        order_id: str | None = None,
        from_id: str | int | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int = 1000,
    ) -> pd.DataFrame:
        """This account's fills of ``symbol`` as the fills frame (``myTrades``/``userTrades``).

        With ``from_id`` every trade from that id on is fetched, page by page; otherwise one page:
        the trades of ``order_id``, of the ``start``/``end`` window (ms; at most 24 h on spot,
        7 days on USD-M), or the latest ``limit``.
        """
        spot = self.market is Market.SPOT
        path, weight = ("/api/v3/myTrades", 20) if spot else ("/fapi/v1/userTrades", 5)
        params: dict[str, Any] = {"symbol": symbol, "limit": limit}
        if order_id is not None:
            params["orderId"] = str(order_id)
            weight = 5  # both markets weigh 5 with orderId
        if start is not None:
            params["startTime"] = start
        if end is not None:
            params["endTime"] = end
        rows: list[Any] = []
        next_id = None if from_id is None else int(from_id)
        while True:
            if next_id is not None:
                params["fromId"] = next_id
            resp = await self.transport.request("GET", path, params, signed=True, weight=weight)
            page = resp.data if isinstance(resp.data, list) else []
            rows += page
            if next_id is None or len(page) < limit:
                break
            next_id = int(page[-1]["id"]) + 1
        return trades_frame(rows, exchange=self.exchange, market=self.market.value)

    async def klines(
        self,
        symbol: str,
        interval: str,
        *,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> pd.DataFrame:
        """Candles of ``symbol`` as the candle frame, paged at the exchange's page size.

        With ``start`` (ms) every candle opening from ``start`` to ``end`` (default: now) is
        fetched, ``limit`` caps the total; without it, the latest ``limit`` (one page) come back.
        ``progress(rows_so_far)`` is called after each page. An unknown interval raises
        :class:`~toolkit.InputError` listing the valid ones.
        """
        market = self.market.value
        step = check_interval(interval, market)
        page_size = kline_page_size(market)
        path = "/api/v3/klines" if self.market is Market.SPOT else "/fapi/v1/klines"
        want = limit if limit is not None else (None if start is not None else 500)
        rows: list[Any] = []
        cursor = start
        while True:
            size = page_size if want is None else min(page_size, want - len(rows))
            params: dict[str, Any] = {"symbol": symbol, "interval": interval, "limit": size}
            if cursor is not None:
                params["startTime"] = cursor
            if end is not None:
                params["endTime"] = end
            resp = await self.transport.request(
                "GET", path, params, weight=kline_weight(market, size))
            page = resp.data if isinstance(resp.data, list) else []
            rows += page
            if progress is not None:
                progress(len(rows))
            if cursor is None or len(page) < size or (want is not None and len(rows) >= want):
                break
            # A full page that reaches the end (or now: the candle in progress) is the last one;
            # asking again would only cost a request that answers [].
            if int(page[-1][6]) >= (end if end is not None else time.time() * 1000):
                break
            cursor = int(page[-1][0]) + (step if interval != "1M" else 1)
        return klines_frame(rows, exchange=self.exchange, market=market, symbol=symbol,
                            interval=interval)

    async def depth(self, symbol: str, *, limit: int = 100) -> pd.DataFrame:
        """The order book of ``symbol`` (``limit`` levels a side) as the depth frame."""
        market = self.market.value
        path = "/api/v3/depth" if self.market is Market.SPOT else "/fapi/v1/depth"
        resp = await self.transport.request(
            "GET", path, {"symbol": symbol, "limit": limit}, weight=depth_weight(market, limit))
        return depth_frame(resp.data, exchange=self.exchange, market=market, symbol=symbol)

    async def ticker_24h(self, symbols: Sequence[str] | None = None) -> pd.DataFrame:
        """24-hour rolling statistics of ``symbols`` (all when ``None``) as the ticker frame."""
        spot = self.market is Market.SPOT
        path = "/api/v3/ticker/24hr" if spot else "/fapi/v1/ticker/24hr"
        params: dict[str, Any] = {}
        if symbols is not None and len(symbols) == 1:
            params["symbol"] = symbols[0]
            weight = 2 if spot else 1
        elif symbols is not None and spot:
            params["symbols"] = list(symbols)
            weight = 2 if len(symbols) <= 20 else 40 if len(symbols) <= 100 else 80
        else:
            weight = 80 if spot else 40
        resp = await self.transport.request("GET", path, params, weight=weight)
        frame = tickers_frame(resp.data, exchange=self.exchange, market=self.market.value)
        if symbols is not None and not spot and len(symbols) > 1:
            frame = frame[frame["symbol"].isin(list(symbols))].reset_index(drop=True)
        return frame


async def _told(aw: Awaitable[_T], n: int, on_answer: Callable[[int], None] | None) -> _T:
    """``await aw``, then ``on_answer(n)`` (nothing with no listener)."""
    result = await aw
    if on_answer is not None:
        on_answer(n)
    return result


class _Slots:
    """The adapter's ``concurrency`` request slots: a FIFO counting semaphore whose waits may end
    at a deadline (``loop.time()`` seconds).

    Not ``asyncio.wait_for(semaphore.acquire(), timeout)``: that costs a task, a waiter future
    and a timer per request -- 12 us on a free slot, about 8 us more when queued, as much as
    signing the request. Here a free slot is taken at once, and a queued request costs one
    future (plus one timer when it has a deadline).
    """

    def __init__(self, slots: int) -> None:
        self._free = slots
        # Requests waiting, oldest first. Invariant: ``_free > 0`` only while this is empty.
        self._waiters: collections.deque[asyncio.Future[bool]] = collections.deque()

    def locked(self) -> bool:
        """True when a request would have to wait for a slot."""
        return self._free == 0

    async def acquire(self) -> bool:
        """Wait for a slot and take it (as ``asyncio.Semaphore.acquire``)."""
        await self.acquire_before(None)
        return True

    async def acquire_before(self, deadline: Cutoff | None) -> bool:
        """Take a slot; ``False`` (nothing taken) if none is free before ``deadline`` passes
        (its instant, or its stop)."""
        if self._free > 0:
            self._free -= 1
            return True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        timer = None
        forget: Callable[[], None] | None = None
        if deadline is not None:
            if deadline.at is not None:
                timer = loop.call_at(deadline.at, _expire, waiter)
            forget = deadline.on_stop(lambda: _expire(waiter))
        try:
            return await waiter  # True: release() handed a slot over; False: the timer fired
        except asyncio.CancelledError:
            # A slot handed over just before the caller was cancelled goes to the next one.
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self.release()
            raise
        finally:
            if timer is not None:
                timer.cancel()
            if forget is not None:
                forget()

    def release(self) -> None:
        """Give a slot back: to the oldest request still waiting, else to the free count."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # not timed out, not cancelled
                waiter.set_result(True)
                return
        self._free += 1

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)
