"""Fixtures of the notebook tests: run a notebook of ``notebooks/`` with papermill.

Notebooks run in the project's ``toolkit`` kernel (the venv's Python; ``make`` installs it) over
IPC, as ``python -m toolkit demo`` runs them, with the store in ``tmp_path`` and no keys in the
environment unless a test sets them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from toolkit.notebook._job import kernel_options

nbformat = pytest.importorskip("nbformat")
papermill = pytest.importorskip("papermill")

ROOT = Path(__file__).resolve().parents[3]
NOTEBOOKS = ROOT / "notebooks"
KERNEL = "toolkit"


@dataclass
class Run:
    """An executed notebook: its path and its outputs as text."""

    path: Path

    @property
    def notebook(self) -> Any:
        return nbformat.read(self.path, as_version=4)

    def text(self, tag: str | None = None) -> str:
        """The text of every output (of the cells tagged ``tag``): streams, plain text, errors."""
        parts: list[str] = []
        for cell in self.notebook.cells:
            if tag is not None and tag not in cell.get("metadata", {}).get("tags", []):
                continue
            for out in cell.get("outputs", []):
                parts.append(out.get("text", ""))
                parts.append(out.get("data", {}).get("text/plain", ""))
                parts.append(out.get("evalue", ""))
        return "\n".join(parts)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kernels inherit this process's environment: a tmp store, no keys, no run parameters."""
    monkeypatch.setenv("TOOLKIT_STORE", str(tmp_path / "toolkit.duckdb"))
    for name in (
        "TOOLKIT_API_KEY",
        "TOOLKIT_API_SECRET",
        "TOOLKIT_RUN_PARAMS",
        "TOOLKIT_PANEL_URL",
        "TOOLKIT_PANEL_DEMO_ORDERS",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _close_the_loop_papermill_made(papermill_loop_closed: None) -> None:
    """Every test here may run papermill in this process (see ``papermill_loop_closed``)."""


@pytest.fixture
def run_notebook(tmp_path: Path) -> Any:
    """``run_notebook(name, out_name=None, **parameters) -> Run`` (raises papermill's errors)."""

    def run(name: str, out_name: str | None = None, **parameters: Any) -> Run:
        output = tmp_path / (out_name or f"{Path(name).stem}.out.ipynb")
        papermill.execute_notebook(
            str(NOTEBOOKS / name),
            str(output),
            parameters=parameters,
            kernel_name=KERNEL,
            cwd=str(tmp_path),
            progress_bar=False,
            log_output=False,
            **kernel_options(),
        )
        return Run(output)

    return run
