"""Every code block of README.md runs (issue 13.9).

The blocks are taken from the README as written and run the way a reader would run them:

* ``python`` blocks, in order, as the cells of one notebook in the project's kernel (top-level
  ``await`` works there, as in Jupyter);
* ``bash`` blocks: each ``python -m toolkit paper ...`` line starts a paper exchange that must
  come up and print where it listens; the ``papermill`` commands run the rebalance and research
  notebooks;
* the ``cron`` block: the schedule fields are checked and the command runs through ``bash``
  with the crontab's environment.

What the README's reader has and a test has not is replaced, and only that (``adapt``): port 8765
becomes a free port (a paper command without ``--port`` gets it too); the Binance testnet,
which the tests cannot reach, becomes a standalone paper exchange (``-p base_url ...`` is added
to ``-p exchange binance``, with that exchange's keys in ``TOOLKIT_API_KEY`` /
``TOOLKIT_API_SECRET``); cron's ``\\%`` escapes become ``%`` and ``cd /srv/toolkit`` the test's
directory, which holds the project's ``notebooks/`` and ``.venv/``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT

nbformat = pytest.importorskip("nbformat")
papermill = pytest.importorskip("papermill")

from toolkit.notebook._job import kernel_options  # noqa: E402

README = ROOT / "README.md"
_FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.M | re.S)


def blocks(language: str | None = None) -> list[str]:
    """The README's fenced code blocks (of one language), in order."""
    found = _FENCE.findall(README.read_text(encoding="utf-8"))
    return [body for lang, body in found if language is None or lang == language]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def adapt(text: str, port: int, paper_url: str | None = None) -> str:
    """The substitutions listed in the module docstring."""
    text = text.replace("8765", str(port))
    if paper_url is not None:
        text = text.replace("-p exchange binance", f"-p exchange binance -p base_url {paper_url}")
    return text


def start_paper(command: str, port: int) -> tuple[subprocess.Popen[str], str]:
    """Start one README paper command; return the process and the first line it printed."""
    args = shlex.split(command, comments=True)
    assert args[:4] == ["python", "-m", "toolkit", "paper"], command
    if "--port" not in args:
        args += ["--port", str(port)]
    proc = subprocess.Popen([sys.executable, *args[1:]], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, line


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """A working directory with the project's notebooks/ and .venv/, as in the README."""
    (tmp_path / "notebooks").symlink_to(ROOT / "notebooks")
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (tmp_path / "runs").mkdir()
    return tmp_path


@pytest.fixture
def standalone(paper_process: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The stand-in for the Binance testnet, its keys in the environment."""
    monkeypatch.setenv("TOOLKIT_API_KEY", paper_process.api_key)
    monkeypatch.setenv("TOOLKIT_API_SECRET", paper_process.api_secret)
    return paper_process


def test_every_block_is_covered() -> None:
    languages = [lang for lang, _ in _FENCE.findall(README.read_text(encoding="utf-8"))]
    assert set(languages) == {"python", "bash", "cron"}, languages
    assert len(blocks("cron")) == 1
    bash = blocks("bash")
    assert all(
        line.startswith(("python -m toolkit paper", "papermill ", "    "))
        for block in bash
        for line in block.splitlines()
    ), bash


def test_python_blocks_run_in_one_notebook(tmp_path: Path) -> None:
    port = free_port()
    [server_block] = [b for b in blocks("bash") if "--api-key K" in b]
    server, line = start_paper(adapt(server_block.strip(), port), port)
    try:
        assert f"127.0.0.1:{port}" in line, line
        cells = [nbformat.v4.new_code_cell(adapt(b, port)) for b in blocks("python")]
        assert len(cells) >= 4
        notebook = nbformat.v4.new_notebook(cells=cells)
        source = tmp_path / "readme.ipynb"
        nbformat.write(notebook, source)
        out = tmp_path / "readme.out.ipynb"
        papermill.execute_notebook(
            str(source),
            str(out),
            kernel_name="toolkit",
            cwd=str(tmp_path),
            progress_bar=False,
            **kernel_options(),
        )
    finally:
        stop(server)
    done = nbformat.read(out, as_version=4)
    first, quickstart = (
        "\n".join(
            str(value)
            for o in cell.outputs
            for value in (o.get("text", ""), *o.get("data", {}).values())
        )
        for cell in done.cells[:2]
    )
    assert "tk-snapshot" in first  # the intro ends with the panel, its static copy has rows
    assert "BTCUSDT" in first
    assert "NEW" in first
    assert "status" in quickstart  # the closing tk.sql(...) counts orders by status
    assert (tmp_path / "history").is_dir()  # tk.export("history/") wrote Parquet


def test_paper_commands_start() -> None:
    commands = [
        line
        for block in blocks("bash")
        for line in block.splitlines()
        if line.startswith("python -m toolkit paper")
    ]
    assert len(commands) == 4
    for command in commands:
        port = free_port()
        proc, line = start_paper(adapt(command, port), port)
        try:
            assert "127.0.0.1:" in line, (command, line)
        finally:
            stop(proc)


def test_papermill_command_runs(project_dir: Path, standalone: Any) -> None:
    [block] = [b for b in blocks("bash") if b.startswith("papermill notebooks/rebalance")]
    command = adapt(block.replace("\\\n", " "), free_port(), standalone.url)
    proc = subprocess.run(
        [".venv/bin/" + command.split(" ", 1)[0], *shlex.split(command)[1:]],
        cwd=project_dir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "without encryption" not in proc.stderr
    out = nbformat.read(project_dir / "runs" / "rebalance-2026-11-25.ipynb", as_version=4)
    summary = [c for c in out.cells if "summary" in c.metadata.get("tags", [])]
    assert "placed=2 filled=2" in summary[0].outputs[0]["text"]


def test_research_papermill_command_runs(project_dir: Path) -> None:
    [block] = [b for b in blocks("bash") if b.startswith("papermill notebooks/research")]
    command = block.replace("\\\n", " ").strip()
    proc = subprocess.run(
        [".venv/bin/" + command.split(" ", 1)[0], *shlex.split(command)[1:]],
        cwd=project_dir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = nbformat.read(project_dir / "runs" / "research.ipynb", as_version=4)
    printed = "\n".join(o.get("text", "") for c in out.cells for o in c.get("outputs", []))
    assert "dry run: 3 orders not placed" in printed


def test_cron_entry_runs(project_dir: Path, standalone: Any) -> None:
    [block] = blocks("cron")
    env = dict(os.environ)
    schedule = None
    for line in block.splitlines():
        if re.match(r"^[A-Z_]+=", line):  # the crontab's environment
            name, value = line.split("=", 1)
            assert value == "...", line  # placeholders: the keys never go into the README
            assert name in env  # set by the `standalone` fixture
        else:
            schedule = line
    assert schedule is not None
    fields = schedule.split(None, 5)
    assert fields[:5] == ["5", "0", "*", "*", "*"]  # 00:05 every day
    command = fields[5].replace("\\%", "%").replace("cd /srv/toolkit", f"cd {project_dir}")
    command = adapt(command, free_port(), standalone.url)
    proc = subprocess.run(
        ["bash", "-c", command], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    log = (project_dir / "runs" / "cron.log").read_text()
    assert proc.returncode == 0, log
    assert "without encryption" not in log
    assert (project_dir / "runs" / f"rebalance-{today}.ipynb").exists()
