"""Conformance: Binance client libraries other than ccxt, each in its own environment.

python-binance (and later the official SDKs) cannot share toolkit's environment: they pin their
own dependencies, and ``binance-connector`` / ``binance-futures-connector`` even install the same
``binance/api.py``. Each one gets a virtualenv next to the repository's ``.venv``
(``.venv-conformance-<name>``, built once with uv from the package registry, then reused; the
test is skipped where that is impossible). A small script in ``tests/paper/clients/`` runs the
library's own calls against a paper exchange served by this test and prints every raw answer;
the test compares keys and value types with the recorded shapes of ``shapes.py`` (sources
named there).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from toolkit.paper import PaperExchange

from .shapes import (
    ALGO_NEW,
    ALGO_QUERY,
    FUT_ORDER,
    FUT_QUERY,
    POSITION_V3,
    SPOT_NEW,
    SPOT_QUERY,
    shape,
)

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = Path(__file__).resolve().parent / "clients"
#: Generous: building an environment the first time, or a slow shared machine.
RUN_TIMEOUT = 300


def client_env(name: str, packages: list[str]) -> Path:
    """The Python of ``.venv-conformance-<name>`` with ``packages`` installed (built once)."""
    root = ROOT / f".venv-conformance-{name}"
    python = root / "bin" / "python"
    marker = root / ".installed"
    uv = Path(sys.executable).parent / "uv"
    locks = ROOT / ".venv-conformance-locks"
    locks.mkdir(exist_ok=True)
    with open(locks / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # xdist workers build it once between them
        if marker.exists() and marker.read_text() == " ".join(packages):
            return python
        if not uv.exists():
            pytest.skip("uv is not installed next to this Python; cannot build the env")
        made = subprocess.run(
            [str(uv), "venv", "-q", "--clear", "-p", sys.executable, str(root)],
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
        installed = (
            made.returncode == 0
            and subprocess.run(
                [str(uv), "pip", "install", "-q", "-p", str(python), *packages],
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT,
            ).returncode
            == 0
        )
        if not installed:
            pytest.skip(f"could not install {packages} (no package registry?)")
        marker.write_text(" ".join(packages))
    return python


async def run_client(python: Path, script: str, paper: PaperExchange) -> dict[str, Any]:
    """Run ``clients/<script>`` against ``paper`` (served by this loop meanwhile)."""
    key, secret = paper.create_key()
    proc = await asyncio.create_subprocess_exec(
        str(python),
        str(CLIENTS / script),
        paper.url,
        key,
        secret,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    assert proc.returncode == 0, err.decode()[-2000:]
    result: dict[str, Any] = json.loads(out)
    return result


async def test_python_binance(paper: PaperExchange) -> None:
    python = await asyncio.to_thread(client_env, "python-binance", ["python-binance==1.0.37"])
    got = await run_client(python, "pybinance_calls.py", paper)
    errors = {name: v["error"] for name, v in got.items() if isinstance(v, dict) and "error" in v}
    # the one expected refusal: spot listen keys are retired (spot CHANGELOG 2026-01-21)
    assert errors == {
        "spot_listen_key": {
            "status": 410,
            "code": -1000,
            "message": got["spot_listen_key"]["error"]["message"],
        }
    }
    assert set(got["time"]) == {"serverTime"}
    for name in ("limit", "market", "market_quote", "ioc"):  # python-binance asks for FULL
        assert set(shape(got[name])) - {"expiryReason"} == set(SPOT_NEW), name
        assert shape(got[name]).items() >= SPOT_NEW.items(), name
    assert got["ioc"]["expiryReason"] == "UNFILLED_IOC_QUANTITY_EXPIRED"
    assert got["market_quote"]["status"] == "FILLED"
    assert got["test_order"] == {}
    assert shape(got["get_order"]) == SPOT_QUERY
    assert got["get_order_by_client_id"] == got["get_order"]
    assert [o["orderId"] for o in got["open_orders"]] == [
        got["limit"]["orderId"],
        got["stop_loss_limit"]["orderId"],
    ]
    assert len(got["all_orders"]) == 5
    assert got["cancel"]["status"] == "CANCELED"
    assert [o["status"] for o in got["cancel_all"]] == ["CANCELED"]

    assert got["f_account"]["tradeGroupId"] == -1
    assert got["f_leverage"]["leverage"] == 5
    assert shape(got["f_limit"]) == FUT_ORDER
    assert got["f_test"] == {}
    assert shape(got["f_get_order"]) == FUT_QUERY
    assert got["f_open_order"] == got["f_get_order"]
    assert [shape(o) for o in got["f_batch"]] == [FUT_ORDER, FUT_ORDER]
    assert [o["status"] for o in got["f_batch_cancel"]] == ["CANCELED", "CANCELED"]
    # python-binance 1.0.37 routes STOP_MARKET/TAKE_PROFIT to POST /fapi/v1/algoOrder
    assert shape(got["f_stop_market"]) == ALGO_NEW
    assert shape(got["f_take_profit"]) == ALGO_NEW
    assert shape(got["f_algo_get"]) == ALGO_QUERY
    assert len(got["f_algo_open"]) == 2
    assert got["f_algo_cancel"]["msg"] == "success"
    assert {a["algoStatus"] for a in got["f_algo_all"]} == {"CANCELED", "NEW"}
    # python-binance's futures_position_information calls /fapi/v3/positionRisk
    assert [shape(p) for p in got["f_position_risk"]] == [POSITION_V3]
    assert got["f_cancel"]["status"] == "CANCELED"
    assert got["f_cancel_all"] == {
        "code": 200,
        "msg": "The operation of cancel all open order is done.",
    }
    assert len(got["f_listen_key"]) == 64


#: The official SDKs, one environment for both (they share ``binance-common``).
SDK_PACKAGES = ["binance-sdk-spot==13.3.0", "binance-sdk-derivatives-trading-usds-futures==18.1.0"]


async def test_official_spot_sdk_rest_and_ws_api(paper: PaperExchange) -> None:
    python = await asyncio.to_thread(client_env, "binance-sdk", SDK_PACKAGES)
    got = await run_client(python, "sdk_spot_calls.py", paper)
    assert not [n for n, v in got.items() if isinstance(v, dict) and "error" in v], got
    assert set(got["time"]) == {"serverTime"}
    assert shape(got["limit"]) == SPOT_NEW
    assert got["market_quote"]["status"] == "FILLED"
    assert got["test_order"] == {}
    assert shape(got["get_order"]) == SPOT_QUERY
    assert [o["orderId"] for o in got["open_orders"]] == [got["limit"]["orderId"]]
    assert len(got["all_orders"]) == 2
    assert got["cancel"]["status"] == "CANCELED"
    # the user-data stream over the WebSocket API, as the SDK subscribes to it
    assert got["ws_subscribe"]["status"] == 200
    assert got["ws_subscribe"]["result"] == {"subscriptionId": 0}
    event = got["ws_event"]
    assert (event["c"], event["X"], event["x"], event["s"]) == ("sdk-ws-1", "NEW", "NEW", "BTCUSDT")


async def test_official_usdm_sdk(paper: PaperExchange) -> None:
    python = await asyncio.to_thread(client_env, "binance-sdk", SDK_PACKAGES)
    got = await run_client(python, "sdk_usdm_calls.py", paper)
    assert not [n for n, v in got.items() if isinstance(v, dict) and "error" in v], got
    assert shape(got["limit"]) == FUT_ORDER
    assert got["test_order"] == {}
    assert shape(got["query"]) == FUT_QUERY
    assert got["open_order"] == got["query"]
    assert [shape(o) for o in got["batch"]] == [FUT_ORDER, FUT_ORDER]
    assert [o["status"] for o in got["batch_cancel"]] == ["CANCELED", "CANCELED"]
    assert got["market"]["status"] == "FILLED"
    assert shape(got["algo_new"]) == ALGO_NEW
    assert shape(got["algo_query"]) == ALGO_QUERY
    assert [a["clientAlgoId"] for a in got["algo_open"]] == ["sdk-sl-1"]
    assert got["algo_cancel"] == {
        "algoId": got["algo_new"]["algoId"],
        "clientAlgoId": "sdk-sl-1",
        "code": "200",
        "msg": "success",
    }
    assert [shape(p) for p in got["positions_v3"]] == [POSITION_V3]
    assert "feeTier" not in got["account_v3"]
    assert got["cancel"]["status"] == "CANCELED"
    assert len(got["listen_key"]["listenKey"]) == 64


def _errors(got: dict[str, Any]) -> dict[str, Any]:
    return {name: v["error"] for name, v in got.items() if isinstance(v, dict) and "error" in v}


async def test_deprecated_spot_connector(paper: PaperExchange) -> None:
    """binance-connector 3.13.0 (deprecated on PyPI, still widely installed)."""
    python = await asyncio.to_thread(client_env, "binance-connector", ["binance-connector==3.13.0"])
    got = await run_client(python, "connector_spot_calls.py", paper)
    # its listen-key helper meets the retired endpoint (spot CHANGELOG 2026-01-21)
    assert list(_errors(got)) == ["listen_key"]
    assert got["listen_key"]["error"]["status"] == 410
    assert shape(got["limit"]) == SPOT_NEW
    assert got["market_quote"]["status"] == "FILLED"
    assert got["fok"]["expiryReason"] == "UNFILLED_FOK_ORDER_EXPIRED"
    assert got["test_order"] == {}
    assert shape(got["get_order"]) == SPOT_QUERY
    assert got["get_order_by_client_id"] == got["get_order"]
    assert len(got["open_orders"]) == 2
    assert len(got["all_orders"]) == 4
    assert got["cancel"]["status"] == "CANCELED"
    assert [o["orderId"] for o in got["cancel_all"]] == [got["take_profit_limit"]["orderId"]]


async def test_deprecated_usdm_connector(paper: PaperExchange) -> None:
    """binance-futures-connector 4.2.0, in an environment of its own (same binance/api.py)."""
    python = await asyncio.to_thread(
        client_env, "binance-futures-connector", ["binance-futures-connector==4.2.0"]
    )
    got = await run_client(python, "connector_usdm_calls.py", paper)
    # the old endpoint refuses conditional types (-4120, observed 2025-12-09, nautilus#3287)
    assert _errors(got) == {
        "stop_market_old_endpoint": {
            "status": 400,
            "code": -4120,
            "message": "Order type not supported for this endpoint. "
            "Please use the Algo Order API endpoints instead.",
        }
    }
    assert shape(got["limit"]) == FUT_ORDER
    assert got["test_order"] == {}
    assert shape(got["query"]) == FUT_QUERY
    assert got["open_order"] == got["query"]
    assert [shape(o) for o in got["batch"]] == [FUT_ORDER, FUT_ORDER]
    assert [o["status"] for o in got["batch_cancel"]] == ["CANCELED", "CANCELED"]
    assert shape(got["algo_new"]) == ALGO_NEW
    assert shape(got["algo_query"]) == ALGO_QUERY
    assert got["algo_cancel"]["msg"] == "success"
    assert [shape(p) for p in got["positions_v3"]] == [POSITION_V3]  # it calls v3
    assert "feeTier" not in got["account_v3"]  # ... and /fapi/v3/account
    assert len(got["listen_key"]["listenKey"]) == 64
