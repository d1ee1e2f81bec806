"""CTCDataModule: the splits of any domain as Lightning data loaders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, SequentialSampler

from keyscribe.data.batch import Batch, Sample, collate
from keyscribe.data.sampling import EpochShuffle, SeededItems
from keyscribe.data.sharding import shard


class CTCDataModule(L.LightningDataModule):
    """Holds ready-made datasets per split; the domain decides windows, transforms and splits.

    ``test`` items may be whole recordings of different lengths, so they are batched one by one.
    Training order and augmentation follow ``seed`` and the epoch only (see ``data.sampling``).
    """

    def __init__(
        self,
        build: Callable[[], dict[str, Dataset[Sample]]],
        batch_size: int,
        num_workers: int = 0,
        eval_batch_size: int | None = None,
        test_batch_size: int = 1,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self._build = build
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.test_batch_size = test_batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.datasets: dict[str, Dataset[Sample]] = {}
        self._train_items: SeededItems | None = None
        self._train_batches: Any = None  # the training loader's batch sampler, if it has one

    def setup(self, stage: str | None = None) -> None:
        if not self.datasets:
            self.datasets = self._build()

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader[Batch]:
        dataset = self.datasets[split]
        # a dataset of variable-size items may batch similar sizes together (HTR: line widths)
        make_sampler = getattr(dataset, "batch_sampler", None)
        batch_sampler = (
            make_sampler(batch_size, shuffle, seed=self.seed) if make_sampler is not None else None
        )
        sampler = None
        if shuffle:
            # the epoch about to run: a resumed run builds (and prefetches) its loader before
            # ``on_train_epoch_start``, when ``current_epoch`` still names the finished one
            epoch = (
                self.trainer.fit_loop.epoch_progress.current.processed
                if self.trainer is not None
                else 0
            )
            self._train_items = dataset = SeededItems(dataset, self.seed)
            self._train_batches = batch_sampler
            if batch_sampler is None:
                sampler = EpochShuffle(len(dataset), self.seed)
            for seeded in (dataset, sampler, batch_sampler):
                if seeded is not None:
                    seeded.set_epoch(epoch)
        common: dict[str, Any] = {
            "num_workers": self.num_workers,
            "collate_fn": collate,
            # workers are forked per epoch when training, so that they see the epoch's item seeds
            "persistent_workers": self.num_workers > 0 and not shuffle,
            # the loader's own base seed must not draw from the global stream (dropout's)
            "generator": torch.Generator().manual_seed(self.seed),
        }
        # under DDP each rank keeps its share of the same order (data/sharding.py)
        if batch_sampler is not None:
            return DataLoader(dataset, batch_sampler=shard(batch_sampler, self.trainer), **common)
        sampler = sampler if sampler is not None else SequentialSampler(range(len(dataset)))
        return DataLoader(
            dataset, batch_size=batch_size, sampler=shard(sampler, self.trainer), **common
        )

    def set_epoch(self, epoch: int) -> None:
        """Called as each training epoch starts (``EpochSeeds``): the item seeds and the batch
        order follow the epoch. Lightning itself only reaches a loader's ``sampler`` (and a batch
        sampler's ``sampler``), never a batch sampler such as the HTR width buckets: without this
        every epoch would repeat the first one's batches, and an epoch cut short by
        ``limit_train_batches`` would see the same lines each time."""
        for seeded in (self._train_items, self._train_batches):
            if seeded is not None:
                seeded.set_epoch(epoch)

    def set_augment_strength(self, strength: float) -> None:
        """Scale the training augmentation (``RegularizationWarmup``), where the training set has
        one; with ``num_workers`` > 0 it reaches the workers forked for the next epoch."""
        set_strength = getattr(self.datasets.get("train"), "set_augment_strength", None)
        if callable(set_strength):
            set_strength(strength)

    def train_dataloader(self) -> DataLoader[Batch]:
        return self._loader("train", self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader[Batch]:
        return self._loader("val", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader[Batch]:
        return self._loader("test", self.test_batch_size, shuffle=False)
