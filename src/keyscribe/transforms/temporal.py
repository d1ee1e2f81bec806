"""Temporal random crop (semg-long-range-dependency, section 2.1): remove one random span of
frames and stretch the rest back to the original length, a continuous temporal distortion that
leaves every frequency bin's content intact."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


def crop_and_resize(x: Tensor, start: int, crop_frames: int) -> Tensor:
    """Drop frames ``[start, start + crop_frames)`` of ``x`` ``(time, ...)`` and resize the
    remaining ``time - crop_frames`` frames back to ``time`` by linear interpolation along time
    (per feature; the first and last frames stay where they were)."""
    T = x.shape[0]
    kept = torch.cat([x[:start], x[start + crop_frames :]])  # (time - crop, ...)
    flat = kept.reshape(kept.shape[0], -1).T[None]  # (1, features, time - crop)
    resized = torch.nn.functional.interpolate(
        flat.float(), size=T, mode="linear", align_corners=True
    )
    return resized[0].T.reshape(T, *x.shape[1:]).to(x.dtype)  # (time, ...)


@dataclass
class RandomTemporalCrop:
    """Remove a random span of ``crop_frames`` frames, resize back: (time, ...) -> same shape.

    The paper's crop_size 25 (200 ms at 125 Hz) and 40 (320 ms). Applied with ``probability``;
    inputs of at most ``crop_frames + 1`` frames are returned unchanged. The start is drawn from
    torch's global generator, which Lightning seeds per worker.
    """

    crop_frames: int = 25
    probability: float = 1.0

    def __call__(self, x: Tensor) -> Tensor:
        T = x.shape[0]
        if self.crop_frames <= 0 or self.crop_frames + 1 >= T:
            return x
        if self.probability < 1.0 and torch.rand(()).item() >= self.probability:
            return x
        start = int(torch.randint(T - self.crop_frames + 1, ()).item())
        return crop_and_resize(x, start, self.crop_frames)
