"""A papermill run of the panel notebook, rendered by nbconvert, shows the orders (issue 13.12)."""

from __future__ import annotations

import re
from typing import Any

import pytest

nbconvert = pytest.importorskip("nbconvert")


def test_panel_output_survives_export_to_html(
    run_notebook: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOLKIT_PANEL_DEMO_ORDERS", "3")
    run = run_notebook("panel.ipynb")
    notebook = run.notebook
    panel_cell = notebook.cells[-1]
    assert "tk.panel(" in panel_cell.source
    outputs = [o for o in panel_cell.outputs if o.get("output_type") == "display_data"]
    assert "application/vnd.jupyter.widget-view+json" in outputs[0].data  # the live widget

    html, _ = nbconvert.HTMLExporter().from_notebook_node(notebook)
    placed = notebook.cells[-2].outputs[0].data["text/plain"]
    ids = re.findall(r"\btk[0-9a-f]{30}\b", placed)
    assert len(ids) == 3
    tables = re.findall(r'<div class="tk-snapshot">.*?</table>', html, flags=re.S)
    assert len(tables) == 1  # the panel cell's static copy
    rows = re.findall(r"<tr><td>.*?</tr>", tables[0])
    assert len(rows) == 3
    for cid in ids:
        assert any(cid in row and "<td>NEW</td>" in row for row in rows), cid
