"""Shared fixtures: the paper exchange, embedded (``paper``) or as a process (``paper_process``)."""

from __future__ import annotations

import asyncio
import inspect
import json
import subprocess
import sys
import traceback
import weakref
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
    aioresponses_core.ClientResponse = _CompatResponse  # type: ignore[attr-defined]


# -- event loops nobody closed ------------------------------------------------------------------
#
# An event loop that a library creates for a thread and never closes (jupyter_core's run_sync in
# an in-process papermill run is one such) is garbage-collected during some later, unrelated
# test, and its ResourceWarning fails that test (warnings are errors). Every loop is tracked
# here with where it was made; after each test, a loop left open and not running is closed,
# and where it came from is written to stderr (shown with the test's output).
_LOOPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, str] = weakref.WeakKeyDictionary()
_base_init = asyncio.BaseEventLoop.__init__


def _tracked_init(self: asyncio.BaseEventLoop, *args: Any, **kwargs: Any) -> None:
    _base_init(self, *args, **kwargs)
    frames = traceback.extract_stack(limit=8)[:-1]
    _LOOPS[self] = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in frames)


asyncio.BaseEventLoop.__init__ = _tracked_init  # type: ignore[method-assign,assignment]


@pytest.fixture(autouse=True)
def _no_stray_event_loops() -> Iterator[None]:
    yield
    for loop, made in list(_LOOPS.items()):
        if not loop.is_closed() and not loop.is_running() and loop is not _runner_loop():
            sys.stderr.write(f"closing an event loop left open, made at {made}\n")
            loop.close()


def _runner_loop() -> asyncio.AbstractEventLoop | None:
    """The toolkit's I/O loop, if one runs (it is closed by the runner's shutdown)."""
    from toolkit.runtime import _runner

    io = _runner._io
    return None if io is None else io.loop


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
        [
            sys.executable,
            "-m",
            "toolkit",
            "paper",
            "--port",
            "0",
            "--json",
            "--no-rate-limits",
            "--price-mode",
            "fixed",
            "--max-lifetime",
            "600",
        ],
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
    if holder is not None and loop is not None and not loop.is_running():
        loop.close()
        holder.set(None)
        asyncio.set_event_loop(None)
