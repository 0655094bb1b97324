"""``python -m toolkit compact``: a journal that grew before archiving gets its pages back."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from toolkit._cli import main
from toolkit.core._models import OrderStatus, Outcome
from toolkit.store._compact import compact
from toolkit.store._store import BatchRecord, Store

from .test_archive import AT, _order


def _filled_store(path: Path, batches: int, size: int) -> None:
    """A store whose journal keeps every order (no archiving): filled batches at ``AT``."""
    with Store(path, retention=None) as store:
        for b in range(batches):
            batch_id = f"b{b}"
            orders = [_order(f"{batch_id}-{i}", batch_id, i, AT) for i in range(size)]
            store.record_batch(BatchRecord(batch_id=batch_id, created_at=AT, n_orders=size), orders)
            store.apply(
                [o.evolve(status=OrderStatus.FILLED, outcome=Outcome.PLACED, order_id=f"{b}.{i}",
                          filled_qty=1.0, raw={"note": "x" * 400})
                 for i, o in enumerate(orders)],
                source="response", finish=batch_id,
            )  # fmt: skip


def test_compact_archives_and_shrinks_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    _filled_store(path, batches=6, size=500)
    done = compact(path, retention=pd.Timedelta(0))
    assert done.archived == 3000
    # ~1.3 KB per order row against ~0.1 KB per archived id
    assert done.bytes_after < done.bytes_before / 4, done
    with Store(path) as store:
        assert len(store.orders()) == 3000
        assert store.orders()["client_order_id"].is_unique


def test_the_compact_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.duckdb"
    _filled_store(path, batches=1, size=10)
    assert main(["compact", str(path), "--journal-days", "0"]) == 0
    assert capsys.readouterr().out.startswith("archived 10 orders; journal ")
    # nothing left to archive: a second run archives nothing
    assert main(["compact", str(path), "--journal-days", "0"]) == 0
    assert capsys.readouterr().out.startswith("archived 0 orders")
    assert main(["compact", str(tmp_path / "none.duckdb")]) == 1
    assert "no store at" in capsys.readouterr().out
    for bad in ("-1", "nan", "inf", "1e6"):  # each a clear line, never a traceback
        assert main(["compact", str(path), "--journal-days", bad]) == 1
        assert "--journal-days must be a number of days from 0" in capsys.readouterr().out
