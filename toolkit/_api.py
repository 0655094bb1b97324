"""The module-level calls: ``tk.batch``, ``tk.cancel``, ``tk.orders``, ``tk.sql``, ``tk.panel``...

Each delegates to the default :class:`~toolkit.session._session.Session` (the last
``connect()``ed, else the embedded paper exchange, spot); ``tk.run`` is the blocking bridge for
sync code. The package's ``__init__`` only re-exports these.

Example::

    import toolkit as tk
    result = await tk.batch(df, key="rebalance-2026-11-25")
    tk.orders(key="rebalance-2026-11-25")
"""

from __future__ import annotations

import importlib
import os
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from .core._exceptions import ToolkitError
from .core._guards import Limits
from .core._models import Market, Order
from .runtime import _runner
from .runtime._events import Callback, Subscription
from .session._connect import close_default, default_session
from .session._session import Session

# The panel module is imported on first use (tk.panel()); ProgressOption is the type of
# batch(progress=...), not a public name of its own.
if TYPE_CHECKING:
    from .notebook._panel import Panel
    from .runtime._progress import ProgressOption
    from .store._costs import CostReport

__all__ = [
    "batch",
    "cancel",
    "cancel_all",
    "candles",
    "close",
    "costs",
    "depth",
    "export",
    "fills",
    "halt",
    "halted",
    "open_orders",
    "orders",
    "panel",
    "positions",
    "resume",
    "run",
    "sql",
    "subscribe",
    "sync_fills",
    "tickers",
    "updates",
    "wait",
]

_T = TypeVar("_T")


def run(awaitable: Awaitable[_T], *, timeout: float | None = None) -> _T:
    """Run a toolkit coroutine to completion from sync code and return its result.

    Works in scripts, in worker threads, and inside a running loop (a sync function called from
    a notebook cell); all callers share one I/O loop and one HTTP session per exchange.

    Example::

        frame = tk.run(tk.batch(df))
    """
    return _runner.run(awaitable, timeout=timeout)


async def batch(
    orders: pd.DataFrame | Sequence[Mapping[str, Any]],
    *,
    key: str | None = None,
    market: Market | str | None = None,
    all_or_nothing: bool = False,
    progress: ProgressOption = None,
    strict: bool = False,
    run_params: Mapping[str, Any] | None = None,
    limits: Limits | None = None,
) -> pd.DataFrame:
    """Validate and place a batch of orders; returns the order frame (same rows, same index).

    ``key`` makes re-runs place nothing twice; ``strict`` sends nothing if a row is INVALID and
    raises ``StrictBatchError`` if a row is INVALID or REJECTED; ``run_params`` (a papermill
    job's parameters) go into the batch row; ``limits`` (``tk.Limits``) replaces the session's
    pre-trade limits for this batch. ``progress``: ``True``/``False`` forces the progress bar
    on/off, or pass a tqdm bar you displayed and the batch moves it (for Voila).

    Example::

        result = await tk.batch(df, key="rebalance-2026-11-25")
    """
    return await default_session().batch(
        orders,
        key=key,
        market=market,
        all_or_nothing=all_or_nothing,
        progress=progress,
        strict=strict,
        run_params=run_params,
        limits=limits,
    )


async def cancel(orders: pd.DataFrame | str | Sequence[str]) -> pd.DataFrame:
    """Cancel orders (an order frame, client order ids or order ids); returns their frame.

    Example::

        await tk.cancel(result)
    """
    return await default_session().cancel(orders)


async def cancel_all(symbol: str | None = None) -> pd.DataFrame:
    """Cancel every open order (of ``symbol``); returns the order frame of what was cancelled.

    Example::

        await tk.cancel_all("BTCUSDT")
    """
    return await default_session().cancel_all(symbol)


async def open_orders(symbol: str | None = None) -> pd.DataFrame:
    """Open orders refreshed from the exchange (from the store when offline).

    Example::

        await tk.open_orders()
    """
    return await default_session().open_orders(symbol)


async def wait(
    orders: pd.DataFrame | str | Sequence[str], *, until: str = "done", timeout: float = 60.0
) -> pd.DataFrame:
    """Wait until the orders are done (or accepted), or ``timeout``; returns their frame.

    Example::

        final = await tk.wait(result, timeout=30)
    """
    return await default_session().wait(orders, until=until, timeout=timeout)


def orders(**filters: Any) -> pd.DataFrame:
    """Order history from the store: ``status``, ``symbol``, ``key``, ``since``, ``batch_id``...

    Example::

        tk.orders(status="FILLED", since="2026-11-25")
    """
    return default_session().orders(**filters)


def halt(reason: str = "halted by the user") -> Any:
    """Stop every new send at once, here and in every process using the same store.

    Batches sending now stop (the rest of their rows is recorded as not placed) and raise
    ``BatchInterrupted``; new ones raise ``TradingHalted``. Nothing is cancelled:
    ``tk.cancel_all()`` does that. ``tk.resume()`` lifts it.

    Example::

        tk.halt("the signal looks broken")
    """
    return default_session().halt(reason)


def resume() -> None:
    """Lift a halt (for every process using the store).

    Example::

        tk.resume()
    """
    default_session().resume()


def halted() -> Any:
    """The halt in force for the store (``reason``, ``since``), or ``None``.

    Example::

        tk.halted()
    """
    return default_session().halted()


async def sync_fills() -> int:
    """Fetch this account's fills into the store (from the last one known); returns the new ones.

    Example::

        await tk.sync_fills()
    """
    return await default_session().sync_fills()


def fills(**filters: Any) -> pd.DataFrame:
    """Fills from the store, each with its order's client order id, batch and key.

    Example::

        tk.fills(key="rebalance-2026-11-25")
    """
    return default_session().fills(**filters)


async def positions() -> pd.DataFrame:
    """What the account holds (spot: balances valued in USDT with weights; USD-M: open
    positions), from the exchange; also kept as a snapshot in the store's ``positions`` table.

    Example::

        await tk.positions()
    """
    return await default_session().positions()


def costs(key: str | None = None, batch_id: str | None = None) -> CostReport:
    """What a batch cost (default: the last one): arrival price, average fill price, slippage
    in bps, fees in the quote currency, fill ratio, time to first and last fill, per order and
    for the batch (``.summary``); ``.plot()`` draws the fills against the price path.

    Example::

        report = tk.costs(key="rebalance-2026-11-25")
        report.plot()
    """
    return default_session().costs(key=key, batch_id=batch_id)


async def candles(
    symbols: str | Sequence[str], interval: str = "1m", start: Any = None, end: Any = None
) -> pd.DataFrame:
    """Candles of ``symbols`` into the store and back as a frame (only what is missing is fetched).

    Example::

        await tk.candles(["BTCUSDT", "ETHUSDT"], "1h", start="2026-11-01")
    """
    return await default_session().candles(symbols, interval, start, end)


async def depth(symbol: str, limit: int = 100) -> pd.DataFrame:
    """The order book of ``symbol`` as a frame.

    Example::

        await tk.depth("BTCUSDT", limit=20)
    """
    return await default_session().depth(symbol, limit)


async def tickers(symbols: str | Sequence[str] | None = None) -> pd.DataFrame:
    """24-hour tickers of ``symbols`` (all when ``None``) as a frame.

    Example::

        await tk.tickers("BTCUSDT")
    """
    return await default_session().tickers(symbols)


def sql(query: str, *, write: bool = False) -> pd.DataFrame:
    """Run SQL on the store (``orders``, ``order_events``, ``batches``; the research tables
    ``fills``, ``candles``, ``positions``, ``position_snapshots`` and the view
    ``batch_positions``) and get a DataFrame.

    Reads only: a query that would change the store raises ``StoreError``. ``write=True``
    allows it, for tables of your own beside the toolkit's (which are its record, rewritten
    from its journal).

    Example::

        tk.sql("select status, count(*) n from orders group by status")
        tk.sql("create table signals as select * from read_parquet('s.parquet')", write=True)
    """
    return default_session().sql(query, write=write)


def export(path: str | os.PathLike[str]) -> Path:
    """Write the store as Parquet partitioned by date under ``path``; returns the directory.

    Example::

        tk.export("history/")
    """
    return default_session().export(path)


def subscribe(callback: Callback) -> Subscription:
    """Call ``callback(list[Order])`` on every order update of the default session.

    Example::

        sub = tk.subscribe(lambda orders: print(orders))
    """
    return default_session().subscribe(callback)


def updates() -> AsyncIterator[list[Order]]:
    """Async iterator of the default session's order updates.

    Example::

        async for orders in tk.updates():
            print(orders)
    """
    return default_session().updates()


def panel(session: Session | None = None, **options: Any) -> Panel:
    """The live open-order panel (ipywidgets) of ``session`` (default: the default session).

    Options: ``poll_interval`` (seconds between refreshes where there is no user-data stream),
    ``linger`` (seconds a finished order stays listed), ``max_rate`` (refreshes per second).
    ``panel.snapshot()`` is a static HTML table for papermill's final cells.

    Example::

        tk.panel()
        tk.panel(futures, poll_interval=2)
    """
    try:
        module = importlib.import_module("toolkit.notebook._panel")
    except ImportError as exc:
        raise ToolkitError(
            "the open-order panel needs ipywidgets, a dependency of toolkit that is missing from "
            "this environment: pip install 'ipywidgets>=8.1,<9' (or reinstall toolkit)"
        ) from exc
    made: Panel = module.panel(session or default_session(), **options)
    return made


async def close() -> None:
    """Close the default session (also done automatically at exit).

    Example::

        await tk.close()
    """
    await close_default()
