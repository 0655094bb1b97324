"""Fault injection, deterministic under a seed.

Kinds (each counted in ``counters()["faults"]`` when injected):

* ``latency``       -- every API request waits ``latency`` seconds (plus up to ``latency_jitter``);
* ``error_before``  -- an order request gets a 5xx and **no** order is created;
* ``error_after``   -- the order is accepted, then the answer is a 5xx (execution status unknown);
* ``drop_after``    -- the order is accepted, then the connection is closed without an answer;
* ``burst_429``     -- with probability ``burst_429_rate`` a burst of ``burst_429_length``
  consecutive API requests is answered 429/-1003;
* ``clock_skew``    -- the server clock runs ``clock_skew_ms`` ahead (negative: behind);
* ``slow``          -- with probability ``slow_rate`` an API request waits ``slow_latency``
  seconds (set it beyond the client's timeout) before it is processed: an order may be placed
  after the client gave up;
* ``ban_418``       -- with probability ``ban_418_rate`` a request starts a window of
  ``ban_418_seconds`` during which every API request is answered 418/-1003 "IP banned" with
  ``Retry-After`` (``ban_418_windows`` counts the windows).

``error_*``/``drop_*`` apply to order placement only (``POST order``, ``POST batchOrders``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

from ._errors import PaperError

__all__ = ["BURST_429", "ERROR_AFTER", "ERROR_BEFORE", "NO_FAULTS", "FaultConfig", "FaultInjector"]


@dataclass(frozen=True)
class FaultConfig:
    """What to inject; rates are probabilities per eligible request (0..1)."""

    latency: float = 0.0
    latency_jitter: float = 0.0
    error_before_rate: float = 0.0
    error_after_rate: float = 0.0
    drop_after_rate: float = 0.0
    burst_429_rate: float = 0.0
    burst_429_length: int = 3
    clock_skew_ms: float = 0.0
    seed: int = 0
    slow_rate: float = 0.0
    slow_latency: float = 0.0
    ban_418_rate: float = 0.0
    ban_418_seconds: float = 1.0

    def __post_init__(self) -> None:
        for name in ("error_before_rate", "error_after_rate", "drop_after_rate", "burst_429_rate",
                     "slow_rate", "ban_418_rate"):  # fmt: skip
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
        if min(self.latency, self.latency_jitter, self.slow_latency) < 0 or (
            self.burst_429_length < 1
        ):
            raise ValueError(
                "latency, latency_jitter, slow_latency must be >= 0 and burst_429_length >= 1"
            )
        if self.ban_418_seconds <= 0:
            raise ValueError(f"ban_418_seconds must be > 0, got {self.ban_418_seconds!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultConfig:
        """Build from JSON (unknown keys are a ``ValueError``)."""
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """As JSON."""
        return asdict(self)

    @property
    def active(self) -> bool:
        """Whether anything at all is injected."""
        return any((self.latency, self.latency_jitter, self.error_before_rate,
                    self.error_after_rate, self.drop_after_rate, self.burst_429_rate,
                    self.slow_rate, self.ban_418_rate))


NO_FAULTS = FaultConfig()

ERROR_BEFORE = PaperError(
    -1001, "Internal error; unable to process your request. Please try again.", 503
)
BURST_429 = PaperError(
    -1003, "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. "
    "Please use WebSocket Streams for live updates to avoid polling the API.", 429,
    {"Retry-After": "1"},
)
ERROR_AFTER = PaperError(
    -1007,
    "Timeout waiting for response from backend server. Send status unknown; "
    "execution status unknown.",
    503,
)


class FaultInjector:
    """Draws faults from one seeded generator and counts what it injected; ``clock`` (seconds,
    monotonic) times the 418 ban windows."""

    def __init__(
        self, config: FaultConfig = NO_FAULTS, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.counts: dict[str, int] = {}
        self._clock = clock
        self.configure(config)

    def configure(self, config: FaultConfig) -> None:
        """Replace the configuration and reseed."""
        self.config = config
        self._rng = random.Random(config.seed)
        self._burst_left = 0
        self._banned_until = 0.0

    def _hit(self, kind: str, rate: float) -> bool:
        if rate <= 0.0 or self._rng.random() >= rate:
            return False
        self.tally(kind)
        return True

    def tally(self, kind: str) -> None:
        """Count one fault of ``kind`` (``counts``), also for a fault applied elsewhere (the
        clock skew, by the app's timestamp check)."""
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def delay(self) -> float:
        """Seconds to wait before answering (0 when no latency is configured)."""
        cfg = self.config
        base = 0.0
        if cfg.latency or cfg.latency_jitter:
            self.tally("latency")
            base = cfg.latency + (
                self._rng.random() * cfg.latency_jitter if cfg.latency_jitter else 0
            )
        return base + cfg.slow_latency if self._hit("slow", cfg.slow_rate) else base

    def refusal(self) -> PaperError | None:
        """The error this request is refused with before anything else: the 418 of a ban
        window (a draw may start one), or the 429 of a burst; ``None`` if neither."""
        banned = self._ban_418()
        if banned is not None:
            return banned
        if self._burst_left > 0:
            self._burst_left -= 1
            self.tally("burst_429")
            return BURST_429
        if self._hit("burst_429", self.config.burst_429_rate):
            self._burst_left = self.config.burst_429_length - 1
            return BURST_429
        return None

    def _ban_418(self) -> PaperError | None:
        cfg = self.config
        now = self._clock()
        if now >= self._banned_until and self._hit("ban_418_windows", cfg.ban_418_rate):
            self._banned_until = now + cfg.ban_418_seconds
        if now >= self._banned_until:
            return None
        self.tally("ban_418")
        left = self._banned_until - now
        until = int((time.time() + left) * 1000)
        return PaperError(
            -1003,
            f"Way too much request weight used; IP banned until {until}. Please use "
            "WebSocket Streams for live updates to avoid bans.",
            418,
            {"Retry-After": str(max(1, round(left + 0.5)))},
        )

    def error_before(self) -> bool:
        """Whether to fail this order request before accepting it."""
        return self._hit("error_before", self.config.error_before_rate)

    def after(self) -> str | None:
        """``"error_after"``, ``"drop_after"`` or ``None`` for an accepted order request."""
        if self._hit("error_after", self.config.error_after_rate):
            return "error_after"
        if self._hit("drop_after", self.config.drop_after_rate):
            return "drop_after"
        return None
