from collections import Counter

import numpy as np
import torch
from torch import Tensor

from keyscribe.emg.transforms import AlignmentJitter, BandRotation, LogSpectrogram, SpecAugment


def test_log_spectrogram_matches_direct_formula() -> None:
    torch.manual_seed(0)
    emg = torch.randn(8000, 2, 16)
    spec = LogSpectrogram(64, 16)(emg)
    assert spec.shape == (497, 2, 16, 33)  # (8000 - 64) // 16 + 1 frames at 125 Hz
    # Direct: periodic Hann, no centring, |FFT|^2 / sum(w^2), log10(x + 1e-6).
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(64) / 64)
    x = emg[:, 1, 5].double().numpy()
    frame = x[16 * 7 : 16 * 7 + 64] * w
    power = np.abs(np.fft.rfft(frame)) ** 2 / (w**2).sum()
    np.testing.assert_allclose(spec[7, 1, 5].numpy(), np.log10(power + 1e-6), rtol=1e-4, atol=1e-4)


def test_band_rotation_and_jitter_shapes() -> None:
    emg = torch.arange(100 * 32, dtype=torch.float32).reshape(100, 2, 16)
    rotated = BandRotation((1,))(emg)
    assert torch.equal(rotated[:, :, 1], emg[:, :, 0])
    torch.manual_seed(3)
    jittered = AlignmentJitter(10)(emg)
    shift = 100 - jittered.shape[0]
    assert 0 <= shift <= 10 and jittered.shape[1:] == (2, 16)


def test_spec_augment_masks_within_limits() -> None:
    torch.manual_seed(0)
    spec = torch.ones(200, 2, 16, 33)
    masked_any = False
    for _ in range(20):
        out = SpecAugment(3, 25, 2, 4)(spec)
        assert out.shape == spec.shape
        masked_frames = (out == 0).all(dim=-1).sum(dim=0)  # (band, channel)
        masked_bins = (out == 0).all(dim=0).sum(dim=-1)
        assert masked_frames.max() <= 3 * 25 and masked_bins.max() <= 2 * 4
        if masked_frames.sum() > 0:
            masked_any = True
            # masks are drawn per band and channel
            assert not torch.equal(out[:, 0, 0], out[:, 1, 3]) or not torch.equal(
                out[:, 0, 1], out[:, 1, 5]
            )
    assert masked_any


def _offset(rotated: Tensor, band: Tensor) -> int:
    """The roll (-1, 0 or 1) that maps ``band`` (time, channel) onto ``rotated``."""
    return next(k for k in (-1, 0, 1) if torch.equal(rotated, band.roll(k, dims=-1)))


def test_band_rotation_draws_an_independent_offset_per_band() -> None:
    torch.manual_seed(0)
    emg = torch.arange(10 * 32, dtype=torch.float32).reshape(10, 2, 16)
    pairs = Counter()
    for _ in range(450):
        out = BandRotation((-1, 0, 1))(emg)
        pairs[(_offset(out[:, 0], emg[:, 0]), _offset(out[:, 1], emg[:, 1]))] += 1
    # all nine (left, right) combinations, each near 1/9 of the draws (50 expected)
    assert sorted(pairs) == [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)]
    assert min(pairs.values()) > 25 and max(pairs.values()) < 80


def test_spec_augment_draws_0_to_n_masks_of_each_kind(monkeypatch) -> None:
    from keyscribe.emg import transforms

    calls: list[int] = []
    real = transforms._mask_last_axis

    def counting(x: Tensor, param: int) -> Tensor:
        calls.append(param)
        return real(x, param)

    monkeypatch.setattr(transforms, "_mask_last_axis", counting)
    torch.manual_seed(0)
    spec = torch.ones(60, 2, 16, 33)
    time_counts, freq_counts = Counter(), Counter()
    for _ in range(400):
        calls.clear()
        SpecAugment(3, 25, 2, 4)(spec)
        time_counts[calls.count(25)] += 1
        freq_counts[calls.count(4)] += 1
    assert sorted(time_counts) == [0, 1, 2, 3] and sorted(freq_counts) == [0, 1, 2]
    assert min(time_counts.values()) > 60 and min(freq_counts.values()) > 90  # 100 / 133 expected


def test_spec_augment_leaves_some_windows_unmasked() -> None:
    # no masks drawn (probability 1/4 for time masks alone) leaves the window as it was
    torch.manual_seed(1)
    spec = torch.ones(60, 2, 16, 33)
    untouched = sum(torch.equal(SpecAugment(3, 25, 0, 0)(spec), spec) for _ in range(200))
    assert 25 <= untouched <= 80  # 50 expected
