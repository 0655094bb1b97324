"""The reliability campaign (``python -m bench.reliability``), scaled down to run in the suite.

Each test runs one scenario of :mod:`bench.reliability` against real paper exchange processes and
asserts that it found no violation; the full sizes and their figures are in ``RELIABILITY.md``
(``make reliability``).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from bench.reliability import crashes, faults, hostile_input, load, secrets_scan, traffic
from bench.reliability import unreachable as unreachable_
from toolkit.session._batch import GROUP_SIZE

pytestmark = pytest.mark.slow


def show(report: dict[str, Any]) -> str:
    """The scenario's report, as the assertion message."""
    return json.dumps(report, indent=1, default=str)[:6000]


async def test_faults_then_reconciliation_leave_store_equal_to_exchange(tmp_path: Path) -> None:
    report = await faults.run_faults(200, tmp_path)
    assert report["violations"] == [], show(report)
    final = report["after_rerun"]["check"]
    assert final["rows"] == 200
    assert final["max_placements_per_client_id"] == 1
    assert "PENDING" not in final["statuses"]
    injected = report["under_faults"]["faults_injected"]
    kinds = {"error_before", "error_after", "drop_after", "slow", "burst_429", "ban_418"}
    assert len(kinds & set(injected)) >= 3, show(report)  # faults did happen


async def test_unreachable_exchange_keeps_pending_rows_and_reconnect_resolves_them(
    tmp_path: Path,
) -> None:
    report = await unreachable_.run_unreachable(60, tmp_path, pause_for=4.0)
    assert report["violations"] == [], show(report)
    paused = report["paused"]
    assert paused["pending_in_store_while_down"] > 0, show(report)
    assert paused["pending_after_reconnect"] == 0
    assert report["dropped"]["statuses"].get("PENDING", 0) == 0


@pytest.mark.parametrize("point", crashes.POINTS)
def test_sigkill_then_rerun_places_each_order_once(tmp_path: Path, point: str) -> None:
    # one point per test (its own paper exchange and store), so the three run side by side
    report = crashes.run_crashes(60, tmp_path, points=(point,))
    assert report["violations"] == [], show(report)
    (result,) = report["points"]
    assert result["point"] == point
    assert result["at_kill"]["exit_code"] == -signal.SIGKILL
    assert result["exchange_holds"] == 60
    at_kill = result["at_kill"]
    if point == "before-send":
        assert at_kill["exchange_holds"] == 0
    elif point == "mid-batch":
        assert 0 < at_kill["exchange_holds"] < 60 or at_kill["store_pending"] > 0
    else:  # the first group's answers were back, none persisted
        assert at_kill["exchange_holds"] >= GROUP_SIZE
        assert at_kill["store_pending"] == 60
    # resolving 60 unknown rows: a few queries each; the re-run waits for the send window's
    # deadline (seconds), never for a store or lock timeout (minutes) -- a bound no load reaches
    assert result["rerun_requests"] <= 6 * 60 + 80, show(report)
    assert result["rerun_seconds"] < 120, show(report)


def test_hostile_frames_through_batch(tmp_path: Path) -> None:
    report = hostile_input.run_hostile_input(tmp_path / "hostile.duckdb", examples=120)
    assert report["violations"] == [], show(report)
    assert report["counts"].get("sent_accepted", 0) > 0, show(report)  # the property had teeth


async def test_paper_exchange_serves_correct_clients_under_malformed_traffic(
    tmp_path: Path,
) -> None:
    report = await traffic.run_malformed(tmp_path, seconds=3.0, slow_clients=30)
    assert report["violations"] == [], show(report)
    assert report["correct_client_under_attack"]["batches"] > 0


async def test_requests_altered_in_transit_are_rejected(tmp_path: Path) -> None:
    report = await traffic.run_tampered(tmp_path, n_orders=10)
    assert report["violations"] == [], show(report)
    assert report["proxy"]["requests_tampered"] == 10


async def test_secrets_never_leave_the_session(tmp_path: Path) -> None:
    report = await secrets_scan.run_secrets(tmp_path)
    assert report["violations"] == [], show(report)
    assert report["store_file"]["scanned"] > 0
    assert report["log_records"]["scanned"] > 0
    assert report["exceptions"]["scanned"] >= 5


async def test_concurrent_batches_and_two_processes_on_one_store(tmp_path: Path) -> None:
    report = await load.run_load(tmp_path, n_batches=20, size=20, shared_batches=3, shared_size=20)
    assert report["violations"] == [], show(report)
    concurrent = report["concurrent"]
    assert concurrent["max_client_connections"] <= concurrent["connection_limit"]
    assert report["shared_store"]["check"]["rows"] == 120
