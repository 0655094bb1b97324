"""Order operations of a session: cancel, cancel_all, open_orders, wait, reconcile on connect.

Each runs on the I/O loop and ends in the session's one finalize step, so the store and the
subscribers see cancels and refreshes exactly like batch results.

Example::

    frame = await session.cancel(["tk1b42...", "10000001"])
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from ._exceptions import InputError, OrderRejected, ToolkitError, TransportError
from ._frame import orders_to_frame
from ._models import DONE_STATUSES, Order, OrderStatus
from ._reconcile import merge_found, resolve_pending

if TYPE_CHECKING:
    from ._session import Session

__all__ = [
    "cancel_all",
    "cancel_ids",
    "ids_of",
    "known_orders",
    "open_orders_now",
    "reconcile_stored",
    "wait",
]

_log = logging.getLogger("toolkit")


#: Seconds between retries of rows still PENDING in the background (doubling up to the cap).
_LATER_FIRST, _LATER_CAP, _LATER_TRIES = 5.0, 300.0, 12


async def reconcile_and_finalize(
    session: Session,
    orders: Sequence[Order],
    *,
    wait: bool,
    sent_before: pd.Timestamp | None = None,
) -> list[Order]:
    """Resolve the PENDING ``orders`` (:func:`resolve_pending`) and finalize what changed.

    The one "reconcile" step of connect, the background retry, a batch and its re-run.
    Positional: result ``i`` is the (finalized, if changed) state of ``orders[i]``.
    """
    resolved = await resolve_pending(
        session.adapter,
        orders,
        recv_window=session.config.recv_window,
        wait=wait,
        sent_before=sent_before,
    )
    changed = [i for i, (a, b) in enumerate(zip(orders, resolved, strict=True)) if a is not b]
    done = await session._finalize([resolved[i] for i in changed], "reconcile")
    for i, order in zip(changed, done, strict=True):
        resolved[i] = order
    return resolved


async def _pending_here(session: Session) -> list[Order]:
    """The PENDING rows sent to this session's venue (not another server of the same name)."""
    return await session._db(
        session.store.pending,
        exchange=session.config.exchange,
        market=session.config.market.value,
        venue=session.venue,
    )


async def reconcile_stored(session: Session) -> None:
    """On connect: resolve the PENDING rows of this venue/market that can be decided now."""
    pending = await _pending_here(session)
    if not pending:
        return
    try:  # exchangeInfo sets the limiter's real budgets before the queries
        await session._symbol_rules()
    except ToolkitError as exc:
        _log.warning("toolkit: no exchangeInfo before reconciling: %s", exc)
    resolved = await reconcile_and_finalize(session, pending, wait=False)
    if any(o.status is OrderStatus.PENDING for o in resolved):
        reconcile_later(session)


def reconcile_later(session: Session) -> None:
    """Retry this venue's PENDING rows in the background (one such task per session)."""
    task = session._later
    if session.closed or (task is not None and not task.done()):
        return
    session._later = session._spawn(_reconcile_later(session), critical=False)


async def _reconcile_later(session: Session) -> None:
    """Decide the rows that could still arrive once their deadline has passed; when the
    exchange is unreachable, try again (backing off) while the session lives."""
    await asyncio.sleep(session.config.send_window + session.config.recv_window + 3)
    pause = _LATER_FIRST
    for _ in range(_LATER_TRIES):
        if session.closed:
            return
        try:
            pending = await _pending_here(session)
            if not pending:
                return
            resolved = await reconcile_and_finalize(session, pending, wait=True)
            if not any(o.status is OrderStatus.PENDING for o in resolved):
                return
        except ToolkitError as exc:  # the store or the exchange failed: try again later
            _log.warning("toolkit: background reconcile failed, will retry: %s", exc)
        await asyncio.sleep(pause)
        pause = min(_LATER_CAP, pause * 2)


async def known_orders(session: Session, ids: Sequence[str]) -> dict[str, Order]:
    """Stored orders by client order id *and* by order id, for the given ids."""
    if not ids:
        return {}
    found: dict[str, Order] = {}
    for order in await session._db(session.store.records, order_ids=list(ids)):
        found[order.client_order_id] = order
        if order.order_id:
            found.setdefault(order.order_id, order)
    for order in session.open_order_state():
        found[order.client_order_id] = order
        if order.order_id:
            found[order.order_id] = order
    return found


async def _stored_open(session: Session, symbol: str | None) -> list[Order]:
    """The orders the store believes open on this exchange/market (of ``symbol``)."""
    return await session._db(
        session.store.records,
        open_only=True,
        exchange=session.config.exchange,
        market=session.config.market.value,
        symbol=symbol,
    )


async def _resolve_ids(session: Session, ids: Sequence[str]) -> list[Order]:
    """The known orders for ``ids`` (client order ids or order ids), deduplicated, in order."""
    known = await session._known(ids)
    missing = [i for i in ids if i not in known]
    if missing:
        shown = ", ".join(repr(i) for i in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise InputError(f"unknown order id(s) {shown}{more}: not in this session's store")
    seen: dict[str, Order] = {}
    for i in ids:
        order = known[i]
        seen.setdefault(order.client_order_id, order)
    return list(seen.values())


async def _cancel_one(session: Session, order: Order) -> tuple[Order, ToolkitError | None, bool]:
    """Cancel one order -> (its state, the cancel's error or None, whether the state is news).

    A refused cancel (already done, unknown) and a cancel whose outcome is unknown (timeout,
    5xx) both ask the exchange for the order's real state; if that fails too, the known state
    comes back unchanged with the error.
    """
    try:
        got = await session.adapter.cancel(order.symbol, client_order_id=order.client_order_id)
    except ToolkitError as exc:
        current = await _query(session, order)
        return (order if current is None else current), exc, current is not None
    return merge_found(order, got), None, True


def _failed(order: Order, exc: ToolkitError, what: str) -> Order:
    """``order`` shown with the error of its cancel."""
    if isinstance(exc, OrderRejected):
        return dataclasses.replace(
            order, error_code=exc.code, error_msg=f"{what} failed: {exc.msg}"
        )
    code = getattr(exc, "code", None)
    return dataclasses.replace(
        order,
        error_code=code if isinstance(code, int) else None,
        error_msg=f"{what} failed ({type(exc).__name__}): {getattr(exc, 'msg', exc)}",
    )


async def cancel_ids(session: Session, ids: Sequence[str]) -> pd.DataFrame:
    """Cancel each order on its own: one failure (a timeout, a 5xx) loses no other result.

    Rows the store knows are done (filled, canceled, rejected, expired, invalid) are skipped:
    no request, shown as stored. Every cancel that succeeded is finalized (``cancel``), every
    real state learned by a query after a failed cancel too (``query``): an order the exchange
    reports done is shown as it is (it was not cancelled, and that is no failure); the other
    failed rows come back with ``error_msg`` "cancel failed ...".
    """
    targets = await _resolve_ids(session, ids)
    todo = [o for o in targets if o.status not in DONE_STATUSES]
    results = await asyncio.gather(*(_cancel_one(session, o) for o in todo))
    cancelled = await session._finalize([o for o, exc, _ in results if exc is None], "cancel")
    learned = await session._finalize(
        [o for o, exc, news in results if exc is not None and news], "query"
    )
    done = iter(cancelled)
    seen = iter(learned)
    shown = {o.client_order_id: o for o in targets}
    for order, exc, news in results:
        if exc is None:
            now = next(done)
        elif news:
            now = next(seen)
            if now.status not in DONE_STATUSES:
                now = _failed(now, exc, "cancel")
        else:
            now = _failed(order, exc, "cancel")
        shown[order.client_order_id] = now
    return orders_to_frame(list(shown.values()))


async def cancel_all(session: Session, symbol: str | None) -> pd.DataFrame:
    """Cancel every open order per symbol; a symbol whose cancel fails loses no other's result.

    For a failed symbol the orders believed open there are queried: their real state is
    finalized, and they come back with ``error_msg`` "cancel_all failed ...".
    """
    if symbol is not None:
        symbols = [symbol]
    else:
        live = await session.adapter.open_orders()
        symbols = sorted({o.symbol for o in live})
    answers = await asyncio.gather(
        *(session.adapter.cancel_all(sym) for sym in symbols), return_exceptions=True
    )
    cancelled: list[Order] = []
    failures: dict[str, ToolkitError] = {}
    for sym, answer in zip(symbols, answers, strict=True):
        if isinstance(answer, ToolkitError):
            failures[sym] = answer
        elif isinstance(answer, BaseException):
            raise answer
        else:
            cancelled.extend(answer)
    known = await session._known([o.client_order_id for o in cancelled])
    merged = [_merge(known.get(o.client_order_id), o) for o in cancelled]
    merged = await session._finalize(merged, "cancel")
    if not failures:
        return orders_to_frame(merged)
    believed: list[Order] = []
    for sym, exc in failures.items():
        _log.warning("toolkit: cancel_all(%s) failed: %s", sym, exc)
        believed.extend(await _stored_open(session, sym))
    states = await asyncio.gather(*(_query(session, o) for o in believed))
    learned = await session._finalize(
        [s for o, s in zip(believed, states, strict=True) if s is not None and _changed(o, s)],
        "query",
    )
    latest = {o.client_order_id: o for o in learned}
    shown = [
        _failed(latest.get(o.client_order_id, s or o), failures[o.symbol], "cancel_all")
        for o, s in zip(believed, states, strict=True)
    ]
    return orders_to_frame(merged + shown)


async def open_orders_now(session: Session, symbol: str | None) -> pd.DataFrame:
    try:
        live = await session.adapter.open_orders(symbol)
    except TransportError as exc:  # offline: the store's view
        _log.warning("toolkit: exchange unreachable (%s); open orders from the store", exc)
        return orders_to_frame(await _stored_open(session, symbol))
    known = await session._known([o.client_order_id for o in live])
    merged = [_merge(known.get(o.client_order_id), o) for o in live]
    live_ids = {o.client_order_id for o in merged}
    # Orders we believe open but the exchange does not list: ask what became of them.
    believed = {o.client_order_id: o for o in await _stored_open(session, symbol)}
    believed.update(
        (o.client_order_id, o)
        for o in session.open_order_state()
        if symbol is None or o.symbol == symbol
    )
    gone = [o for cid, o in believed.items() if cid not in live_ids]
    finished = await asyncio.gather(*(_query(session, o) for o in gone))
    changed = [o for o in merged if _changed(known.get(o.client_order_id), o)] + [
        o for o in finished if o is not None
    ]
    await session._finalize(changed, "refresh")
    return orders_to_frame(merged)


async def _query(session: Session, order: Order) -> Order | None:
    """The exchange's current state of ``order`` (merged), or None if unknown/unreachable."""
    try:
        found = await session.adapter.query(order.symbol, client_order_id=order.client_order_id)
    except ToolkitError as exc:
        _log.warning("toolkit: query of %s failed: %s", order.client_order_id, exc)
        return None
    return None if found is None else merge_found(order, found)


async def wait(session: Session, ids: Sequence[str], *, until: str, timeout: float) -> pd.DataFrame:
    current = await _resolve_ids(session, ids)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        todo = [i for i, o in enumerate(current) if not _done(o, until)]
        remaining = deadline - loop.time()
        if not todo or remaining <= 0:
            break
        found = await asyncio.gather(*(_query(session, current[i]) for i in todo))
        changed: list[Order] = []
        for i, order in zip(todo, found, strict=True):
            if order is not None and _changed(current[i], order):
                current[i] = order
                changed.append(order)
        await session._finalize(changed, "query")
        if all(_done(o, until) for o in current):
            break
        await asyncio.sleep(min(session.config.poll_interval, max(0.0, remaining)))
    return orders_to_frame(current)


def ids_of(orders: pd.DataFrame | str | Sequence[str]) -> list[str]:
    """Client order ids (or order ids) from a frame, one id, or a list of ids.

    Rows of a frame that are already done (filled, cancelled, invalid...) are skipped.
    """
    if isinstance(orders, str):
        return [orders]
    if isinstance(orders, pd.DataFrame):
        if "client_order_id" not in orders.columns and "order_id" not in orders.columns:
            raise InputError("the frame has neither a client_order_id nor an order_id column")
        ids: list[str] = []
        done = {s.value for s in DONE_STATUSES}
        for rec in orders.to_dict("records"):
            if str(rec.get("status")) in done:
                continue
            for column in ("client_order_id", "order_id"):
                value = rec.get(column)
                if value is not None and not pd.isna(value):
                    ids.append(str(value))
                    break
        return ids
    ids = [str(i) for i in orders]
    return ids


def _done(order: Order, until: str) -> bool:
    if until == "done":
        return order.status in DONE_STATUSES
    return order.status is not OrderStatus.PENDING


def _changed(old: Order | None, new: Order) -> bool:
    if old is None:
        return True
    return (old.status, old.filled_qty, old.avg_price, old.order_id) != (
        new.status,
        new.filled_qty,
        new.avg_price,
        new.order_id,
    )


def _merge(known: Order | None, got: Order) -> Order:
    return got if known is None else merge_found(known, got)
