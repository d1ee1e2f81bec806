"""The shipped experiment configs: each loads into its typed dataclasses, and the fine-tuning
curves pair every pre-trained run with a from-scratch run that differs only in its start."""

from dataclasses import replace
from pathlib import Path

import pytest

from keyscribe import api

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FRAGMENTS = CONFIGS / "htr" / "model"  # model blocks merged into experiments, not experiments
SPLIT_FILES = CONFIGS / "emg" / "benchmark" / "splits"  # the benchmark's split-file format


def experiment_files() -> list[Path]:
    return [
        p
        for p in sorted(CONFIGS.rglob("*.yaml"))
        if FRAGMENTS not in p.parents and SPLIT_FILES not in p.parents
    ]


def test_the_single_user_split_file_holds_one_user_16_1_1() -> None:
    from keyscribe.emg.layout import read_split_file

    split = read_split_file(SPLIT_FILES / "single-user.yaml")
    counts = {k: len(v) for k, v in split.sessions.items()}
    assert counts == {"train": 16, "val": 1, "test": 1}
    assert {user for pairs in split.sessions.values() for user, _ in pairs} == {"89335547"}
    assert api.load_config(CONFIGS / "emg/benchmark/single-user.yaml").data.splits.endswith(
        "splits/single-user.yaml"
    )


@pytest.mark.parametrize("path", experiment_files(), ids=lambda p: str(p.relative_to(CONFIGS)))
def test_every_experiment_config_loads(path: Path) -> None:
    cfg = api.load_config(path)
    assert cfg.name and cfg.domain in ("emg", "htr")


def test_budget_finetune_curve_pairs_pretrained_with_scratch() -> None:
    folder = CONFIGS / "htr" / "budget" / "finetune"
    fractions = set()
    for pretrained in sorted(folder.glob("*-pretrained.yaml")):
        tuned = api.load_config(pretrained)
        scratch = api.load_config(folder / pretrained.name.replace("pretrained", "scratch"))
        assert tuned.init_from and not scratch.init_from
        same = replace(
            tuned, name=scratch.name, out_dir=scratch.out_dir, init_from=scratch.init_from
        )
        assert same == scratch
        fractions.add(tuned.data.train_fraction)
    assert fractions == {1.0, 0.5, 0.25, 0.1, 0.05, 0.025}
