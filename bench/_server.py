"""Start and stop the standalone paper exchange in its own process.

``python -m toolkit paper --json`` prints one JSON line (``url``, ``api_key``, ``api_secret``,
``pid``) once it is listening. Its stdout and stderr go to temporary files (never a pipe that
could fill up and block the server); the process is always terminated, then killed, on exit.
"""

from __future__ import annotations

import json
import os
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
    "PaperServer",
    "ServerInfo",
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


class PaperServer:
    """A paper exchange process bound to 127.0.0.1 on an ephemeral port.

    Example::

        with PaperServer() as info:
            print(info.url)
    """

    def __init__(self, *, tls: bool = False, extra_args: tuple[str, ...] = ()) -> None:
        self.tls = tls
        self.args = [
            sys.executable, "-m", "toolkit", "paper",
            "--host", "127.0.0.1", "--port", "0", "--json",
            "--no-rate-limits", "--price-mode", "fixed",
            # a safety net: the server stops by itself even if this process is killed
            "--max-lifetime", str(MAX_LIFETIME),
            *(["--tls"] if tls else []),
            *extra_args,
        ]  # fmt: skip
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self.info: ServerInfo | None = None

    def start(self) -> ServerInfo:
        self._dir = tempfile.TemporaryDirectory(prefix="tk-bench-server-")
        out_path = Path(self._dir.name) / "stdout"
        err_path = Path(self._dir.name) / "stderr"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with out_path.open("wb") as out, err_path.open("wb") as err:
            self._proc = subprocess.Popen(
                self.args, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=ROOT, env=env
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for line in out_path.read_text(errors="replace").splitlines():
                line = line.strip()
                if line.startswith("{"):
                    data = json.loads(line)
                    self.info = ServerInfo(
                        url=str(data["url"]).rstrip("/"),
                        api_key=str(data["api_key"]),
                        api_secret=str(data["api_secret"]),
                        pid=int(data.get("pid", self._proc.pid)),
                        tls=self.tls,
                        extra={k: v for k, v in data.items() if k != "api_secret"},
                    )
                    return self.info
            if self._proc.poll() is not None:
                break
            time.sleep(0.05)
        stderr = err_path.read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"paper exchange did not start ({' '.join(self.args[2:])}): {stderr}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> ServerInfo:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
