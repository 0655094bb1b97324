"""Fixtures of the runtime tests: those of the session tests (``tests/session/conftest.py``),
shared -- a fresh I/O loop per test (shut down after it), a store in tmp_path, the embedded
paper exchange with fixed prices and relaxed rate limits, the ``tkh`` helpers."""

from __future__ import annotations

from ..session.conftest import PATIENCE, _fresh_runtime, eventually, io_barrier, tkh

__all__ = ["PATIENCE", "_fresh_runtime", "eventually", "io_barrier", "tkh"]
