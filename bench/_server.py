"""Start and stop the standalone paper exchange in its own process.

``python -m toolkit paper --json`` prints one JSON line (``url``, ``api_key``, ``api_secret``,
``pid``) once it is listening. Its stdout and stderr go to temporary files (never a pipe that
could fill up and block the server); the process is always terminated, then killed, on exit.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "JsonLineProcess",
    "PaperServer",
    "ServerInfo",
    "new_account",
    "paper_available",
    "tls_supported",
    "trust_server_certificate",
]

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0
MAX_LIFETIME = 1800


def paper_available() -> bool:
    """Whether the paper exchange's standalone CLI exists in this checkout."""
    return (ROOT / "toolkit" / "paper" / "_cli.py").exists()


def tls_supported() -> bool:
    """Whether ``python -m toolkit paper`` has a ``--tls`` option."""
    if not paper_available():
        return False
    proc = subprocess.run(
        [sys.executable, "-m", "toolkit", "paper", "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return "--tls" in proc.stdout


def trust_server_certificate(url: str) -> None:
    """Trust the paper exchange's self-signed certificate in this process's aiohttp clients.

    The certificate is generated when the server starts; it is fetched from the server and added
    to aiohttp's default verifying SSL context, so every client (the toolkit's, the floor's, the
    origin's) verifies it as it would verify Binance's: the full cost of TLS, no shortcut.
    """
    import ssl

    from aiohttp import connector

    parts = urlsplit(url)
    pem = ssl.get_server_certificate((parts.hostname or "127.0.0.1", parts.port or 443))
    connector._SSL_CONTEXT_VERIFIED.load_verify_locations(cadata=pem)


@dataclass(frozen=True)
class ServerInfo:
    """What the server printed when it started listening."""

    url: str
    api_key: str
    api_secret: str
    pid: int
    tls: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def new_account(info: ServerInfo) -> ServerInfo:
    """``info`` with a new API key of its own at the same paper exchange (``POST /paper/keys``;
    it starts with the paper balances): clients that must not see each other's orders (a
    user-data stream carries every order of its account)."""
    import asyncio

    import aiohttp

    async def create() -> dict[str, Any]:
        async with aiohttp.ClientSession() as http, http.post(f"{info.url}/paper/keys",
                                                                json={}) as resp:  # fmt: skip
            resp.raise_for_status()
            data: dict[str, Any] = await resp.json()
            return data

    data = asyncio.run(create())
    return dataclasses.replace(info, api_key=str(data["api_key"]),
                               api_secret=str(data["api_secret"]))  # fmt: skip


class JsonLineProcess:
    """A child process that announces itself with one JSON line on stdout, then serves.

    Its stdout and stderr go to temporary files (never a pipe that could fill up and block it).
    ``start()`` waits for the first JSON line and returns it; ``stop()`` wakes a paused
    (SIGSTOPped) child, terminates it, then kills it if it does not exit.
    Shared by the benchmark's and the reliability campaign's paper exchange processes.
    """

    def __init__(self, args: list[str], *, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.env = env if env is not None else {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    def start(self, what: str) -> dict[str, Any]:
        """Start the child; its first JSON line, or RuntimeError naming ``what`` and stderr."""
        self._dir = tempfile.TemporaryDirectory(prefix="tk-child-")
        out_path = Path(self._dir.name) / "stdout"
        with out_path.open("wb") as out, Path(self._dir.name, "stderr").open("wb") as err:
            self.proc = subprocess.Popen(
                self.args, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=ROOT,
                env=self.env,
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for line in out_path.read_text(errors="replace").splitlines():
                line = line.strip()
                if line.startswith("{") and line.endswith("}"):
                    data: dict[str, Any] = json.loads(line)
                    return data
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        stderr = self.stderr[-2000:]
        self.stop()
        raise RuntimeError(f"{what} did not start: {stderr}")

    @property
    def stderr(self) -> str:
        """What the child wrote to stderr so far."""
        if self._dir is None:
            return ""
        return Path(self._dir.name, "stderr").read_text(errors="replace")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)  # a paused process cannot handle SIGTERM
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None


class PaperServer:
    """A paper exchange process bound to 127.0.0.1 on an ephemeral port.

    Example::

        with PaperServer() as info:
            print(info.url)
    """

    def __init__(
        self, *, tls: bool = False, extra_args: tuple[str, ...] = (), rate_limits: bool = False
    ) -> None:
        self.tls = tls
        self.args = [
            sys.executable, "-m", "toolkit", "paper",
            "--host", "127.0.0.1", "--port", "0", "--json",
            *([] if rate_limits else ["--no-rate-limits"]), "--price-mode", "fixed",
            # a safety net: the server stops by itself even if this process is killed
            "--max-lifetime", str(MAX_LIFETIME),
            *(["--tls"] if tls else []),
            *extra_args,
        ]  # fmt: skip
        self._child: JsonLineProcess | None = None
        self.info: ServerInfo | None = None

    def start(self) -> ServerInfo:
        self._child = JsonLineProcess(self.args)
        data = self._child.start(f"paper exchange ({' '.join(self.args[2:])})")
        self.info = ServerInfo(
            url=str(data["url"]).rstrip("/"),
            api_key=str(data["api_key"]),
            api_secret=str(data["api_secret"]),
            pid=int(data["pid"]),
            tls=self.tls,
            extra={k: v for k, v in data.items() if k != "api_secret"},
        )
        return self.info

    def stop(self) -> None:
        if self._child is not None:
            self._child.stop()
            self._child = None

    def __enter__(self) -> ServerInfo:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
