"""notebooks/research.ipynb under papermill: candles -> weights -> batch -> fills, costs, chart."""

from __future__ import annotations

import base64
import json
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import duckdb
import pytest


def _outputs(run: Any, tag: str) -> list[dict[str, Any]]:
    return [
        out
        for cell in run.notebook.cells
        if tag in cell.get("metadata", {}).get("tags", [])
        for out in cell.get("outputs", [])
    ]


def test_research_notebook_places_the_batch_and_draws_its_costs(
    run_notebook: Any, tmp_path: Path
) -> None:
    run = run_notebook("research.ipynb", budget=1500.0, key="research-test")
    text = run.text()
    assert "Error" not in text
    assert "FILLED 3" in text
    assert "slippage_bps" in text
    charts = [o for o in _outputs(run, "chart") if "image/png" in o.get("data", {})]
    assert len(charts) == 1
    png = base64.b64decode(charts[0]["data"]["image/png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with duckdb.connect(str(tmp_path / "toolkit.duckdb"), read_only=True) as con:
        keys = con.execute("select key, n_orders from batches").fetchall()
        candles = con.execute("select count(*) from candles where interval = '1h'").fetchone()
        fills = con.execute("select count(*) from fills").fetchone()
    assert keys == [("research-test", 3)]
    assert candles is not None
    assert candles[0] >= 3 * 7 * 24
    assert fills is not None
    assert fills[0] >= 3


def test_research_dry_run_places_nothing(run_notebook: Any, tmp_path: Path) -> None:
    run = run_notebook("research.ipynb", dry_run=True)
    assert "dry run: 3 orders not placed" in run.text()
    assert not [o for o in _outputs(run, "chart") if "image/png" in o.get("data", {})]
    with duckdb.connect(str(tmp_path / "toolkit.duckdb"), read_only=True) as con:
        row = con.execute("select count(*) from batches").fetchone()
    assert row == (0,)


def test_research_notebook_against_a_standalone_exchange(
    run_notebook: Any, paper_process: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exchange parameters reach connect (keys from the environment, never parameters)."""
    monkeypatch.setenv("TOOLKIT_API_KEY", paper_process.api_key)
    monkeypatch.setenv("TOOLKIT_API_SECRET", paper_process.api_secret)
    run = run_notebook("research.ipynb", exchange="binance", base_url=paper_process.url,
                       symbols=["BTCUSDT", "ETHUSDT"], key="standalone")  # fmt: skip
    assert "FILLED 2" in run.text()
    query = urllib.parse.urlencode({"api_key": paper_process.api_key})
    with urllib.request.urlopen(f"{paper_process.url}/paper/orders?{query}", timeout=30) as resp:
        orders = json.loads(resp.read())
    assert sorted(o["symbol"] for o in orders) == ["BTCUSDT", "ETHUSDT"]
