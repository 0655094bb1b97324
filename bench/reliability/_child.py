"""A placing process: ``python -m bench.reliability._child SPEC`` (SPEC is a JSON object).

Connects to a paper exchange process the way a user's script does
(``tk.connect("binance", base_url=..., store=...)``, keys from ``TOOLKIT_API_KEY`` /
``TOOLKIT_API_SECRET``), builds its orders with :func:`make_orders` and runs
``tk.batch(rows, key=...)`` for each of ``batches`` batches, then prints one JSON line with the
status counts (``start_at``: a wall-clock time to start at, after connecting). ``crash`` makes
the process SIGKILL itself at an exact point of the batch:

* ``"before-send"``: after the write-ahead, when the first order request is about to be sent;
* ``"after-send"``: when the first answers are back (a group of requests: the batch records
  answers group by group), before any of them is persisted.

("mid-batch" is a SIGKILL from outside; see :mod:`bench.reliability.crashes`.)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections import Counter
from typing import Any

import toolkit as tk
from toolkit.binance import adapter as binance
from toolkit.session import _ledger

from ._harness import make_orders

__all__ = ["main"]


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _install_crash(point: str) -> None:
    if point == "before-send":
        place = binance.BinanceAdapter.place

        async def place_then_die(self: Any, requests: Any, **kw: Any) -> Any:
            _die()
            return await place(self, requests, **kw)  # pragma: no cover

        binance.BinanceAdapter.place = place_then_die  # type: ignore[method-assign]
    elif point == "after-send":
        finalize = _ledger.Ledger.finalize

        async def finalize_or_die(self: Any, orders: Any, source: str, **kw: Any) -> Any:
            if source == "response":
                _die()
            return await finalize(self, orders, source, **kw)

        _ledger.Ledger.finalize = finalize_or_die  # type: ignore[method-assign]


async def _run(spec: dict[str, Any]) -> dict[str, Any]:
    session = await tk.connect(
        "binance",
        market=spec.get("market", "spot"),
        base_url=spec["url"],
        store=spec["store"],
        **spec.get("settings", {}),
    )
    await session.open()
    if "start_at" in spec:  # several processes run their batch at the same moment
        await asyncio.sleep(max(0.0, float(spec["start_at"]) - time.time()))
    counts: Counter[str] = Counter()
    for i in range(int(spec.get("batches", 1))):
        key = f"{spec['key']}-{i}" if spec.get("batches", 1) > 1 else spec["key"]
        rows = make_orders(int(spec["n"]), market=session.config.market.value,
                           seed=int(spec.get("seed", 0)) + i)  # fmt: skip
        frame = await session.batch(rows, key=key, progress=False)
        counts.update(str(s) for s in frame["status"])
    await session.close()
    return {"statuses": dict(counts)}


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    _install_crash(spec.get("crash", ""))
    print(json.dumps(asyncio.run(_run(spec))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
