"""The docs hold together: relative links resolve, and the CLI page lists every command and flag."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from keyscribe.cli import app

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(
    [
        ROOT / "README.md",
        ROOT / "CONTRIBUTING.md",
        ROOT / "CHANGELOG.md",
        *(ROOT / "docs").rglob("*.md"),
    ]
)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)


def _links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)  # inline code is not a link
    return LINK.findall(text)


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"`|\*\*|\*", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", text, re.M):
        slug = _slug(heading)
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in _links(page):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target}: no heading with that anchor")
    assert not broken, f"{page.relative_to(ROOT)}: {broken}"


def test_link_checker_sees_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# A page\n\n[gone](missing.md) `[code](x.md)`\n\n```\n[fenced](y.md)\n```\n")
    assert _links(page) == ["missing.md"]
    assert _anchors(page) == {"a-page"}
    assert _slug("2. Decoding: greedy vs beam + LM (`x`)") == "2-decoding-greedy-vs-beam--lm-x"


def _commands(command: object, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        return [(path, command)]
    return [c for name, sub in sorted(subcommands.items()) for c in _commands(sub, (*path, name))]


def _section(text: str, name: str) -> str | None:
    """The part of cli.md under the heading of command ``name`` (up to the next heading)."""
    match = re.search(rf"^#+ `{re.escape(name)}[` ].*?$(.*?)(?=^#|\Z)", text, re.M | re.S)
    return match.group(1) if match else None


def test_cli_page_lists_every_command_and_flag() -> None:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    missing = []
    for path, command in _commands(typer.main.get_command(app)):
        name = "keyscribe " + " ".join(path)
        section = _section(text, name)
        if section is None:
            missing.append(f"a section for {name}")
            continue
        for param in getattr(command, "params", []):
            for flag in (*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])):
                if flag.startswith("-") and flag != "--help" and f"`{flag}" not in section:
                    missing.append(f"{name} {flag}")
    assert not missing, f"docs/cli.md lacks: {missing}"
