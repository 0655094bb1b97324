"""The paper exchange process of the campaign: ``python -m bench.reliability._serve CONFIG``.

The same :class:`toolkit.paper.PaperExchange` as ``python -m toolkit paper``, with two fault
kinds the paper exchange's :class:`~toolkit.paper.FaultConfig` does not have, added by a
:class:`~toolkit.paper._faults.FaultInjector` subclass (harness code; the paper exchange itself is
unchanged):

* ``slow``    -- a fraction ``slow_rate`` of API requests waits ``slow_latency`` seconds (beyond
  the client's timeout) before it is processed: the order may be placed after the client gave up;
* ``ban_418`` -- a request starts, with probability ``ban_rate``, a window of ``ban_seconds``
  during which every API request is answered 418 ``-1003`` "IP banned" with ``Retry-After``.

Both count in ``GET /paper/counters`` under ``faults``, and fire only while the base
:class:`FaultConfig` is active (``POST /paper/faults {}`` turns everything off).

CONFIG is a JSON object: ``faults`` (FaultConfig fields), ``extra`` (``slow_rate``,
``slow_latency``, ``ban_rate``, ``ban_seconds``), ``generous`` (bool: raise the order-count and
weight limits so the client's own pacing does not dominate the run), ``max_lifetime`` (seconds).
One JSON line ``{url, api_key, api_secret, pid}`` is printed once the server listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from typing import Any

from toolkit.paper import FaultConfig, PaperError, PaperExchange, RateLimits
from toolkit.paper._faults import FaultInjector

__all__ = ["GENEROUS", "CampaignFaults", "main"]

#: Limits high enough that the client's pacing (which reads them from exchangeInfo) stays out
#: of the way; the 418 ban comes from :class:`CampaignFaults` instead.
GENEROUS = RateLimits(
    spot_weight=(1_000_000, "1M"),
    spot_orders=((1_000_000, "10S"), (10_000_000, "1D")),
    usdm_weight=(1_000_000, "1M"),
    usdm_orders=((1_000_000, "10S"), (1_000_000, "1M")),
    ban_after=5,
    ban_seconds=2.0,
)


class CampaignFaults(FaultInjector):
    """:class:`FaultInjector` plus ``slow`` requests and ``ban_418`` windows (module docstring)."""

    def __init__(
        self,
        config: FaultConfig,
        *,
        slow_rate: float = 0.0,
        slow_latency: float = 0.0,
        ban_rate: float = 0.0,
        ban_seconds: float = 1.0,
    ) -> None:
        self.slow_rate = slow_rate
        self.slow_latency = slow_latency
        self.ban_rate = ban_rate
        self.ban_seconds = ban_seconds
        self._banned_until = 0.0
        super().__init__(config)

    def _count(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def delay(self) -> float:
        base = super().delay()
        if self.slow_rate and self._rng.random() < self.slow_rate:
            self._count("slow")
            return base + self.slow_latency
        return base

    def burst_429(self) -> bool:
        now = time.monotonic()
        if now >= self._banned_until and self.ban_rate and self._rng.random() < self.ban_rate:
            self._banned_until = now + self.ban_seconds
            self._count("ban_418_windows")
        if now < self._banned_until:
            self._count("ban_418")
            left = max(1, round(self._banned_until - now + 0.5))
            until = int((time.time() + self._banned_until - now) * 1000)
            raise PaperError(
                -1003,
                f"Way too much request weight used; IP banned until {until}. Please use "
                "WebSocket Streams for live updates to avoid bans.",
                418,
                {"Retry-After": str(left)},
            )
        return super().burst_429()


async def _serve(config: dict[str, Any]) -> None:
    faults = FaultConfig.from_dict(config.get("faults", {}))
    exchange = PaperExchange(
        host="127.0.0.1",
        port=0,
        price_mode="fixed",
        rate_limits=GENEROUS if config.get("generous", True) else True,
        faults=faults,
    )
    injector = CampaignFaults(faults, **config.get("extra", {}))
    # the exchange and its request handler share one injector object; swap both references
    exchange.faults = injector
    exchange._state.faults = injector
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
    """Run the server until SIGTERM (or ``max_lifetime``)."""
    asyncio.run(_serve(json.loads(argv[0]) if argv else {}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
