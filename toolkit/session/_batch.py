"""The batch procedure. Its order of steps is the safety guarantee:

1. read the input (caller side) -- a frame that cannot be read raises before anything happens;
2. with a ``key`` already in the store: a different fingerprint raises ``KeyReuseError``; the
   same fingerprint reconciles the batch's ``PENDING`` rows, re-sends only rows proven not placed
   (same client order ids), and returns the stored rows -- a re-run places nothing twice;
3. rules (exchangeInfo, cached), prices/balances only if rows need them, ``prepare()``;
4. **write-ahead**: every row goes to the store (``PENDING`` or ``INVALID``) before any request;
   refused (``TradingHalted``, nothing written) if a halt is in force when it commits -- a halt
   set meanwhile by another process included (a halt in force when the batch begins stops it
   before step 3: no exchange request);
5. send the valid requests, never after a row's ``not_after`` (write-ahead + ``send_window``);
6. reconcile unknown outcomes by client order id (:mod:`toolkit.session._reconcile`);
7. finalize (persist -> open-order state -> publish), record the batch's counts, return the frame.

Steps 5-7 run in a task the caller's cancellation does not interrupt (``asyncio.shield``): once
rows are written ahead, their outcome is always recorded.

Example::

    frame = await session.batch(df, key="rebalance-2026-11-25", progress=True)
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from ..binance._codes import is_filter_failure
from ..binance._ratelimit import RateLimiter
from ..core._adapter import ExchangeAdapter
from ..core._cutoff import ACTIVE, Cutoff
from ..core._exceptions import (
    BatchInterrupted,
    BatchNotSavedError,
    ConfigError,
    KeyReuseError,
    StoreError,
    StrictBatchError,
)
from ..core._frame import orders_to_frame
from ..core._guards import Limits, apply_limits, needs_prices
from ..core._ids import client_order_id, new_batch_id
from ..core._input import InputRows, read_orders
from ..core._models import Market, Order, OrderRequest, OrderStatus, OrderType, Outcome
from ..core._validation import Prepared, prepare
from ..runtime import _runner
from ..runtime._progress import Progress, ProgressOption, caller_bar
from ..store._store import BatchRecord
from ._config import SessionConfig
from ._ledger import Ledger
from ._market_cache import MarketCache
from ._orderops import OrderOps, Spawn
from ._reconcile import merge_found, not_placed, resolve_pending

__all__ = ["GROUP_SIZE", "BatchOptions", "Desk", "Progress", "read_input", "run_batch"]

_log = logging.getLogger("toolkit")

#: Requests handed to the adapter at once (a multiple of USD-M's batchOrders chunk of 5). At
#: most two groups are in flight, so the send-window check before each group stays meaningful.
GROUP_SIZE = 20
_GROUPS_IN_FLIGHT = 2


@dataclass(frozen=True)
class BatchOptions:
    """The caller's arguments of one batch (see ``Session.batch``), passed on as one value."""

    key: str | None = None
    all_or_nothing: bool = False
    progress: ProgressOption = None
    strict: bool = False
    #: Recorded with the batch (default: ``TOOLKIT_RUN_PARAMS``).
    run_params: Mapping[str, Any] | None = None
    #: Replaces the session's pre-trade limits for this batch.
    limits: Limits | None = None


@dataclass(frozen=True)
class Desk:
    """What the batch procedure works with, built once by the session when it opens: the
    settings, the ledger (store, finalize), the adapter, the market cache, the order operations
    (reconcile), the transport's rate limiter, a spawn function, the wait for the positions
    snapshot taken at open and the background step after a batch."""

    config: SessionConfig
    ledger: Ledger
    adapter: ExchangeAdapter
    market: MarketCache
    ops: OrderOps
    limiter: RateLimiter
    has_credentials: bool
    spawn: Spawn
    #: Called as a batch begins: drops the positions snapshot taken at open if it is still on
    #: its way (it could see the batch's own orders; a batch never waits for research data).
    positions_before: Callable[[], None]
    #: Called after a batch with its id and whether it filled something: the background step
    #: (fills, then a positions snapshot).
    after: Callable[[str, bool], None]


def read_input(orders: Any) -> InputRows:
    """Read the caller's orders (raises ``InputError`` if they cannot be read at all)."""
    return read_orders(orders)


def _make_progress(desk: Desk, total: int, progress: ProgressOption) -> Progress | None:
    desc = f"{desk.config.exchange} {desk.config.market.value}"
    if progress is None or isinstance(progress, bool):
        show = total >= desk.config.progress_threshold if progress is None else progress
        return caller_bar(total, desc) if show else None
    return caller_bar(total, desc, own=progress)  # the caller's own bar


def _run_params() -> dict[str, Any] | None:
    """Papermill/scheduler parameters of this run, from ``TOOLKIT_RUN_PARAMS`` (JSON)."""
    text = os.environ.get("TOOLKIT_RUN_PARAMS")
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return {"raw": text}
    return value if isinstance(value, dict) else {"value": value}


def _needs(rows: InputRows, market: Market) -> tuple[set[str], bool]:
    """Symbols that need a price, and whether balances are needed."""
    priced: set[str] = set()
    balances = False
    for row in rows:
        if row.symbol is None:
            continue
        if row.qty_pct is not None:
            balances = True
            priced.add(row.symbol)
        if row.quote_qty is not None or row.price is None or row.type is OrderType.MARKET:
            priced.add(row.symbol)
    return priced, balances


async def run_batch(desk: Desk, rows: InputRows, options: BatchOptions) -> pd.DataFrame:
    """The batch procedure (module docstring); runs on the I/O loop."""
    try:
        return await _run_batch(desk, rows, options)
    except BatchNotSavedError as exc:
        exc.frame = _frame(exc.orders, rows)  # with the caller's index
        raise


async def _run_batch(desk: Desk, rows: InputRows, options: BatchOptions) -> pd.DataFrame:
    key, all_or_nothing, strict = options.key, options.all_or_nothing, options.strict
    progress, run_params = options.progress, options.run_params
    limits = desk.config.limits if options.limits is None else options.limits
    attempt, refused = 1, None
    if key is not None:
        existing = await desk.ledger.run(desk.ledger.store.find_batch, key)
        if existing is not None:
            if await _spent(desk, existing):
                return await _rerun_key(desk, rows, existing, progress, strict)
            # Refused before anything was sent: the key is free; this run is the next attempt
            # (the refused one stays in the store under a retired key).
            refused = existing
            attempt = _attempt(existing) + 1
            _log.info(
                "toolkit: batch key %r: attempt %d was refused before anything was sent"
                " (batch %s); this run is attempt %d",
                key,
                attempt - 1,
                existing.batch_id,
                attempt,
            )
    if len(rows) == 0:
        return orders_to_frame([], index=rows.index)
    _check_credentials(desk)
    # A halt in force stops the batch before any exchange request; one set while it reads rules
    # and prices (by any process) is refused by the write-ahead's own transaction.
    check_not_halted(desk)
    desk.positions_before()

    now = pd.Timestamp.now(tz="UTC")
    batch_id = new_batch_id()
    seed = id_seed(key, batch_id, attempt)
    prepared, prices = await _prepare(
        desk, rows, batch_id=batch_id, key=key, id_seed=seed, all_or_nothing=all_or_nothing,
        now=now, all_prices=needs_prices(limits),
    )  # fmt: skip
    prepared = await _refuse_stored_ids(
        desk, rows, prepared, id_seed=seed, all_or_nothing=all_or_nothing
    )
    prepared = await _guard(desk, prepared, limits, prices)
    if strict or all_or_nothing:  # (the limits may have made rows INVALID since prepare)
        prepared = _strict(rows, prepared, "strict=True" if strict else "all_or_nothing")
    # The send window starts at the write-ahead, after the (slow) rules/prices/balances reads.
    n_requests = sum(1 for p in prepared if p.request is not None)
    not_after = pd.Timestamp.now(tz="UTC") + pd.Timedelta(
        seconds=send_window(desk.config.send_window, desk.limiter, n_requests)
    )
    # An INVALID row is never sent: NOT_PLACED (placed=False in the store; never re-armed).
    orders = [
        p.order.evolve(not_after=not_after, outcome=Outcome.UNKNOWN)
        if p.request is not None
        else p.order.evolve(outcome=Outcome.NOT_PLACED)
        for p in prepared
    ]
    record = BatchRecord(
        batch_id=batch_id,
        key=key,
        created_at=now,
        n_orders=len(orders),
        fingerprint=rows.fingerprint,
        exchange=desk.config.exchange,
        market=desk.config.market.value,
        params={
            "all_or_nothing": all_or_nothing,
            "strict": strict,
            "progress": progress if progress is None or isinstance(progress, bool) else "bar",
            "attempt": attempt,
            # what toolkit/store/_costs.py measures slippage from: the prices known now, no request
            "arrival": _arrival(desk.market, prepared),
        },
        papermill=dict(run_params) if run_params is not None else _run_params(),
        venue=desk.ledger.venue,
    )
    if n_requests == 0:  # nothing to send: the write-ahead is the whole batch (one store open)
        counts = dict(Counter(o.status.value for o in orders))
        record = dataclasses.replace(record, counts=counts, finished_at=pd.Timestamp.now(tz="UTC"))
    supersedes = None
    if refused is not None and key is not None:
        supersedes = (refused.batch_id, retired_key(key, attempt - 1))
    try:
        # write-ahead: on disk before anything is sent
        await _runner.outcome(
            desk.ledger.store.submit_record_batch(record, orders, supersedes=supersedes)
        )
    except StoreError:
        # Another process recorded the same key between our look-up and our write: theirs wins.
        existing = None if key is None else await desk.ledger.run(desk.ledger.store.find_batch, key)
        if existing is None:
            raise
        return await _rerun_key(desk, rows, existing, progress, strict)
    requests = [(p.position, p.request) for p in prepared if p.request is not None]
    if not requests:
        return _result(orders, rows, strict)
    cutoff = Cutoff(None)
    task = desk.spawn(_send_and_finish(desk, batch_id, orders, requests, progress, cutoff))
    final = await _await_send(task, cutoff, rows, key)
    return _result(final, rows, strict)


def _arrival(market: MarketCache, prepared: Sequence[Prepared]) -> dict[str, dict[str, Any]]:
    """The batch's arrival prices: the price of each symbol sent that the session knows at the
    write-ahead (cached, never fetched for this), with its age in seconds."""
    symbols = sorted({p.request.symbol for p in prepared if p.request is not None})
    return {
        symbol: {"price": str(price), "age": round(age, 3)}
        for symbol, (price, age) in market.known_prices(symbols).items()
    }


def id_seed(key: str | None, batch_id: str, attempt: int = 1) -> str:
    """What a batch's client order ids derive from: its key (attempt ``n > 1`` of a key:
    ``key#n``, so no two attempts share an id), or its batch id when it has no key."""
    if key is None:
        return batch_id
    return key if attempt <= 1 else f"{key}#{attempt}"


def retired_key(key: str, attempt: int) -> str:
    """The key a refused attempt keeps in the store once a later attempt takes ``key``."""
    return f"{key}~refused-{attempt}"


def _attempt(batch: BatchRecord) -> int:
    return int(batch.params.get("attempt", 1) or 1)


async def _spent(desk: Desk, batch: BatchRecord) -> bool:
    """A key is spent once any of its orders may have reached the exchange: a batch whose
    rows are all INVALID (never sent: strict, all-or-nothing, every row invalid) leaves it free.
    """
    stored = await desk.ledger.run(desk.ledger.store.batch_orders, batch.batch_id)
    return not stored or any(o.status is not OrderStatus.INVALID for o in stored)


async def _refuse_stored_ids(
    desk: Desk,
    rows: InputRows,
    prepared: list[Prepared],
    *,
    id_seed: str,
    all_or_nothing: bool,
) -> list[Prepared]:
    """Rows whose *user-given* client order id the store already holds become INVALID.

    The exchange must never see one id twice, and the store keeps one row per id: such a row
    gets its generated id and a reason naming the given one. Costs a store read only when
    some row gives its own id.
    """
    by_position = {row.position: row for row in rows}
    # INVALID rows count too: they are written ahead under the given id as well.
    given = sorted(
        {
            p.order.client_order_id
            for p in prepared
            if by_position[p.position].client_order_id is not None
        }
    )
    if not given:
        return prepared
    # the journal alone (an archived order's id is known there too): never DuckDB on this path
    taken = await desk.ledger.run(desk.ledger.store.taken_ids, given)
    if not taken:
        return prepared
    out: list[Prepared] = []
    for p in prepared:
        cid = p.order.client_order_id
        row = by_position[p.position]
        if row.client_order_id is None or cid not in taken:
            out.append(p)
            continue
        where = "an archived order" if taken[cid] is None else f"batch {taken[cid]}"
        why = (
            f"client_order_id {cid!r} is already in the store ({where});"
            " client order ids must be unique: give a new one, or leave it out"
        )
        if p.request is None and p.order.error_msg:  # already INVALID: keep its reasons
            why = f"{p.order.error_msg}; {why}"
        order = dataclasses.replace(
            p.order,
            client_order_id=client_order_id(id_seed, row.position, row.fingerprint),
            status=OrderStatus.INVALID,
            error_msg=why,
        )
        out.append(dataclasses.replace(p, request=None, order=order))
    if all_or_nothing:
        bad = [str(rows.index[p.position]) for p in out if p.request is None]
        reason = f"not sent: all_or_nothing and rows {', '.join(bad)} invalid"
        out = [
            p
            if p.request is None
            else dataclasses.replace(
                p,
                request=None,
                order=dataclasses.replace(p.order, status=OrderStatus.INVALID, error_msg=reason),
            )
            for p in out
        ]
    return out


async def _guard(
    desk: Desk, prepared: list[Prepared], limits: Limits, prices: Mapping[str, Decimal]
) -> list[Prepared]:
    """The pre-trade limits (``_guards``), with the prices the batch was prepared with (the
    session's, cached briefly)."""
    symbols = sorted({p.request.symbol for p in prepared if p.request is not None})
    if not symbols:
        return prepared
    missing = [s for s in symbols if s not in prices]
    if missing:
        prices = {**prices, **await desk.market.prices(missing)}
    rules = await desk.market.rules()
    quote = {s: rules[s].quote_asset for s in symbols if s in rules}
    return apply_limits(prepared, limits, prices, quote=quote)


def _strict(rows: InputRows, prepared: list[Prepared], why: str) -> list[Prepared]:
    """``strict=True`` / ``all_or_nothing``: every row is checked before anything is sent; if
    any is INVALID, none is sent (the valid ones become INVALID too, saying why)."""
    bad = [str(rows.index[p.position]) for p in prepared if p.request is None]
    if not bad or len(bad) == len(prepared):
        return prepared
    shown = ", ".join(bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
    reason = f"not sent: {why} and row(s) {shown} invalid"
    return [
        p
        if p.request is None
        else dataclasses.replace(
            p,
            request=None,
            order=dataclasses.replace(p.order, status=OrderStatus.INVALID, error_msg=reason),
        )
        for p in prepared
    ]


def _check_credentials(desk: Desk) -> None:
    """No key: refuse before the write-ahead (no PENDING row that could never be reconciled)."""
    if not desk.has_credentials:
        raise ConfigError(
            f"{desk.config.exchange} at {desk.ledger.venue} needs an API key and secret to place"
            " orders: pass api_key= and api_secret=, or set TOOLKIT_API_KEY and"
            " TOOLKIT_API_SECRET"
        )


def send_window(base: float, limiter: RateLimiter, n_requests: int) -> float:
    """Seconds after the write-ahead during which the batch's requests may be sent.

    ``base`` (the setting ``send_window``), or longer when the exchange's order budget alone
    needs more time for ``n_requests`` (a 1,000-order spot batch at Binance's 100 orders / 10 s
    takes ~2 min):
    the estimate is the number of ``orders`` windows of the transport's limiter the batch must
    wait for (counting what the current window already used), added to the configured window.
    """
    base = float(base)
    if n_requests <= 0 or not limiter.config.enabled:
        return base
    headroom = limiter.config.headroom
    estimate = 0.0
    for kind, seconds, limit in limiter.limits():
        if kind != "orders":
            continue
        budget = max(1, math.floor(limit * headroom))
        # windows to wait for, beyond the current one, before the last request may go
        waits = math.ceil((n_requests + limiter.used(kind, seconds)) / budget) - 1
        estimate = max(estimate, waits * seconds)
    return base + estimate


async def _rerun_key(
    desk: Desk,
    rows: InputRows,
    existing: BatchRecord,
    progress: ProgressOption,
    strict: bool,
) -> pd.DataFrame:
    key = existing.key or ""
    differs = [
        f"{what} {theirs!r} (this session: {ours!r})"
        for what, theirs, ours in (
            ("exchange", existing.exchange, desk.config.exchange),
            ("market", existing.market, desk.config.market.value),
            ("venue", existing.venue, desk.ledger.venue),
        )
        if theirs is not None and theirs != ours  # None: recorded before schema version 2
    ]
    if differs:
        raise KeyReuseError(
            key, f"batch {existing.batch_id} was recorded for another " + ", ".join(differs)
        )
    if existing.fingerprint != rows.fingerprint:
        raise KeyReuseError(key, f"batch {existing.batch_id} of {existing.n_orders} orders differs")
    orders = await _rerun(desk, rows, existing, progress)
    return _result(orders, rows, strict)


async def _prepare(
    desk: Desk,
    rows: InputRows,
    *,
    batch_id: str,
    key: str | None,
    id_seed: str,
    all_or_nothing: bool,
    now: pd.Timestamp,
    all_prices: bool = False,
) -> tuple[list[Prepared], Mapping[str, Decimal]]:
    """Validated rows, and the prices they were checked with (``all_prices``: of every symbol
    of the batch, for the pre-trade limits; else only what sizing and checks need)."""
    rules = await desk.market.rules()
    market = desk.config.market
    priced, need_balances = _needs(rows, market)
    if all_prices:
        priced |= {row.symbol for row in rows if isinstance(row.symbol, str)}
    priced &= set(rules)
    prices: Mapping[str, Decimal] = {}
    balances: Mapping[str, Decimal] = {}
    if priced:
        prices = await desk.market.prices(sorted(priced))
    if need_balances:
        balances = await desk.adapter.balances()
    prepared = prepare(
        rows,
        market=market,
        exchange=desk.config.exchange,
        rules=rules,
        prices=prices,
        balances=balances,
        id_seed=id_seed,
        batch_id=batch_id,
        key=key,
        all_or_nothing=all_or_nothing,
        now=now,
    )
    return prepared, prices


async def _send_and_finish(
    desk: Desk,
    batch_id: str,
    orders: Sequence[Order],
    requests: Sequence[tuple[int, OrderRequest]],
    progress: ProgressOption,
    cutoff: Cutoff,
) -> list[Order]:
    """Steps 5-7; runs as its own task so the caller's cancellation cannot cut it short.

    The batch is finished (counts, finish time) in the same store transaction as its last
    finalize. Rows still PENDING afterwards (the exchange was unreachable) are retried in the
    background by the session.
    """
    ACTIVE.add(cutoff)
    try:
        final = await _send(desk, batch_id, orders, requests, progress, cutoff)
    finally:
        ACTIVE.discard(cutoff)
    # off the critical path, a couple of seconds later: fills (if any) and a positions snapshot
    desk.after(batch_id, any(o.filled_qty for o in final))
    if any(o.status is OrderStatus.PENDING for o in final):
        desk.ops.reconcile_later()
    return final


async def _send(
    desk: Desk,
    batch_id: str,
    orders: Sequence[Order],
    requests: Sequence[tuple[int, OrderRequest]],
    progress: ProgressOption,
    cutoff: Cutoff,
) -> list[Order]:
    """Place, finalize the responses, reconcile unknown outcomes, finalize those. -> all orders.

    A store failure while finalizing skips nothing: the answers are still reconciled and
    published, the write is retried once more at the end, and if it still fails
    :class:`BatchNotSavedError` (a ``StoreError``) carries every order's state.
    """
    results = list(orders)
    bar = _make_progress(desk, len(requests), progress)
    slots = asyncio.Semaphore(_GROUPS_IN_FLIGHT)
    groups = [requests[i : i + GROUP_SIZE] for i in range(0, len(requests), GROUP_SIZE)]
    loop = asyncio.get_running_loop()
    ends = [t for pos, _ in requests if (t := results[pos].not_after) is not None]
    if ends and cutoff.at is None:  # nothing is sent after the send window (not_after)
        left = (min(ends) - pd.Timestamp.now(tz="UTC")).total_seconds()
        cutoff.at = loop.time() + max(0.0, left)

    failed: StoreError | None = None
    unanswered = len(groups)  # groups whose answers are not back yet
    finished = False  # the batch was finished with the last group's answers

    async def send_group(group: Sequence[tuple[int, OrderRequest]]) -> None:
        nonlocal failed, unanswered, finished
        async with slots:
            if cutoff.stopped:  # an interrupt or a halt: nothing more goes out
                for pos, _ in group:
                    results[pos] = _unsent(results[pos], cutoff)
                if bar is not None:
                    bar.advance(len(group))
            else:
                now = pd.Timestamp.now(tz="UTC")
                late = [pos for pos, _ in group if _past(results[pos], now)]
                for pos in late:  # the send window closed before we got to it: never send it
                    results[pos] = not_placed(results[pos], "send window passed before sending")
                if bar is not None and late:
                    bar.advance(len(late))
                todo = [(pos, req) for pos, req in group if pos not in late]
                # The adapter stops starting requests at the cutoff (they come back not placed)
                # and lets the ones on the wire finish: no outcome is made unknown by a cut-off.
                # The bar moves with each answer, not with the group.
                got = await desk.adapter.place(
                    [req for _, req in todo],
                    deadline=cutoff,
                    on_answer=None if bar is None else bar.advance,
                )
                for (pos, _), order in zip(todo, got, strict=True):
                    results[pos] = _merge_response(results[pos], order)
        # The group's answers are recorded (and published) as they come, in one store write;
        # then the stream updates held for these orders, mostly known by now (no write).
        try:
            positions = [pos for pos, _ in group]
            unanswered -= 1
            # the last answers finish the batch in the same write, unless some are unknown
            finish = unanswered == 0 and not any(
                results[pos].status is OrderStatus.PENDING for pos, _ in requests
            )
            error = await _finalize_batch(
                desk, results, positions, "response", finish=batch_id if finish else None
            )
            finished = finish and error is None
            failed = failed or error
        finally:
            await release(group)

    async def release(group: Sequence[tuple[int, OrderRequest]]) -> None:
        if id(group) in held:
            held.discard(id(group))
            await desk.ledger.release_stream([req.client_order_id for _, req in group])

    desk.ledger.hold_stream([req.client_order_id for _, req in requests])
    held = {id(g) for g in groups}  # groups whose stream updates are held
    watch = asyncio.ensure_future(_watch_halt(desk, cutoff))
    # the bar says when the exchange's rate limit (the client-side limiter) paces the batch
    unwatch = None if bar is None else desk.limiter.watch(bar.paced)
    try:
        await asyncio.gather(*(send_group(g) for g in groups))
    finally:
        watch.cancel()
        if unwatch is not None:
            unwatch()
        if bar is not None:
            bar.close()
        for group in groups:  # (a group that failed to finish)
            await release(group)
    sent_before = pd.Timestamp.now(tz="UTC")
    positions = [pos for pos, _ in requests]
    if any(_filter_failure(results[pos]) for pos in positions):
        desk.market.forget()  # our rules or prices are behind the exchange's
    unknown = [pos for pos in positions if results[pos].status is OrderStatus.PENDING]
    # Every answer is recorded by now (and the batch finished with the last, unless some are
    # unknown): this records what changed since, if anything.
    finish = None if unknown or finished else batch_id
    failed = await _finalize_batch(desk, results, positions, "response", finish=finish) or failed
    pending = [pos for pos in positions if results[pos].status is OrderStatus.PENDING]
    if pending:
        resolved = await resolve_pending(
            desk.adapter,
            [results[pos] for pos in pending],
            recv_window=desk.config.recv_window,
            sent_before=sent_before,
        )
        changed = [pos for pos, o in zip(pending, resolved, strict=True) if o is not results[pos]]
        for pos, order in zip(pending, resolved, strict=True):
            results[pos] = order
        failed = (
            await _finalize_batch(desk, results, changed, "reconcile", finish=batch_id) or failed
        )
    if failed is not None:  # retry once more, everything at once
        await asyncio.sleep(_STORE_RETRY_PAUSE)
        again = await _finalize_batch(desk, results, positions, "response", finish=batch_id)
        if again is not None:
            raise BatchNotSavedError(
                f"the batch was sent but its outcome could not be saved in the store: {again}."
                " The frame of this error holds every order's state; the store keeps them"
                " PENDING until the next connect reconciles them",
                orders=results,
                frame=orders_to_frame(results),
            ) from again
    return results


def _filter_failure(order: Order) -> bool:
    """True if the exchange refused ``order`` for one of its filters (-1013 "Filter failure")."""
    return order.status is OrderStatus.REJECTED and is_filter_failure(
        order.error_code, order.error_msg
    )


#: Seconds before the final retry of a batch's store write that failed.
_STORE_RETRY_PAUSE = 1.0


async def _finalize_batch(
    desk: Desk,
    results: list[Order],
    positions: Sequence[int],
    source: str,
    *,
    finish: str | None,
) -> StoreError | None:
    """Finalize ``results[pos]`` for ``positions`` in place; a ``StoreError`` is returned (the
    orders are still published, see ``Ledger.finalize``), not raised."""
    try:
        done = await desk.ledger.finalize(
            [results[pos] for pos in positions], source, finish=finish, publish_on_error=True
        )
    except StoreError as exc:
        _log.error("toolkit: could not save the batch's %s in the store: %s", source, exc)
        return exc
    for pos, order in zip(positions, done, strict=True):
        results[pos] = order
    return None


def _unsent(order: Order, cutoff: Cutoff) -> Order:
    """``order`` not sent because ``cutoff`` stopped the batch (an interrupt, a halt)."""
    return order.evolve(
        status=OrderStatus.REJECTED,
        outcome=Outcome.NOT_PLACED,
        error_msg=Outcome.NOT_PLACED.says(f"{cutoff.why} before it was sent"),
        updated_at=pd.Timestamp.now(tz="UTC"),
    )


#: Seconds between two looks at the store's halt flag while a batch sends (another process
#: may halt it).
HALT_POLL = 0.25


async def _watch_halt(desk: Desk, cutoff: Cutoff) -> None:
    """Stop ``cutoff`` when the store says trading is halted (by any process)."""
    while await cutoff.sleep(HALT_POLL):
        halt = desk.ledger.store.halted()
        if halt is not None:
            cutoff.stop(f"halted ({halt.reason})")
            return


def check_not_halted(desk: Desk) -> None:
    """Raise :class:`TradingHalted` if ``tk.halt()`` is in force for the session's store: before
    a batch's first exchange request (the write-ahead checks again in its own transaction)."""
    halt = desk.ledger.store.halted()
    if halt is not None:
        raise desk.ledger.store.halted_error(halt)


async def _await_send(
    task: asyncio.Task[list[Order]], cutoff: Cutoff, rows: InputRows, key: str | None
) -> list[Order]:
    """The send task's result. Cancelled (a kernel interrupt, Ctrl-C): stop sending, let what is
    on the wire finish and be recorded, then raise :class:`BatchInterrupted` with every row; the
    same when a halt stopped it."""
    try:
        final = await asyncio.shield(task)
    except asyncio.CancelledError:
        cutoff.stop("interrupted")
        final = await asyncio.shield(task)  # a second interrupt leaves it to finish alone
    if not cutoff.stopped:
        return final
    placed = sum(1 for o in final if o.placed and o.status is not OrderStatus.INVALID)
    not_sent = sum(1 for o in final if not o.placed and o.status is not OrderStatus.INVALID)
    again = f"; re-run the key {key!r} to send the rest, once" if key else ""
    raise BatchInterrupted(
        f"the batch was {cutoff.why}: {placed} of {len(final)} orders were placed, {not_sent}"
        f" were not sent (recorded as not placed){again}",
        _frame(final, rows),
        key=key,
        placed=placed,
        not_sent=not_sent,
    )


def _past(order: Order, now: pd.Timestamp) -> bool:
    return order.not_after is not None and now > order.not_after


def _merge_response(known: Order, got: Order) -> Order:
    """The adapter's answer for a request, with the batch bookkeeping of the written-ahead row."""
    return merge_found(known, got, outcome=got.outcome)


async def _rerun(
    desk: Desk,
    rows: InputRows,
    existing: BatchRecord,
    progress: ProgressOption,
) -> list[Order]:
    """Same key, same orders: resolve what is unknown, re-send only what was never placed."""
    stored = await desk.ledger.run(desk.ledger.store.batch_orders, existing.batch_id)
    pending = [o for o in stored if o.status is OrderStatus.PENDING and o.placed]
    if pending:
        resolved = await desk.ops.reconcile_and_finalize(pending, wait=True)
        by_id = {o.client_order_id: o for o in resolved}
        stored = [by_id.get(o.client_order_id, o) for o in stored]
    unplaced = {
        o.client_order_id for o in stored if not o.placed and o.status is not OrderStatus.INVALID
    }
    if unplaced:
        _check_credentials(desk)
        check_not_halted(desk)  # (and one set meanwhile: the claim below refuses it)
        now = pd.Timestamp.now(tz="UTC")
        prepared, _ = await _prepare(
            desk,
            rows,
            batch_id=existing.batch_id,
            key=existing.key,
            id_seed=id_seed(existing.key, existing.batch_id, _attempt(existing)),
            all_or_nothing=bool(existing.params.get("all_or_nothing", False)),
            now=now,
        )
        now = pd.Timestamp.now(tz="UTC")  # the second write-ahead starts the window again
        not_after = now + pd.Timedelta(
            seconds=send_window(desk.config.send_window, desk.limiter, len(unplaced))
        )
        position = {o.client_order_id: i for i, o in enumerate(stored)}
        again = [
            p
            for p in prepared
            if p.request is not None
            and p.request.client_order_id in unplaced
            and p.request.client_order_id in position
        ]
        retry = [
            dataclasses.replace(
                stored[position[p.request.client_order_id]],
                status=OrderStatus.PENDING,
                outcome=Outcome.UNKNOWN,
                error_code=None,
                error_msg=None,
                not_after=not_after,
                updated_at=now,
            )
            for p in again
            if p.request is not None
        ]
        # Write-ahead again, as a compare-and-set: a concurrent re-run of this key (in this
        # process or another) claims each row at most once, and only the claimer sends it.
        claimed = await desk.ledger.finalize(retry, "submit", claim=(existing.batch_id, not_after))
        for order in claimed:
            stored[position[order.client_order_id]] = order
        mine = {o.client_order_id for o in claimed}
        if len(mine) < len(retry):  # another run sends the rest: show their current state
            current = await desk.ledger.run(desk.ledger.store.batch_orders, existing.batch_id)
            now_by_id = {o.client_order_id: o for o in current}
            stored = [
                o if o.client_order_id in mine else now_by_id.get(o.client_order_id, o)
                for o in stored
            ]
        requests = [
            (position[p.request.client_order_id], p.request)
            for p in again
            if p.request is not None and p.request.client_order_id in mine
        ]
        if requests:
            cutoff = Cutoff(None)
            task = desk.spawn(
                _send_and_finish(desk, existing.batch_id, stored, requests, progress, cutoff)
            )
            stored = await _await_send(task, cutoff, rows, existing.key)
    return stored


def _frame(orders: Sequence[Order], rows: InputRows) -> pd.DataFrame:
    index = rows.index if len(rows.index) == len(orders) else None
    return orders_to_frame(list(orders), index=index)


def _result(orders: Sequence[Order], rows: InputRows, strict: bool) -> pd.DataFrame:
    frame = _frame(orders, rows)
    if strict:
        bad = [
            (label, o)
            for label, o in zip(frame.index, orders, strict=True)
            if o.status in (OrderStatus.INVALID, OrderStatus.REJECTED)
        ]
        if bad:
            lines = [f"row {label!r}: {o.status.value}: {o.error_msg}" for label, o in bad[:10]]
            more = f"\n... and {len(bad) - 10} more" if len(bad) > 10 else ""
            placed = Counter(
                o.status.value
                for o in orders
                if o.status not in (OrderStatus.INVALID, OrderStatus.REJECTED)
            )
            if placed:
                what = ", ".join(f"{n} {s}" for s, n in sorted(placed.items()))
                sent = f"; the other {sum(placed.values())} were placed ({what}): see the frame"
            elif all(o.status is OrderStatus.INVALID for o in orders):
                sent = "; nothing was sent"
            else:
                sent = "; none was placed"
            raise StrictBatchError(
                f"{len(bad)} of {len(orders)} rows were not accepted{sent}:\n"
                + "\n".join(lines)
                + more,
                frame,
            )
    return frame
