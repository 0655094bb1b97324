"""``await tk.batch`` returns inside a notebook executed by papermill (the scheduled-job path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.notebook._job import kernel_options

nbformat = pytest.importorskip("nbformat")
papermill = pytest.importorskip("papermill")

CELLS = [
    "import toolkit as tk",
    'df = await tk.batch([{"symbol": "BTC/USDT", "side": "buy", "type": "market", "qty": "0.001"},'
    ' {"symbol": "NOPE", "side": "buy", "qty": 1}])\n'
    'print(df[["symbol", "status"]].to_string())',
    "def sync_helper():\n    return tk.run(tk.open_orders())\n\nprint(len(sync_helper()))",
    "await tk.close()",
]


@pytest.mark.timeout(120)
@pytest.mark.usefixtures("papermill_loop_closed")
def test_papermill_runs_an_async_notebook(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    source, output = tmp_path / "job.ipynb", tmp_path / "job.out.ipynb"
    nbformat.write(nb, source)
    papermill.execute_notebook(
        str(source),
        str(output),
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
        **kernel_options(),
    )
    done = nbformat.read(output, as_version=4)
    text = "".join(out.get("text", "") for cell in done.cells for out in cell.get("outputs", []))
    for word in ("BTCUSDT", "FILLED", "INVALID"):
        assert word in text, text
    assert "Error" not in text
