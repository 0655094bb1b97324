"""The one rule that resolves ``PENDING`` orders (outcome unknown) by client order id.

An order is ``PENDING`` between its write-ahead and a definite answer, and stays so after a
timeout, a 5xx or a dropped connection. It is resolved by asking the exchange for its client
order id:

* **found** -> its real state (the exchange's status, fills, order id), ``placed=True``;
* **not found** -> it may still arrive, until no request for it can be accepted any more.
  The session never sends an order after its ``not_after`` and Binance refuses a request whose
  ``timestamp`` is older than ``recvWindow``, so after ``min(not_after, sent_before) + recv_window
  + slack`` (slack >= 3 s) an absent order can never appear: only after **two** "absent" answers
  at least :data:`CONFIRM_INTERVAL` apart, both after that deadline, it becomes ``REJECTED``
  with ``placed=False`` and ``error_msg`` "not placed: ...", and a re-run with the same key may
  send it again (same client order id, so the exchange would still refuse a duplicate);
* **archived** (spot ``-2026``: canceled or expired without fills long ago) -> found: it was
  placed; its state is the last one we know (CANCELED if we only knew PENDING);
* **forgotten?** USD-M drops canceled/expired orders without fills after 3 days, so an absent
  answer for a USD-M order created more than :data:`USDM_MEMORY` ago proves nothing: it stays
  ``PENDING`` with an ``error_msg`` saying so (check the account's trades by hand);
* **exchange unreachable** (or any other error) -> it stays ``PENDING``; the next reconcile (on
  connect, or the next run of the key) tries again.

Many unknown orders of one symbol (:data:`BULK_FROM` or more, e.g. a batch whose connections
dropped) are first looked for in one listing of the symbol's orders of their time window
(``allOrders``: one request instead of one per order); the ones it shows are **found**. A listing
never proves an absence (a page cut short, a USD-M conditional order, a clock far off): the
orders it lacks are asked for one by one as above, except that one a complete listing lacked
before its deadline is not asked again before the deadline (the answer could only be "absent,
may still arrive").

Updates of one order can arrive out of order (a batch answer saying NEW after the user-data
stream said FILLED). Order states only move forward, so :func:`is_behind` tells the session's
finalize step to keep the known state instead of regressing it.

Example::

    resolved = await resolve_pending(adapter, pending, recv_window=5.0)
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import operator
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

import pandas as pd

from ..binance._codes import ORDER_ARCHIVED
from ..core._exceptions import ExchangeError, ToolkitError
from ..core._models import Order, OrderStatus, Outcome
from ..store._research import to_millis

__all__ = [
    "BULK_FROM",
    "BULK_MARGIN",
    "BULK_SPAN",
    "CONFIRM_INTERVAL",
    "DEFAULT_SLACK",
    "STATE_FIELDS",
    "STATE_OF",
    "USDM_MEMORY",
    "Querier",
    "archived",
    "changes",
    "deadline",
    "fill_bookkeeping",
    "is_behind",
    "merge_found",
    "not_placed",
    "resolve_pending",
]

_log = logging.getLogger("toolkit")

#: Seconds added to ``recv_window`` for clock error between us and the exchange (at least 3).
DEFAULT_SLACK = 3.0
#: Seconds between the two "absent" answers (both after the deadline) that prove "not placed".
CONFIRM_INTERVAL = 1.0
#: USD-M forgets canceled/expired orders without fills after this long: older absent orders
#: are never marked not placed.
USDM_MEMORY = pd.Timedelta(days=3)
#: From this many unknown orders of one symbol on, one listing of the symbol's orders (spot
#: ``allOrders`` weighs 20 = 5 order queries of 4; USD-M 5 = 5 queries of 1) finds the placed
#: ones before any order is asked for alone.
BULK_FROM = 6
#: The longest window one listing covers (Binance: 24 h on spot, 7 days on USD-M), less margin.
BULK_SPAN = pd.Timedelta(hours=23)
#: Added before the first and after the last order's bound of a listing's window (clock error).
BULK_MARGIN = pd.Timedelta(minutes=1)
#: The orders one listing asks for (Binance's largest page).
_PAGE = 1000


class Querier(Protocol):
    """What reconciliation needs of an adapter (an ``all_orders`` like
    :meth:`~toolkit.core._adapter.ExchangeAdapter.all_orders` too, if it has one: without it,
    as with an adapter written before it, every unknown order is asked for alone)."""

    async def query(
        self, symbol: str, *, client_order_id: str | None = None, order_id: str | None = None
    ) -> Order | None: ...


def _now() -> pd.Timestamp:
    now: pd.Timestamp = pd.Timestamp.now(tz="UTC")
    return now


def deadline(
    order: Order,
    *,
    recv_window: float,
    slack: float = DEFAULT_SLACK,
    sent_before: pd.Timestamp | None = None,
) -> pd.Timestamp:
    """The instant after which ``order``, if not at the exchange, can never get there."""
    candidates = [t for t in (order.not_after, sent_before) if t is not None]
    if not candidates:  # no bound known: count from the last time we touched it
        candidates = [order.updated_at or order.created_at or _now()]
    limit: pd.Timestamp = min(candidates) + pd.Timedelta(seconds=recv_window + slack)
    return limit


def merge_found(known: Order, found: Order, *, outcome: Outcome = Outcome.PLACED) -> Order:
    """The exchange's state of ``found`` with our bookkeeping of ``known`` (batch, key...)."""
    return found.evolve(
        client_order_id=known.client_order_id,
        exchange=known.exchange,
        market=known.market,
        side=found.side or known.side,
        type=found.type or known.type,
        time_in_force=found.time_in_force or known.time_in_force,
        price=found.price if found.price is not None else known.price,
        stop_price=found.stop_price if found.stop_price is not None else known.stop_price,
        qty=found.qty if found.qty is not None else known.qty,
        reduce_only=found.reduce_only if found.reduce_only is not None else known.reduce_only,
        batch_id=known.batch_id,
        key=known.key,
        created_at=known.created_at or found.created_at,
        updated_at=found.updated_at or _now(),
        position=known.position,
        not_after=known.not_after,
        algo_id=found.algo_id or known.algo_id,
        outcome=outcome,
    )


def not_placed(order: Order, reason: str | None = None) -> Order:
    """``order`` proven never to have reached the exchange."""
    why = reason or order.error_msg or "outcome unknown"
    return dataclasses.replace(
        order,
        status=OrderStatus.REJECTED,
        outcome=Outcome.NOT_PLACED,
        error_msg=Outcome.NOT_PLACED.says(f"{why} (absent at the exchange after its send window)"),
        updated_at=_now(),
    )


def archived(order: Order) -> Order:
    """``order`` answered with spot's -2026: placed, then canceled/expired without fills."""
    status = OrderStatus.CANCELED if order.status is OrderStatus.PENDING else order.status
    return dataclasses.replace(
        order,
        status=status,
        outcome=Outcome.PLACED,
        filled_qty=order.filled_qty or 0.0,
        error_code=ORDER_ARCHIVED,
        error_msg="archived by the exchange: canceled or expired without fills",
        updated_at=_now(),
    )


def _limit(
    order: Order, recv_window: float, slack: float, sent_before: pd.Timestamp | None
) -> pd.Timestamp:
    """:func:`deadline` as reconciliation uses it (a slack of at least :data:`DEFAULT_SLACK`)."""
    return deadline(
        order, recv_window=recv_window, slack=max(slack, DEFAULT_SLACK), sent_before=sent_before
    )


def _maybe_forgotten(order: Order) -> bool:
    """True if the exchange may have forgotten ``order`` (USD-M, created over 3 days ago)."""
    if str(order.market) != "usdm" or order.created_at is None:
        return False
    return bool(_now() - order.created_at >= USDM_MEMORY)


async def _resolve_one(
    adapter: Querier,
    order: Order,
    *,
    recv_window: float,
    slack: float,
    wait: bool,
    sent_before: pd.Timestamp | None,
    listed_absent: bool = False,
    failed: list[tuple[str, Exception]] | None = None,
) -> Order:
    """One unknown order by the rule of the module docstring; an error asking about it leaves
    it as it is (appended to ``failed``, reported once by :func:`resolve_pending`)."""
    limit = _limit(order, recv_window, slack, sent_before)
    first_absent: pd.Timestamp | None = None  # the first "absent" answer after the deadline
    while True:
        asked = _now()
        past = asked > limit  # decided *before* asking, so "absent" means absent after it
        try:
            if listed_absent and not past:  # a complete listing lacked it before its deadline:
                found = None  # what asking it alone would say now, without the request
            else:
                found = await adapter.query(order.symbol, client_order_id=order.client_order_id)
            listed_absent = False
        except ToolkitError as exc:
            if isinstance(exc, ExchangeError) and exc.code == ORDER_ARCHIVED:
                return archived(order)
            if failed is not None:
                failed.append((order.client_order_id, exc))
            return order
        if found is not None:
            return merge_found(order, found)
        if past:
            if _maybe_forgotten(order):
                return dataclasses.replace(
                    order,
                    error_msg="outcome unknown: absent at the exchange, but USD-M forgets"
                    " canceled/expired orders without fills after 3 days; check the account",
                )
            if first_absent is None:
                first_absent = asked
            elif (asked - first_absent).total_seconds() >= CONFIRM_INTERVAL:
                return not_placed(order)
            wait_s = CONFIRM_INTERVAL - (_now() - first_absent).total_seconds()
            await asyncio.sleep(max(0.0, wait_s) + 0.01)
            continue
        if not wait:
            return order
        # Absent but it may still arrive: ask again only once that is impossible. Polling in
        # between would spend rate-limit weight (hundreds of queries for a re-run of a large
        # batch) to learn early what the first query after the deadline tells anyway.
        remaining = (limit - _now()).total_seconds()
        await asyncio.sleep(max(0.0, remaining) + 0.01)


async def resolve_pending(
    adapter: Querier,
    orders: Sequence[Order],
    *,
    recv_window: float,
    slack: float = DEFAULT_SLACK,
    wait: bool = True,
    sent_before: pd.Timestamp | None = None,
) -> list[Order]:
    """Resolve the ``PENDING`` orders among ``orders`` (others are returned as they are).

    Positional: result ``i`` is for ``orders[i]``. With ``wait=False`` an order that is absent
    but could still arrive stays ``PENDING`` instead of being waited for.
    """
    results = list(orders)
    todo = [i for i, o in enumerate(orders) if o.status is OrderStatus.PENDING and o.placed]
    looked = await _listed(
        adapter, {i: orders[i] for i in todo}, lambda o: _limit(o, recv_window, slack, sent_before)
    )
    for i, found in looked.items():
        if found is not None:
            results[i] = merge_found(orders[i], found)
    todo = [i for i in todo if looked.get(i) is None]
    failed: list[tuple[str, Exception]] = []
    try:
        resolved = await asyncio.gather(
            *(
                _resolve_one(
                    adapter,
                    orders[i],
                    recv_window=recv_window,
                    slack=slack,
                    wait=wait,
                    sent_before=sent_before,
                    listed_absent=i in looked,
                    failed=failed,
                )
                for i in todo
            )
        )
    finally:
        _warn(failed)
    for i, order in zip(todo, resolved, strict=True):
        results[i] = order
    return results


def _warn(failed: Sequence[tuple[str, Exception]]) -> None:
    """One warning per distinct error (an outage is one line, not one per order)."""
    by_error: dict[str, list[str]] = {}
    for cid, exc in failed:
        by_error.setdefault(str(exc), []).append(cid)
    for error, ids in by_error.items():
        more = f" (and {len(ids) - 1} more)" if len(ids) > 1 else ""
        _log.warning(
            "toolkit: cannot reconcile %s%s yet, left PENDING for the next reconcile: %s",
            ids[0], more, error,
        )  # fmt: skip


async def _listed(
    adapter: Querier, orders: Mapping[int, Order], limit_of: Callable[[Order], pd.Timestamp]
) -> dict[int, Order | None]:
    """What listings of the unknown ``orders`` (``{position: order}``) tell, by position:
    the exchange's order (**found**), or ``None``: a complete listing (shorter than its page)
    asked before the order's deadline (``limit_of``) lacks it, which is what asking for it
    alone would say then ("absent, may still arrive"). Positions left out: not listed.

    A symbol is listed when :data:`BULK_FROM` or more of its orders were written within
    :data:`BULK_SPAN`. A listing never proves an absence (a page cut short, a USD-M conditional
    order, a clock far off): that stays the per-order rule of :func:`_resolve_one`.
    """
    lister: _Lister | None = getattr(adapter, "all_orders", None)
    if lister is None:
        return {}
    runs: dict[str, list[list[tuple[int, Order]]]] = {}
    for pos, order in sorted(orders.items(), key=lambda p: (p[1].symbol, _born(p[1]))):
        symbol_runs = runs.setdefault(order.symbol, [])
        if not symbol_runs or _born(order) - _born(symbol_runs[-1][0][1]) > BULK_SPAN:
            symbol_runs.append([])
        symbol_runs[-1].append((pos, order))
    told: dict[int, Order | None] = {}
    for part in await asyncio.gather(
        *(
            _list_run(lister, symbol, run, limit_of)
            for symbol, symbol_runs in runs.items()
            for run in symbol_runs
            if len(run) >= BULK_FROM
        )
    ):
        told.update(part)
    return told


class _Lister(Protocol):
    """An adapter's ``all_orders`` (see :class:`Querier`)."""

    def __call__(
        self, symbol: str, *, start: int | None = ..., end: int | None = ..., limit: int = ...
    ) -> Awaitable[list[Order]]: ...


async def _list_run(
    lister: _Lister,
    symbol: str,
    run: Sequence[tuple[int, Order]],
    limit_of: Callable[[Order], pd.Timestamp],
) -> dict[int, Order | None]:
    """One listing for ``run`` (orders of ``symbol`` written within :data:`BULK_SPAN`)."""
    start = _born(run[0][1]) - BULK_MARGIN
    last = max(limit_of(o) for _, o in run)  # nothing of the run reaches the exchange after it
    end = min(last + BULK_MARGIN, start + BULK_SPAN + 2 * BULK_MARGIN)
    asked = _now()
    try:
        listed = await lister(symbol, start=to_millis(start), end=to_millis(end), limit=_PAGE)
        if not isinstance(listed, list):  # (the protocol's own stub, inherited: None)
            raise TypeError(f"all_orders returned {type(listed).__name__}, not a list")
    except (ToolkitError, ValueError, TypeError) as exc:  # only an optimization: ask each
        _log.warning("toolkit: cannot list the orders of %s: %s", symbol, exc)
        return {}
    by_id: dict[str, Order | None] = {}
    for order in listed:  # an id listed twice is left to the query of that id
        cid = order.client_order_id
        by_id[cid] = None if cid in by_id else order
    complete = len(listed) < _PAGE
    told: dict[int, Order | None] = {}
    for pos, order in run:
        if (found := by_id.get(order.client_order_id)) is not None:
            told[pos] = found
        elif complete and order.client_order_id not in by_id and asked < limit_of(order):
            told[pos] = None
    return told


def _born(order: Order) -> pd.Timestamp:
    return order.created_at or order.updated_at or _now()


# -- ordering concurrent updates of one order ---------------------------------------------------

_RANK = {OrderStatus.PENDING: 0, OrderStatus.NEW: 1, OrderStatus.PARTIALLY_FILLED: 2}
_BOOKKEEPING = (
    "batch_id", "key", "position", "created_at", "not_after", "side", "type", "time_in_force",
    "price", "stop_price", "qty", "reduce_only", "order_id", "algo_id",
)  # fmt: skip
_BOOKKEEPING_OF = operator.attrgetter(*_BOOKKEEPING)


def is_behind(update: Order, known: Order) -> bool:
    """True if ``update`` is older than ``known``: order states only move forward.

    PENDING < NEW < PARTIALLY_FILLED (by filled quantity) < a final state; the first final
    state wins. An order proven not placed may start over (a re-run sends it again).
    """
    if not known.placed:
        return False
    new_rank, old_rank = _RANK.get(update.status, 3), _RANK.get(known.status, 3)
    if new_rank != old_rank:
        return new_rank < old_rank
    if new_rank == 2:
        return (update.filled_qty or 0.0) < (known.filled_qty or 0.0)
    if new_rank == 3:
        return update.status is not known.status
    return False


def fill_bookkeeping(update: Order, known: Order) -> Order:
    """``update`` with the fields it leaves unknown (batch, key, position...) from ``known``."""
    ours = _BOOKKEEPING_OF(update)  # one C-level call per order (this runs for every update)
    if None not in ours:
        return update
    missing = {
        f: value
        for f, mine, value in zip(_BOOKKEEPING, ours, _BOOKKEEPING_OF(known), strict=True)
        if mine is None and value is not None
    }
    return update.evolve(**missing) if missing else update


#: The fields that make an update a change of state (the rest is bookkeeping).
STATE_FIELDS = (
    "status", "order_id", "filled_qty", "avg_price", "price", "qty", "error_code", "error_msg",
    "outcome",
)  # fmt: skip
#: An order's :data:`STATE_FIELDS` as one tuple (one C-level call per order).
STATE_OF = operator.attrgetter(*STATE_FIELDS)


def changes(known: Order | None, update: Order) -> bool:
    """True if ``update`` changes the state of ``known`` (any of :data:`STATE_FIELDS`); the
    one rule of "did this order change" (a ``None`` known state: always). One C-level
    attrgetter call per order: this runs for every update."""
    if known is None:
        return True
    return STATE_OF(update) != STATE_OF(known)
