"""A third domain that lives only in the tests: its items are strings of 'a'/'b'/' ' rendered
as one-hot frames (two frames per character, a silent frame between), so a tiny model learns it
in seconds. It shows that a domain is one module with a ``DomainSpec`` and no edit to the core."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from keyscribe.alphabet import Alphabet
from keyscribe.config import ExperimentConfig
from keyscribe.data.batch import Sample
from keyscribe.domain import DomainSpec
from keyscribe.errors import DataError

SYMBOLS = "ab "
FEATURES = len(SYMBOLS) + 1  # one channel per symbol, one for silence


@dataclass
class ToyDataConfig:
    items: int = 64  # training items (validation: a quarter of it)
    batch_size: int = 8
    num_workers: int = 0


@dataclass
class ToyExperimentConfig(ExperimentConfig):
    domain: str = "toy"
    data: ToyDataConfig = field(default_factory=ToyDataConfig)


def render(text: str) -> Tensor:
    """``text`` -> frames ``(time, FEATURES)``."""
    frames = []
    for ch in text:
        one = torch.zeros(FEATURES)
        one[SYMBOLS.index(ch)] = 1.0
        silence = torch.zeros(FEATURES)
        silence[-1] = 1.0
        frames += [one, one, silence]
    return torch.stack(frames)


class ToyLines(Dataset[Sample]):
    def __init__(self, texts: list[str], alphabet: Alphabet, name: str) -> None:
        self.texts, self.alphabet, self.name = texts, alphabet, name

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i: int) -> Sample:
        text = self.texts[i]
        targets = torch.tensor(self.alphabet.encode(text), dtype=torch.long)
        return Sample(render(text), targets, f"{self.name}:{i}", text)


class ToyFrontend(nn.Module):
    """frames ``(batch, time, FEATURES)`` -> ``(batch, time, 8)``."""

    out_features = 8

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(FEATURES, self.out_features)

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        return torch.tanh(self.proj(x)), lengths


def _texts(n: int, seed: int) -> list[str]:
    g = torch.Generator().manual_seed(seed)
    return [
        "".join(SYMBOLS[int(j)] for j in torch.randint(0, 3, (int(k),), generator=g))
        for k in torch.randint(2, 7, (n,), generator=g)
    ]


def build_alphabet(cfg: Any) -> Alphabet:
    return Alphabet.from_texts([SYMBOLS], name="toy")


def build_datasets(cfg: Any, alphabet: Alphabet) -> dict[str, Dataset[Sample]]:
    n = cfg.data.items
    return {
        "train": ToyLines(_texts(n, cfg.seed), alphabet, "train"),
        "val": ToyLines(_texts(max(1, n // 4), cfg.seed + 1), alphabet, "val"),
    }


def eval_dataset(cfg: Any, path: Path, alphabet: Alphabet, need_text: bool = False) -> ToyLines:
    """A text file, one item per line."""
    if not path.is_file():
        raise DataError(path, "file not found")
    return ToyLines(path.read_text().splitlines(), alphabet, path.stem)


SPEC = DomainSpec(
    name="toy",
    schema=ToyExperimentConfig,
    alphabet=build_alphabet,
    frontend=lambda cfg: ToyFrontend(),
    datasets=build_datasets,
    eval_dataset=eval_dataset,
    exact_text=True,
)
