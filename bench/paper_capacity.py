"""Capacity of the standalone paper exchange: signed order requests per second.

Starts ``python -m toolkit paper`` in a subprocess (rate limits off, fixed prices), pre-signs
LIMIT orders that alternate marketable BUY/SELL (so each one is accepted and filled and balances
stay level), fires them with aiohttp at a fixed concurrency for a few seconds and prints one JSON
line with the accepted orders per second.

    python bench/paper_capacity.py [--seconds 5] [--concurrency 32] [--market spot|usdm]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import aiohttp


def _start_server() -> tuple[subprocess.Popen[str], dict[str, Any]]:
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
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise RuntimeError("paper exchange did not start")
    return proc, json.loads(line)


def _orders(market: str, secret: bytes, count: int) -> Iterator[str]:
    ts = int(time.time() * 1000)
    symbol, buy, sell, qty = (
        ("BTCUSDT", "90100", "89900", "0.0001")
        if market == "spot"
        else ("BTCUSDT", "90100.0", "89900.0", "0.002")
    )
    for i in range(count):
        side, price = ("BUY", buy) if i % 2 == 0 else ("SELL", sell)
        query = (
            f"symbol={symbol}&side={side}&type=LIMIT&timeInForce=GTC&quantity={qty}"
            f"&price={price}&newClientOrderId=bench-{i}&newOrderRespType=ACK"
            f"&recvWindow=60000&timestamp={ts}"
        )
        signature = hmac.new(secret, query.encode(), hashlib.sha256).hexdigest()
        yield f"{query}&signature={signature}"


async def _fire(
    url: str, key: str, bodies: Iterator[str], seconds: float, concurrency: int
) -> dict[str, int]:
    counts = {"ok": 0, "error": 0}
    headers = {"X-MBX-APIKEY": key, "Content-Type": "application/x-www-form-urlencoded"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for body in bodies:
                if time.monotonic() >= deadline:
                    return
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    counts["ok" if resp.status == 200 else "error"] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return counts


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--market", choices=("spot", "usdm"), default="spot")
    parser.add_argument("--max-orders", type=int, default=200_000)
    args = parser.parse_args(argv)
    proc, info = _start_server()
    try:
        path = "/api/v3/order" if args.market == "spot" else "/fapi/v1/order"
        bodies = _orders(args.market, info["api_secret"].encode(), args.max_orders)
        started = time.monotonic()
        counts = asyncio.run(
            _fire(info["url"] + path, info["api_key"], bodies, args.seconds, args.concurrency)
        )
        elapsed = time.monotonic() - started
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    result = {
        "benchmark": "paper_capacity",
        "market": args.market,
        "concurrency": args.concurrency,
        "seconds": round(elapsed, 3),
        "accepted": counts["ok"],
        "errors": counts["error"],
        "orders_per_s": round(counts["ok"] / elapsed, 1),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result), flush=True)
    return 0 if counts["error"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
