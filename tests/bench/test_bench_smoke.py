"""The benchmark harness in miniature (tiny sizes, one repetition), so that it cannot rot.

Runs every section of ``python -m bench`` against a real paper exchange process and checks
that the report is written and the figures are sane. No timing is asserted: performance goals
are measured by ``make bench``, never asserted in tests.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

# ``bench`` is not an installed package: make the checkout importable under plain ``pytest`` too.
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.__main__ import Config, run  # noqa: E402
from bench._server import paper_available  # noqa: E402
from bench.clients import toolkit_available  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not paper_available(), reason="the paper exchange CLI is not there yet"),
]


def test_quick_run_writes_the_report(tmp_path: Path) -> None:
    cfg = dataclasses.replace(Config.quick_config(), tls=True)
    results = run(cfg, tmp_path, strict=True, command="python -m bench --quick")

    assert (tmp_path / "RESULTS.md").read_text().startswith("# Benchmark results")
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["config"]["quick"] is True

    with_toolkit = toolkit_available()[0]
    for market in ("spot", "usdm"):
        figs = results["throughput"][market]
        tk_clients = ["toolkit", "toolkit_nostream"] if with_toolkit else []
        for client in ("floor", "ccxt", *tk_clients):
            fig = figs[client]
            assert fig["skipped"] is None, (market, client, fig["skipped"])
            assert fig["accepted"] == fig["orders"], (market, client, fig["errors"])
            assert fig["median_orders_per_s"] > 0
            assert all(cpu > 0 for cpu in fig["client_cpu_ms_per_order"])
    origin = results["origin"]["http"]
    assert origin["origin"]["accepted"] == origin["origin"]["orders"] > 0
    assert origin["floor"]["accepted"] == origin["floor"]["orders"]
    if with_toolkit:
        for name in ("toolkit_sync_stream_off", "toolkit_sync_stream_on",
                     "toolkit_loop_stream_off", "toolkit_loop_stream_on"):  # fmt: skip
            assert origin[name]["accepted"] == origin[name]["orders"] > 0, name
            assert origin["ratios"][name]["floor"] > 0
    for cap in results["capacity"]["markets"]:
        assert cap["orders_per_s"] > 0
    if with_toolkit:
        assert results["store"]["apply_orders_per_s"] > 0
        assert 0 < results["store_share"]["share"] < 1
        assert results["store"]["flush_orders_per_s"] > 0
        tail = results["store"]["small_tail"]  # quick: 5 batches of 5, write-ahead + answers
        assert tail["writes"] == 10
        assert 0 < tail["p99_ms"] <= tail["max_ms"]
        two = results["two_processes"]
        assert two["accepted"] == [two["orders"]] * 4
        assert 0 < two["store_share_max"] < 1
        stab = results["stability"]
        assert stab["client_sessions_created"] == 1
        assert stab["accepted"] == stab["batches"] * stab["orders_per_batch"]
        candles = results["candles"]
        assert candles["rows"] in (3 * 1440, 3 * 1441)
        assert candles["requests"] >= 3 * 2  # two pages of 1,000 or less per symbol
        assert candles["second_requests"] == 3  # the latest page of each symbol
    report = (tmp_path / "RESULTS.md").read_text()
    assert "### 9. Research data" in report
    if with_toolkit:
        assert "The tail of those 10 writes: p99" in report
