"""The paper exchange process of the campaign: ``python -m bench.reliability._serve CONFIG``.

The same :class:`toolkit.paper.PaperExchange` as ``python -m toolkit paper``: its faults are the
paper exchange's own (:class:`~toolkit.paper.FaultConfig`, slow requests and 418 ban windows
included), and they fire only while that configuration is active (``POST /paper/faults {}``
turns everything off).

CONFIG is a JSON object: ``faults`` (FaultConfig fields), ``generous`` (bool: raise the
order-count and weight limits so the client's own pacing does not dominate the run),
``max_lifetime`` (seconds). One JSON line ``{url, api_key, api_secret, pid}`` is printed once the
server listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from typing import Any

from toolkit.paper import FaultConfig, PaperExchange, RateLimits
from toolkit.paper._cli import quiet_bad_requests

__all__ = ["GENEROUS", "main"]

#: Limits high enough that the client's pacing (which reads them from exchangeInfo) stays out
#: of the way; the 418 bans come from the faults' ban windows instead.
GENEROUS = RateLimits(
    spot_weight=(1_000_000, "1M"),
    spot_orders=((1_000_000, "10S"), (10_000_000, "1D")),
    usdm_weight=(1_000_000, "1M"),
    usdm_orders=((1_000_000, "10S"), (1_000_000, "1M")),
    ban_after=5,
    ban_seconds=2.0,
)


async def _serve(config: dict[str, Any]) -> None:
    faults = FaultConfig.from_dict(config.get("faults", {}))
    exchange = PaperExchange(
        host="127.0.0.1",
        port=0,
        price_mode="fixed",
        rate_limits=GENEROUS if config.get("generous", True) else True,
        faults=faults,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await exchange.start()
    try:
        key, secret = exchange.create_key()
        line = {"url": exchange.url, "api_key": key, "api_secret": secret, "pid": os.getpid()}
        print(json.dumps(line), flush=True)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), float(config.get("max_lifetime", 1800)))
    finally:
        await exchange.stop()


def main(argv: list[str]) -> int:
    """Run the server until SIGTERM (or ``max_lifetime``), quiet on malformed requests as
    ``python -m toolkit paper`` is."""
    quiet_bad_requests()
    asyncio.run(_serve(json.loads(argv[0]) if argv else {}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
