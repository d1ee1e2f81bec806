"""Windows over emg2qwerty sessions, and the index of sessions per split.

Window ``i`` starts at sample ``i * stride``; its labels are the keys pressed between the
timestamps of its first and last sample (both inclusive), and left/right padding only widens the
EMG slice handed to the model (context for the convolutions), never the labels. This is the
reference benchmark's windowing, sample for sample.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import ConcatDataset, Dataset, Subset

from keyscribe.data.batch import Sample
from keyscribe.emg.augment import cache_folder, down_up_session
from keyscribe.emg.channels import channel_projection
from keyscribe.emg.config import EmgDataConfig
from keyscribe.emg.layout import SPLITS, SessionEntry, index_sessions, require_splits
from keyscribe.emg.session import EmgSession, check_finite
from keyscribe.emg.transforms import (
    AlignmentJitter,
    BandRotation,
    ChannelProjection,
    DownUp,
    LogSpectrogram,
    SpecAugment,
)
from keyscribe.errors import DataError
from keyscribe.transforms.temporal import RandomTemporalCrop


def window_count(num_samples: int, window_length: int, stride: int) -> int:
    """Number of windows the reference yields: max(N - L, 0) // stride + 1."""
    return max(num_samples - window_length, 0) // stride + 1


def window_labels(
    session: EmgSession, window_length: int, stride: int | None = None
) -> list[list[int]]:
    """Label ids of each window, as the reference windowed dataset labels them."""
    stride = stride or window_length
    n = len(session)
    if n < window_length:
        raise DataError(
            session.path, f"session has {n} samples, shorter than one window ({window_length})"
        )
    time = session.time
    out = []
    for i in range(window_count(n, window_length, stride)):
        offset = i * stride
        out.append(session.labels(time[offset], time[offset + window_length - 1]))
    return out


class WindowedSessionDataset(Dataset[Sample]):
    """Windows of one session -> Sample(inputs=transform(emg window), targets=label ids).

    ``window_length=None`` gives one item holding the whole session (the reference's test
    setting). ``jitter`` moves each training window's start by up to one stride at random.
    ``transform`` maps raw EMG ``(time, band, channel)`` to model inputs ``(frames, ...)``.
    """

    def __init__(
        self,
        path: str | Path,
        transform: Callable[[Tensor], Tensor],
        window_length: int | None = 8000,
        stride: int | None = None,
        padding: tuple[int, int] = (1800, 200),
        jitter: bool = False,
        min_samples: int = 1,
        require_keystrokes: bool = False,
    ) -> None:
        self.path = Path(path)
        with EmgSession(self.path) as session:
            self.num_samples = len(session)
            if require_keystrokes and not session.keystrokes:
                raise DataError(
                    self.path, "session has no keystrokes: nothing to train or validate on"
                )
            if session.condition != "on_keyboard":
                raise DataError(
                    self.path, f"unsupported condition '{session.condition}' (need on_keyboard)"
                )
        self.window_length = window_length or self.num_samples
        if self.num_samples < self.window_length:
            raise DataError(
                self.path,
                f"session has {self.num_samples} samples, shorter than one window ({self.window_length})",
            )
        if self.num_samples < min_samples:
            raise DataError(
                self.path,
                f"session has {self.num_samples} samples, too short (needs {min_samples}: one spectrogram frame)",
            )
        self.stride = stride or self.window_length
        self.padding = padding
        self.jitter = jitter
        self.transform = transform
        self._session: EmgSession | None = None
        self._session_pid = 0  # the process that opened _session

    def __len__(self) -> int:
        return window_count(self.num_samples, self.window_length, self.stride)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_session"] = None  # h5py handles do not pickle; reopen in the worker
        return state

    @property
    def session(self) -> EmgSession:
        # a forked loader worker inherits the parent's object without pickling: an h5py handle
        # must not cross the fork, so each process opens its own
        if self._session is None or self._session_pid != os.getpid():
            self._session, self._session_pid = EmgSession(self.path), os.getpid()
        return self._session

    def __getitem__(self, idx: int) -> Sample:
        if not 0 <= idx < len(self):
            raise IndexError(idx)
        offset = idx * self.stride
        leftover = self.num_samples - (offset + self.window_length)
        if self.jitter and leftover > 0:
            offset += int(torch.randint(min(self.stride, leftover), ()).item())
        left, right = self.padding
        start = max(offset - left, 0)
        emg, time = self.session.read(start, offset + self.window_length + right)
        check_finite(self.path, emg, time, start, f" (window {idx})")
        start_t = time[offset - start]
        end_t = time[offset + self.window_length - 1 - start]
        labels = self.session.labels(start_t, end_t)
        inputs = self.transform(torch.from_numpy(emg))
        return Sample(inputs, torch.tensor(labels, dtype=torch.long), f"{self.path.stem}:{idx}")


def session_transform(
    n_fft: int = 64,
    hop_length: int = 16,
    train: bool = False,
    band_rotation: tuple[int, ...] = (-1, 0, 1),
    jitter_max_offset: int = 120,
    spec_augment: SpecAugment | None = None,
    *,
    channels: ChannelProjection | None = None,
    down_up: DownUp | None = None,
    temporal_crop: RandomTemporalCrop | None = None,
) -> Callable[[Tensor], Tensor]:
    """Raw EMG ``(time, band, channel)`` -> log-spectrogram ``(frames, band, channel', freq)``,
    with the reference's training augmentations when ``train``.

    ``channels`` keeps or projects electrodes (after band rotation, which moves all 16);
    ``down_up`` (on-the-fly Down-Up) and ``temporal_crop`` only act when ``train``.
    """
    steps: list[Callable[[Tensor], Tensor]] = []
    if train:
        steps += [BandRotation(tuple(band_rotation)), AlignmentJitter(jitter_max_offset)]
        if down_up is not None:
            steps.append(down_up)
    if channels is not None:
        steps.append(channels)
    steps.append(LogSpectrogram(n_fft, hop_length))
    if train and spec_augment is not None:
        steps.append(spec_augment)
    if train and temporal_crop is not None:
        steps.append(temporal_crop)

    def apply(x: Tensor) -> Tensor:
        for step in steps:
            x = step(x)
        return x

    return apply


def data_transforms(
    cfg: EmgDataConfig, channels: ChannelProjection | None
) -> tuple[Callable, Callable]:
    """(train, eval) transforms for ``cfg``; sizes in frames rescaled to its hop length."""
    aug, crop, du = cfg.spec_augment, cfg.temporal_crop, cfg.down_up
    train_tf = session_transform(
        cfg.n_fft,
        cfg.hop_length,
        train=True,
        band_rotation=tuple(cfg.band_rotation),
        jitter_max_offset=cfg.jitter_max_offset,
        spec_augment=SpecAugment(
            aug.n_time_masks, cfg.frames(aug.time_mask_param), aug.n_freq_masks, aug.freq_mask_param
        ),
        channels=channels,
        down_up=DownUp(tuple(du.factors), du.probability)
        if du.factors and du.mode == "online"
        else None,
        temporal_crop=RandomTemporalCrop(cfg.frames(crop.crop_frames), crop.probability)
        if crop.crop_frames
        else None,
    )
    return train_tf, session_transform(cfg.n_fft, cfg.hop_length, channels=channels)


def selected_sessions(cfg: EmgDataConfig) -> list[SessionEntry]:
    """Sessions of every split that ``cfg`` selects (its split file or the folder's own splits;
    all users, or only ``cfg.users``)."""
    entries = index_sessions(cfg.root, cfg.metadata, cfg.splits or None)
    return [e for e in entries if not cfg.users or e.user in cfg.users]


def eval_channel_projection(cfg: EmgDataConfig) -> ChannelProjection | None:
    """The channel projection of ``cfg`` (PCA needs the training sessions, or their cache)."""
    pca = cfg.channels.selection == "pca" and not cfg.channels.indices
    paths = [e.path for e in selected_sessions(cfg) if e.split == "train"] if pca else []
    return channel_projection(cfg, paths, cache_folder(cfg.root, cfg.cache_dir))


def _fraction_indices(n: int, fraction: float, seed: int) -> list[int]:
    """A seeded, sorted subset of ``round(fraction * n)`` (at least 1) of ``range(n)``."""
    keep = max(1, round(fraction * n))
    return sorted(np.random.default_rng(seed).choice(n, keep, replace=False).tolist())


def split_datasets(cfg: EmgDataConfig) -> dict[str, Dataset[Sample]]:
    """Train/val windows and whole test sessions for the sessions ``cfg`` selects.

    Training windows may be a seeded fraction (``train_fraction``); Down-Up boosting adds the
    same windows of each cached Down-Up copy of the training sessions.
    """
    entries = selected_sessions(cfg)
    require_splits(entries, cfg.root)
    cache = cache_folder(cfg.root, cfg.cache_dir)
    train_paths = [e.path for e in entries if e.split == "train"]
    train_tf, eval_tf = data_transforms(cfg, channel_projection(cfg, train_paths, cache))
    padding = (cfg.padding[0], cfg.padding[1])
    out: dict[str, Dataset[Sample]] = {}
    for split in SPLITS:
        paths = [e.path for e in entries if e.split == split]
        if not paths:
            if split == "test":
                continue
            raise DataError(cfg.root, f"no sessions in split '{split}'")
        if split == "test":
            parts = [WindowedSessionDataset(p, eval_tf, None, padding=(0, 0)) for p in paths]
        else:
            train = split == "train"
            parts = [
                WindowedSessionDataset(
                    p,
                    train_tf if train else eval_tf,
                    cfg.window_length,
                    cfg.stride,
                    padding,
                    jitter=train and cfg.window_jitter,
                    require_keystrokes=True,
                )
                for p in paths
            ]
        out[split] = ConcatDataset(parts)
        if split == "train":
            train_parts = parts
    if cfg.train_fraction < 1.0 or (cfg.down_up.factors and cfg.down_up.mode == "boost"):
        out["train"] = _boosted_subset(cfg, train_parts, train_tf, cache)
    return out


def _boosted_subset(
    cfg: EmgDataConfig,
    train_parts: list[WindowedSessionDataset],
    transform: Callable[[Tensor], Tensor],
    cache: Path,
) -> Dataset[Sample]:
    """The kept fraction of training windows, plus the same windows of every Down-Up copy."""
    train: ConcatDataset[Sample] = ConcatDataset(train_parts)
    indices = _fraction_indices(len(train), cfg.train_fraction, cfg.train_fraction_seed)
    copies: list[Dataset[Sample]] = [Subset(train, indices)]
    if cfg.down_up.mode == "boost":
        for factor in cfg.down_up.factors:
            boosted: ConcatDataset[Sample] = ConcatDataset(
                [
                    WindowedSessionDataset(
                        down_up_session(part.path, factor, cache),
                        transform,
                        part.window_length,
                        part.stride,
                        part.padding,
                        jitter=part.jitter,
                    )
                    for part in train_parts
                ]
            )
            copies.append(Subset(boosted, indices))  # same session lengths: same windows
    return ConcatDataset(copies)
