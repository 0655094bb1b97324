"""The main job: run ``notebooks/rebalance.ipynb`` with papermill and print what it recorded.

``python -m toolkit demo`` (``make demo``) runs the rebalance notebook on the embedded paper
exchange, exactly as a scheduler would run it, then prints the output notebook's path and the
foreground output of its weights (targets, before and after), result and summary cells. The exit
status is papermill's: non-zero if the notebook failed (a strict run with INVALID or REJECTED
orders, an unknown parameter, an unreachable exchange).

The notebook ships inside the package (``toolkit/notebooks/rebalance.ipynb``, the repository's
``notebooks/rebalance.ipynb``), so the demo works from a wheel install too. The kernel is
``toolkit`` (``make`` installs it) when that kernel runs this interpreter, else this
interpreter's own ``python3`` kernel. The kernel talks to papermill over IPC sockets (Unix
domain sockets, private to the user) rather than TCP on loopback where the platform has them.

Each demo run gets its own key (``demo-<UTC time>``): the embedded paper exchange lives in the
notebook's kernel and starts afresh with every run, so a key reused across runs would only show
the previous run's orders.

Example::

    python -m toolkit demo
    python -m toolkit demo --targets '{"BTC": 0.5, "USDT": 0.5}' --dry-run
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["NOTEBOOK", "add_arguments", "default_kernel", "kernel_options", "main", "run"]

#: The notebook the job runs (package data; in the repository, ``notebooks/rebalance.ipynb``).
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "rebalance.ipynb"
#: Cells whose output the job prints (by tag), in notebook order.
_SHOWN_TAGS = ("weights", "result", "summary")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The job's options (shared by ``python -m toolkit demo`` and
    ``python -m toolkit.notebook._job``)."""
    parser.add_argument("--key", help="idempotency key of the run (default: demo-<UTC time>)")
    parser.add_argument("--targets", type=json.loads,
                        help='weights per asset as JSON, e.g. \'{"BTC": 0.5, "USDT": 0.5}\'')
    parser.add_argument("--dry-run", action="store_true", help="show the orders, place nothing")
    parser.add_argument("--store", help="DuckDB file (default: $TOOLKIT_STORE or ./toolkit.duckdb)")
    parser.add_argument("--output", type=Path,
                        help="the executed notebook (default: runs/rebalance-<key>.ipynb)")
    parser.add_argument("--notebook", type=Path, default=NOTEBOOK, help=argparse.SUPPRESS)
    parser.add_argument("--kernel", default=None,
                        help="Jupyter kernel name (default: toolkit, installed by make, if it "
                             "runs this Python; else this Python's python3 kernel)")


def run(args: argparse.Namespace) -> int:
    """Execute the notebook with papermill; print the output path and summary; exit status."""
    try:
        import papermill
        from jupyter_client.kernelspec import NoSuchKernel
    except ImportError:
        print("the job needs papermill: pip install 'toolkit[notebook]'", file=sys.stderr)
        return 2
    key = args.key or "demo-" + dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    output = args.output or Path("runs") / f"rebalance-{key}.ipynb"
    output.parent.mkdir(parents=True, exist_ok=True)
    parameters: dict[str, Any] = {"key": key, "dry_run": bool(args.dry_run)}
    if args.targets is not None:
        parameters["targets"] = args.targets
    if args.store is not None:
        parameters["store"] = os.path.abspath(args.store)
    kernel = args.kernel or default_kernel()
    print(f"running {args.notebook.name} with papermill (key {key}) -> {output}", flush=True)
    try:
        papermill.execute_notebook(
            str(args.notebook), str(output), parameters=parameters, kernel_name=kernel,
            cwd=os.getcwd(), progress_bar=False, log_output=False, **kernel_options(),
        )
    except NoSuchKernel:
        print(f"no Jupyter kernel named {kernel!r}: run `make demo` (it installs it) or "
              "pass --kernel python3", file=sys.stderr)
        return 2
    except papermill.PapermillExecutionError as exc:
        _print_outputs(output)
        print(f"FAILED: {exc.ename}: {exc.evalue}\noutput notebook: {output}", file=sys.stderr)
        return 1
    _print_outputs(output)
    print(f"output notebook: {output}")
    return 0


def default_kernel() -> str:
    """``toolkit`` if that kernel runs this interpreter, else ``python3`` (this interpreter's own
    kernel: jupyter_client starts a kernel spec whose command is ``python`` with this Python)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        argv = KernelSpecManager().get_kernel_spec("toolkit").argv
    except NoSuchKernel:
        return "python3"
    same = bool(argv) and os.path.abspath(argv[0]) == os.path.abspath(sys.executable)
    return "toolkit" if same else "python3"


def kernel_options() -> dict[str, Any]:
    """Extra papermill options for a quiet, private kernel connection.

    On POSIX the kernel listens on IPC sockets in the user's Jupyter runtime directory instead
    of TCP on loopback: nothing else on the machine can read the traffic, and ipykernel has no
    reason to warn "Kernel is running over TCP without encryption". Windows keeps TCP.

    Example::

        papermill.execute_notebook(src, out, kernel_name="toolkit", **kernel_options())
    """
    if os.name != "posix":
        return {}
    from traitlets.config import Config

    config = Config()
    config.KernelManager.transport = "ipc"
    return {"config": config}


def _print_outputs(path: Path) -> None:
    """Print the foreground output of the result and summary cells, as papermill saved it."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if not set(cell.get("metadata", {}).get("tags", [])) & set(_SHOWN_TAGS):
            continue
        for out in cell.get("outputs", []):
            text = out.get("text") or out.get("data", {}).get("text/plain", "")
            if isinstance(text, list):  # nbformat allows multi-line strings as lists
                text = "".join(text)
            if text:
                print(text.rstrip("\n"))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m toolkit.notebook._job [options]``: see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m toolkit demo",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
