"""toolkit: place batches of exchange orders from notebooks.

DataFrame in, normalized order frame out, DuckDB as the system of record, and an embedded paper
exchange speaking Binance REST as the default. Every module-level call delegates to the default
:class:`Session` (the last ``connect()``ed, else the embedded paper exchange, spot).

Example::

    import toolkit as tk
    result = await tk.batch([{"symbol": "BTC/USDT", "side": "buy", "type": "limit",
                              "price": "90000", "qty": "0.001"}])
    await tk.cancel(result)
    tk.orders(status="CANCELED")
"""

from __future__ import annotations

import logging

from ._api import (
    batch,
    cancel,
    cancel_all,
    candles,
    close,
    costs,
    depth,
    export,
    fills,
    halt,
    halted,
    open_orders,
    orders,
    panel,
    positions,
    resume,
    run,
    sql,
    subscribe,
    sync_fills,
    tickers,
    updates,
    wait,
)
from .core._exceptions import (
    AuthenticationError,
    BatchInterrupted,
    BatchNotSavedError,
    ConfigError,
    ExchangeError,
    ExchangeUnavailable,
    InputError,
    KeyReuseError,
    OrderRejected,
    RateLimitError,
    RequestTimeout,
    ServerError,
    SessionClosedError,
    StoreError,
    StrictBatchError,
    ToolkitError,
    TradingHalted,
    TransportError,
    UsageError,
)
from .core._frame import COLUMNS
from .core._guards import Limits
from .core._models import DONE_STATUSES, OPEN_STATUSES, Market, Order, OrderStatus
from .core._rebalance import rebalance_orders
from .runtime._events import Subscription
from .session._config import SessionConfig
from .session._connect import connect, default_session
from .session._session import Session

__version__ = "0.1.0"

# Library logging: silent unless the application configures it, so warnings logged on the I/O
# thread are never printed into whichever notebook cell happens to be running.
logging.getLogger("toolkit").addHandler(logging.NullHandler())

__all__ = [
    "COLUMNS",
    "DONE_STATUSES",
    "OPEN_STATUSES",
    "AuthenticationError",
    "BatchInterrupted",
    "BatchNotSavedError",
    "ConfigError",
    "ExchangeError",
    "ExchangeUnavailable",
    "InputError",
    "KeyReuseError",
    "Limits",
    "Market",
    "Order",
    "OrderRejected",
    "OrderStatus",
    "RateLimitError",
    "RequestTimeout",
    "ServerError",
    "Session",
    "SessionClosedError",
    "SessionConfig",
    "StoreError",
    "StrictBatchError",
    "Subscription",
    "ToolkitError",
    "TradingHalted",
    "TransportError",
    "UsageError",
    "batch",
    "cancel",
    "cancel_all",
    "candles",
    "close",
    "connect",
    "costs",
    "default_session",
    "depth",
    "export",
    "fills",
    "halt",
    "halted",
    "open_orders",
    "orders",
    "panel",
    "positions",
    "rebalance_orders",
    "resume",
    "run",
    "sql",
    "subscribe",
    "sync_fills",
    "tickers",
    "updates",
    "wait",
]
