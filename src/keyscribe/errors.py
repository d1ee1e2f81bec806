"""Errors a user can cause, each carrying the path it is about.

The CLI prints these as one line (``path: problem``) and exits non-zero; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class KeyscribeError(Exception):
    """A user-facing error about one file (or setting)."""

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class DataError(KeyscribeError):
    """A data file is missing, unreadable, or not in the expected schema."""


class ConfigError(KeyscribeError):
    """A config file or override names an unknown key or a wrong type."""


class CheckpointError(KeyscribeError):
    """A checkpoint is missing, truncated, or from another domain or alphabet."""
