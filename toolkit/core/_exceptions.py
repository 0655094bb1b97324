"""The one exception tree of toolkit.

Every error toolkit raises derives from :class:`ToolkitError`. Errors of the libraries underneath
(aiohttp, duckdb) are translated into these at exactly one seam each (the transport for HTTP, the
store for DuckDB), with ``raise ... from exc`` so the original stays reachable::

    ToolkitError
    ├── InputError (also ValueError)        the order frame cannot be read at all
    │   └── KeyReuseError                   a batch key reused with different orders
    ├── StrictBatchError                    strict=True and some rows were INVALID or REJECTED
    ├── BatchInterrupted                    an interrupt or a halt stopped a batch's sending;
    │                                       ``frame`` holds every row (unsent: not placed)
    ├── TradingHalted                       tk.halt() is in force for this store: nothing is sent
    ├── ConfigError                         bad connect() settings (unknown exchange, no keys)
    ├── SessionClosedError                  the session was closed; connect() again
    ├── LoopMismatchError (also RuntimeError) a transport used from another event loop
    ├── UsageError (also RuntimeError)      called where it cannot work: tk.run() on the I/O
    │                                       thread, tk.panel() without a running loop, a
    │                                       session's parts before it is open
    ├── TransportError                      no usable HTTP answer
    │   ├── ExchangeUnavailable             cannot connect / connection dropped
    │   │   └── NotSentError                provably never written to the wire
    │   │       └── SendWindowClosed        its deadline passed before it could be sent
    │   └── RequestTimeout                  no answer within the timeout
    ├── ExchangeError                       the exchange answered with an error (keeps code, msg)
    │   ├── AuthenticationError             -1022 bad signature, -2015 bad key, -1021 timestamp
    │   ├── RateLimitError                  429 / 418, with retry_after seconds
    │   ├── OrderRejected                   the exchange refused an order request
    │   └── ServerError                     5xx: the execution status is unknown
    └── StoreError                          the DuckDB store failed (after retries)
        └── BatchNotSavedError              a batch was sent but its outcome not stored;
                                            ``frame`` holds every order as answered

Example::

    try:
        await tk.batch(df, key="rebalance-2026-11-25")
    except tk.KeyReuseError as exc:
        print(exc.key)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

    from ._models import Order

__all__ = [
    "AuthenticationError",
    "BatchInterrupted",
    "BatchNotSavedError",
    "ConfigError",
    "ExchangeError",
    "ExchangeUnavailable",
    "InputError",
    "KeyReuseError",
    "LoopMismatchError",
    "NotSentError",
    "OrderRejected",
    "RateLimitError",
    "RequestTimeout",
    "SendWindowClosed",
    "ServerError",
    "SessionClosedError",
    "StoreError",
    "StrictBatchError",
    "ToolkitError",
    "TradingHalted",
    "TransportError",
    "UsageError",
]


class ToolkitError(Exception):
    """Root of every error raised by toolkit."""


class InputError(ToolkitError, ValueError):
    """The orders given to ``batch``/``cancel`` cannot be read at all (not a frame, no symbol).

    Rows that can be read but are wrong do not raise: they come back as ``INVALID`` rows.
    """


class KeyReuseError(InputError):
    """A batch ``key`` was used before with different orders."""

    def __init__(self, key: str, detail: str = "") -> None:
        self.key = key
        msg = f"batch key {key!r} was already used with different orders"
        super().__init__(f"{msg}: {detail}" if detail else msg)


class StrictBatchError(ToolkitError):
    """``strict=True`` and some rows were INVALID or REJECTED; ``frame`` holds the whole result."""

    def __init__(self, message: str, frame: pd.DataFrame) -> None:
        super().__init__(message)
        self.frame = frame


class BatchInterrupted(ToolkitError):
    """An interrupt (kernel interrupt, task cancel, Ctrl-C) or a halt stopped a batch's sending.

    No new request went out once it arrived; what was on the wire finished and is recorded,
    the rows not sent are recorded as not placed (a re-run of the ``key`` sends them, once).
    ``frame`` holds every row; ``placed`` and ``not_sent`` count them.
    """

    def __init__(
        self, message: str, frame: pd.DataFrame, *, key: str | None, placed: int, not_sent: int
    ) -> None:
        super().__init__(message)
        self.frame = frame
        self.key = key
        self.placed = placed
        self.not_sent = not_sent


class TradingHalted(ToolkitError):
    """``tk.halt()`` is in force for this store (in this or another process): nothing is sent
    until ``tk.resume()``. ``reason`` is the halt's."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ConfigError(ToolkitError, ValueError):
    """Bad ``connect()`` settings."""


class SessionClosedError(ToolkitError):
    """The session was closed; call ``connect()`` again for a new one."""


class TransportError(ToolkitError):
    """No usable HTTP answer. ``method``/``path`` say which request."""

    def __init__(self, message: str, *, method: str = "", path: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.path = path


class ExchangeUnavailable(TransportError):
    """The exchange could not be reached or dropped the connection."""


class NotSentError(ExchangeUnavailable):
    """The request was never written to the wire (the connection could not be opened).

    For an order this is the one transport failure that proves the order was not placed.
    """


class SendWindowClosed(NotSentError):
    """The request's ``deadline`` passed before it could be sent (rate-limit wait); never sent."""


class LoopMismatchError(ToolkitError, RuntimeError):
    """The transport was used from an event loop other than the one its session lives on."""


class UsageError(ToolkitError, RuntimeError):
    """toolkit was called where or when it cannot work (see the tree above); the message says
    what to do instead. A ``RuntimeError`` too, as these were before."""


class RequestTimeout(TransportError):
    """No answer within the timeout."""


class ExchangeError(ToolkitError):
    """The exchange answered with an error; ``code`` and ``msg`` are the exchange's own."""

    def __init__(
        self,
        code: int | None,
        msg: str,
        *,
        status: int = 0,
        method: str = "",
        path: str = "",
        payload: Any = None,
    ) -> None:
        super().__init__(f"[{code}] {msg} (HTTP {status} {method} {path})".rstrip())
        self.code = code
        self.msg = msg
        self.status = status
        self.method = method
        self.path = path
        self.payload = payload


class AuthenticationError(ExchangeError):
    """Bad signature (-1022), unknown key (-2015) or timestamp outside recvWindow (-1021)."""


class RateLimitError(ExchangeError):
    """429 (rate limit) or 418 (IP ban); ``retry_after`` is in seconds."""

    def __init__(self, code: int | None, msg: str, *, retry_after: float, **kw: Any) -> None:
        super().__init__(code, msg, **kw)
        self.retry_after = retry_after


class OrderRejected(ExchangeError):
    """The exchange refused an order request (filters, balance, duplicate id, ...)."""


class ServerError(ExchangeError):
    """5xx: Binance says the execution status is UNKNOWN; order requests must be reconciled."""


class StoreError(ToolkitError):
    """The DuckDB store failed after its retries."""


class BatchNotSavedError(StoreError):
    """The batch was sent, but the store could not record its outcome (after retries).

    ``frame`` is the order frame of the batch as the exchange answered (nothing is lost for
    the caller); the store keeps the rows written ahead (``PENDING``) for the next reconcile.
    ``orders`` holds the same states as records.
    """

    def __init__(self, message: str, *, orders: Sequence[Order], frame: pd.DataFrame) -> None:
        super().__init__(message)
        self.orders = list(orders)
        self.frame = frame
