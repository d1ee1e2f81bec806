"""Data options of the HTR domain (sizes in pixels of the height-normalised line)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keyscribe.config import ExperimentConfig, OptimConfig, TrainerConfig
from keyscribe.errors import ConfigError
from keyscribe.htr.transforms import NORMALIZATIONS, AugmentConfig


@dataclass
class HtrDataConfig:
    # A set folder with train/ val/ test/ (folders of lines, as in data/htr/<set>, or of PAGE/ALTO
    # pages; or train.txt/.lst manifests of page paths); train, val and test override one split
    # each with a line source or a list of them (their lines joined): a lines folder, a PAGE/ALTO
    # .xml, a folder, glob or manifest of them, a .tsv (image, text) or an IAM lines.txt.
    root: str = ""
    train: Any = ""  # a line source, or a list of them (str or list of str)
    val: Any = ""  # as train
    test: Any = ""  # as train
    # line ids (or fnmatch patterns) left out of the training lines, e.g. a page kept for a demo
    train_exclude: list[str] = field(default_factory=list)
    height: int = 60  # px after resizing (60 for CRNN, 128 for 1D-LSTM in the paper)
    normalize: str = "none"  # none | contrast (per line: paper white, darkest ink black)
    batch_size: int = 8  # training lines per optimiser step
    num_workers: int = 0  # data loader processes; 0: load in the training process
    width_buckets: bool = True  # batch lines of similar width (less padding)
    bucket_pool_batches: int = 50  # batches' worth of lines sorted by width together
    train_fraction: float = 1.0  # seeded subset of the training lines (fine-tuning curve)
    subset_seed: int = 0  # draws the train_fraction subset
    on_error: str = "skip"  # per-line problems (bad image, missing .gt.txt): skip (counted) or fail
    # characters of val/test/evaluated lines outside the training charset:
    # score (kept in the reference, so they count as errors; logged), error, or skip the line
    unknown_chars: str = "score"
    char_map: dict[str, str] = field(default_factory=dict)  # applied to every transcription first
    charset_extra: str = ""  # characters added to the charset beyond those of the training text
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            setattr(self, split, _sources(split, getattr(self, split)))
        if self.on_error not in ("skip", "fail"):
            raise ConfigError(None, f"data.on_error must be skip or fail, got '{self.on_error}'")
        if self.unknown_chars not in ("score", "error", "skip"):
            raise ConfigError(
                None, f"data.unknown_chars must be score, error or skip, got '{self.unknown_chars}'"
            )
        if not 0.0 < self.train_fraction <= 1.0:
            raise ConfigError(
                None, f"data.train_fraction must be in (0, 1], got {self.train_fraction}"
            )
        if self.normalize not in NORMALIZATIONS:
            raise ConfigError(
                None,
                f"data.normalize must be one of {', '.join(NORMALIZATIONS)}, got '{self.normalize}'",
            )
        if self.height < 8:
            raise ConfigError(None, f"data.height must be >= 8 px, got {self.height}")


def _sources(split: str, value: Any) -> str | list[str]:
    """``data.<split>`` as given: one path, or a non-empty list of non-empty paths."""
    if isinstance(value, str):
        return value
    if (
        isinstance(value, (list, tuple))
        and value
        and all(isinstance(v, str) and v.strip() for v in value)
    ):
        return list(value)
    raise ConfigError(
        None, f"data.{split} must be a path or a non-empty list of paths, got {value!r}"
    )


@dataclass
class HtrExperimentConfig(ExperimentConfig):
    domain: str = "htr"  # emg | htr: which domain's data options and model parts apply
    data: HtrDataConfig = field(default_factory=HtrDataConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-4, scheduler="plateau"))
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(early_stopping_patience=20)
    )
