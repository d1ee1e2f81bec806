"""Running ``keyscribe`` in-process, and the "one line naming the file, exit status != 0, no
traceback" contract for user mistakes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from keyscribe.cli import main


def run_cli(
    args: list, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """``keyscribe ARGS`` in-process -> (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["keyscribe", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(result: tuple[int, str, str], path: Path | str | None, *problems: str) -> str:
    """Exit status != 0, one stderr line ``keyscribe: error: <path>: <problem>``, no traceback."""
    code, _, err = result
    assert code != 0, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    if path is not None:
        assert str(path) in lines[0], lines[0]
    for problem in problems:
        assert problem in lines[0], lines[0]
    return lines[0]
