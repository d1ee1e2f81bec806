"""Data options of the sEMG domain (units in the names: samples at 2 kHz, frames at hop)."""

from __future__ import annotations

from dataclasses import dataclass, field

from keyscribe.config import ExperimentConfig


@dataclass
class SpecAugmentConfig:
    n_time_masks: int = 3
    time_mask_param: int = 25  # frames (200 ms at hop 16)
    n_freq_masks: int = 2
    freq_mask_param: int = 4  # bins


@dataclass
class EmgDataConfig:
    # Validation uses windows with padding; test uses whole sessions, as the reference.
    root: str = "data/synth"  # folder with metadata.csv, or train/ val/ test/ subfolders
    metadata: str | None = None  # CSV with session,user,split; default root/metadata.csv
    users: list[str] = field(default_factory=list)  # keep only these users; empty keeps all
    window_length: int = 8000  # samples (4 s at 2 kHz)
    stride: int | None = None  # samples; None = window_length (no overlap)
    padding: list[int] = field(default_factory=lambda: [1800, 200])  # left, right context samples
    batch_size: int = 32
    num_workers: int = 0
    n_fft: int = 64
    hop_length: int = 16  # samples per frame (125 Hz)
    band_rotation: list[int] = field(default_factory=lambda: [-1, 0, 1])  # training offsets
    jitter_max_offset: int = 120  # samples of left/right band misalignment in training
    window_jitter: bool = True  # random window start within one stride in training
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)


@dataclass
class EmgExperimentConfig(ExperimentConfig):
    domain: str = "emg"
    data: EmgDataConfig = field(default_factory=EmgDataConfig)
