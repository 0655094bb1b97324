"""Fault injection, deterministic under a seed.

Kinds (each counted in ``counters()["faults"]`` when injected):

* ``latency``       -- every API request waits ``latency`` seconds (plus up to ``latency_jitter``);
* ``error_before``  -- an order request gets a 5xx and **no** order is created;
* ``error_after``   -- the order is accepted, then the answer is a 5xx (execution status unknown);
* ``drop_after``    -- the order is accepted, then the connection is closed without an answer;
* ``burst_429``     -- with probability ``burst_429_rate`` a burst of ``burst_429_length``
  consecutive API requests is answered 429/-1003;
* ``clock_skew``    -- the server clock runs ``clock_skew_ms`` ahead (negative: behind).

``error_*``/``drop_*`` apply to order placement only (``POST order``, ``POST batchOrders``).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields
from typing import Any

from ._errors import PaperError

__all__ = ["NO_FAULTS", "FaultConfig", "FaultInjector"]


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

    def __post_init__(self) -> None:
        for name in ("error_before_rate", "error_after_rate", "drop_after_rate", "burst_429_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
        if self.latency < 0 or self.latency_jitter < 0 or self.burst_429_length < 1:
            raise ValueError("latency, latency_jitter must be >= 0 and burst_429_length >= 1")

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
                    self.error_after_rate, self.drop_after_rate, self.burst_429_rate))


NO_FAULTS = FaultConfig()

ERROR_BEFORE = PaperError(
    -1001, "Internal error; unable to process your request. Please try again.", 503
)
ERROR_AFTER = PaperError(
    -1007,
    "Timeout waiting for response from backend server. Send status unknown; "
    "execution status unknown.",
    503,
)


class FaultInjector:
    """Draws faults from one seeded generator and counts what it injected."""

    def __init__(self, config: FaultConfig = NO_FAULTS) -> None:
        self.counts: dict[str, int] = {}
        self.configure(config)

    def configure(self, config: FaultConfig) -> None:
        """Replace the configuration and reseed."""
        self.config = config
        self._rng = random.Random(config.seed)
        self._burst_left = 0

    def _hit(self, kind: str, rate: float) -> bool:
        if rate <= 0.0 or self._rng.random() >= rate:
            return False
        self.counts[kind] = self.counts.get(kind, 0) + 1
        return True

    def delay(self) -> float:
        """Seconds to wait before answering (0 when no latency is configured)."""
        cfg = self.config
        if not cfg.latency and not cfg.latency_jitter:
            return 0.0
        self.counts["latency"] = self.counts.get("latency", 0) + 1
        return cfg.latency + (self._rng.random() * cfg.latency_jitter if cfg.latency_jitter else 0)

    def burst_429(self) -> bool:
        """Whether this request falls into a 429 burst."""
        if self._burst_left > 0:
            self._burst_left -= 1
            self.counts["burst_429"] = self.counts.get("burst_429", 0) + 1
            return True
        if self._hit("burst_429", self.config.burst_429_rate):
            self._burst_left = self.config.burst_429_length - 1
            return True
        return False

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
