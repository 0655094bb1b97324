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
from typing import TYPE_CHECKING, Any

import pandas as pd

from ._exceptions import InputError, OrderRejected, ToolkitError, TransportError
from ._frame import orders_to_frame
from ._models import DONE_STATUSES, Order, OrderStatus
from ._reconcile import merge_found, resolve_pending
from ._store_schema import ORDER_FIELDS, orders_from_frame

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


async def reconcile_stored(session: Session) -> None:
    """On connect: resolve the PENDING rows of this exchange/market that can be decided now."""
    pending = await session._db(
        session.store.pending, exchange=session.config.exchange, market=session.config.market.value
    )
    if not pending:
        return
    resolved = await resolve_pending(
        session.adapter, pending, recv_window=session.config.recv_window, wait=False
    )
    await session._finalize(
        [o for o in resolved if o.status is not OrderStatus.PENDING], "reconcile"
    )
    if any(o.status is OrderStatus.PENDING for o in resolved):
        session._spawn(_reconcile_later(session), critical=False)


async def _reconcile_later(session: Session) -> None:
    """Decide the rows that could still arrive once their deadline has passed."""
    await asyncio.sleep(session.config.send_window + session.config.recv_window + 3)
    if session.closed:
        return
    pending = await session._db(
        session.store.pending, exchange=session.config.exchange, market=session.config.market.value
    )
    resolved = await resolve_pending(
        session.adapter, pending, recv_window=session.config.recv_window, wait=True
    )
    await session._finalize(
        [o for o in resolved if o.status is not OrderStatus.PENDING], "reconcile"
    )


async def known_orders(session: Session, ids: Sequence[str]) -> dict[str, Order]:
    """Stored orders by client order id *and* by order id, for the given ids."""
    if not ids:
        return {}
    query = (
        f"SELECT {', '.join(ORDER_FIELDS)} FROM orders WHERE"
        " client_order_id IN (SELECT unnest(?::VARCHAR[]))"
        " OR order_id IN (SELECT unnest(?::VARCHAR[]))"
    )
    frame = await session._db(session.store.sql, query, [list(ids), list(ids)])
    found: dict[str, Order] = {}
    for order in orders_from_frame(frame):
        found[order.client_order_id] = order
        if order.order_id:
            found.setdefault(order.order_id, order)
    for order in session._open_orders.values():
        found[order.client_order_id] = order
        if order.order_id:
            found[order.order_id] = order
    return found


async def _stored(session: Session, where: str, params: list[Any]) -> list[Order]:
    query = f"SELECT {', '.join(ORDER_FIELDS)} FROM orders WHERE {where}"
    frame = await session._db(session.store.sql, query, params)
    return orders_from_frame(frame)


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


async def _cancel_one(session: Session, order: Order) -> tuple[Order, BaseException | None]:
    try:
        got = await session.adapter.cancel(order.symbol, client_order_id=order.client_order_id)
    except OrderRejected as exc:  # already done, or unknown at the exchange
        try:
            current = await session.adapter.query(
                order.symbol, client_order_id=order.client_order_id
            )
        except ToolkitError:
            current = None
        return (order if current is None else merge_found(order, current)), exc
    return merge_found(order, got), None


async def cancel_ids(session: Session, ids: Sequence[str]) -> pd.DataFrame:
    targets = await _resolve_ids(session, ids)
    results = await asyncio.gather(*(_cancel_one(session, o) for o in targets))
    await session._finalize([o for o, exc in results if exc is None], "cancel")
    await session._finalize([o for o, exc in results if exc is not None], "query")
    shown = [
        o
        if exc is None
        else dataclasses.replace(
            o,
            error_code=getattr(exc, "code", None),
            error_msg=f"cancel failed: {getattr(exc, 'msg', exc)}",
        )
        for o, exc in results
    ]
    return orders_to_frame(shown)


async def cancel_all(session: Session, symbol: str | None) -> pd.DataFrame:
    if symbol is not None:
        symbols = [symbol]
    else:
        live = await session.adapter.open_orders()
        symbols = sorted({o.symbol for o in live})
    answers = await asyncio.gather(*(session.adapter.cancel_all(sym) for sym in symbols))
    cancelled = [o for answer in answers for o in answer]
    known = await session._known([o.client_order_id for o in cancelled])
    merged = [_merge(known.get(o.client_order_id), o) for o in cancelled]
    await session._finalize(merged, "cancel")
    return orders_to_frame(merged)


async def open_orders_now(session: Session, symbol: str | None) -> pd.DataFrame:
    where = "status IN ('NEW', 'PARTIALLY_FILLED') AND exchange = ? AND market = ?"
    params: list[Any] = [session.config.exchange, session.config.market.value]
    if symbol is not None:
        where += " AND symbol = ?"
        params.append(symbol)
    try:
        live = await session.adapter.open_orders(symbol)
    except TransportError as exc:  # offline: the store's view
        _log.warning("toolkit: exchange unreachable (%s); open orders from the store", exc)
        return orders_to_frame(await _stored(session, where, params))
    known = await session._known([o.client_order_id for o in live])
    merged = [_merge(known.get(o.client_order_id), o) for o in live]
    live_ids = {o.client_order_id for o in merged}
    # Orders we believe open but the exchange does not list: ask what became of them.
    believed = {o.client_order_id: o for o in await _stored(session, where, params)}
    believed.update(
        (o.client_order_id, o)
        for o in session._open_orders.values()
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
