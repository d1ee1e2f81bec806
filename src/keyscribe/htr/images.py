"""Page and line images: which files are images, decoding them as shown, cutting a line out of a
page by its polygon.

Shared by the line readers (:mod:`keyscribe.htr.lines`), the page readers and writers
(:mod:`keyscribe.htr.pages`) and line extraction, so that none of them imports another for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from keyscribe.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
CROP_MARGIN_PX = 4  # margin around a line polygon's box, as the shared sets were cut
MIN_LINE_PX = 2  # a crop thinner than this (after clipping to the page) is not a line


def open_image(path: Path) -> Image.Image:
    """Decoded, EXIF-oriented 8-bit image (see :func:`to_8bit`); a missing, corrupt, empty or
    decompression-bomb-sized file raises DataError."""
    if not path.is_file():
        raise DataError(path, "image file missing")
    try:
        with Image.open(path) as im:
            im.load()
            image = ImageOps.exif_transpose(im)
    except Image.DecompressionBombError:
        raise DataError(path, "image too large (over Pillow's decompression-bomb limit)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(path, f"unreadable image ({exc.__class__.__name__})") from None
    if image.width < 1 or image.height < 1:
        raise DataError(path, "empty image")
    return to_8bit(image)


def to_8bit(image: Image.Image) -> Image.Image:
    """An image whose ``convert("L")`` means what it shows: 16/32-bit integer images scaled to
    8 bits (Pillow clips them, so a 16-bit scan would turn white), float images in [0, 1] scaled
    by 255, transparent pixels composited over white paper (not black)."""
    if image.mode.startswith("I") or image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        top = values.max(initial=0.0)
        if image.mode == "F" and top <= 1.0:
            values = values * 255.0
        elif top > 255.0:
            values = values / (257.0 if top <= 65535.0 else top / 255.0)
        return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(paper, rgba).convert("RGB")
    return image


def crop_box(
    polygon: Sequence[tuple[float, float]], page_size: tuple[int, int]
) -> tuple[int, int, int, int]:
    """``(left, top, right, bottom)`` page pixels of a line's crop: the polygon's box plus
    ``CROP_MARGIN_PX``, clipped to the page (may be empty for a line off the page). Positions
    found in the crop map back to the page by adding ``left`` and ``top``."""
    xs = [p[0] for p in polygon]
    ys = [p[1] for p in polygon]
    left, top = crop_origin(polygon)
    return (
        left,
        top,
        min(page_size[0], int(max(xs)) + 1 + CROP_MARGIN_PX),
        min(page_size[1], int(max(ys)) + 1 + CROP_MARGIN_PX),
    )


def crop_origin(polygon: Sequence[tuple[float, float]]) -> tuple[int, int]:
    """The page pixel at a line crop's top-left corner (see :func:`crop_box`)."""
    return (
        max(0, int(min(p[0] for p in polygon)) - CROP_MARGIN_PX),
        max(0, int(min(p[1] for p in polygon)) - CROP_MARGIN_PX),
    )


def crop_polygon(
    page: Image.Image, polygon: Sequence[tuple[float, float]], where: str
) -> Image.Image:
    """Grayscale crop of a line: the polygon's box plus a margin, clipped to the page; pixels
    outside the polygon (dilated by the margin) take the line's median paper tone so that the ink
    of neighbouring lines does not leak in (how the shared line sets were made).
    """
    gray = page.convert("L")
    left, top, right, bottom = crop_box(polygon, gray.size)
    if right - left < MIN_LINE_PX or bottom - top < MIN_LINE_PX:
        xs = [p[0] for p in polygon]
        ys = [p[1] for p in polygon]
        raise DataError(
            where,
            f"line box ({int(min(xs))},{int(min(ys))})-({int(max(xs))},{int(max(ys))}) is outside the "
            f"{gray.width}x{gray.height} page",
        )
    crop = gray.crop((left, top, right, bottom))
    if len(polygon) >= 3:
        mask = Image.new("L", crop.size, 0)
        shifted = [(x - left, y - top) for x, y in polygon]
        draw = ImageDraw.Draw(mask)
        draw.polygon(shifted, fill=255, outline=255)
        draw.line([*shifted, shifted[0]], fill=255, width=2 * CROP_MARGIN_PX + 1)
        inside = np.asarray(crop)[np.asarray(mask) > 0]
        if inside.size:
            paper = int(np.median(inside))
            crop = Image.composite(crop, Image.new("L", crop.size, paper), mask)
    return crop
