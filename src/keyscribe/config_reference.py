"""The reference of every config key, rendered from the experiment dataclasses.

docs/configuration.md holds this rendering between two markers; a test compares the two, so the
reference cannot drift from the code. Each key's meaning is the comment beside or above its field
(or the class docstring), exactly as the code states it.

    python -m keyscribe.config_reference                 # print the reference
    python -m keyscribe.config_reference --write FILE    # replace the block between the markers
    python -m keyscribe.config_reference --check FILE    # exit 1 when the block differs
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import io
import sys
import textwrap
import tokenize
from dataclasses import MISSING, Field, fields, is_dataclass
from pathlib import Path
from typing import Any

import yaml

from keyscribe import builders
from keyscribe.atomic import atomic_write_text
from keyscribe.domain import domain_names, get_domain
from keyscribe.errors import DataError, KeyscribeError

BEGIN = (
    "<!-- BEGIN GENERATED: python -m keyscribe.config_reference --write docs/configuration.md -->"
)
END = "<!-- END GENERATED -->"


def field_comments(cls: type) -> tuple[dict[str, str], list[str]]:
    """Field name -> its comment in ``cls``'s source, and the class's notes.

    A field's comment is the one on its own lines, else the comment lines right above it. Comment
    lines above a field that has its own comment speak of the fields that follow: notes."""
    source = textwrap.dedent(inspect.getsource(cls))
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    lines = source.splitlines()
    out: dict[str, str] = {}
    notes: list[str] = []
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    for node in body.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above: list[str] = []
        line = node.lineno - 1
        while line >= 1 and line in comments and lines[line - 1].lstrip().startswith("#"):
            above.insert(0, comments[line])
            line -= 1
        last = node.end_lineno or node.lineno
        beside = [comments[n] for n in range(node.lineno, last + 1) if n in comments]
        out[node.target.id] = " ".join(beside or above)
        if beside and above:
            notes.append(" ".join(above))
    return out, notes


def _comments_by_field(cls: type) -> tuple[dict[str, str], list[str]]:
    """Comments of every field of ``cls``, each taken from the class that declares it."""
    out: dict[str, str] = {}
    notes: list[str] = []
    for klass in reversed(cls.__mro__):
        if is_dataclass(klass) and "__annotations__" in vars(klass):
            comments, more = field_comments(klass)
            out.update(comments)
            notes += more
    return out, notes


def _default(f: Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def _yaml(value: Any) -> str:
    """A default as it would be written in a config file."""
    if value is MISSING:
        return "required"
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000).strip()
    return text.removesuffix("...").strip()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _doc(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    generated = doc.startswith(cls.__name__ + "(")  # dataclass's signature, not a docstring
    return "" if generated else " ".join(doc.split())


def render_dataclass(cls: type, prefix: str, instance: Any = None) -> list[str]:
    """Markdown sections for ``cls`` (keys under ``prefix``), then one per nested dataclass."""
    instance = instance if instance is not None else cls()
    comments, notes = _comments_by_field(cls)
    rows, nested = [], []
    for f in fields(cls):
        value = getattr(instance, f.name)
        key = f"{prefix}{f.name}"
        if is_dataclass(value) and not isinstance(value, type):
            nested.append((type(value), key + ".", value))
            rows.append(f"| `{key}` | `{type(value).__name__}` | | section below |")
            continue
        meaning = comments.get(f.name, "")
        if f.metadata.get("frames"):
            meaning = (meaning + " " if meaning else "") + (
                "Frames at `data.reference_hop_length`, rescaled to `data.hop_length`."
            )
        rows.append(
            f"| `{key}` | `{_cell(str(f.type))}` | `{_cell(_yaml(value))}` | {_cell(meaning)} |"
        )
    title = f"`{prefix.rstrip('.')}`" if prefix else "top level"
    out = [f"#### {title}", ""]
    intro = " ".join(filter(None, [_doc(cls), *notes]))
    if intro:
        out += [intro, ""]
    out += ["| key | type | default | meaning |", "|---|---|---|---|", *rows, ""]
    for klass, key, value in nested:
        out += render_dataclass(klass, key, value)
    return out


def _frontend_options(spec: Any) -> type | None:
    """A domain's ``model.frontend`` dataclass: ``FrontendOptions`` beside its front-end builder."""
    module = importlib.import_module(spec.frontend.__module__)
    options = getattr(module, "FrontendOptions", None)
    return options if is_dataclass(options) else None


def _domains() -> list[tuple[str, Any]]:
    return [(name, get_domain(name)) for name in domain_names()]


def render() -> str:
    """The whole generated reference, as Markdown."""
    out: list[str] = []
    domains = _domains()
    for name, spec in domains:
        out += [f"### Experiments of domain `{name}` (`{spec.schema.__name__}`)", ""]
        out += render_dataclass(spec.schema, "")
    out += ["### Encoders (`model.encoder`)", ""]
    out += [
        "`model.encoder.kind` picks one of these; the other keys of `model.encoder` are its options.",
        "",
    ]
    for kind, (options, _) in builders.ENCODERS.items():
        out += [f"#### `kind: {kind}`", ""] + render_dataclass(options, "model.encoder.")[2:]
    out += ["### Front ends (`model.frontend`)", ""]
    for name, spec in domains:
        options = _frontend_options(spec)
        if options is None:
            continue
        out += [f"#### Domain `{name}` (`{options.__name__}`)", ""]
        out += render_dataclass(options, "model.frontend.")[2:]
    return "\n".join(out).rstrip() + "\n"


def replace_block(document: str, block: str, path: Path) -> str:
    """``document`` with the text between the markers replaced by ``block``."""
    start, end = document.find(BEGIN), document.find(END)
    if start < 0 or end < start:
        raise DataError(path, f"no generated-reference markers ({BEGIN!r} ... {END!r})")
    return document[: start + len(BEGIN)] + "\n\n" + block + "\n" + document[end:]


def check_or_write(path: Path, write: bool) -> bool:
    """Whether ``path``'s generated block is current; with ``write``, make it so (atomically)."""
    try:
        document = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(path, exc.strerror or "cannot read") from None
    except UnicodeDecodeError:
        raise DataError(path, "not UTF-8 text") from None
    updated = replace_block(document, render(), path)
    if write and updated != document:
        atomic_write_text(path, updated)
    return updated == document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m keyscribe.config_reference", description=__doc__.split("\n")[0]
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--write", type=Path, help="replace the generated block of this Markdown file"
    )
    group.add_argument("--check", type=Path, help="exit 1 when this file's generated block differs")
    args = parser.parse_args(argv)
    try:
        if args.write is not None:
            check_or_write(args.write, write=True)
        elif args.check is not None:
            if not check_or_write(args.check, write=False):
                print(f"{args.check}: out of date; run {parser.prog} --write {args.check}")
                return 1
        else:
            sys.stdout.write(render())
    except KeyscribeError as exc:
        print(f"keyscribe: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
