"""Compacting a store's journal by hand: archive what the retention allows, then give the
freed pages back to the file system.

A running store archives by itself (hourly), but SQLite reuses the pages it frees rather
than returning them: a journal that grew before archiving existed (or during a burst) keeps
its size. ``python -m toolkit compact STORE`` archives everything due and then ``VACUUM``s
the journal. Best run while no notebook or job uses the store: their journal writes wait
for the ``VACUUM`` (seconds for a large journal).

Example::

    done = compact("toolkit.duckdb")
    print(done.archived, done.bytes_before, done.bytes_after)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..core._exceptions import ConfigError, StoreError
from ._journal import journal_path
from ._store import DEFAULT_RETENTION, DEFAULT_RETENTION_DAYS, Store, retention_from_days

__all__ = ["Compacted", "add_parser", "compact"]


@dataclass(frozen=True)
class Compacted:
    """What :func:`compact` did: orders archived, the journal's bytes before and after."""

    archived: int
    bytes_before: int
    bytes_after: int


def _size(journal: Path) -> int:
    """The journal's bytes on disk: the file and its write-ahead log."""
    return sum(p.stat().st_size for p in (journal, Path(f"{journal}-wal")) if p.exists())


def compact(
    path: str | os.PathLike[str], *, retention: pd.Timedelta | None = DEFAULT_RETENTION
) -> Compacted:
    """Archive every order of the store at ``path`` that ``retention`` allows (passes until
    none is left), then ``VACUUM`` its journal. Raises ``StoreError`` if the store cannot be
    opened or its journal stays busy (another process writing) for 30 s."""
    store = Store(path, retention=retention, archive_every=None)
    journal = store.journal_path
    try:
        if journal is None:
            raise StoreError("a memory store has no journal file to compact")
        before = _size(journal)
        archived = 0
        while n := store.archiver.run():
            archived += n
    finally:
        store.close()
    try:
        with contextlib.closing(sqlite3.connect(journal, timeout=30.0)) as con:
            con.execute("VACUUM")
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot compact the store journal {journal}: {exc}") from exc
    return Compacted(archived=archived, bytes_before=before, bytes_after=_size(journal))


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``compact`` sub-command on ``subparsers`` (``func=run``)."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "compact",
        help="archive a store's final orders and shrink its journal file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("store", help="the store's DuckDB file (its journal is beside it)")
    p.add_argument(
        "--journal-days", type=float, default=DEFAULT_RETENTION_DAYS,
        help="archive final orders older than this many days (default %(default)g)",
    )  # fmt: skip
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """The ``compact`` command: prints what it did; 1 (and the reason) if it could not."""
    try:
        keep = retention_from_days(args.journal_days, "--journal-days")
    except ConfigError as exc:
        print(f"compact: {exc}")
        return 1
    if not Path(args.store).exists() or not journal_path(Path(args.store)).exists():
        print(f"compact: no store at {args.store} (its DuckDB file and journal)")
        return 1
    try:
        done = compact(args.store, retention=keep)
    except StoreError as exc:
        print(f"compact: {exc}")
        return 1
    mb = 1024 * 1024
    print(
        f"archived {done.archived} orders; journal {done.bytes_before / mb:.1f} MB ->"
        f" {done.bytes_after / mb:.1f} MB"
    )
    return 0
