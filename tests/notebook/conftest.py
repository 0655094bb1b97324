"""Fixtures for the panel tests: a private paper exchange on toolkit's I/O loop (tests/io_paper.py)
and a session on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import toolkit as tk

from ..io_paper import Paper as Paper
from ..io_paper import io_paper as io_paper
from ..io_paper import on_io as on_io
from ..io_paper import until as until
from ..io_paper import until_async as until_async


@pytest.fixture
async def session(io_paper: Paper, tmp_path: Path) -> AsyncIterator[tk.Session]:
    s = await tk.connect(
        "paper",
        base_url=io_paper.exchange.url,
        api_key=io_paper.key,
        api_secret=io_paper.secret,
        store=str(tmp_path / "panel.duckdb"),
    )
    try:
        yield s
    finally:
        await s.close()
