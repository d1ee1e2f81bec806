"""CTCDataModule: the splits of any domain as Lightning data loaders."""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
from torch.utils.data import DataLoader, Dataset

from keyscribe.data.batch import Batch, Sample, collate


class CTCDataModule(L.LightningDataModule):
    """Holds ready-made datasets per split; the domain decides windows, transforms and splits.

    ``test`` items may be whole recordings of different lengths, so they are batched one by one.
    """

    def __init__(
        self,
        build: Callable[[], dict[str, Dataset[Sample]]],
        batch_size: int,
        num_workers: int = 0,
        eval_batch_size: int | None = None,
        test_batch_size: int = 1,
    ) -> None:
        super().__init__()
        self._build = build
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.test_batch_size = test_batch_size
        self.num_workers = num_workers
        self.datasets: dict[str, Dataset[Sample]] = {}

    def setup(self, stage: str | None = None) -> None:
        if not self.datasets:
            self.datasets = self._build()

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader[Batch]:
        dataset = self.datasets[split]
        # a dataset of variable-size items may batch similar sizes together (HTR: line widths)
        make_sampler = getattr(dataset, "batch_sampler", None)
        batch_sampler = make_sampler(batch_size, shuffle) if make_sampler is not None else None
        if batch_sampler is not None:
            return DataLoader(
                dataset,
                batch_sampler=batch_sampler,
                num_workers=self.num_workers,
                collate_fn=collate,
                persistent_workers=self.num_workers > 0,
            )
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            collate_fn=collate,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader[Batch]:
        return self._loader("train", self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader[Batch]:
        return self._loader("val", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader[Batch]:
        return self._loader("test", self.test_batch_size, shuffle=False)
