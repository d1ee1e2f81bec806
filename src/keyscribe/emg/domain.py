"""The sEMG domain as the core sees it: alphabet, front end, datasets."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import ConcatDataset, Dataset

from keyscribe.alphabet import Alphabet
from keyscribe.config import to_options
from keyscribe.data.batch import Sample
from keyscribe.domain import DomainSpec
from keyscribe.emg import reference
from keyscribe.emg.channels import num_channels
from keyscribe.emg.config import EmgExperimentConfig
from keyscribe.emg.dataset import (
    WindowedSessionDataset,
    data_transforms,
    eval_channel_projection,
    split_datasets,
)
from keyscribe.emg.frontend import EmgSpectrogramFrontend
from keyscribe.emg.keys import EMG_ALPHABET, lm_view, typed_result
from keyscribe.emg.keytimes import add_session_details
from keyscribe.emg.layout import index_sessions
from keyscribe.emg.session import NUM_BANDS, SAMPLE_RATE_HZ
from keyscribe.emg.streaming.whole_session import whole_session_results
from keyscribe.emg.transforms import LogSpectrogram
from keyscribe.errors import ConfigError, DataError


@dataclass
class FrontendOptions:
    """``model.frontend`` of sEMG experiments: the reference's rotation-invariant MLP."""

    kind: str = "spectrogram_mlp"  # the only sEMG front end
    mlp_features: list[int] = field(default_factory=lambda: [384])  # MLP widths per band
    pooling: str = "mean"  # over electrode rotations
    offsets: list[int] = field(default_factory=lambda: [-1, 0, 1])  # electrode rotations pooled


def build_frontend(cfg: EmgExperimentConfig) -> EmgSpectrogramFrontend:
    options: Any = to_options(cfg.model.frontend, FrontendOptions, "model.frontend")
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


def eval_dataset(
    cfg: EmgExperimentConfig, path: Path, alphabet: Alphabet, need_text: bool = False
) -> Dataset[Sample]:
    """Whole sessions from one file, a split folder, or a metadata-indexed root: its test split,
    or every session where it names none (the release's metadata.csv). Every session carries its
    reference keys, so ``need_text`` holds by itself."""
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


def example_input(cfg: EmgExperimentConfig) -> Tensor:
    """One padded training window's spectrogram ``(1, frames, band, channel, freq)``, zeros."""
    d = cfg.data
    frames = LogSpectrogram(d.n_fft, d.hop_length).num_frames(d.window_length + sum(d.padding))
    return torch.zeros(1, frames, NUM_BANDS, num_channels(d), d.n_fft // 2 + 1)


def build_alphabet(cfg: EmgExperimentConfig) -> Alphabet:
    """The reference's 99 classes whatever the config: reference checkpoints load as they are."""
    return EMG_ALPHABET


def build_datasets(cfg: EmgExperimentConfig, alphabet: Alphabet) -> dict[str, Dataset[Sample]]:
    return split_datasets(cfg.data)


def signal_seconds(cfg: EmgExperimentConfig, sample: Sample) -> float:
    """Seconds of EMG behind an item's spectrogram frames ``(frames, band, channel, freq)``."""
    return sample.inputs.shape[0] * cfg.data.hop_length / SAMPLE_RATE_HZ


def describe(result: dict[str, Any]) -> dict[str, Any]:
    """The text on screen after the keys (backspaces applied), decoded and reference."""
    return {
        "typed_text": typed_result(result["text"]),
        "reference_typed_text": typed_result(result["reference_text"]),
    }


def import_checkpoint(ckpt: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """An emg2qwerty checkpoint -> (config tree, state dict of our model), else None."""
    if not reference.is_reference_checkpoint(ckpt):
        return None
    return reference.reference_config_tree(ckpt), reference.convert_state_dict(ckpt["state_dict"])


SPEC = DomainSpec(
    name="emg",
    schema=EmgExperimentConfig,
    alphabet=build_alphabet,
    frontend=build_frontend,
    datasets=build_datasets,
    eval_dataset=eval_dataset,
    frame_scale=lambda cfg: cfg.data.frame_scale,
    example_input=example_input,
    fixed_alphabet=EMG_ALPHABET,
    lm_view=lm_view,
    default_lm="default",
    whole_item_log_probs=whole_session_results,
    signal_seconds=signal_seconds,
    describe=describe,
    import_checkpoint=import_checkpoint,
    item_details=add_session_details,
)
