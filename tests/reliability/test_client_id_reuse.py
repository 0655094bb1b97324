"""Regression: a client order id given by the user that the store already holds.

Found by the hostile-input scenario: a batch reusing a user-given ``client_order_id`` failed its
write-ahead with ``StoreError`` ("Duplicate key ... violates primary key constraint"), i.e.
``tk.batch`` raised a store error for a problem of one input row. Now that row is ``INVALID`` with
a reason naming the id (whether or not it was valid otherwise), the other rows go, and the
exchange never sees the id twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import toolkit as tk
from bench.reliability._serve import GENEROUS
from toolkit.runtime import _embedded


@pytest.fixture(autouse=True)
def _fixed_paper() -> Iterator[None]:
    saved = _embedded.configure({"price_mode": "fixed", "rate_limits": GENEROUS})
    yield
    _embedded.configure(saved)


def _row(cid: str, price: str = "80000") -> dict[str, str]:
    return {"symbol": "BTCUSDT", "side": "buy", "price": price, "qty": "0.001",
            "client_order_id": cid}  # fmt: skip


async def test_a_reused_user_client_order_id_is_an_invalid_row(tmp_path: Path) -> None:
    session = await tk.connect(store=str(tmp_path / "s.duckdb"), stream=False)
    first = await session.batch([_row("mine-1")])
    assert list(first["status"]) == ["NEW"]

    second = await session.batch([_row("mine-1", "80001"), _row("mine-2")])

    assert list(second["status"]) == ["INVALID", "NEW"]
    assert "mine-1" in second["error_msg"].iloc[0]
    assert second["client_order_id"].iloc[0] != "mine-1"  # the store keeps one row per id
    paper = _embedded.paper_exchange()
    assert paper is not None
    placed = paper.counters()["orders_by_client_id"]
    assert placed["mine-1"] == 1
    assert placed["mine-2"] == 1
    stored = session.orders()
    assert len(stored) == 3
    assert stored["client_order_id"].is_unique
    await session.close()


async def test_an_invalid_row_reusing_a_stored_client_order_id(tmp_path: Path) -> None:
    """Found by the hypothesis scenario: an INVALID row (here qty 0) is written ahead under its
    given id too, so the store check must cover it, or the write-ahead fails with StoreError."""
    session = await tk.connect(store=str(tmp_path / "s.duckdb"), stream=False)
    await session.batch([_row("mine-3")])
    bad = {**_row("mine-3"), "qty": "0"}

    frame = await session.batch([bad, _row("mine-4")])

    assert list(frame["status"]) == ["INVALID", "NEW"]
    reason = frame["error_msg"].iloc[0]
    assert "qty" in reason
    assert "'mine-3' is already in the store" in reason
    assert session.orders()["client_order_id"].is_unique
    await session.close()
