"""Shared fixtures: the paper exchange, embedded (``paper``) or as a process (``paper_process``)."""

from __future__ import annotations

import asyncio
import inspect
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aioresponses.core as aioresponses_core
import pytest
from aiohttp import ClientResponse

from toolkit.paper import PaperExchange


class _CompatResponse(ClientResponse):
    """aioresponses 0.7.x builds responses without aiohttp 3.14's ``stream_writer`` argument
    (pnuckowski/aioresponses#289); give it a finished writer so mocked responses build."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(*args, **kwargs)


if "stream_writer" in inspect.signature(ClientResponse.__init__).parameters:
    aioresponses_core.ClientResponse = _CompatResponse  # type: ignore[misc]


@pytest.fixture
async def paper() -> AsyncIterator[PaperExchange]:
    """A started ``PaperExchange(price_mode="fixed")`` on the test's loop, stopped afterwards."""
    ex = PaperExchange(price_mode="fixed")
    await ex.start()
    try:
        yield ex
    finally:
        await ex.stop()


@dataclass
class PaperProcess:
    """A standalone paper exchange (``python -m toolkit paper``) and its credentials."""

    url: str
    api_key: str
    api_secret: str
    proc: subprocess.Popen[str]


@pytest.fixture
def paper_process() -> Iterator[PaperProcess]:
    """The CLI in a subprocess (fixed prices, no rate limits); terminated afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "toolkit", "paper", "--port", "0", "--json", "--no-rate-limits",
         "--price-mode", "fixed", "--max-lifetime", "600"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"paper exchange did not start (exit code {proc.wait(10)})")
        info = json.loads(line)
        yield PaperProcess(info["url"], info["api_key"], info["api_secret"], proc)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture
def papermill_loop_closed() -> Iterator[None]:
    """Close the event loop that an in-process papermill run leaves behind.

    nbclient runs through ``jupyter_core.utils.run_sync``, which creates a loop for this thread
    and keeps it in a context variable (and as the thread's event loop) without closing it. The
    next asyncio test replaces the thread's loop, the old one is garbage-collected unclosed, and
    its ``ResourceWarning`` fails whichever test happens to run then (warnings are errors).
    """
    yield
    try:
        from jupyter_core import utils
    except ImportError:  # pragma: no cover
        return
    holder = getattr(utils, "_loop", None)  # jupyter_core 5.x: ContextVar of run_sync's loop
    loop = holder.get() if holder is not None else None
    if loop is not None and not loop.is_running():
        loop.close()
        holder.set(None)
        asyncio.set_event_loop(None)
