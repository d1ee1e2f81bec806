"""The config reference in docs/configuration.md is generated from the dataclasses and current."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path

import pytest

from keyscribe import builders
from keyscribe.cli import main
from keyscribe.config_reference import BEGIN, END, field_comments, render, replace_block
from keyscribe.domain import domain_names, get_domain

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


@dataclass
class _Toy:
    """A toy section."""

    # a note about the fields below
    size: int = 3  # pixels
    # the names kept
    names: list[str] = field(default_factory=lambda: ["a"])
    plain: bool = False


def test_comments_beside_above_and_notes() -> None:
    comments, notes = field_comments(_Toy)
    assert comments == {"size": "pixels", "names": "the names kept", "plain": ""}
    assert notes == ["a note about the fields below"]


def test_docs_configuration_is_current() -> None:
    document = DOC.read_text(encoding="utf-8")
    assert replace_block(document, render(), DOC) == document, (
        "docs/configuration.md is out of date: run python -m keyscribe.config_reference "
        "--write docs/configuration.md"
    )


def _keys(cls: type, prefix: str = "") -> list[str]:
    out = []
    instance = cls()
    for f in fields(cls):
        value = getattr(instance, f.name)
        if is_dataclass(value):
            out += _keys(type(value), f"{prefix}{f.name}.")
        else:
            out.append(prefix + f.name)
    return out


def test_every_key_of_every_domain_and_encoder_is_listed() -> None:
    text = render()
    for name in domain_names():
        for key in _keys(get_domain(name).schema):
            assert f"| `{key}` |" in text, key
    for options, _ in builders.ENCODERS.values():
        for key in _keys(options, "model.encoder."):
            assert f"| `{key}` |" in text, key


def test_cli_writes_and_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "configuration.md"
    doc.write_text(f"# Title\n\n{BEGIN}\nstale\n{END}\nafter\n", encoding="utf-8")

    def run(*args: str) -> int:
        monkeypatch.setattr(sys, "argv", ["keyscribe", "config", "reference", *args])
        with pytest.raises(SystemExit) as exc:
            main()
        return int(exc.value.code or 0)

    assert run("--check", str(doc)) == 1
    assert run("--write", str(doc)) == 0
    assert run("--check", str(doc)) == 0
    written = doc.read_text(encoding="utf-8")
    assert written.startswith("# Title\n") and written.endswith(f"{END}\nafter\n")
    assert "`trainer.schedule_clock`" in written
    capsys.readouterr()
    assert run("--check", str(tmp_path / "missing.md")) == 2
    assert "keyscribe: error:" in capsys.readouterr().err
