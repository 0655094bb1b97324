"""The standalone server: ``python -m toolkit paper``."""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest

from toolkit.paper._cli import add_parser, run


def _signed(url: str, key: str, secret: str, path: str, query: str) -> Any:
    query += f"&timestamp={int(time.time() * 1000)}"
    query += "&signature=" + hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(f"{url}{path}?{query}", headers={"X-MBX-APIKEY": key})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.load(resp)


def test_paper_process_serves_signed_requests(paper_process: Any) -> None:
    p = paper_process
    assert p.url.startswith("http://127.0.0.1:")
    acct = _signed(p.url, p.api_key, p.api_secret, "/api/v3/account", "recvWindow=5000")
    assert any(b["asset"] == "USDT" for b in acct["balances"])
    with urllib.request.urlopen(p.url + "/paper/counters", timeout=10) as resp:
        assert json.load(resp)["requests"] >= 1


def test_given_keys_and_sigterm() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "toolkit",
            "paper",
            "--port",
            "0",
            "--json",
            "--api-key",
            "K1",
            "--api-secret",
            "S1",
            "--price-mode",
            "fixed",
            "--error-after-rate",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stderr is not None
        info = json.loads(proc.stdout.readline())
        assert (info["api_key"], info["api_secret"], info["pid"]) == ("K1", "S1", proc.pid)
        price = _signed(info["url"], "K1", "S1", "/fapi/v2/balance", "recvWindow=5000")
        assert price[0]["asset"] == "USDT"
        # a request too malformed to parse: answered 400, and no traceback in the log
        host, port = info["url"].removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
            assert b" 400 " in raw.recv(64)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        log = proc.stderr.read()
        assert "Error handling request" not in log
        assert "Traceback" not in log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="toolkit")
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["paper", *argv])


def test_help_documents_every_option() -> None:
    parser = argparse.ArgumentParser(prog="toolkit")
    sub = parser.add_subparsers(dest="command")
    out = add_parser(sub).format_help()
    for flag in (
        "--host",
        "--port",
        "--api-key",
        "--api-secret",
        "--seed",
        "--no-rate-limits",
        "--price-mode",
        "--json",
        "--latency",
        "--error-before-rate",
        "--error-after-rate",
        "--drop-after-rate",
        "--burst-429-rate",
        "--clock-skew-ms",
        "--slow-rate",
        "--slow-latency",
        "--ban-418-rate",
        "--ban-418-seconds",
        "--fault-seed",
        "--max-lifetime",
        "--tls",
    ):
        assert flag in out


def test_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(_parse(["--api-key", "K"])) == 2
    assert "go together" in capsys.readouterr().err
    assert run(_parse(["--error-after-rate", "3"])) == 2
    assert run(_parse(["--ban-418-seconds", "0"])) == 2
    assert "ban_418_seconds must be > 0" in capsys.readouterr().err


def test_slow_and_ban_flags_reach_the_fault_settings() -> None:
    from toolkit.paper._cli import _faults

    flags = ["--slow-rate", "0.1", "--slow-latency", "2.5"]
    flags += ["--ban-418-rate", "0.01", "--ban-418-seconds", "3"]
    config = _faults(_parse(flags))
    assert (config.slow_rate, config.slow_latency) == (0.1, 2.5)
    assert (config.ban_418_rate, config.ban_418_seconds) == (0.01, 3.0)
    assert config.active


def test_human_output_and_max_lifetime(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse(["--port", "0", "--max-lifetime", "0.3", "--price-mode", "fixed"])
    assert args.func is run
    assert run(args) == 0
    out = capsys.readouterr().out
    assert "listening on http://127.0.0.1:" in out
    assert "api secret:" in out
