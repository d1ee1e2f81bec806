"""Line-image preprocessing and training augmentation (Pillow, NumPy and PyTorch only).

Preprocessing (every split): grayscale, resize to a fixed height keeping the aspect ratio,
optionally a contrast stretch per line (``data.normalize: contrast``), then values in [-1, 1] with
ink high: ``x = 1 - 2 * pixel / 255`` (white paper -> -1, black ink -> +1),
the paper's normalisation with PyLaia's inversion, so right padding with the paper value -1 is
blank paper. Augmentation (training only) acts on the 8-bit line at the target height, drawn
from a NumPy generator that the dataset seeds per item from torch's seeded RNG, so runs repeat.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter
from torch import Tensor

PAPER_VALUE = -1.0  # normalised value of white paper, used for right padding


def resize_to_height(image: Image.Image, height: int, min_width: int = 8) -> Image.Image:
    """Grayscale line scaled to ``height`` px, aspect ratio kept (width >= ``min_width``)."""
    gray = image.convert("L")
    width = max(min_width, round(gray.width * height / max(1, gray.height)))
    if gray.size == (width, height):
        return gray
    return gray.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=2.0)


NORMALIZATIONS = ("none", "contrast")


def stretch_contrast(line: np.ndarray, min_range: float = 48.0) -> np.ndarray:
    """uint8 line -> uint8 line with its paper tone (90th percentile) white and its darkest ink
    (1st percentile) black.

    Why: scanned ink runs from faint grey on grey paper (peraire: ink ~130 on ~195) to black on
    white; stretched, every line reaches the network with one contrast. The stretch never exceeds
    255 / ``min_range``, so the noise of a nearly blank line is not blown up into strokes."""
    ink, paper = np.percentile(line, [1, 90])
    gain = 255.0 / max(float(paper - ink), min_range)
    out = 255.0 - (float(paper) - line.astype(np.float32)) * gain  # paper -> 255, ink -> ~0
    return np.clip(out, 0, 255).round().astype(np.uint8)


def prepare_line(image: Image.Image, height: int, normalize: str = "none") -> np.ndarray:
    """Any line image -> uint8 ``(height, width)``: grayscale, resized, optionally stretched."""
    line = np.asarray(resize_to_height(image, height))
    return stretch_contrast(line) if normalize == "contrast" else line


def to_tensor(line: np.ndarray) -> Tensor:
    """uint8 ``(height, width)`` -> float ``(width, 1, height)`` in [-1, 1], ink high.

    Width first, so that the shared collate pads lines on the right (along dim 0)."""
    x = 1.0 - torch.from_numpy(np.array(line, dtype=np.float32)) / 127.5  # (height, width)
    return x.t().unsqueeze(1).contiguous()  # (width, 1, height)


@dataclass
class AugmentConfig:
    """Per-line random distortions; each family fires with probability ``p``."""

    enabled: bool = False  # training lines only; evaluation never augments
    p: float = 0.5  # chance each distortion family fires on a line
    max_rotate_deg: float = 1.5  # small rotation
    max_slant: float = 0.35  # horizontal shear dx/dy (slant), both directions
    scale_x: list[float] = field(default_factory=lambda: [0.85, 1.15])  # width stretch range
    elastic_px: float = 2.0  # displacement amplitude of the elastic field, in pixels
    elastic_grid_px: int = 12  # spacing of the random displacement grid, in pixels
    blur_radius: list[float] = field(
        default_factory=lambda: [0.3, 1.0]
    )  # Gaussian blur sigma range
    noise_std: float = 8.0  # Gaussian pixel noise (0-255 scale), std drawn up to this
    morphology: bool = True  # 3x3 erosion or dilation of the strokes


def _paper_tone(arr: np.ndarray) -> int:
    return int(np.percentile(arr, 90))


def _affine(img: Image.Image, rng: np.random.Generator, cfg: AugmentConfig) -> Image.Image:
    """Slant, rotation and width stretch about the line centre; the canvas widens to keep the ink."""
    w, h = img.size
    slant = rng.uniform(-cfg.max_slant, cfg.max_slant)
    angle = np.deg2rad(rng.uniform(-cfg.max_rotate_deg, cfg.max_rotate_deg))
    sx = rng.uniform(cfg.scale_x[0], cfg.scale_x[1])
    cos, sin = np.cos(angle), np.sin(angle)
    # forward map: p' = A (p - c) + c', with A = R(angle) @ Shear(slant) @ Scale(sx, 1)
    a = (
        np.array([[cos, -sin], [sin, cos]])
        @ np.array([[1.0, slant], [0.0, 1.0]])
        @ np.diag([sx, 1.0])
    )
    new_w = max(8, int(round(w * sx + abs(slant) * h + abs(sin) * h)))
    inv = np.linalg.inv(a)
    c_in = np.array([w / 2, h / 2])
    c_out = np.array([new_w / 2, h / 2])
    offset = c_in - inv @ c_out
    coeffs = (inv[0, 0], inv[0, 1], offset[0], inv[1, 0], inv[1, 1], offset[1])
    fill = _paper_tone(np.asarray(img))
    return img.transform(
        (new_w, h), Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR, fillcolor=fill
    )


def _elastic(arr: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Smooth random displacement field (coarse grid, bicubically upsampled) via grid_sample."""
    h, w = arr.shape
    gh, gw = max(2, h // cfg.elastic_grid_px + 2), max(2, w // cfg.elastic_grid_px + 2)
    coarse = torch.from_numpy(
        rng.normal(0.0, cfg.elastic_px, size=(1, 2, gh, gw)).astype(np.float32)
    )
    shift = F.interpolate(
        coarse, size=(h, w), mode="bicubic", align_corners=True
    )  # (1, 2, h, w) pixels
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
    )
    gx = (xs + shift[0, 0]) / max(1, w - 1) * 2 - 1
    gy = (ys + shift[0, 1]) / max(1, h - 1) * 2 - 1
    grid = torch.stack([gx, gy], dim=-1)[None]  # (1, h, w, 2)
    fill = float(_paper_tone(arr))
    src = torch.from_numpy(arr.astype(np.float32))[None, None] - fill  # paper -> 0 for zero padding
    out = (
        F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=True)[0, 0]
        + fill
    )
    return out.clamp(0, 255).round().to(torch.uint8).numpy()


def augment_line(img: Image.Image, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """8-bit line at the target height -> distorted 8-bit line, same height (width may change)."""
    if rng.random() < cfg.p:
        img = _affine(img, rng, cfg)
    if cfg.morphology and rng.random() < cfg.p * 0.5:
        # dark ink on light paper: MinFilter thickens strokes, MaxFilter thins them
        img = img.filter(
            ImageFilter.MinFilter(3) if rng.random() < 0.5 else ImageFilter.MaxFilter(3)
        )
    if rng.random() < cfg.p * 0.5:
        img = img.filter(
            ImageFilter.GaussianBlur(rng.uniform(cfg.blur_radius[0], cfg.blur_radius[1]))
        )
    arr = np.asarray(img)
    if cfg.elastic_px > 0 and rng.random() < cfg.p:
        arr = _elastic(arr, rng, cfg)
    if cfg.noise_std > 0 and rng.random() < cfg.p:
        noise = rng.normal(0.0, rng.uniform(0, cfg.noise_std), size=arr.shape)
        arr = np.clip(arr.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return arr
