"""What a session needs of an exchange: the :class:`ExchangeAdapter` protocol.

:class:`toolkit.binance.adapter.BinanceAdapter` implements it (Binance, its testnets and the paper
exchange). A session builds its adapter with an adapter factory (by default
``BinanceAdapter``, see ``Session(adapter=...)``), so tests hand in an adapter of their own --
a fake, or a real one wrapped -- instead of patching methods.

Example::

    class Held:                      # a real adapter whose place() waits for a gate
        def __init__(self, inner: ExchangeAdapter) -> None: ...

    session = Session(config, adapter=lambda transport, cfg: Held(binance_adapter(transport, cfg)))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Protocol

import pandas as pd

from ._cutoff import Deadline
from ._models import Market, Order, OrderRequest

__all__ = ["ExchangeAdapter"]


class ExchangeAdapter(Protocol):
    """One exchange market, spoken through one transport (contracts in ARCHITECTURE.md)."""

    #: The frame's ``exchange`` column ("binance" or "paper").
    exchange: str
    market: Market

    async def exchange_info(self) -> dict[str, Any]:
        """The raw exchangeInfo JSON."""
        ...

    async def prices(self, symbols: Sequence[str] | None = None) -> dict[str, Decimal]:
        """Last (spot) or mark (USD-M) price per symbol."""
        ...

    async def balances(self) -> dict[str, Decimal]:
        """Free (spot) or available (USD-M) balance per asset."""
        ...

    async def holdings(self) -> pd.DataFrame:
        """What the account holds: spot balances (asset, free, locked) or USD-M open positions."""
        ...

    async def place(
        self,
        requests: Sequence[OrderRequest],
        *,
        deadline: Deadline = None,
        on_answer: Callable[[int], None] | None = None,
    ) -> list[Order]:
        """Place ``requests``; result ``i`` is for request ``i`` (each with its outcome).
        ``on_answer(n)`` is called as results come in: ``n`` more requests have theirs."""
        ...

    async def query(
        self, symbol: str, *, client_order_id: str | None = None, order_id: str | None = None
    ) -> Order | None:
        """The exchange's state of one order; ``None``: the exchange has no such order."""
        ...

    async def cancel(
        self, symbol: str, *, client_order_id: str | None = None, order_id: str | None = None
    ) -> Order:
        """Cancel one order; its state after the cancel."""
        ...

    async def cancel_all(self, symbol: str) -> list[Order]:
        """Cancel every open order of ``symbol``; the orders cancelled."""
        ...

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        """The open orders (of ``symbol``)."""
        ...

    async def all_orders(
        self, symbol: str, *, start: int | None = None, end: int | None = None, limit: int = 1000
    ) -> list[Order]:
        """The orders of ``symbol`` created from ``start`` to ``end`` (ms), one page."""
        ...

    async def my_trades(
        self,
        symbol: str,
        *,
        order_id: str | None = None,
        from_id: str | int | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int = 1000,
    ) -> pd.DataFrame:
        """This account's fills of ``symbol`` as the fills frame."""
        ...

    async def klines(
        self,
        symbol: str,
        interval: str,
        *,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> pd.DataFrame:
        """Candles of ``symbol`` as the candle frame."""
        ...

    async def depth(self, symbol: str, *, limit: int = 100) -> pd.DataFrame:
        """The order book of ``symbol`` as a frame."""
        ...

    async def ticker_24h(self, symbols: Sequence[str] | None = None) -> pd.DataFrame:
        """24-hour statistics of ``symbols`` as a frame."""
        ...
