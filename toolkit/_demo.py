"""The main job of the README: ``python -m toolkit demo``.

Connects to the embedded paper exchange (no keys needed), places a small mixed batch -- resting
limit orders, market orders and one invalid row -- prints the order frame, cancels what is still
open, prints a short summary and closes. The store is ``TOOLKIT_STORE`` if set, else a file in a
temporary directory (so the demo leaves nothing behind).

Example::

    $ python -m toolkit demo
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from typing import Any

import pandas as pd

__all__ = ["DEMO_ORDERS", "main", "run_demo"]

#: The demo batch: ccxt and exchange symbols, aliases, one row that cannot be valid.
DEMO_ORDERS: list[dict[str, Any]] = [
    {"symbol": "BTC/USDT", "side": "buy", "type": "limit", "price": "85000", "qty": "0.002"},
    {"symbol": "ETHUSDT", "side": "BUY", "order_type": "LIMIT", "price": "2850", "qty": "0.05"},
    {"symbol": "BTCUSDT", "side": "sell", "type": "market", "qty": "0.001"},
    {"symbol": "SOL/USDT", "side": "buy", "quote_qty": "50"},
    {"symbol": "ETHUSDT", "side": "buy", "type": "limit", "price": "2850.001", "qty": "0.05"},
]

_SHOWN = [
    "symbol", "side", "type", "price", "qty", "filled_qty", "avg_price", "status", "error_msg",
]  # fmt: skip


async def run_demo(store: str) -> int:
    """Place, show, cancel, summarize; returns the process exit code."""
    import toolkit as tk

    session = await tk.connect("paper", store=store)
    try:
        frame = await session.batch(pd.DataFrame(DEMO_ORDERS))
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print("Order frame:")
            print(frame[_SHOWN].to_string())
        cancelled = await session.cancel(frame)
        print(f"\nCancelled {len(cancelled)} open order(s).")
        counts = session.sql(
            "select status, count(*) as n from orders group by status order by status"
        )
        summary = ", ".join(f"{row.status}: {row.n}" for row in counts.itertuples())
        print(f"Store {store}: {summary}")
        ok = (frame["status"] == "INVALID").sum() == 1 and len(frame) == len(DEMO_ORDERS)
        return 0 if ok else 1
    finally:
        await session.close()


def main(args: argparse.Namespace | None = None) -> int:
    """Entry point of ``python -m toolkit demo``."""
    del args  # no options yet
    env_store = os.environ.get("TOOLKIT_STORE")
    if env_store:
        return asyncio.run(run_demo(env_store))
    with tempfile.TemporaryDirectory(prefix="toolkit-demo-") as tmp:
        return asyncio.run(run_demo(os.path.join(tmp, "toolkit.duckdb")))
