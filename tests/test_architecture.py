"""The shape of the code base: no import cycle in src/, no domain name compared outside its own
domain and the registry, and a third domain plugs in without an edit to the core."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import keyscribe
from helpers import toy_domain
from keyscribe import domain
from keyscribe.domain import domain_names, get_domain, register_domain
from keyscribe.errors import ConfigError

SRC = Path(keyscribe.__file__).parent


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = SRC) -> dict[str, set[str]]:
    """Module -> the keyscribe modules it imports, at module level or inside functions (an
    import inside a function still ties the two modules together)."""
    modules = {_module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                # ``from a.b import c``: the module a.b.c if it is one, else a.b (the parent
                # packages' __init__ files, which Python runs first, do not count as edges)
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            for target in targets:
                found = resolve(target)
                if found and found != name and found != "keyscribe":
                    graph[name].add(found)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_cycle_check_finds_a_cycle(tmp_path: Path) -> None:
    package = tmp_path / "keyscribe"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from keyscribe import b\n")
    (package / "b.py").write_text("def f():\n    from keyscribe.a import x\n")
    assert cycles(import_graph(package)) == [["keyscribe.a", "keyscribe.b"]]


def test_no_import_cycle_in_src() -> None:
    assert cycles(import_graph()) == []


DOMAIN_COMPARISON = re.compile(r"""(==|!=)\s*["'](emg|htr)["']|["'](emg|htr)["']\s*(==|!=)""")


def test_no_domain_name_compared_outside_its_domain() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC).parts
        if relative[0] in ("emg", "htr"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if DOMAIN_COMPARISON.search(line):
                offenders.append(f"{path.relative_to(SRC)}:{number}: {line.strip()}")
    assert offenders == []


def test_domains_are_found_by_their_folder() -> None:
    assert {"emg", "htr"} <= set(domain_names())
    assert get_domain("htr").name == "htr"
    with pytest.raises(ConfigError, match="domain must be one of"):
        get_domain("nope")


def test_a_third_domain_trains_evaluates_and_transcribes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test-only toy domain goes through the public API like the built-in ones."""
    monkeypatch.setattr(domain, "_REGISTERED", dict(domain._REGISTERED))  # forgotten afterwards
    register_domain(toy_domain.SPEC)
    cfg = keyscribe.api.config_from_tree(
        {
            "domain": "toy",
            "out_dir": str(tmp_path / "run"),
            "data": {"items": 96},
            "model": {"encoder": {"kind": "lstm", "hidden_size": 16, "num_layers": 1}},
            "optim": {"lr": 0.03},
            "trainer": {"max_epochs": 12, "progress_bar": False, "max_time_minutes": None},
        }
    )
    results = keyscribe.train(cfg)
    assert results["val_cer"] < 50.0, results  # it learned: chance is ~100 %
    items = tmp_path / "items.txt"
    items.write_text("ab ba\nbab\n")
    report = keyscribe.evaluate(results["best_checkpoint"], items)
    assert report["items"] == 2 and report.to_json()["cer"] == report.cer
    transcriptions = keyscribe.transcribe(results["best_checkpoint"], items)
    assert [t.reference_text for t in transcriptions] == ["ab ba", "bab"]


def test_no_module_over_400_lines() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert long == {}
