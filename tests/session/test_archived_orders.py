"""A session whose final orders were archived out of the journal (``journal_days``): through
the real adapter, session, store and paper exchange, nothing a user does changes, and nothing is
sent twice."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import toolkit as tk
from toolkit.core._exceptions import ConfigError, KeyReuseError, StoreError

from .test_review_fixes import _hold_duckdb

pytestmark = pytest.mark.loop


def _journal_orders(session: Any) -> int:
    path = session.store.journal_path
    assert path is not None
    with contextlib.closing(sqlite3.connect(path)) as con:
        return int(con.execute("SELECT count(*) FROM orders").fetchone()[0])


async def test_a_key_rerun_and_the_reads_after_archiving(tkh: Any) -> None:
    session = await tk.connect(stream=False, sync_fills=False, journal_days=0)
    rows = [tkh.market(), tkh.market(side="sell")]
    first = await session.batch(rows, key="rebalance-1")
    assert first["status"].tolist() == ["FILLED", "FILLED"]
    resting = await session.batch([{**tkh.limit(), "client_order_id": "mine-1"}])
    before = session.orders()

    session.store.archiver.run()  # (or the background pass did, after its first flush)
    assert _journal_orders(session) == 1  # the filled batch left; the open order stays

    pd.testing.assert_frame_equal(session.orders(), before)
    # the same key and rows: the stored outcome, nothing sent again
    again = await session.batch(rows, key="rebalance-1")
    pd.testing.assert_frame_equal(again, first)
    with pytest.raises(KeyReuseError):
        await session.batch(rows[:1], key="rebalance-1")
    # a user-given id of an archived order is refused as for any stored one -- from the
    # journal: the batch does not wait while the user's own connection holds the DuckDB file
    archived_id = first["client_order_id"].iloc[0]
    assert session.store.path is not None
    holder = await _hold_duckdb(session.store.path)
    try:
        reuse = await session.batch([{**tkh.market(), "client_order_id": archived_id}])
    finally:
        holder.close()
    assert reuse["status"].tolist() == ["INVALID"]
    assert (
        f"{archived_id!r} is already in the store (an archived order)"
        in (reuse["error_msg"].iloc[0])
    )
    # the open order is still the journal's: a cancel finds it there
    canceled = await session.cancel(resting)
    assert canceled["status"].tolist() == ["CANCELED"]
    assert all(n == 1 for n in tkh.placed().values())
    assert len(tkh.placed()) == 3
    await session.close()


async def test_a_free_key_of_invalid_rows_stays_free_after_archiving(tkh: Any) -> None:
    """A keyed batch whose rows were all INVALID leaves its key free; its rows stay in the
    journal, so the next attempt moves them to the retired key and the key shows only it."""
    session = await tk.connect(stream=False, sync_fills=False, journal_days=0)
    bad = await session.batch([{**tkh.market(), "qty": "0"}], key="k")
    assert bad["status"].tolist() == ["INVALID"]
    session.store.archiver.run()
    good = await session.batch([tkh.market()], key="k")
    assert good["status"].tolist() == ["FILLED"]
    assert session.orders(key="k")["client_order_id"].tolist() == good["client_order_id"].tolist()
    assert len(session.orders(key="k~refused-1")) == 1
    await session.close()


async def test_journal_days_must_be_a_number_of_days() -> None:
    for bad in (-1, "7", float("nan"), True, float("inf"), 1e6):
        with pytest.raises(ConfigError, match="journal_days"):
            await tk.connect(journal_days=bad)


async def test_a_key_whose_archived_orders_a_restored_file_lacks_is_refused_not_resent(
    tkh: Any, tmp_path: Path
) -> None:
    """Orders archived after a backup live only in DuckDB: restoring that backup loses them.
    A re-run of their key says so (StoreError) and sends nothing."""
    store = tmp_path / "s.duckdb"
    session = await tk.connect(store=str(store), stream=False, sync_fills=False, journal_days=0)
    await session.batch([tkh.market()])
    session.store.projection.flush()
    backup = tmp_path / "backup.duckdb"
    shutil.copy(store, backup)  # (the file is not held between operations)
    rows = [tkh.market(), tkh.market(side="sell")]
    await session.batch(rows, key="k")
    session.store.archiver.run()
    assert _journal_orders(session) == 0
    shutil.copy(backup, store)  # restored: k's orders are nowhere now
    with pytest.raises(StoreError, match="lacks 2 orders archived"):
        await session.batch(rows, key="k")
    assert len(tkh.placed()) == 3  # nothing sent again
    await session.close()
