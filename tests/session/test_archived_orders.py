"""A session whose final orders were archived out of the journal (``journal_days``): through
the real adapter, session, store and paper exchange, nothing a user does changes, and nothing is
sent twice."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

import pandas as pd
import pytest

import toolkit as tk
from toolkit.core._exceptions import ConfigError, KeyReuseError

pytestmark = pytest.mark.loop


def _journal_orders(session: Any) -> int:
    path = session.store.journal_path
    assert path is not None
    with contextlib.closing(sqlite3.connect(path)) as con:
        return int(con.execute("SELECT count(*) FROM orders").fetchone()[0])


async def test_a_key_rerun_and_the_reads_after_archiving(tkh: Any) -> None:
    session = await tk.connect(stream=False, sync_fills=False, journal_days=0)
    rows = [tkh.market(), tkh.market(side="sell"), {**tkh.limit(), "client_order_id": "mine-1"}]
    first = await session.batch(rows, key="rebalance-1")
    assert first["status"].tolist() == ["FILLED", "FILLED", "NEW"]
    before = session.orders()

    assert session.store.projection.archive() == 2  # the filled ones; the open one stays
    assert _journal_orders(session) == 1

    pd.testing.assert_frame_equal(session.orders(), before)
    # the same key and rows: the stored outcome, nothing sent again
    again = await session.batch(rows, key="rebalance-1")
    pd.testing.assert_frame_equal(again, first)
    with pytest.raises(KeyReuseError):
        await session.batch(rows[:1], key="rebalance-1")
    # a user-given id of an archived order is refused as for any stored one
    archived_id = first["client_order_id"].iloc[0]
    reuse = await session.batch([{**tkh.market(), "client_order_id": archived_id}])
    assert reuse["status"].tolist() == ["INVALID"]
    assert f"{archived_id!r} is already in the store" in reuse["error_msg"].iloc[0]
    assert all(n == 1 for n in tkh.placed().values())
    assert len(tkh.placed()) == 3
    await session.close()


async def test_journal_days_must_be_a_number_of_days() -> None:
    for bad in (-1, "7", float("nan"), True):
        with pytest.raises(ConfigError, match="journal_days"):
            await tk.connect(journal_days=bad)
