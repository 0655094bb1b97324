"""The command line: ``python -m toolkit <command>`` (also installed as ``toolkit``).

Commands:
    paper   run the paper exchange standalone (see ``toolkit.paper._cli``)
    demo    the main job: place a small batch on the embedded paper exchange and print it
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    from .paper import _cli as paper_cli

    parser = argparse.ArgumentParser(prog="toolkit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    paper_cli.add_parser(sub)
    demo = sub.add_parser("demo", help="place a small batch on the embedded paper exchange")
    demo.set_defaults(func=_demo)
    return parser


def _demo(args: argparse.Namespace) -> int:
    from . import _demo as demo

    return demo.main(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``toolkit`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
