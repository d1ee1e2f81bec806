import torch

from keyscribe.transforms.temporal import RandomTemporalCrop, crop_and_resize


def test_crop_keeps_length_and_shape() -> None:
    torch.manual_seed(0)
    x = torch.randn(100, 2, 3, 5)
    for crop in (25, 40):
        assert RandomTemporalCrop(crop)(x).shape == x.shape


def test_crop_removes_the_span_and_stretches_the_rest() -> None:
    ramp = torch.arange(100, dtype=torch.float32)[:, None]  # (time, 1): value = frame index
    out = crop_and_resize(ramp, start=50, crop_frames=25)[:, 0]
    assert out[0] == 0 and out[-1] == 99  # ends stay put
    assert (
        (out > 49) & (out < 75)
    ).sum() <= 1  # the removed span is gone (one frame bridges the cut)
    # Kept frames 0..49 are stretched over 100 / 75 as many frames: frame 33 shows ~24.75.
    torch.testing.assert_close(out[33], torch.tensor(33 * 74 / 99))
    assert (out.diff() >= 0).all()  # order preserved, no discontinuity beyond the cut


def test_crop_content_before_the_span_only_shifts() -> None:
    torch.manual_seed(1)
    x = torch.randn(60, 4)
    out = crop_and_resize(x, start=59, crop_frames=1)  # drop the last frame: resample 59 -> 60
    torch.testing.assert_close(out[0], x[0])
    torch.testing.assert_close(out[-1], x[58])


def test_crop_is_random_and_optional() -> None:
    x = torch.arange(80, dtype=torch.float32)[:, None]
    torch.manual_seed(0)
    a = RandomTemporalCrop(25)(x)
    b = RandomTemporalCrop(25)(x)
    assert not torch.equal(a, b)
    assert torch.equal(RandomTemporalCrop(25, probability=0.0)(x), x)
    assert torch.equal(RandomTemporalCrop(25)(x[:20]), x[:20])  # too short to crop
