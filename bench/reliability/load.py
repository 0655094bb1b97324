"""Scenario "load": many batches at once from one session, and two processes on one store file.

* ``concurrent``: ``n_batches`` batches of ``batch_size`` spot orders started together from one
  session. Sampled every 10 ms: the connections the session's connector holds, and the TCP
  connections the paper exchange process has open. What must hold: no error, the connections
  never exceed the session's ``connection_limit``, every row in the store once with a definite
  status, every order at the exchange once.
* ``shared_store``: a notebook run by papermill and a separate process each place ``batches``
  batches of ``batch_size`` orders into **one** store file at the same time.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import toolkit as tk

from ._harness import (
    ROOT,
    PaperProc,
    child_env,
    connect_settings,
    make_orders,
    reconcile_report,
    run_notebook,
    store_orders,
)

__all__ = ["run_load"]


class _Sampler:
    """Samples the session's pool and the server's TCP connections in a thread."""

    def __init__(self, session: tk.Session, server_pid: int) -> None:
        import psutil

        self.session = session
        self.server = psutil.Process(server_pid)
        self.client_max = 0
        self.server_max = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.client_max = max(self.client_max, self.session.transport.open_connections())
            conns = self.server.net_connections(kind="tcp")
            self.server_max = max(
                self.server_max, sum(1 for c in conns if c.status == "ESTABLISHED")
            )
            self.samples += 1
            self._stop.wait(0.01)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def _concurrent(paper: PaperProc, store: Path, n_batches: int, size: int) -> dict[str, Any]:
    session = await tk.connect("binance", **connect_settings(paper, store, stream=False))
    await session.batch(make_orders(1, market="spot", seed=1), key="load-warmup", progress=False)
    batches = {f"load-{i:02d}": make_orders(size, market="spot", seed=1000 + i, resting=0.25)
               for i in range(n_batches)}  # fmt: skip
    errors: list[str] = []

    async def one(key: str, rows: list[dict[str, Any]]) -> Counter[str]:
        try:
            frame = await session.batch(rows, key=key, progress=False)
        except tk.ToolkitError as exc:
            errors.append(f"{key}: {type(exc).__name__}: {exc}")
            return Counter()
        return Counter(str(s) for s in frame["status"])

    started = time.perf_counter()
    with _Sampler(session, paper.pid) as sampler:
        results = await asyncio.gather(*(one(k, rows) for k, rows in batches.items()))
    seconds = time.perf_counter() - started
    limit = session.config.connection_limit
    await session.close()
    statuses: Counter[str] = sum(results, Counter())
    check = reconcile_report(
        [r for r in store_orders(store) if str(r["key"]).startswith("load-")],
        paper.orders(),
        paper.counters()["orders_by_client_id"],
        expected={**dict.fromkeys(batches, size), "load-warmup": 1},
    )
    violations = list(check["violations"]) + errors
    if sampler.client_max > limit:
        violations.append(f"the session held {sampler.client_max} connections (limit {limit})")
    return {
        "batches": n_batches,
        "orders": n_batches * size,
        "seconds": round(seconds, 2),
        "orders_per_second": round(n_batches * size / seconds),
        "statuses": dict(statuses),
        "connection_limit": limit,
        "max_client_connections": sampler.client_max,
        "max_server_connections": sampler.server_max,
        "samples": sampler.samples,
        "check": check,
        "violations": violations,
    }


_NOTEBOOK = [
    'url = ""\nstore = ""\nbatches = 1\nsize = 1',
    "import toolkit as tk\n"
    "from bench.reliability._harness import make_orders\n"
    'session = await tk.connect("binance", base_url=url, store=store, stream=False)',
    "statuses = {}\n"
    "for i in range(batches):\n"
    '    frame = await session.batch(make_orders(size, market="spot", seed=2000 + i),\n'
    '                                key=f"notebook-{i}", progress=False)\n'
    "    for s in frame.status:\n"
    "        statuses[s] = statuses.get(s, 0) + 1\n"
    "await session.close()\n"
    "print(statuses)",
]


async def _shared_store(
    paper: PaperProc, store: Path, workdir: Path, batches: int, size: int
) -> dict[str, Any]:
    key, secret = paper.new_key()
    env = {"TOOLKIT_API_KEY": key, "TOOLKIT_API_SECRET": secret}
    spec = {"url": paper.url, "store": str(store), "key": "process", "n": size, "seed": 3000,
            "batches": batches, "settings": {"stream": False}}  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once; waited for in a thread
        [sys.executable, "-m", "bench.reliability._child", json.dumps(spec)],
        cwd=ROOT, env=child_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        error = await asyncio.to_thread(
            run_notebook, _NOTEBOOK, workdir / "shared_store.ipynb",
            parameters={"url": paper.url, "store": str(store), "batches": batches, "size": size},
            env=env,
        )  # fmt: skip
        _, err = await asyncio.to_thread(proc.communicate, timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    seconds = time.perf_counter() - started
    expected = {f"notebook-{i}": size for i in range(batches)}
    expected.update({f"process-{i}": size for i in range(batches)})
    check = reconcile_report(
        [r for r in store_orders(store) if r["key"] in expected],
        paper.orders(key),
        paper.counters()["orders_by_client_id"],
        expected=expected,
    )
    violations = list(check["violations"])
    if error:
        violations.append(f"the notebook failed: {error}")
    if proc.returncode != 0:
        violations.append(f"the process failed ({proc.returncode}): {err[-800:]}")
    return {
        "batches_each": batches,
        "orders": 2 * batches * size,
        "seconds": round(seconds, 1),
        "check": check,
        "violations": violations,
    }


async def run_load(
    workdir: Path, *, n_batches: int = 20, size: int = 100, shared_batches: int = 10,
    shared_size: int = 50,
) -> dict[str, Any]:  # fmt: skip
    """Both parts (module docstring); returns figures and ``violations``."""
    store = workdir / "load.duckdb"
    with PaperProc() as paper:
        concurrent = await _concurrent(paper, store, n_batches, size)
        shared = await _shared_store(paper, workdir / "shared.duckdb", workdir, shared_batches,
                                     shared_size)  # fmt: skip
    return {
        "concurrent": concurrent,
        "shared_store": shared,
        "violations": concurrent["violations"] + shared["violations"],
    }
