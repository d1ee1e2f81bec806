"""The sEMG domain as the core sees it: alphabet, front end, datasets."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import ConcatDataset, Dataset

from keyscribe.alphabet import Alphabet
from keyscribe.builders import DomainSpec
from keyscribe.config import to_dataclass
from keyscribe.data.batch import Sample
from keyscribe.emg.channels import num_channels
from keyscribe.emg.config import EmgExperimentConfig
from keyscribe.emg.dataset import (
    WindowedSessionDataset,
    data_transforms,
    eval_channel_projection,
    index_sessions,
    split_datasets,
)
from keyscribe.emg.frontend import EmgSpectrogramFrontend
from keyscribe.emg.keys import EMG_ALPHABET, lm_view
from keyscribe.emg.session import NUM_BANDS
from keyscribe.emg.transforms import LogSpectrogram
from keyscribe.errors import ConfigError, DataError


@dataclass
class FrontendOptions:
    """``model.frontend`` of sEMG experiments: the reference's rotation-invariant MLP."""

    kind: str = "spectrogram_mlp"
    mlp_features: list[int] = field(default_factory=lambda: [384])
    pooling: str = "mean"  # over electrode rotations
    offsets: list[int] = field(default_factory=lambda: [-1, 0, 1])  # electrode rotations pooled


def _frontend(cfg: EmgExperimentConfig) -> EmgSpectrogramFrontend:
    options: Any = to_dataclass(cfg.model.frontend, FrontendOptions, None)
    if options.kind != "spectrogram_mlp":
        raise ConfigError(None, f"model.frontend.kind must be 'spectrogram_mlp' for emg, got '{options.kind}'")
    return EmgSpectrogramFrontend(
        num_bands=NUM_BANDS,
        channels=num_channels(cfg.data),
        freq_bins=cfg.data.n_fft // 2 + 1,
        mlp_features=options.mlp_features,
        pooling=options.pooling,
        offsets=options.offsets,
    )


def _eval_dataset(cfg: EmgExperimentConfig, path: Path, alphabet: Alphabet) -> Dataset[Sample]:
    """Whole sessions from one file, a split folder, or a metadata-indexed root (test split)."""
    if not path.exists():
        raise DataError(path, "file not found")
    _, tf = data_transforms(cfg.data, eval_channel_projection(cfg.data))
    if path.is_file() and path.suffix != ".csv":
        return WindowedSessionDataset(path, tf, None, padding=(0, 0), min_samples=cfg.data.n_fft)
    entries = index_sessions(path) if path.is_dir() else index_sessions(path.parent, path)
    tests = [e for e in entries if e.split == "test"] or entries
    return ConcatDataset(
        [WindowedSessionDataset(e.path, tf, None, padding=(0, 0), min_samples=cfg.data.n_fft) for e in tests]
    )


def _example_input(cfg: EmgExperimentConfig) -> Tensor:
    """One padded training window's spectrogram ``(1, frames, band, channel, freq)``, zeros."""
    d = cfg.data
    frames = LogSpectrogram(d.n_fft, d.hop_length).num_frames(d.window_length + sum(d.padding))
    return torch.zeros(1, frames, NUM_BANDS, num_channels(d), d.n_fft // 2 + 1)


SPEC = DomainSpec(
    schema=EmgExperimentConfig,
    alphabet=lambda cfg: EMG_ALPHABET,
    frontend=_frontend,
    datasets=lambda cfg, alphabet: split_datasets(cfg.data),
    eval_dataset=_eval_dataset,
    frame_scale=lambda cfg: cfg.data.frame_scale,
    example_input=_example_input,
    lm_view=lm_view,
)
