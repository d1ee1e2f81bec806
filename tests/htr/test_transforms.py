"""Preprocessing (height, [-1, 1], ink high) and seeded augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from keyscribe.htr.transforms import (
    AugmentConfig,
    augment_line,
    prepare_line,
    resize_to_height,
    stretch_contrast,
    to_tensor,
)


def test_resize_keeps_aspect_ratio_and_grayscale(lines_dir: Path) -> None:
    image = Image.open(lines_dir / "12_dbc9b_default_l008.jpg").convert("RGB")
    line = resize_to_height(image, 60)
    assert line.mode == "L" and line.height == 60
    assert abs(line.width - image.width * 60 / image.height) <= 1


def test_values_in_minus_one_one_with_ink_high() -> None:
    line = np.full((4, 6), 255, dtype=np.uint8)
    line[:, 2] = 0  # a black stroke on white paper
    x = to_tensor(line)
    assert tuple(x.shape) == (6, 1, 4)  # (width, 1, height): collate pads the width
    assert x.min() == -1.0 and x.max() == 1.0
    assert (x[2] == 1.0).all() and (x[0] == -1.0).all()


def test_augmentation_is_seeded_and_keeps_the_height(lines_dir: Path) -> None:
    line = resize_to_height(Image.open(lines_dir / "50_df850_default_l020.jpg"), 48)
    cfg = AugmentConfig(enabled=True, p=1.0)
    a = augment_line(line, np.random.default_rng(7), cfg)
    b = augment_line(line, np.random.default_rng(7), cfg)
    c = augment_line(line, np.random.default_rng(8), cfg)
    assert np.array_equal(a, b) and a.dtype == np.uint8
    assert a.shape[0] == 48 and c.shape[0] == 48
    assert not np.array_equal(a, c)
    # the ink survives: strokes stay darker than the paper (this line is light pencil)
    original = np.asarray(line)
    assert np.percentile(a, 1) < np.median(a) - 15
    assert abs(np.median(a) - np.median(original)) < 10


def test_contrast_stretch_makes_faint_ink_black_on_white() -> None:
    rng = np.random.default_rng(0)
    faint = np.clip(rng.normal(195, 2, (20, 80)), 0, 255).astype(np.uint8)  # grey paper
    faint[8:12, 10:70] = 130  # faint ink
    out = stretch_contrast(faint)
    assert out.dtype == np.uint8 and out.shape == faint.shape
    assert np.percentile(out, 90) >= 250 and out[8:12, 10:70].max() <= 10
    blank = np.clip(rng.normal(200, 2, (20, 80)), 0, 255).astype(np.uint8)
    assert stretch_contrast(blank).min() > 200  # paper noise is not stretched into strokes


def test_prepare_line_normalizes_only_when_asked(lines_dir: Path) -> None:
    image = Image.open(lines_dir / "50_df850_default_l020.jpg")  # light pencil
    plain = prepare_line(image, 32)
    stretched = prepare_line(image, 32, "contrast")
    assert np.array_equal(plain, np.asarray(resize_to_height(image, 32)))
    assert stretched.shape == plain.shape
    assert np.percentile(stretched, 1) < np.percentile(plain, 1)
