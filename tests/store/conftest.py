"""Fixtures for the store tests: a store in memory and on disk, and an order factory; for the
tests of the research tables and costs through a session, the session tests' fixtures, shared
(a fresh I/O loop per test, a store in tmp_path, the embedded paper exchange, ``tkh``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from toolkit.core._models import Market, Order, OrderStatus, OrderType, Outcome, Side
from toolkit.store._store import BatchRecord, Store

from ..session.conftest import _GENEROUS as _GENEROUS
from ..session.conftest import _fresh_runtime as _fresh_runtime
from ..session.conftest import tkh as tkh

NOW = pd.Timestamp("2026-11-25 09:30:00.123456", tz="UTC")

MakeOrders = Callable[..., list[Order]]


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same tests against ``":memory:"`` and a store file."""
    path = ":memory:" if request.param == "memory" else tmp_path / "store.duckdb"
    with Store(path) as st:
        yield st


def _make_orders(
    n: int,
    *,
    batch_id: str = "b1",
    key: str | None = "k1",
    prefix: str | None = None,
    status: OrderStatus = OrderStatus.PENDING,
    created_at: pd.Timestamp = NOW,
    symbol: str = "BTCUSDT",
    **fields: Any,
) -> list[Order]:
    prefix = prefix or batch_id
    return [
        Order(
            client_order_id=f"{prefix}-{i}",
            exchange="paper",
            market=Market.SPOT,
            symbol=symbol,
            side=Side.BUY if i % 2 == 0 else Side.SELL,
            type=OrderType.LIMIT,
            status=status,
            time_in_force="GTC",
            price=90000.0 + i,
            qty=0.001 * (i + 1),
            batch_id=batch_id,
            key=key,
            created_at=created_at,
            updated_at=created_at,
            position=i,
            not_after=created_at + pd.Timedelta(seconds=30),
            **{"outcome": Outcome.of(status, True), **fields},
        )
        for i in range(n)
    ]


@pytest.fixture
def make_orders() -> MakeOrders:
    """``make_orders(n, batch_id=..., key=..., **order_fields)`` -> n PENDING limit orders."""
    return _make_orders


def batch_record(
    batch_id: str = "b1", key: str | None = "k1", n: int = 0, **kw: Any
) -> BatchRecord:
    return BatchRecord(batch_id=batch_id, key=key, created_at=NOW, n_orders=n, **kw)


@pytest.fixture
def make_batch() -> Callable[..., BatchRecord]:
    """``make_batch(batch_id, key, n, **fields)`` -> a BatchRecord created at NOW."""
    return batch_record
