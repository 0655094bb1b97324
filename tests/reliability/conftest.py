"""Fixtures of the reliability scenarios (``bench.reliability``), scaled down for the test run.

Each scenario starts its own paper exchange process(es) and cleans up after itself; here every
test gets a clean environment (no keys, no run parameters, a store in ``tmp_path``) and, after
it, a full shutdown of toolkit's I/O loop, so a leaked session fails this test, not the next.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# ``bench`` is not an installed package: make the checkout importable under plain ``pytest`` too.
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from toolkit.runtime import _runner  # noqa: E402


@pytest.fixture(autouse=True)
def _clean_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TOOLKIT_STORE", str(tmp_path / "toolkit.duckdb"))
    for name in ("TOOLKIT_API_KEY", "TOOLKIT_API_SECRET", "TOOLKIT_RUN_PARAMS"):
        monkeypatch.delenv(name, raising=False)
    yield
    _runner.shutdown()
