"""The open-order panel: one ipywidgets box with the session's open orders, kept live.

``tk.panel()`` shows, for one session: a header (exchange, stream state, counts by status, the
last update time, the last error), a symbol filter, a "Cancel all" button with a confirmation
step, and a table of the open orders (symbol, side, type, price, qty, filled, status, age, client
order id) with a Cancel button per row.

How it stays live without breaking the notebook (see ``ARCHITECTURE.md``):

* One :class:`_Board` per session and kernel loop holds the order state that every panel of that
  session shows, so several panels always agree. It consumes ``session.updates()`` -- every
  batch, cancel, refresh and user-data stream event comes through the session's finalize step --
  as a task **on the kernel's loop** (the loop ``panel()`` was called on).
* Each :class:`Panel` re-renders at most ``max_rate`` times per second (changes are coalesced with
  ``loop.call_later``), only on that loop, and only by setting widget traits: never from another
  thread, never by printing.
* A click schedules ``session.cancel(...)`` as a task and returns at once; the row shows
  "canceling" until the result arrives through the same update path.
* Without a user-data stream the session's feed polls; a session without a feed is polled by the
  board itself every ``poll_interval`` seconds.
* Displaying a panel outputs, beside the live widget, a static HTML table of the state at that
  moment: live front ends show the widget (and hide the copy), papermill output rendered by
  nbconvert and other static viewers show the table instead of a blank cell.
  Background updates are not saved in a papermill output notebook: display
  :meth:`Panel.snapshot` in a final cell, after ``await tk.wait(...)``, for the final state.
* Time comes from a :class:`Clock` (the kernel loop's by default); tests pass a fake one, so
  that coalescing, ticks, lingering rows and polling never depend on how fast the machine is.

Example::

    import toolkit as tk
    await tk.connect()
    await tk.batch(df)
    p = tk.panel()          # the live widget (last expression of the cell)
    ...
    p.snapshot()            # static HTML, e.g. the last cell of a papermill run
    p.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
import time
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, Protocol

import pandas as pd

from ..core._exceptions import ToolkitError, UsageError
from ..core._frame import frame_to_orders
from ..core._models import OPEN_STATUSES, Market, Order
from ..session._connect import default_session
from ..store._store import Halt

__all__ = [
    "Clock",
    "FeedView",
    "LoopClock",
    "Panel",
    "PanelSession",
    "Snapshot",
    "TimerHandle",
    "panel",
]

class _PanelConfig(Protocol):
    """The settings the panel shows."""

    @property
    def exchange(self) -> str: ...
    @property
    def market(self) -> Market: ...
    @property
    def live(self) -> bool: ...


class FeedView(Protocol):
    """What the panel shows and sets of a session's order feed."""

    @property
    def state(self) -> Any:
        """The feed's state (an enum: its ``value`` is shown)."""
        ...

    def set_poll_interval(self, seconds: float) -> None:
        """Change the polling pace."""
        ...


class PanelSession(Protocol):
    """What the panel uses of a :class:`~toolkit.Session` (tests pass a fake one)."""

    @property
    def config(self) -> _PanelConfig: ...
    @property
    def closed(self) -> bool: ...
    @property
    def feed(self) -> FeedView | None: ...
    def open_order_state(self) -> list[Order]: ...
    def updates(self) -> AsyncIterator[list[Order]]: ...
    async def open_orders(self, symbol: str | None = None) -> pd.DataFrame: ...
    async def cancel(self, orders: pd.DataFrame | str | Sequence[str]) -> pd.DataFrame: ...
    async def cancel_all(self, symbol: str | None = None) -> pd.DataFrame: ...
    def halted(self) -> Halt | None: ...
    def halt(self, reason: str = ...) -> Halt: ...
    def resume(self) -> None: ...


#: Table columns: header label, width (CSS grid track).
_COLUMNS: tuple[tuple[str, str], ...] = (
    ("symbol", "100px"),
    ("side", "44px"),
    ("type", "92px"),
    ("price", "100px"),
    ("qty", "90px"),
    ("filled", "90px"),
    ("status", "138px"),
    ("age", "56px"),
    ("client order id", "minmax(120px, 1fr)"),
)
_GRID = " ".join(width for _, width in _COLUMNS)
_ALL = "All symbols"
_STATUS_COLORS = {
    "NEW": "#1565c0",
    "PARTIALLY_FILLED": "#ef6c00",
    "FILLED": "#2e7d32",
    "CANCELED": "#757575",
    "EXPIRED": "#757575",
    "REJECTED": "#c62828",
    "INVALID": "#c62828",
    "PENDING": "#6a1b9a",
    "CANCELING": "#6a1b9a",
}
_HEADER_STATUSES = ("PENDING", "NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED",
                    "REJECTED", "INVALID")
_STYLE = (
    "<style>"
    ".tk-panel .tk-row{display:grid;grid-template-columns:" + _GRID + ";gap:0 8px;"
    "font-family:var(--jp-code-font-family,monospace);font-size:12px;align-items:center}"
    ".tk-panel .tk-head{font-weight:bold;border-bottom:1px solid #ccc}"
    ".tk-panel .tk-done{opacity:.55}"
    ".tk-panel .tk-cid{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}"
    "</style>"
)


#: Hide the static copy wherever the live widget rendered (JupyterLab, Notebook 7, Voilà and
#: classic Notebook output areas); nbconvert's HTML has no rendered widget, so the copy shows.
_STATIC_STYLE = (
    "<style>.jp-OutputArea:has(.tk-panel) .tk-static,"
    ".output:has(.tk-panel) .tk-static{display:none}</style>"
)


class TimerHandle(Protocol):
    """A scheduled call that can be cancelled (``asyncio.TimerHandle`` is one)."""

    def cancel(self) -> None:
        """Do not run the call."""


class Clock(Protocol):
    """Where the panel gets its time and timers from (see :class:`LoopClock`).

    Example::

        tk.panel(clock=my_clock)     # e.g. a fake clock in tests
    """

    def time(self) -> float:
        """Monotonic seconds: coalescing and ticks are measured in them."""

    def wall(self) -> float:
        """Unix time in seconds: ages, linger and "last update" are shown in it."""

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        """Run ``callback()`` on the panel's loop after ``delay`` seconds."""

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (the board's own polling waits with it)."""


class LoopClock:
    """The default :class:`Clock`: the kernel loop's time and timers, and the system's time.

    Example::

        clock = LoopClock(asyncio.get_running_loop())
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def time(self) -> float:
        """The loop's monotonic time."""
        return self.loop.time()

    def wall(self) -> float:
        """``time.time()``."""
        return time.time()

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        """``loop.call_later``."""
        return self.loop.call_later(delay, callback)

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(seconds)


class Snapshot(str):
    """Static HTML of a panel (a ``str``); notebooks and papermill render it as HTML.

    Example::

        p.snapshot()            # as the last expression of a cell
    """

    def _repr_html_(self) -> str:
        return str(self)


def _fmt(value: float | None) -> str:
    if value is None or value != value:  # None or NaN
        return ""
    return f"{value:.8f}".rstrip("0").rstrip(".") or "0"


def _age(created: pd.Timestamp | None, now: float) -> str:
    if created is None:
        return ""
    seconds = max(0, int(now - created.timestamp()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _css_name(client_order_id: str) -> str:
    """A CSS class naming the order (client ids may hold ``.:/`` which classes cannot)."""
    return "tk-cid-" + re.sub(r"[^A-Za-z0-9_-]", "_", client_order_id)


def _clock(ts: float | None) -> str:
    if ts is None:
        return "never"
    return time.strftime("%H:%M:%S UTC", time.gmtime(ts))


class _Board:
    """The order state all panels of one session (on one loop) show; see the module docstring."""

    def __init__(
        self, session: PanelSession, loop: asyncio.AbstractEventLoop, *, linger: float,
        clock: Clock | None = None,
    ) -> None:
        self.session = session
        self.loop = loop
        self.clock: Clock = clock or LoopClock(loop)
        self.linger = linger
        #: Orders on the board: open ones, plus done ones for ``linger`` seconds.
        self.orders: dict[str, Order] = {}
        #: Last status of every order seen since the board started (for the counts).
        self.seen: dict[str, str] = {}
        self.done_at: dict[str, float] = {}
        self.canceling: set[str] = set()
        self.row_errors: dict[str, str] = {}
        self.last_error: str | None = None
        self.last_update: float | None = None
        self.closed = session.closed
        self.views: weakref.WeakSet[Panel] = weakref.WeakSet()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._poll_interval: float | None = None
        self._consumer: asyncio.Task[None] | None = None
        if not self.closed:
            with contextlib.suppress(RuntimeError):  # the state dict changed meanwhile
                self._apply(session.open_order_state())
            self._consumer = loop.create_task(self._consume())
            self.spawn(self.refresh())

    # -- state ----------------------------------------------------------------------------------

    def _apply(self, orders: Iterable[Order]) -> None:
        now = self.clock.wall()
        changed = False
        for order in orders:
            if (
                order.exchange != self.session.config.exchange
                or order.market != self.session.config.market.value
            ):
                continue
            cid = order.client_order_id
            self.seen[cid] = order.status.value
            if order.status in OPEN_STATUSES:
                self.orders[cid] = order
                self.done_at.pop(cid, None)
            elif cid in self.orders:
                self.orders[cid] = order
                self.done_at.setdefault(cid, now)
                self.canceling.discard(cid)
            changed = True
        if changed:
            self.touch(now)

    def _forget_missing(self, listed: set[str], started: float) -> None:
        """A full refresh did not list these open orders: they are no longer open."""
        now = self.clock.wall()
        for cid, order in list(self.orders.items()):
            if order.status in OPEN_STATUSES and cid not in listed:
                updated = order.updated_at.timestamp() if order.updated_at is not None else 0.0
                if updated < started:
                    self.orders.pop(cid, None)
                    self.canceling.discard(cid)
                    self.row_errors.pop(cid, None)
                    self.seen.pop(cid, None)
        self.touch(now)

    def prune(self) -> None:
        """Drop done rows whose linger time is over."""
        now = self.clock.wall()
        for cid, at in list(self.done_at.items()):
            if now - at >= self.linger:
                self.done_at.pop(cid, None)
                self.orders.pop(cid, None)
                self.row_errors.pop(cid, None)

    def touch(self, now: float | None = None) -> None:
        self.last_update = now or self.clock.wall()
        for view in list(self.views):
            view._schedule()

    def counts(self) -> Counter[str]:
        counts: Counter[str] = Counter(self.seen.values())
        return counts

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return [
            o
            for o in self.orders.values()
            if o.status in OPEN_STATUSES and (symbol is None or o.symbol == symbol)
        ]

    def rows(self, symbol: str | None = None) -> list[Order]:
        rows = [o for o in self.orders.values() if symbol is None or o.symbol == symbol]
        epoch = pd.Timestamp(0, tz="UTC")
        rows.sort(key=lambda o: (o.created_at or epoch, o.client_order_id), reverse=True)
        return rows

    def symbols(self) -> list[str]:
        return sorted({o.symbol for o in self.orders.values()})

    def feed_state(self) -> str:
        feed = self.session.feed
        if feed is not None:
            return str(feed.state.value)
        return "polling" if self._poll_interval else "updates"

    # -- work -----------------------------------------------------------------------------------

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def error(self, text: str) -> None:
        self.last_error = f"{_clock(self.clock.wall())}  {text}"
        self.touch()

    async def _consume(self) -> None:
        try:
            async for orders in self.session.updates():
                self._apply(orders)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the session closed under us, or similar
            self.error(f"updates stopped: {exc}")
        if self.session.closed:
            self.closed = True
            self.touch()

    async def refresh(self) -> None:
        """A full REST refresh of the open orders (also forgets orders no longer open)."""
        if self.closed:
            return
        started = self.clock.wall()
        try:
            frame = await self.session.open_orders()
        except ToolkitError as exc:
            if self.session.closed:
                self.closed = True
                self.touch()
            else:
                self.error(f"refresh failed: {exc}")
            return
        orders = frame_to_orders(frame)
        self._apply(orders)
        self._forget_missing({o.client_order_id for o in orders}, started)

    def set_poll_interval(self, seconds: float | None) -> None:
        """Poll through the session's feed if it has one, else from here."""
        if seconds is None:
            return
        feed = self.session.feed
        if feed is not None:
            feed.set_poll_interval(seconds)
            return
        first = self._poll_interval is None
        self._poll_interval = seconds
        if first:
            self.spawn(self._poll())

    async def _poll(self) -> None:
        while not self.closed and self._poll_interval:
            await self.clock.sleep(self._poll_interval)
            if self.views:
                await self.refresh()

    def cancel(self, client_order_id: str) -> None:
        """Schedule the cancel of one order (returns at once)."""
        if self.closed or client_order_id in self.canceling:
            return
        self.canceling.add(client_order_id)
        self.row_errors.pop(client_order_id, None)
        self.touch()
        self.spawn(self._cancel([client_order_id]))

    async def _cancel(self, ids: list[str]) -> None:
        try:
            frame = await self.session.cancel(ids)
            for order in frame_to_orders(frame):
                if order.error_msg and order.status in OPEN_STATUSES:
                    self.row_errors[order.client_order_id] = order.error_msg
                    self.error(f"cancel {order.client_order_id}: {order.error_msg}")
                self._apply([order])
        except ToolkitError as exc:
            for cid in ids:
                self.row_errors[cid] = str(exc)
            self.error(f"cancel failed: {exc}")
        finally:
            for cid in ids:
                self.canceling.discard(cid)
            self.touch()

    def halt_state(self) -> str | None:
        """The reason of the halt in force for the session's store, or ``None``."""
        halt = self.session.halted()
        return None if halt is None else halt.reason

    def toggle_halt(self) -> None:
        """Halt trading for the store (every process using it), or lift the halt in force."""
        try:
            if self.session.halted() is None:
                self.session.halt("halted from the panel")
            else:
                self.session.resume()
        except ToolkitError as exc:
            self.error(f"halt: {exc}")
        self.touch()

    def cancel_all(self, symbol: str | None) -> None:
        """Schedule the cancel of every open order on the board (of ``symbol``)."""
        targets = [o for o in self.open_orders(symbol) if o.client_order_id not in self.canceling]
        if self.closed or not targets:
            return
        self.canceling.update(o.client_order_id for o in targets)
        self.touch()
        for sym in sorted({o.symbol for o in targets}):
            ids = [o.client_order_id for o in targets if o.symbol == sym]
            self.spawn(self._cancel_all(sym, ids))

    async def _cancel_all(self, symbol: str, ids: list[str]) -> None:
        try:
            frame = await self.session.cancel_all(symbol)
            self._apply(frame_to_orders(frame))
        except ToolkitError as exc:
            self.error(f"cancel all {symbol}: {exc}")
        finally:
            self.canceling.difference_update(ids)
            self.touch()

    def detach(self, view: Panel) -> None:
        self.views.discard(view)
        if not self.views:
            self.stop()

    def stop(self) -> None:
        for task in [self._consumer, *self._tasks]:
            if task is not None and not task.done():
                task.cancel()
        self._consumer = None
        _boards.pop(_board_key(self.session, self.loop), None)


_boards: dict[tuple[int, int], _Board] = {}


def _board_key(session: PanelSession, loop: asyncio.AbstractEventLoop) -> tuple[int, int]:
    return id(session), id(loop)


def _board_for(session: PanelSession, loop: asyncio.AbstractEventLoop, linger: float,
               clock: Clock | None = None) -> _Board:
    key = _board_key(session, loop)
    board = _boards.get(key)
    if board is None or board.session is not session or board.loop.is_closed():
        board = _boards[key] = _Board(session, loop, linger=linger, clock=clock)
    return board


def _widgets() -> Any:
    """ipywidgets, imported on first use (``import toolkit`` must not pull it in)."""
    try:
        import ipywidgets
    except ImportError as exc:
        raise ToolkitError(
            "the open-order panel needs ipywidgets, a dependency of toolkit that is missing from "
            "this environment: pip install 'ipywidgets>=8.1,<9' (or reinstall toolkit)"
        ) from exc
    return ipywidgets


class Panel:
    """One view of a session's open orders (an ipywidgets ``VBox`` in :attr:`widget`).

    Displaying the panel displays its widget. Use :func:`panel` (``tk.panel()``) to make one.

    Example::

        p = tk.panel()
        p.snapshot()        # static HTML of the current state
        p.close()           # stop updates and close the widgets
    """

    def __init__(self, board: _Board, *, max_rate: float = 4.0, tick: float = 1.0) -> None:
        w = _widgets()
        self._w = w
        self._board = board
        self._clock = board.clock
        self._min_gap = 1.0 / max_rate
        self._tick_every = tick
        self._last_render = 0.0
        self._handle: TimerHandle | None = None
        self._ticker: TimerHandle | None = None
        self._closed = False
        self._rows: dict[str, tuple[Any, Any, Any]] = {}  # cid -> (HBox, HTML, Button)
        #: Number of renders so far (tests check coalescing with it).
        self.renders = 0

        self.header = w.HTML()
        self.error_line = w.HTML()
        self.filter = w.Dropdown(options=[_ALL], value=_ALL, description="Symbol",
                                 layout=w.Layout(width="240px"))
        self.cancel_all_button = w.Button(description="Cancel all", button_style="warning",
                                          icon="times", tooltip="Cancel every open order shown")
        self.cancel_all_button.add_class("tk-cancel-all")
        self.confirm_text = w.HTML()
        self.confirm_button = w.Button(description="Confirm", button_style="danger",
                                       tooltip="Yes, cancel them")
        self.confirm_button.add_class("tk-confirm")
        self.back_button = w.Button(description="Back", tooltip="Do not cancel")
        self.back_button.add_class("tk-back")
        self.halt_button = w.Button(description="Halt", button_style="danger", icon="stop",
                                    tooltip="Stop every new send, in every process using this"
                                            " store (cancels nothing)")  # fmt: skip
        self.halt_button.add_class("tk-halt")
        self.confirm_box = w.HBox([self.confirm_text, self.confirm_button, self.back_button],
                                  layout=w.Layout(display="none"))
        self.table_head = w.HTML(self._head_html())
        self.rows_box = w.VBox()
        self.footer = w.HTML()
        self.widget = w.VBox(
            [
                w.HTML(_STYLE),
                self.header,
                self.error_line,
                w.HBox([self.filter, self.cancel_all_button, self.halt_button]),
                self.confirm_box,
                self.table_head,
                self.rows_box,
                self.footer,
            ]
        )
        self.widget.add_class("tk-panel")
        self.filter.observe(self._on_filter, names="value")
        self.cancel_all_button.on_click(self._on_cancel_all)
        self.confirm_button.on_click(self._on_confirm)
        self.back_button.on_click(self._on_back)
        self.halt_button.on_click(self._on_halt)
        board.views.add(self)
        self._render()
        self._ticker = self._clock.call_later(self._tick_every, self._tick)

    # -- display --------------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self) -> None:
        """Display the live widget and, as a second output, the static table of this moment.

        Front ends that render the widget hide the static copy (a CSS rule keyed on the
        widget's ``tk-panel`` class); a papermill output notebook rendered by nbconvert, or any
        viewer without the widget's JavaScript, shows the table instead of a blank cell.
        """
        from IPython import display as ipython_display

        show: Any = ipython_display.display  # untyped
        show(self.widget)
        show({"text/html": self.static_html()}, raw=True)

    def static_html(self) -> str:
        """The static copy of the panel shown beside the widget (see :meth:`_ipython_display_`)."""
        return (
            _STATIC_STYLE + '<div class="tk-static">' + str(self.snapshot())
            + "<small><i>static copy, as displayed; the live panel is the widget</i></small>"
            "</div>"
        )

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._rows)} rows"
        return f"<Panel {self._board.session!r} {state}>"

    # -- public state ---------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    @property
    def symbol(self) -> str | None:
        """The symbol filter (None: all symbols)."""
        value = self.filter.value
        return None if value in (None, _ALL) else str(value)

    def rows(self) -> list[dict[str, Any]]:
        """The rows shown now, as dicts (what the table displays, plus the order itself)."""
        now = self._board.clock.wall()
        board = self._board
        out = []
        for order in board.rows(self.symbol):
            cid = order.client_order_id
            status = "CANCELING" if cid in board.canceling else order.status.value
            out.append(
                {
                    "client_order_id": cid,
                    "symbol": order.symbol,
                    "side": str(order.side or ""),
                    "type": str(order.type or ""),
                    "price": _fmt(order.price),
                    "qty": _fmt(order.qty),
                    "filled": _fmt(order.filled_qty),
                    "status": status,
                    "age": _age(order.created_at, now),
                    "error": board.row_errors.get(cid, ""),
                    "order": order,
                }
            )
        return out

    def counts(self) -> dict[str, int]:
        """Orders seen by the panel's board, by status (open ones by their current status)."""
        return dict(self._board.counts())

    def cancel_button(self, client_order_id: str) -> Any:
        """The Cancel button of one row (for tests and scripted use)."""
        return self._rows[client_order_id][2]

    def snapshot(self) -> Snapshot:
        """A static HTML table of the current open orders (for papermill's final cells).

        Example::

            await tk.wait(frame, timeout=30)
            p.snapshot()
        """
        board = self._board
        rows = self.rows()
        counts = " · ".join(f"{k} {v}" for k, v in sorted(board.counts().items()))
        head = "".join(f"<th>{html.escape(label)}</th>" for label, _ in _COLUMNS)
        body = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(r[key]))}</td>"
                for key in ("symbol", "side", "type", "price", "qty", "filled", "status", "age",
                            "client_order_id")
            )
            + "</tr>"
            for r in rows
        )
        cfg = board.session.config
        title = (
            f"<p><b>Open orders</b> · {html.escape(cfg.exchange)}/{cfg.market.value} · "
            f"{len(rows)} rows · {html.escape(counts or 'no orders')} · "
            f"snapshot {_clock(board.clock.wall())}"
            + (" · session closed" if board.closed else "")
            + "</p>"
        )
        empty = f'<tr><td colspan="{len(_COLUMNS)}">no open orders</td></tr>' if not rows else ""
        return Snapshot(
            f'<div class="tk-snapshot">{title}<table><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}{empty}</tbody></table></div>"
        )

    def close(self) -> None:
        """Stop updating this panel and close its widgets (other panels keep working)."""
        if self._closed:
            return
        self._closed = True
        for handle in (self._handle, self._ticker):
            if handle is not None:
                handle.cancel()
        self._handle = self._ticker = None
        self._board.detach(self)
        self._close_widgets()

    def _close_widgets(self) -> None:
        for box, cells, button in self._rows.values():
            for widget in (button, cells, box):
                widget.close()
        self._rows.clear()
        others = (self.confirm_text, self.confirm_button, self.back_button,
                  self.cancel_all_button, self.filter, self.widget)
        for widget in (*self.widget.children, *others):
            widget.close()

    # -- events (all on the kernel loop) --------------------------------------------------------

    def _schedule(self) -> None:
        """Coalesce: render at most once per ``1/max_rate`` seconds."""
        if self._closed or self._handle is not None:
            return
        delay = max(0.0, self._last_render + self._min_gap - self._clock.time())
        self._handle = self._clock.call_later(delay, self._render)

    def _tick(self) -> None:
        self._ticker = None
        if self._closed:
            return
        self._board.prune()
        self._schedule()  # ages move, lingering rows leave
        self._ticker = self._clock.call_later(self._tick_every, self._tick)

    def _on_filter(self, change: Any) -> None:
        self._on_back()
        self._schedule()

    def _on_cancel_all(self, _button: Any) -> None:
        targets = self._board.open_orders(self.symbol)
        if not targets or self._board.closed:
            return
        scope = self.symbol or "all symbols"
        self.confirm_text.value = (
            f"<b>Cancel {len(targets)} open order{'s' if len(targets) != 1 else ''}"
            f" ({html.escape(scope)})?</b>&nbsp;"
        )
        self.confirm_box.layout.display = "flex"
        self.cancel_all_button.disabled = True

    def _on_confirm(self, _button: Any) -> None:
        self._on_back()
        self._board.cancel_all(self.symbol)

    def _on_halt(self, _button: Any) -> None:
        self._board.toggle_halt()

    def _on_back(self, _button: Any = None) -> None:
        self.confirm_box.layout.display = "none"
        self.cancel_all_button.disabled = self._board.closed

    def _on_cancel(self, client_order_id: str) -> Callable[[Any], None]:
        def click(_button: Any) -> None:
            self._board.cancel(client_order_id)

        return click

    # -- rendering ------------------------------------------------------------------------------

    @staticmethod
    def _head_html() -> str:
        cells = "".join(f"<div>{html.escape(label)}</div>" for label, _ in _COLUMNS)
        return f'<div class="tk-row tk-head">{cells}</div>'

    def _render(self) -> None:
        self._handle = None
        if self._closed:
            return
        self._last_render = self._clock.time()
        self.renders += 1
        board = self._board
        self._render_header()
        symbols = board.symbols()
        options = [_ALL, *symbols]
        current = self.filter.value
        if current not in options:  # keep the chosen symbol while it has no rows
            options.append(current)
        if list(self.filter.options) != options:
            self.filter.options = options
            self.filter.value = current
        rows = self.rows()
        seen = set()
        children = []
        for row in rows:
            cid = row["client_order_id"]
            seen.add(cid)
            entry = self._rows.get(cid)
            if entry is None:
                entry = self._new_row(cid)
                self._rows[cid] = entry
            box, cells, button = entry
            done = row["order"].status not in OPEN_STATUSES
            cells.value = self._row_html(row, done)
            canceling = row["status"] == "CANCELING"
            button.disabled = done or canceling or board.closed
            button.description = "Canceling" if canceling else "Cancel"
            children.append(box)
        for cid in [c for c in self._rows if c not in seen]:
            box, cells, button = self._rows.pop(cid)
            for widget in (button, cells, box):
                widget.close()
        if tuple(children) != tuple(self.rows_box.children):
            self.rows_box.children = tuple(children)
        self.cancel_all_button.disabled = board.closed or not board.open_orders(self.symbol)
        self.footer.value = (
            "<i>no open orders</i>" if not rows else f"<small>{len(rows)} rows</small>"
        )

    def _new_row(self, cid: str) -> tuple[Any, Any, Any]:
        w = self._w
        cells = w.HTML(layout=w.Layout(flex="1 1 auto"))
        button = w.Button(description="Cancel", tooltip=f"Cancel {cid}",
                          layout=w.Layout(width="90px", height="24px"))
        button.add_class("tk-cancel")
        button.add_class(_css_name(cid))
        button.on_click(self._on_cancel(cid))
        box = w.HBox([cells, button], layout=w.Layout(align_items="center"))
        box.add_class("tk-order")
        return box, cells, button

    @staticmethod
    def _row_html(row: dict[str, Any], done: bool) -> str:
        status = row["status"]
        color = _STATUS_COLORS.get(status, "#000")
        title = html.escape(row["error"], quote=True)
        err = f' <span title="{title}" style="color:#c62828">⚠</span>' if row["error"] else ""
        cells = [
            html.escape(row["symbol"]),
            html.escape(row["side"]),
            html.escape(row["type"]),
            row["price"],
            row["qty"],
            row["filled"],
            f'<span style="color:{color};font-weight:600">{status}</span>{err}',
            row["age"],
            f'<span class="tk-cid" title="{html.escape(row["client_order_id"], quote=True)}">'
            f'{html.escape(row["client_order_id"])}</span>',
        ]
        css = "tk-row tk-done" if done else "tk-row"
        body = "".join(f"<div>{c}</div>" for c in cells)
        cid = html.escape(row["client_order_id"], quote=True)
        return f'<div class="{css}" data-cid="{cid}">{body}</div>'

    def _render_header(self) -> None:
        board = self._board
        cfg = board.session.config
        counts = board.counts()
        parts = []
        for status in _HEADER_STATUSES:
            n = counts.get(status, 0)
            if n:
                color = _STATUS_COLORS.get(status, "#000")
                parts.append(f'<span style="color:{color}">{status} <b>{n}</b></span>')
        state = "session closed" if board.closed else board.feed_state()
        badge_color = "#c62828" if board.closed else (
            "#2e7d32" if state == "live" else "#ef6c00"
        )
        halt = None if board.closed else board.halt_state()
        self.halt_button.description = "Resume" if halt is not None else "Halt"
        self.halt_button.button_style = "success" if halt is not None else "danger"
        self.halt_button.disabled = board.closed
        live = (
            '<span class="tk-live" style="color:#fff;background:#c62828;padding:0 4px">'
            "<b>LIVE</b></span> · " if cfg.live else ""
        )
        halted = (
            f'<span class="tk-halted" style="color:#c62828"><b>HALTED</b>'
            f" ({html.escape(halt)})</span> · " if halt is not None else ""
        )
        self.header.value = (
            f'<div class="tk-header">{live}{halted}<b>Open orders</b> · '
            f'{html.escape(cfg.exchange)}/'
            f'{cfg.market.value} · <span class="tk-state" style="color:{badge_color}">'
            f"{html.escape(state)}</span> · {' · '.join(parts) or 'no orders yet'}"
            f' · <span class="tk-updated">last update {_clock(board.last_update)}</span></div>'
        )
        if board.closed:
            self.error_line.value = (
                '<div class="tk-closed" style="color:#c62828"><b>Session closed.</b> '
                "Run <code>await tk.connect()</code> and <code>tk.panel()</code> again.</div>"
            )
        elif board.last_error:
            self.error_line.value = (
                f'<div class="tk-error" style="color:#c62828">last error: '
                f"{html.escape(board.last_error)}</div>"
            )
        else:
            self.error_line.value = ""


def panel(
    session: PanelSession | None = None,
    *,
    poll_interval: float | None = None,
    linger: float = 5.0,
    max_rate: float = 4.0,
    clock: Clock | None = None,
) -> Panel:
    """The live open-order panel of ``session`` (default: the default session).

    ``poll_interval`` sets how often open orders are refreshed when there is no user-data
    stream; ``linger`` is how long a finished order stays in the table (greyed out);
    ``max_rate`` caps refreshes per second; ``clock`` replaces the kernel loop's time and timers
    (tests pass a fake :class:`Clock`). Call it from a notebook cell (the kernel's loop).

    Example::

        await tk.connect()
        tk.panel()                       # last expression of the cell
        tk.panel(poll_interval=2)        # poll every 2 s where there is no stream
    """
    _widgets()  # fail before anything starts if ipywidgets is missing
    if session is None:
        session = _default_session()
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise UsageError(
            "tk.panel() needs a running event loop: call it from a notebook cell "
            "(or an async function); in scripts use tk.orders() / await tk.open_orders()"
        ) from None
    board = _board_for(session, loop, linger, clock)
    board.set_poll_interval(poll_interval)
    return Panel(board, max_rate=max_rate)


def _default_session() -> PanelSession:
    return default_session()
