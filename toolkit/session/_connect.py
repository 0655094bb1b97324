"""``connect()``: settings -> the one :class:`~toolkit.Session` for them, and the default session.

Sessions are kept in a process-wide registry keyed by their settings (and credentials), so
re-running a ``connect`` cell returns the same session instead of leaking a second HTTP session.
The latest ``connect()`` becomes the default session of the module-level functions
(``tk.batch`` ...); without any ``connect()`` the default is the embedded paper exchange, spot.

``exchange="paper"`` without ``base_url`` uses the **embedded** paper exchange
(:mod:`toolkit.runtime._embedded`): one per process, shared by the spot and USD-M sessions.

Example::

    session = await tk.connect("binance", market="usdm", testnet=True)
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from typing import Any

from ..binance._venues import BINANCE_VENUES, venue_for, venue_name
from ..core._models import Market
from ._config import SessionConfig, credentials, make_config
from ._session import AdapterFactory, Session, binance_adapter

__all__ = ["close_default", "connect", "default_session", "forget", "sibling"]

_lock = threading.Lock()
_sessions: dict[tuple[Any, ...], Session] = {}
_default: Session | None = None


def _registry_key(
    config: SessionConfig, api_key: str | None, api_secret: str | None, adapter: AdapterFactory
) -> tuple[Any, ...]:
    secret = hashlib.sha256(api_secret.encode()).hexdigest() if api_secret else None
    return (config, api_key, secret, adapter)


def _session_for(
    config: SessionConfig,
    api_key: str | None,
    api_secret: str | None,
    adapter: AdapterFactory = binance_adapter,
) -> Session:
    key = _registry_key(config, api_key, api_secret, adapter)
    with _lock:
        session = _sessions.get(key)
        if session is None or session.closed or session.stale:
            session = Session(
                config,
                api_key=api_key,
                api_secret=api_secret,
                adapter=adapter,
                sibling=lambda market: sibling(config, api_key, api_secret, market, adapter),
                on_close=forget,
            )
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
    adapter: AdapterFactory | None = None,
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
    ``adapter`` builds the exchange adapter from the transport and the settings (default:
    Binance REST); tests pass their own, as httpx takes a ``transport=``.
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
    session = _session_for(config, key, secret, adapter or binance_adapter)
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


async def sibling(
    config: SessionConfig,
    api_key: str | None,
    api_secret: str | None,
    market: Market,
    adapter: AdapterFactory = binance_adapter,
) -> Session:
    """The open session with these settings, keys and adapter factory but another market."""
    base = config
    config = dataclasses.replace(config, market=market)
    if config.exchange == "binance" and not _is_custom_url(base):
        name = venue_name(testnet=config.testnet, demo=config.demo)
        config = dataclasses.replace(config, base_url=BINANCE_VENUES[(name, market)].rest)
    other = _session_for(config, api_key, api_secret, adapter)
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
