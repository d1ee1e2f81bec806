"""Electrode selection per band: the paper's channel-count study (first k electrodes), random
selection and PCA (its "future directions"), as a :class:`ChannelProjection` of raw EMG."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from keyscribe.atomic import atomic_write_bytes
from keyscribe.emg.config import EmgDataConfig
from keyscribe.emg.session import CHANNELS_PER_BAND, NUM_BANDS, EmgSession
from keyscribe.emg.transforms import ChannelProjection

PCA_SAMPLES_PER_SESSION = 60_000  # 30 s of EMG per training session is plenty for 16x16 covariances


def num_channels(cfg: EmgDataConfig) -> int:
    """Channels per band the front end sees."""
    return len(cfg.channels.indices) or cfg.channels.count


def selected_electrodes(cfg: EmgDataConfig) -> list[int]:
    """Electrode indices kept per band (first / random / explicit selection)."""
    ch = cfg.channels
    if ch.indices:
        return list(ch.indices)
    if ch.selection == "random":
        rng = np.random.default_rng(ch.seed)
        return sorted(int(i) for i in rng.choice(CHANNELS_PER_BAND, ch.count, replace=False))
    return list(range(ch.count))


def one_hot_weights(indices: Sequence[int]) -> torch.Tensor:
    """(band, k, channel) weights that pick ``indices`` from every band."""
    w = torch.zeros(NUM_BANDS, len(indices), CHANNELS_PER_BAND)
    for row, i in enumerate(indices):
        w[:, row, i] = 1.0
    return w


def fit_pca(paths: Sequence[Path], count: int, seed: int = 0) -> np.ndarray:
    """Per-band principal axes of raw EMG from seeded excerpts of ``paths``:
    (band, count, channel), rows in order of explained variance."""
    rng = np.random.default_rng(seed)
    excerpts = []
    for path in paths:
        with EmgSession(path) as session:
            n = min(PCA_SAMPLES_PER_SESSION, len(session))
            start = int(rng.integers(0, len(session) - n + 1))
            excerpts.append(session.read(start, start + n)[0])  # (n, band, channel)
    emg = np.concatenate(excerpts).astype(np.float64)
    axes = []
    for band in range(NUM_BANDS):
        x = emg[:, band] - emg[:, band].mean(axis=0)
        _, vectors = np.linalg.eigh(x.T @ x / len(x))  # ascending eigenvalues
        v = vectors[:, ::-1][:, :count].T  # (count, channel)
        axes.append(v * np.sign(v[:, :1] + 1e-12))  # deterministic sign
    return np.stack(axes).astype(np.float32)


def channel_projection(
    cfg: EmgDataConfig, train_paths: Sequence[Path], cache_dir: Path
) -> ChannelProjection | None:
    """The projection ``cfg.channels`` asks for; None when every electrode is kept as is.
    PCA axes are cached in ``cache_dir`` keyed by the training sessions, count and seed."""
    ch = cfg.channels
    if ch.selection != "pca" or ch.indices:
        indices = selected_electrodes(cfg)
        return (
            None
            if indices == list(range(CHANNELS_PER_BAND))
            else ChannelProjection(one_hot_weights(indices))
        )
    names = ",".join(sorted(p.name for p in train_paths))
    key = hashlib.sha1(f"{names}|{ch.count}|{ch.seed}".encode()).hexdigest()[:12]
    cached = cache_dir / f"pca-{ch.count}-{key}.npy"
    if cached.exists():
        axes = np.load(cached)
    else:
        axes = fit_pca(train_paths, ch.count, ch.seed)
        buffer = io.BytesIO()
        np.save(buffer, axes)
        atomic_write_bytes(cached, buffer.getvalue())
    return ChannelProjection(torch.from_numpy(axes))
