"""Line datasets: charset handling (unknown characters never dropped silently), bucketing, subsets."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import pytest
import torch

from keyscribe.alphabet import Alphabet
from keyscribe.data.batch import Batch, collate
from keyscribe.data.module import CTCDataModule
from keyscribe.data.sampling import EpochSeeds
from keyscribe.errors import DataError
from keyscribe.htr.dataset import LineDataset, WidthBucketSampler, subset_records
from keyscribe.htr.lines import read_lines, texts


def test_samples_hold_normalised_lines_and_labels(lines_dir: Path) -> None:
    records = read_lines(lines_dir)
    alphabet = Alphabet.from_texts(texts(records))
    assert alphabet.blank == 0
    ds = LineDataset(records, alphabet, height=32)
    sample = ds[0]
    assert sample.inputs.shape[1:] == (1, 32) and sample.inputs.abs().max() <= 1.0
    assert alphabet.decode(sample.targets.tolist()) == sample.text == records[0].text
    batch = collate([ds[i] for i in range(3)])
    assert batch.inputs.shape[0] == 3 and batch.inputs.shape[1] == max(ds.widths[:3])
    stretched = LineDataset(records, alphabet, height=32, normalize="contrast")
    assert stretched.widths == ds.widths
    assert stretched[0].inputs.max() > sample.inputs.max()  # the darkest ink reaches +1


def test_unknown_characters_error_skip_or_score(
    lines_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    records = read_lines(lines_dir)
    alphabet = Alphabet.from_texts([t.replace("à", "") for t in texts(records)])
    with pytest.raises(
        DataError,
        match=r"50_df850_default_l014\.jpg: line 50_df850_default_l014: characters outside .*'à'",
    ):
        LineDataset(records, alphabet, 32, unknown_chars="error")
    assert len(LineDataset(records, alphabet, 32, unknown_chars="skip")) == 9
    with caplog.at_level(logging.WARNING):
        scored = LineDataset(records, alphabet, 32, unknown_chars="score")
    assert "'à' x1" in caplog.text
    i = scored.ids.index("50_df850_default_l014")
    assert scored[i].text == "à l'autre"  # the reference keeps it: it is scored as an error
    assert alphabet.decode(scored[i].targets.tolist()) == " l'autre"
    mapped = LineDataset(records, alphabet, 32, unknown_chars="error", char_map={"à": "a"})
    assert mapped[i].text == "a l'autre"


def test_width_buckets_cover_every_line_once() -> None:
    widths = [int(w) for w in torch.randint(50, 900, (103,))]
    torch.manual_seed(0)
    batches = list(WidthBucketSampler(widths, 8, shuffle=True, pool_batches=4))
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(103)) and len(batches) == 13
    spread = sum(max(widths[i] for i in b) - min(widths[i] for i in b) for b in batches)
    random_spread = sum(max(widths[i : i + 8]) - min(widths[i : i + 8]) for i in range(0, 103, 8))
    assert spread < random_spread / 2
    ordered = list(WidthBucketSampler(widths, 8, shuffle=False))
    assert [widths[i] for b in ordered for i in b] == sorted(widths)


def test_subsets_are_seeded(lines_dir: Path) -> None:
    records = read_lines(lines_dir)
    a = subset_records(records, 0.3, seed=1)
    assert len(a) == 3 and a == subset_records(records, 0.3, seed=1)
    assert a != subset_records(records, 0.3, seed=2)
    assert subset_records(records, 1.0, seed=1) == records


class _BatchRecorder(L.LightningModule):
    """Records the line ids of every training batch, per epoch; learns nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen: dict[int, list[list[str]]] = {}

    def training_step(self, batch: Batch, index: int) -> torch.Tensor:
        self.seen.setdefault(self.current_epoch, []).append(list(batch.ids))
        return (self.weight**2).sum()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_each_training_epoch_draws_its_own_width_buckets(lines_dir: Path) -> None:
    """Lightning never hands the epoch to a batch sampler: the data module must, or every epoch
    repeats the first one's batches (and a half epoch sees the same half of the lines each time)."""
    records = read_lines(lines_dir)
    alphabet = Alphabet.from_texts(texts(records))
    dataset = LineDataset(records, alphabet, 16, bucket_pool_batches=2)
    datamodule = CTCDataModule(lambda: {"train": dataset}, batch_size=2, seed=3)
    recorder = _BatchRecorder()
    trainer = L.Trainer(
        max_epochs=4,
        limit_train_batches=0.4,  # 2 of the 5 batches per epoch
        callbacks=[EpochSeeds(3)],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(recorder, datamodule=datamodule)
    sampler = dataset.batch_sampler(2, shuffle=True, seed=3)
    assert sampler is not None
    for epoch in range(4):
        sampler.set_epoch(epoch)
        expected = [[dataset.ids[i] for i in batch] for batch in list(sampler)[:2]]
        assert recorder.seen[epoch] == expected
    assert len({tuple(map(tuple, batches)) for batches in recorder.seen.values()}) == 4
