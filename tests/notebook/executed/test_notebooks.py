"""Every notebook runs under papermill; the rebalance job is idempotent, strict and keeps secrets.

The rebalance tests point the notebook at a standalone paper exchange (``paper_process``) so that
orders can be counted at the exchange, across runs, from this process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import duckdb
import pytest

from toolkit.notebook import _job

from .conftest import NOTEBOOKS, ROOT

papermill = pytest.importorskip("papermill")

TARGETS = {"BTC": 0.4, "ETH": 0.3, "USDT": 0.3}


def admin(url: str, path: str, **query: str) -> Any:
    """GET an admin endpoint of the paper exchange (``/paper/...``)."""
    suffix = "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
    with urllib.request.urlopen(f"{url}{path}{suffix}", timeout=10) as resp:
        return json.loads(resp.read())


def placed_at_exchange(paper: Any) -> dict[str, int]:
    """Accepted orders per client order id, as counted by the exchange."""
    counts: dict[str, int] = admin(paper.url, "/paper/counters")["orders_by_client_id"]
    return counts


@pytest.fixture
def exchange(paper_process: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The standalone paper exchange, its keys given to the kernel through the environment."""
    monkeypatch.setenv("TOOLKIT_API_KEY", paper_process.api_key)
    monkeypatch.setenv("TOOLKIT_API_SECRET", paper_process.api_secret)
    return paper_process


def job(paper: Any, **parameters: Any) -> dict[str, Any]:
    """Rebalance parameters that point the notebook at ``paper``."""
    return {"exchange": "binance", "base_url": paper.url, "timeout": 10, **parameters}


def batches(store: Path) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(store), read_only=True) as con:
        return con.sql("select key, papermill, counts from batches order by created_at").fetchall()


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_every_notebook_runs_on_the_embedded_paper_exchange(run_notebook: Any, name: str) -> None:
    run = run_notebook(name)
    text = run.text()
    assert "Error" not in text
    if name == "quickstart.ipynb":  # the tutorial shows each outcome it explains
        for word in ("INVALID", "below the minimum", "FILLED", "CANCELED", "True"):
            assert word in text, word


def test_notebooks_are_stored_without_outputs() -> None:
    for path in NOTEBOOKS.glob("*.ipynb"):
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [], path.name
                assert cell["execution_count"] is None, path.name


def test_rebalance_places_once_per_key(run_notebook: Any, exchange: Any, tmp_path: Path) -> None:
    first = run_notebook("rebalance.ipynb", "first.ipynb", **job(exchange, key="2026-11-25"))
    placed = placed_at_exchange(exchange)
    assert len(placed) == 2
    assert set(placed.values()) == {1}
    assert "placed=2 filled=2" in first.text("summary")

    again = run_notebook("rebalance.ipynb", "again.ipynb", **job(exchange, key="2026-11-25"))
    assert placed_at_exchange(exchange) == placed
    assert "placed before" in again.text()
    assert "mode=re-run" in again.text("summary")

    # A new key with new targets places the new difference: buy BTC, sell ETH.
    targets = {"BTC": 0.5, "ETH": 0.2, "USDT": 0.3}
    new = run_notebook(
        "rebalance.ipynb", "new.ipynb", **job(exchange, key="2026-11-26", targets=targets)
    )
    now = placed_at_exchange(exchange)
    assert len(now) == 4
    assert set(now.values()) == {1}
    assert "placed=2 filled=2" in new.text("summary")
    orders = admin(exchange.url, "/paper/orders", api_key=exchange.api_key)
    new_ids = set(now) - set(placed)
    sides = {(o["symbol"], o["side"]) for o in orders if o["clientOrderId"] in new_ids}
    assert sides == {("BTCUSDT", "BUY"), ("ETHUSDT", "SELL")}

    # The store's batches rows carry the run's parameters (and never the keys).
    rows = batches(tmp_path / "toolkit.duckdb")
    assert [r[0] for r in rows] == ["rebalance-2026-11-25", "rebalance-2026-11-26"]
    recorded = json.loads(rows[1][1])
    assert recorded["key"] == "2026-11-26"
    assert recorded["targets"] == targets
    assert json.loads(rows[1][2]) == {"FILLED": 2}

    # No output notebook contains the secret or the key.
    for run in (first, again, new):
        text = run.path.read_text()
        assert exchange.api_secret not in text
        assert exchange.api_key not in text


def test_dry_run_places_nothing_and_shows_the_orders(run_notebook: Any, exchange: Any) -> None:
    run = run_notebook("rebalance.ipynb", **job(exchange, key="dry", dry_run=True))
    assert placed_at_exchange(exchange) == {}
    text = run.text()
    assert "dry run: would place 2 orders" in text
    assert "BTCUSDT" in text
    assert "ETHUSDT" in text
    assert "would_place=2 placed=0" in run.text("summary")


def test_strict_run_with_an_invalid_target_fails_naming_the_row(
    exchange: Any, tmp_path: Path
) -> None:
    """Through the CLI, as a scheduler runs it: non-zero exit, the row and reason in the message."""
    out = tmp_path / "strict.ipynb"
    params = job(exchange, key="bad", targets={"BTC": 0.3, "FOO": 0.1, "USDT": 0.6})
    args = [
        sys.executable,
        "-m",
        "papermill",
        str(NOTEBOOKS / "rebalance.ipynb"),
        str(out),
        "-k",
        "toolkit",
        "--engine",
        "toolkit",
        "--cwd",
        str(tmp_path),
        "-y",
        json.dumps(params),
    ]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode != 0
    assert "without encryption" not in proc.stderr  # the toolkit engine: the kernel on IPC
    assert "StrictBatchError" in proc.stderr
    assert "FOOUSDT buy: INVALID: unknown symbol 'FOOUSDT'" in proc.stderr
    assert placed_at_exchange(exchange) == {}  # strict is all-or-nothing: nothing was sent
    done = out.read_text()
    assert "invalid=2" in done  # the summary was recorded before the failure
    assert exchange.api_secret not in done


def test_unreachable_exchange_fails_with_a_clear_message(
    run_notebook: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOLKIT_API_KEY", "k")
    monkeypatch.setenv("TOOLKIT_API_SECRET", "s")
    with pytest.raises(papermill.PapermillExecutionError) as info:
        run_notebook("rebalance.ipynb", exchange="binance", base_url="http://127.0.0.1:9")
    assert info.value.ename == "ExchangeUnavailable"
    assert "cannot reach http://127.0.0.1:9" in info.value.evalue


def test_main_job_runs_the_rebalance_and_prints_the_summary(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "runs" / "demo.ipynb"
    code = _job.main(["--key", "demo", "--output", str(output)])
    printed, errors = capfd.readouterr()  # file descriptors: the kernel's stderr too
    assert code == 0, printed + errors
    assert output.exists()
    assert f"output notebook: {output}" in printed
    assert printed.count("placed=2 filled=2") == 1  # one summary, not two
    assert "key=rebalance-demo mode=run would_place=0 placed=2 filled=2" in printed
    assert "BTCUSDT  sell  market" in printed
    # the targets and the weights before and after, so the orders are explained
    weights = _weights(printed)
    assert weights["target"] == {"BTC": 0.4, "ETH": 0.3, "USDT": 0.3}
    assert weights["before"] != weights["target"]
    for asset, target in weights["target"].items():
        assert abs(weights["after"][asset] - target) < 0.01, (asset, weights)
    assert "without encryption" not in printed + errors


def _weights(text: str) -> dict[str, dict[str, float]]:
    """The weights table printed by the job: {column: {asset: weight}}."""
    lines = [line for line in text.splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.startswith("targets and weights"))
    header = lines[start + 1].split()
    assert header == ["target", "before", "after"], lines[start : start + 6]
    table: dict[str, dict[str, float]] = {name: {} for name in header}
    for line in lines[start + 3 :]:
        parts = line.split()
        if len(parts) != 4:
            break
        for name, value in zip(header, parts[1:], strict=True):
            table[name][parts[0]] = float(value)
    return table


def test_unknown_parameter_fails_before_anything_runs(run_notebook: Any, exchange: Any) -> None:
    """A misspelt ``-p taregts ...`` fails naming it, instead of running with the defaults."""
    with pytest.raises(papermill.PapermillExecutionError) as info:
        run_notebook(
            "rebalance.ipynb", **job(exchange, key="typo", taregts={"BTC": 0.5, "USDT": 0.5})
        )
    assert info.value.ename == "ConfigError"
    assert "unknown parameter 'taregts' (did you mean 'targets'?)" in info.value.evalue
    assert "key, market, min_trade" in info.value.evalue  # the declared ones are listed
    assert placed_at_exchange(exchange) == {}


def test_rebalance_shows_targets_and_weights_before_and_after(
    run_notebook: Any, exchange: Any
) -> None:
    run = run_notebook("rebalance.ipynb", **job(exchange, key="weights"))
    weights = _weights(run.text("weights"))
    assert weights["target"] == TARGETS
    assert abs(sum(weights["before"].values()) - 1) < 0.001
    for asset, target in TARGETS.items():
        assert abs(weights["after"][asset] - target) < 0.01, (asset, weights)
