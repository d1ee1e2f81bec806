"""Line datasets: records -> fixed-height normalised images and label ids (Sample).

Every line is read, checked and resized once, when the dataset is built, and kept as 8-bit pixels
at the target height (peraire at 60 px: ~55 MB), so bad files are found (and counted) before
training starts and epochs cost no JPEG decoding. Training items are augmented on the fly.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

from keyscribe.alphabet import Alphabet
from keyscribe.data.batch import Sample
from keyscribe.data.sampling import derived_seed
from keyscribe.errors import DataError
from keyscribe.htr.lines import LineRecord, SkipCounter, load_line_image
from keyscribe.htr.transforms import AugmentConfig, augment_line, prepare_line, to_tensor

log = logging.getLogger(__name__)


def apply_char_map(text: str, char_map: dict[str, str]) -> str:
    for src, dst in char_map.items():
        text = text.replace(src, dst)
    return text


class LineDataset(Dataset[Sample]):
    """Line images at ``height`` px -> ``Sample(inputs (width, 1, height), targets, id, text)``.

    ``normalize`` is ``transforms.prepare_line``'s (none or contrast).

    ``unknown_chars`` says what happens to a transcription with characters outside ``alphabet``:
    ``"error"`` raises, ``"skip"`` drops the line (counted), ``"score"`` keeps it: the exact text
    stays the reference that evaluation scores against (so those characters count as errors),
    while the label ids, used by the CTC loss, leave them out; how many is logged.
    """

    def __init__(
        self,
        records: Sequence[LineRecord],
        alphabet: Alphabet,
        height: int,
        augment: AugmentConfig | None = None,
        on_error: str = "skip",
        unknown_chars: str = "error",
        char_map: dict[str, str] | None = None,
        name: str = "lines",
        bucket_pool_batches: int = 0,
        normalize: str = "none",
    ) -> None:
        self.alphabet = alphabet
        self.height = height
        self.augment = augment if augment is not None and augment.enabled else None
        self._full_augment = self.augment  # as configured; ``augment`` may be a weaker copy
        self.name = name
        self.bucket_pool_batches = (
            bucket_pool_batches  # > 0: batch by width (see WidthBucketSampler)
        )
        report = SkipCounter(on_error)
        self.ids: list[str] = []
        self.texts: list[str | None] = []
        self.targets: list[torch.Tensor] = []
        self.lines: list[np.ndarray] = []  # uint8 (height, width)
        self.records: list[LineRecord] = []
        # (width, height) of each line as cut, before resizing: maps positions back to the source
        self.sizes: list[tuple[int, int]] = []
        unknown: dict[str, int] = {}
        unknown_lines = 0
        page_cache: dict[Path, Image.Image] = {}
        for record in records:
            text = None if record.text is None else apply_char_map(record.text, char_map or {})
            ids: list[int] = []
            if text is not None:
                missing = sorted({c for c in text if c not in alphabet})
                if missing:
                    problem = f"characters outside the model's charset: {''.join(missing)!r}"
                    if unknown_chars == "error":
                        raise DataError(
                            record.origin,
                            f"line {record.id}: {problem} (set data.char_map or data.unknown_chars)",
                        )
                    if unknown_chars == "skip":
                        report(DataError(record.origin, f"line {record.id}: {problem}"))
                        continue
                    unknown_lines += 1
                    for c in text:
                        if c not in alphabet:
                            unknown[c] = unknown.get(c, 0) + 1
                ids = [alphabet.index(c) for c in text if c in alphabet]
            try:
                image = load_line_image(record, page_cache)
                line = prepare_line(image, height, normalize)
            except DataError as exc:
                report(exc)
                continue
            self.sizes.append(image.size)
            self.ids.append(record.id)
            self.texts.append(text)
            self.targets.append(torch.tensor(ids, dtype=torch.long))
            self.lines.append(line)
            self.records.append(record)
        report.report(name)
        self.skipped = len(report.skipped)
        if unknown:
            shown = ", ".join(
                f"{c!r} x{n}" for c, n in sorted(unknown.items(), key=lambda kv: -kv[1])
            )
            log.warning(
                "%s: %d line(s) have characters outside the charset (%s); they stay in the reference "
                "text (scored as errors) but not in the CTC targets",
                name,
                unknown_lines,
                shown,
            )
        self.unknown_characters = sum(unknown.values())
        if not self.lines:
            first = f"; first: {report.skipped[0]}" if report.skipped else ""
            raise DataError(name, f"no usable lines ({self.skipped} skipped{first})")

    def __len__(self) -> int:
        return len(self.lines)

    @property
    def widths(self) -> list[int]:
        return [line.shape[1] for line in self.lines]

    def set_augment_strength(self, strength: float) -> None:
        """Fire each distortion with probability ``strength`` x the configured ``p``."""
        if self._full_augment is not None:
            self.augment = replace(self._full_augment, p=self._full_augment.p * strength)

    def __getitem__(self, index: int) -> Sample:
        line = self.lines[index]
        if self.augment is not None:
            rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, ()).item()))
            line = augment_line(Image.fromarray(line), rng, self.augment)
        return Sample(to_tensor(line), self.targets[index], self.ids[index], text=self.texts[index])

    def batch_sampler(
        self, batch_size: int, shuffle: bool, seed: int = 0
    ) -> WidthBucketSampler | None:
        """Width-bucketed batches (used by CTCDataModule), or None to batch in plain order."""
        if self.bucket_pool_batches <= 0:
            return None
        return WidthBucketSampler(
            self.widths, batch_size, shuffle, self.bucket_pool_batches, seed=seed
        )


class WidthBucketSampler(Sampler[list[int]]):
    """Batches of lines of similar width: shuffle, cut into pools of ``pool_batches`` batches,
    sort each pool by width, cut into batches, shuffle the batches (all fixed by ``seed`` and the
    epoch, so a resumed run repeats). Without shuffling, lines are batched in width order
    (evaluation)."""

    def __init__(
        self,
        widths: Sequence[int],
        batch_size: int,
        shuffle: bool,
        pool_batches: int = 50,
        seed: int = 0,
    ) -> None:
        self.widths = list(widths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.pool = max(1, pool_batches) * batch_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """The data module calls this as each epoch starts (Lightning does not reach a batch
        sampler): a new shuffle per epoch, fixed by the seed."""
        self.epoch = epoch

    def __len__(self) -> int:
        return (len(self.widths) + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[list[int]]:
        n = len(self.widths)
        if not self.shuffle:
            order = sorted(range(n), key=lambda i: self.widths[i])
            yield from (order[i : i + self.batch_size] for i in range(0, n, self.batch_size))
            return
        rng = random.Random(derived_seed(self.seed, self.epoch))
        order = list(range(n))
        rng.shuffle(order)
        batches = []
        for start in range(0, n, self.pool):
            pool = sorted(order[start : start + self.pool], key=lambda i: self.widths[i])
            batches += [pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        rng.shuffle(batches)
        yield from batches


def subset_records(records: Sequence[LineRecord], fraction: float, seed: int) -> list[LineRecord]:
    """A seeded random ``fraction`` of the records (at least one), in their original order."""
    if fraction >= 1.0:
        return list(records)
    keep = max(1, round(len(records) * fraction))
    chosen = sorted(random.Random(seed).sample(range(len(records)), keep))
    return [records[i] for i in chosen]
