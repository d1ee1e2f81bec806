"""sEMG signal transforms of the emg2qwerty reference pipeline.

The log-spectrogram is the reference's formula; the random augmentations draw from the same
distributions as the reference's (band rotation: one offset per band; SpecAugment: 0..n masks of
each kind, each mask drawn per band and channel), from torch's global generator rather than
numpy's, so the same seed does not give the reference's exact draws. Lightning seeds that
generator per worker (``seed_everything(workers=True)``).

Raw EMG windows are ``(time, band=2, channel=16)`` float32 at 2 kHz; spectrograms are
``(frames, band, channel, freq)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import signal
from torch import Tensor


@dataclass
class LogSpectrogram:
    """log10(|STFT|^2 / ||window||^2 + 1e-6) per channel: (time, ...) -> (frames, ..., freq).

    ``center=False`` (no padding) so that training windows and streamed chunks see the same
    frames; with n_fft 64 and hop 16 at 2 kHz this gives 33 bins at 125 Hz.
    """

    n_fft: int = 64
    hop_length: int = 16

    BLOCK_FRAMES = 256  # frames transformed at a time (~2 MB of windowed samples)

    def __call__(self, emg: Tensor) -> Tensor:
        # Frames are strided views of the (time, channels) samples, transformed a block at a time
        # straight into the (frames, channels, freq) result: a whole 4,096-frame chunk's complex
        # spectrum at once (36 MB) outgrows the cache and runs ~3x slower, and torch.stft's
        # (channels, freq, frames) layout would need a transposed copy after.
        lead = emg.shape[1:]
        x = emg.reshape(emg.shape[0], -1).float()  # (time, channels)
        freq = self.n_fft // 2 + 1
        num_frames = self.num_frames(x.shape[0])
        out = x.new_empty(num_frames, x.shape[1], freq)
        if num_frames == 0:
            return out.view(0, *lead, freq)
        window = torch.hann_window(self.n_fft, periodic=True, dtype=x.dtype, device=x.device)
        scale = 1.0 / float(window.pow(2).sum())
        frames = x.unfold(0, self.n_fft, self.hop_length)  # (frames, channels, n_fft), a view
        for f0 in range(0, num_frames, self.BLOCK_FRAMES):
            f1 = min(f0 + self.BLOCK_FRAMES, num_frames)
            parts = torch.view_as_real(torch.fft.rfft(frames[f0:f1] * window))  # (..., freq, 2)
            # |X|^2 as re^2 + im^2: the complex abs (a hypot per bin, then squared) costs more
            power = torch.addcmul(parts[..., 0].square(), parts[..., 1], parts[..., 1])
            torch.log10(power.mul_(scale).add_(1e-6), out=out[f0:f1])
        return out.view(num_frames, *lead, freq)  # (frames, ..., freq)

    def num_frames(self, num_samples: int) -> int:
        return max(0, (num_samples - self.n_fft) // self.hop_length + 1)


@dataclass
class BandRotation:
    """Roll each band's electrodes by its own random offset (each band may sit rotated on its
    wrist independently of the other): the reference wraps its rotation in ``ForEach`` over the
    band axis. (time, band, channel) -> same shape.
    """

    offsets: tuple[int, ...] = (-1, 0, 1)

    def __call__(self, emg: Tensor) -> Tensor:
        if not self.offsets:
            return emg
        picks = torch.randint(len(self.offsets), (emg.shape[1],))  # (band,)
        return torch.stack(
            [
                band.roll(self.offsets[int(i)], dims=-1)
                for band, i in zip(emg.unbind(1), picks, strict=True)
            ],
            dim=1,
        )


@dataclass
class AlignmentJitter:
    """Shift the right band against the left by up to ``max_offset`` samples, trimming both.

    (time, band=2, channel) -> (time - |offset|, 2, channel).
    """

    max_offset: int = 120

    def __call__(self, emg: Tensor) -> Tensor:
        if self.max_offset <= 0:
            return emg
        offset = int(torch.randint(-self.max_offset, self.max_offset + 1, ()).item())
        left, right = emg.unbind(1)
        if offset > 0:
            left, right = left[offset:], right[:-offset]
        elif offset < 0:
            left, right = left[:offset], right[-offset:]
        return torch.stack([left, right], dim=1)


def _mask_last_axis(x: Tensor, param: int) -> Tensor:
    """Zero one random span (length uniform in [0, param)) of the last axis of x
    ``(band, channel, other, axis)``, drawn independently per band and channel."""
    size = x.shape[-1]
    value = torch.rand(x.shape[:2]) * param  # (band, channel)
    start = torch.rand(x.shape[:2]) * (size - value)
    lo, hi = start.long(), (start + value).long()
    pos = torch.arange(size)
    mask = (pos >= lo[..., None]) & (pos < hi[..., None])  # (band, channel, axis)
    return x.masked_fill(mask[:, :, None, :], 0.0)


@dataclass
class SpecAugment:
    """Time and frequency masks (SpecAugment, Park et al. 2019) as the reference applies them:
    each call draws how many masks of each kind, uniformly in ``0..n_time_masks`` and
    ``0..n_freq_masks``; each mask's span is then drawn independently per band and channel.

    (frames, band, channel, freq) -> same shape.
    """

    n_time_masks: int = 3
    time_mask_param: int = 25
    n_freq_masks: int = 2
    freq_mask_param: int = 4

    def __call__(self, spec: Tensor) -> Tensor:
        x = spec.permute(1, 2, 3, 0)  # (band, channel, freq, frames)
        for _ in range(int(torch.randint(self.n_time_masks + 1, ()).item())):
            x = _mask_last_axis(x, self.time_mask_param)
        x = x.transpose(2, 3)  # (band, channel, frames, freq)
        for _ in range(int(torch.randint(self.n_freq_masks + 1, ()).item())):
            x = _mask_last_axis(x, self.freq_mask_param)
        return x.permute(2, 0, 1, 3)  # (frames, band, channel, freq)


def down_up(emg: np.ndarray, factor: int) -> np.ndarray:
    """Down-Up noise injection (semg-long-range-dependency, section 2.1 and Figure 1).

    Low-pass filter and keep every ``factor``-th sample (``scipy.signal.decimate``, zero-phase
    FIR anti-aliasing filter: 2 kHz -> 1 kHz for 2, -> 500 Hz for 4), then linearly interpolate
    back to the original sample times. Content above the new Nyquist frequency is removed and
    interpolation adds small images of what remains: a discrete temporal distortion.
    (time, ...) float -> same shape, float32.
    """
    n = emg.shape[0]
    if factor <= 1:
        return emg.astype(np.float32, copy=False)
    low = signal.decimate(emg, factor, ftype="fir", axis=0, zero_phase=True)  # (ceil(n / f), ...)
    pos = np.arange(n) / factor  # original sample times on the decimated grid
    i0 = np.minimum(pos.astype(np.int64), len(low) - 1)
    i1 = np.minimum(i0 + 1, len(low) - 1)
    frac = (pos - i0).reshape(-1, *([1] * (emg.ndim - 1)))
    return (low[i0] * (1 - frac) + low[i1] * frac).astype(np.float32)


@dataclass
class DownUp:
    """On-the-fly Down-Up: with ``probability``, apply :func:`down_up` with a factor drawn from
    ``factors``. (time, band, channel) -> same shape."""

    factors: tuple[int, ...] = (2,)
    probability: float = 0.5

    def __call__(self, emg: Tensor) -> Tensor:
        if not self.factors or torch.rand(()).item() >= self.probability:
            return emg
        factor = self.factors[int(torch.randint(len(self.factors), ()).item())]
        return torch.from_numpy(down_up(emg.numpy(), factor))


@dataclass
class ChannelProjection:
    """Per-band linear map of the electrodes: ``weights`` (band, k, channel) takes
    (time, band, channel) -> (time, band, k). One-hot rows select channels (the paper's
    channel-count study, random selection); principal axes give PCA components."""

    weights: Tensor

    def __call__(self, emg: Tensor) -> Tensor:
        return torch.einsum("tbc,bkc->tbk", emg, self.weights.to(emg.dtype))
