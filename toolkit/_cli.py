"""The command line: ``python -m toolkit <command>`` (also installed as ``toolkit``).

Commands:
    paper   run the paper exchange standalone (see ``toolkit.paper._cli``)
    demo    the main job: notebooks/rebalance.ipynb under papermill on the embedded paper exchange
    compact archive a store's final orders and shrink its journal file (``toolkit.store._compact``)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    from .notebook import _job
    from .paper import _cli as paper_cli
    from .store import _compact

    parser = argparse.ArgumentParser(prog="toolkit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    paper_cli.add_parser(sub)
    demo = sub.add_parser(
        "demo", help="run notebooks/rebalance.ipynb with papermill on the embedded paper exchange"
    )
    _job.add_arguments(demo)
    demo.set_defaults(func=_job.run)
    _compact.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``toolkit`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
