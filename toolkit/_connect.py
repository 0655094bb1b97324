"""``connect()``: settings -> the one :class:`~toolkit.Session` for them, and the default session.

Sessions are kept in a process-wide registry keyed by their settings (and credentials), so
re-running a ``connect`` cell returns the same session instead of leaking a second HTTP session.
The latest ``connect()`` becomes the default session of the module-level functions
(``tk.batch`` ...); without any ``connect()`` the default is the embedded paper exchange, spot.

``exchange="paper"`` without ``base_url`` uses the **embedded** paper exchange: one
:class:`toolkit.paper.PaperExchange` per process, started on the I/O loop on an ephemeral
127.0.0.1 port with a generated key, shared by the spot and USD-M sessions, closed at exit.

Example::

    session = await tk.connect("binance", market="usdm", testnet=True)
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import uuid
from typing import Any

from . import _runner
from ._config import (
    BINANCE_VENUES,
    SessionConfig,
    credentials,
    make_config,
    venue_for,
    venue_name,
)
from ._models import Market
from ._session import Session

__all__ = [
    "EMBEDDED_PAPER_OPTIONS",
    "PaperEndpoint",
    "connect",
    "default_session",
    "embedded_paper",
    "forget",
    "paper_exchange",
    "sibling",
]

_lock = threading.Lock()
_sessions: dict[tuple[Any, ...], Session] = {}
_default: Session | None = None


def _registry_key(
    config: SessionConfig, api_key: str | None, api_secret: str | None
) -> tuple[Any, ...]:
    secret = hashlib.sha256(api_secret.encode()).hexdigest() if api_secret else None
    return (config, api_key, secret)


def _session_for(config: SessionConfig, api_key: str | None, api_secret: str | None) -> Session:
    key = _registry_key(config, api_key, api_secret)
    with _lock:
        session = _sessions.get(key)
        if session is None or session.closed or session.stale:
            session = Session(config, api_key=api_key, api_secret=api_secret)
            _sessions[key] = session
        return session


async def connect(
    exchange: str = "paper",
    *,
    market: Market | str = "spot",
    store: str | os.PathLike[str] | None = None,
    api_key: str | None = None,
    api_secret: str | None = None,
    testnet: bool = False,
    demo: bool = False,
    base_url: str | None = None,
    live: bool = False,
    **settings: Any,
) -> Session:
    """Return the open session for these settings (the same one for the same settings).

    ``exchange`` is ``"paper"`` (default: the embedded paper exchange, no keys needed) or
    ``"binance"`` (``testnet=True`` for the testnets of both markets, ``demo=True`` for Demo
    Mode; each venue has its own keys, from the arguments or
    ``TOOLKIT_API_KEY``/``TOOLKIT_API_SECRET``). ``base_url`` points at another server speaking
    Binance REST (a standalone paper exchange). ``store`` defaults to ``TOOLKIT_STORE`` or
    ``./toolkit.duckdb``. Extra keyword ``settings`` are :class:`SessionConfig` fields
    (``concurrency``, ``timeout``, ``recv_window``, ``send_window``, ``progress_threshold``,
    ``rate_limits=False`` to turn the client-side rate limiter off, ``limits=tk.Limits(...)``
    for the pre-trade limits). Binance's live trading hosts move real money: they need
    ``live=True`` (or ``TOOLKIT_LIVE=1``), else ``ConfigError`` -- before any request.
    The session becomes the default of ``tk.batch`` & co. PENDING orders of the store are
    reconciled with the exchange on connect.

    Example::

        session = await tk.connect()                                  # paper, spot
        futures = await tk.connect("paper", market="usdm")
        test = await tk.connect("binance", testnet=True)              # keys from the env
        real = await tk.connect("binance", live=True)                 # real money
        demo = await tk.connect("binance", market="usdm", demo=True)  # Demo Mode keys
    """
    global _default
    config = make_config(
        exchange, market=market, store=store, testnet=testnet, demo=demo, base_url=base_url,
        live=live, **settings,
    )
    key, secret = credentials(config, api_key, api_secret)
    session = _session_for(config, key, secret)
    await session.open()
    with _lock:
        _default = session
    return session


def default_session() -> Session:
    """The session of the module-level functions: the last ``connect()``ed, else paper spot.

    Created (not opened) on first use; a closed default is replaced by a fresh one.

    Example::

        tk.default_session().transport.stats.sessions_created
    """
    global _default
    with _lock:
        session = _default
    if session is not None and not session.closed and not session.stale:
        return session
    config = make_config()
    session = _session_for(config, None, None)
    with _lock:
        _default = session
    return session


async def sibling(session: Session, market: Market) -> Session:
    """The session with ``session``'s settings and keys but another market."""
    import dataclasses

    config = dataclasses.replace(session.config, market=market)
    if config.exchange == "binance" and not _is_custom_url(session.config):
        name = venue_name(testnet=config.testnet, demo=config.demo)
        config = dataclasses.replace(config, base_url=BINANCE_VENUES[(name, market)].rest)
    other = _session_for(config, session._api_key, session._api_secret)
    await other.open()
    return other


def _is_custom_url(config: SessionConfig) -> bool:
    return config.base_url is None or venue_for(config.base_url) is None


def forget(session: Session) -> None:
    """Drop a closed session from the registry (and as the default)."""
    global _default
    with _lock:
        for key, value in list(_sessions.items()):
            if value is session:
                del _sessions[key]
        if _default is session:
            _default = None


async def close_default() -> None:
    """Close the default session, if any."""
    with _lock:
        session = _default
    if session is not None:
        await session.close()


# -- the embedded paper exchange ----------------------------------------------------------------


class PaperEndpoint:
    """The running embedded paper exchange: its URL, the key/secret sessions use, and its venue.

    ``venue`` names this exchange instance in the store: its orders die with the process, so
    it is unique per start (a later process's embedded exchange is another venue, even on the
    same port).
    """

    def __init__(self, exchange: Any, url: str, credentials: tuple[str, str]) -> None:
        self.exchange = exchange
        self.url = url
        self.credentials = credentials
        self.venue = f"embedded-paper:{os.getpid()}:{uuid.uuid4().hex[:12]}"


#: Keyword arguments of the embedded ``PaperExchange`` (tests relax its rate limits here).
EMBEDDED_PAPER_OPTIONS: dict[str, Any] = {}

_paper: PaperEndpoint | None = None
_paper_generation = 0
_paper_lock: asyncio.Lock | None = None


async def embedded_paper() -> PaperEndpoint:
    """The process's embedded paper exchange, started on the I/O loop on first use."""
    global _paper, _paper_generation, _paper_lock
    generation = _runner.generation()
    if _paper is not None and _paper_generation == generation:
        return _paper
    if _paper_lock is None or _paper_generation != generation:
        _paper, _paper_lock, _paper_generation = None, asyncio.Lock(), generation
    async with _paper_lock:
        if _paper is None:
            _paper = await _start_paper()
            _runner.register_closer(_stop_paper, order=10)
    return _paper


async def _start_paper() -> PaperEndpoint:
    from .paper import PaperExchange

    options = {"host": "127.0.0.1", "port": 0, **EMBEDDED_PAPER_OPTIONS}
    exchange = PaperExchange(**options)
    await exchange.start()
    api_key, api_secret = exchange.create_key()
    return PaperEndpoint(exchange, exchange.url, (api_key, api_secret))


async def _stop_paper() -> None:
    global _paper
    paper, _paper = _paper, None
    if paper is not None:
        await paper.exchange.stop()


def paper_exchange() -> Any:
    """The embedded :class:`~toolkit.paper.PaperExchange` object, or None if not started."""
    return None if _paper is None else _paper.exchange
