import numpy as np
import torch

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
    out = SpecAugment(3, 25, 2, 4)(spec)
    assert out.shape == spec.shape
    masked_frames = (out == 0).all(dim=-1).sum(dim=0)  # (band, channel)
    assert masked_frames.max() <= 3 * 25 and masked_frames.sum() > 0
    masked_bins = (out == 0).all(dim=0).sum(dim=-1)
    assert masked_bins.max() <= 2 * 4 and masked_bins.sum() > 0
    assert not torch.equal(out[:, 0, 0], out[:, 1, 3])  # masks are drawn per band and channel
