"""Fixtures of the session tests: a fresh I/O loop per test, a store in tmp_path, and an
embedded paper exchange with fixed prices and relaxed rate limits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from toolkit import _connect, _runner
from toolkit.paper import PaperExchange, RateLimits

_GENEROUS = RateLimits(
    spot_weight=(1_000_000, "1M"),
    spot_orders=((1_000_000, "10S"),),
    usdm_weight=(1_000_000, "1M"),
    usdm_orders=((1_000_000, "10S"),),
)


@pytest.fixture(autouse=True)
def _fresh_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test gets its own store file and, afterwards, a full shutdown of the I/O loop.

    Shutdown closes every session and the embedded paper exchange, so a leaked HTTP session or
    socket fails the test (warnings are errors) instead of the next one.
    """
    monkeypatch.setenv("TOOLKIT_STORE", str(tmp_path / "toolkit.duckdb"))
    for name in ("TOOLKIT_API_KEY", "TOOLKIT_API_SECRET", "TOOLKIT_RUN_PARAMS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(
        _connect,
        "EMBEDDED_PAPER_OPTIONS",
        {"price_mode": "fixed", "rate_limits": _GENEROUS},
    )
    yield
    _runner.shutdown()


class Helpers:
    """Order rows and counters at the embedded paper exchange (the ``tkh`` fixture)."""

    @staticmethod
    def paper() -> PaperExchange:
        """The embedded paper exchange (after the first connect/batch)."""
        exchange = _connect.paper_exchange()
        assert exchange is not None, "the embedded paper exchange is not running"
        assert isinstance(exchange, PaperExchange)
        return exchange

    def placed(self) -> dict[str, int]:
        """Accepted orders per client order id, counted by the paper exchange."""
        counts: dict[str, int] = self.paper().counters()["orders_by_client_id"]
        return counts

    @staticmethod
    def limit(
        symbol: str = "BTCUSDT", side: str = "buy", qty: str = "0.001", price: str = "88000"
    ) -> dict[str, Any]:
        """A resting limit order (BTC is fixed at 90000 on the paper exchange)."""
        return {"symbol": symbol, "side": side, "type": "limit", "price": price, "qty": qty}

    @staticmethod
    def market(symbol: str = "BTCUSDT", side: str = "buy", qty: str = "0.001") -> dict[str, Any]:
        """A market order (fills at once on the paper exchange)."""
        return {"symbol": symbol, "side": side, "type": "market", "qty": qty}


@pytest.fixture
def tkh() -> Helpers:
    """Helpers for the integration tests."""
    return Helpers()
