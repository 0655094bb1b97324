"""The process's embedded paper exchange: one :class:`toolkit.paper.PaperExchange`, started on
toolkit's I/O loop on first use (an ephemeral 127.0.0.1 port, a generated key), shared by the
spot and USD-M sessions, stopped at exit.

Its options (price mode, rate limits ...) are those of :func:`configure` at the time it starts;
by default the paper exchange's own.

Example::

    paper = await embedded_paper()        # on the I/O loop
    paper.url, paper.venue
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import _runner

if TYPE_CHECKING:
    from ..paper import PaperExchange

__all__ = ["PaperEndpoint", "configure", "embedded_paper", "paper_exchange"]


class PaperEndpoint:
    """The running embedded paper exchange: its URL, the key/secret sessions use, and its venue.

    ``venue`` names this exchange instance in the store: its orders die with the process, so
    it is unique per start (a later process's embedded exchange is another venue, even on the
    same port).
    """

    def __init__(self, exchange: PaperExchange, url: str, credentials: tuple[str, str]) -> None:
        self.exchange = exchange
        self.url = url
        self.credentials = credentials
        self.venue = f"embedded-paper:{os.getpid()}:{uuid.uuid4().hex[:12]}"


_options: dict[str, Any] = {}
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
    from ..paper import PaperExchange  # ~0.1 s of imports, paid only when it starts

    options = {"host": "127.0.0.1", "port": 0, **_options}
    exchange = PaperExchange(**options)
    await exchange.start()
    api_key, api_secret = exchange.create_key()
    return PaperEndpoint(exchange, exchange.url, (api_key, api_secret))


async def _stop_paper() -> None:
    global _paper
    paper, _paper = _paper, None
    if paper is not None:
        await paper.exchange.stop()


def configure(options: Mapping[str, Any]) -> dict[str, Any]:
    """Set the keyword arguments of the embedded ``PaperExchange`` started next (fixed prices,
    relaxed rate limits ...); returns the previous ones. One already running keeps its own.

    Example::

        configure({"price_mode": "fixed"})
    """
    global _options
    previous, _options = _options, dict(options)
    return previous


def paper_exchange() -> PaperExchange | None:
    """The embedded :class:`~toolkit.paper.PaperExchange` object, or None if not started."""
    return None if _paper is None else _paper.exchange
