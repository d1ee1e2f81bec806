"""Progress bars for long work (evaluating many sessions, transcribing folders): on stderr, only
when it is a terminal and the caller asked for them (the CLI does, except in ``--json`` mode)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def wanted(quiet: bool = False) -> bool:
    """Whether the CLI shows progress: a terminal on stderr and not ``--json``."""
    return not quiet and sys.stderr.isatty()


def progress(items: Iterable[T], total: int | None, description: str, enabled: bool) -> Iterator[T]:
    """``items`` unchanged, with a bar on stderr while they are consumed when ``enabled``."""
    if not enabled:
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, total=total, desc=description, unit="item", file=sys.stderr, leave=False)
