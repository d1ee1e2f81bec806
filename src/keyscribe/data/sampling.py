"""Training randomness as a function of (seed, epoch, item), so a killed run resumes bit-identically.

Lightning restores weights, optimiser and schedules from ``last.ckpt`` but not the random streams,
and a resumed process reaches each epoch's first batch along a different path than a process that
never stopped (the loader is prefetched before ``on_train_epoch_start``). So nothing in training
reads a random stream whose state depends on history:

- the shuffle order of epoch ``e`` comes from ``(seed, e)`` (``EpochShuffle``; under DDP each rank
  keeps its share of that one order, ``data.sharding.RankShard``);
- each training item is built under its own torch seed ``(seed, e, index)`` (``SeededItems``), in
  the main process or a loader worker alike, leaving the caller's stream untouched: item code
  must draw its randomness from torch (numpy's and ``random``'s global streams are not reseeded);
- the stream the model draws from (dropout) is reseeded from ``(seed, e, rank)`` at each epoch's
  start (``EpochSeeds``), which also tells the data module the epoch.

So a run resumes exactly from a checkpoint written at an epoch's end (``last.ckpt``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


def derived_seed(*keys: int) -> int:
    """A well-mixed 63-bit seed from non-negative integer keys (NumPy's SeedSequence)."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1, np.uint64)[0] >> np.uint64(1))


class EpochShuffle(Sampler[int]):
    """A permutation of ``range(n)`` fixed by ``(seed, epoch)``."""

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Lightning calls this as each epoch starts (and the data module when it builds the loader)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(derived_seed(self.seed, self.epoch))
        yield from torch.randperm(self.n, generator=generator).tolist()


class SeededItems(Dataset):
    """Builds item ``index`` of ``dataset`` under torch seed ``(seed, epoch, index)``."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose item seeds ``__getitem__`` uses (``EpochSeeds`` sets it)."""
        self.epoch = epoch

    def __len__(self) -> int:
        if not isinstance(self.dataset, Sized):
            raise TypeError(f"{type(self.dataset).__name__} has no length")
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derived_seed(self.seed, self.epoch, index))
            return self.dataset[index]


class EpochSeeds(L.Callback):
    """At each training epoch's start: reseed torch's global stream (dropout) from ``(seed, epoch,
    rank)`` (DDP ranks draw different masks) and hand the epoch to the data module (item seeds)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch
        torch.manual_seed(derived_seed(self.seed, epoch, trainer.global_rank))
        set_epoch = getattr(trainer.datamodule, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)
