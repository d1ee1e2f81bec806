"""data.train|val|test take a list of line sources; data.train_exclude leaves lines out."""

from pathlib import Path

import pytest

from keyscribe import api
from keyscribe.config import apply_overrides
from keyscribe.errors import ConfigError, DataError
from keyscribe.htr.domain import build_alphabet, build_datasets


def _split(lines_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The fixture lines as two folders (a, b) of five lines each."""
    stems = sorted(p.name[: -len(".gt.txt")] for p in lines_dir.glob("*.gt.txt"))
    halves = {"a": stems[:5], "b": stems[5:]}
    for name, part in halves.items():
        (tmp_path / name).mkdir()
        for stem in part:
            for f in lines_dir.glob(f"{stem}.*"):
                (tmp_path / name / f.name).symlink_to(f)
    return tmp_path / "a", tmp_path / "b"


def _config(overrides: list[str], **data: object):
    tree = {"domain": "htr", "data": {"height": 32, **data}}
    return api.config_from_tree(apply_overrides(tree, overrides))


def test_lists_of_sources_join_their_lines(lines_dir: Path, tmp_path: Path) -> None:
    a, b = _split(lines_dir, tmp_path)
    cfg = _config([f"data.train=[{a},{b}]", f"data.val=[{b}]", f"data.test={a}"])
    alphabet = build_alphabet(cfg)
    sets = build_datasets(cfg, alphabet)
    assert [len(sets[s]) for s in ("train", "val", "test")] == [10, 5, 5]
    one = build_datasets(_config([f"data.train={a}", f"data.val={b}"]), alphabet)
    assert len(one["train"]) == 5


def test_train_exclude_leaves_matching_lines_out(lines_dir: Path, tmp_path: Path) -> None:
    a, b = _split(lines_dir, tmp_path)
    first = sorted(p.stem for p in a.glob("*.gt.txt"))[0][: -len(".gt")]
    cfg = _config([f"data.train=[{a},{b}]", f"data.val={b}"], train_exclude=[first, "nomatch*"])
    sets = build_datasets(cfg, build_alphabet(cfg))
    assert len(sets["train"]) == 9
    assert len(sets["val"]) == 5  # exclusion is for training lines only
    everything = _config([f"data.train={a}", f"data.val={b}"], train_exclude=["*"])
    with pytest.raises(DataError, match="leaves no training lines"):
        build_alphabet(everything)


@pytest.mark.parametrize("value", ["[]", "['']", "[3]", "7"])
def test_bad_source_lists_are_refused_at_load(value: str) -> None:
    with pytest.raises(ConfigError, match="data.train must be a path or a non-empty list"):
        _config([f"data.train={value}"])
