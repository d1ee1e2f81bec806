"""Data options of the sEMG domain (units in the names: samples at 2 kHz, frames at hop)."""

from __future__ import annotations

from dataclasses import dataclass, field

from keyscribe.config import ExperimentConfig
from keyscribe.errors import ConfigError


@dataclass
class SpecAugmentConfig:
    n_time_masks: int = 3  # at most; each window draws 0..n, as the reference
    time_mask_param: int = 25  # frames (200 ms at hop 16)
    n_freq_masks: int = 2  # at most; each window draws 0..n, as the reference
    freq_mask_param: int = 4  # bins


@dataclass
class ChannelConfig:
    """Which electrodes each band keeps (channel-count study and its "future directions")."""

    count: int = 16  # channels (or PCA components) kept per band
    # first: electrodes 0..count-1 (the paper's study); random: ``count`` electrodes drawn with
    # ``seed``; pca: ``count`` principal components of the raw training EMG
    selection: str = "first"
    indices: list[int] = field(default_factory=list)  # explicit electrodes; overrides count/selection
    seed: int = 0  # draws the electrodes of selection: random

    def __post_init__(self) -> None:
        if self.selection not in ("first", "random", "pca"):
            raise ConfigError(None, f"data.channels.selection must be first, random or pca, got '{self.selection}'")
        if not 1 <= self.count <= 16 or any(not 0 <= i < 16 for i in self.indices):
            raise ConfigError(None, "data.channels: count must be 1..16 and indices 0..15")


@dataclass
class DownUpConfig:
    """Down-Up noise injection: decimate by a factor (anti-aliased), interpolate back to 2 kHz."""

    factors: list[int] = field(default_factory=list)  # e.g. [2] (-> 1 kHz) or [4] (-> 500 Hz); empty: off
    # boost: add one transformed copy of every training session per factor to the training set,
    # cached on disk (the paper's "Down-Up Boosted Dataset"); online: transform training windows
    mode: str = "boost"
    probability: float = 0.5  # online: chance that a window is transformed

    def __post_init__(self) -> None:
        if self.mode not in ("boost", "online") or any(f < 2 for f in self.factors):
            raise ConfigError(None, "data.down_up: mode must be boost or online, factors >= 2")


@dataclass
class TemporalCropConfig:
    """Temporal random crop of the log-spectrogram (paper: crop_size 25 or 40 frames)."""

    crop_frames: int = 0  # frames at reference_hop_length removed per window; 0: off
    probability: float = 1.0  # chance that a training window is cropped


@dataclass
class EmgDataConfig:
    # Validation uses windows with padding; test uses whole sessions, as the reference.
    root: str = "data/synth"  # folder with <session>.hdf5 + metadata.csv, or train/ val/ test/
    metadata: str | None = None  # CSV with session,user[,split]; default root/metadata.csv
    # an emg2qwerty split file (the benchmark's config/user/generic.yaml, user0.yaml, ...):
    # its train / val / test sessions, at root/<session>.hdf5; empty: metadata.csv's split
    # column, or the train/ val/ test/ folders
    splits: str = ""
    users: list[str] = field(default_factory=list)  # keep only these users; empty keeps all
    window_length: int = 8000  # samples (4 s at 2 kHz)
    stride: int | None = None  # samples; None = window_length (no overlap)
    padding: list[int] = field(default_factory=lambda: [1800, 200])  # left, right context samples
    batch_size: int = 32  # training windows per optimiser step
    num_workers: int = 0  # data loader processes; 0: load in the training process
    n_fft: int = 64  # samples per STFT window (33 frequency bins)
    hop_length: int = 16  # samples per frame (125 Hz)
    band_rotation: list[int] = field(default_factory=lambda: [-1, 0, 1])  # training offsets
    jitter_max_offset: int = 120  # samples of left/right band misalignment in training
    window_jitter: bool = True  # random window start within one stride in training
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)
    # Studies of semg-long-range-dependency; the defaults keep the reference pipeline.
    # Sizes in frames (TDS kernels, time masks, crops) are given at this hop and rescaled to
    # hop_length (hop-length study: the model keeps its span in ms); 0: never rescale.
    reference_hop_length: int = 16
    channels: ChannelConfig = field(default_factory=ChannelConfig)
    down_up: DownUpConfig = field(default_factory=DownUpConfig)
    temporal_crop: TemporalCropConfig = field(default_factory=TemporalCropConfig)
    train_fraction: float = 1.0  # seeded fraction of training windows kept (data-size study)
    train_fraction_seed: int = 0  # draws the kept windows
    cache_dir: str = ""  # derived data (Down-Up copies, PCA); empty: <root>/.keyscribe-cache

    def __post_init__(self) -> None:
        if not 0.0 < self.train_fraction <= 1.0:
            raise ConfigError(None, f"data.train_fraction must be in (0, 1], got {self.train_fraction}")

    def frames(self, frames_at_reference_hop: int) -> int:
        """A size given in frames at reference_hop_length, in frames at hop_length."""
        return max(1, round(frames_at_reference_hop * self.frame_scale)) if frames_at_reference_hop else 0

    @property
    def frame_scale(self) -> float:
        return self.reference_hop_length / self.hop_length if self.reference_hop_length else 1.0


@dataclass
class EmgExperimentConfig(ExperimentConfig):
    domain: str = "emg"  # emg | htr: which domain's data options and model parts apply
    data: EmgDataConfig = field(default_factory=EmgDataConfig)
