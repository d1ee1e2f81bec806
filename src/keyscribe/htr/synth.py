"""Synthetic handwriting-like text lines for pre-training (paper Table 3) and demos.

Each line is real text (French manuscript transcriptions and Shakespeare's sonnets bundled with
keyscribe, or a text file of your own) rendered with a handwriting font (keyscribe.htr.fonts)
and distorted per line, all drawn from ``numpy.random.default_rng([seed, line_index])`` so a
line depends only on the seed and its index (same output with any number of workers):

- glyph placement: per-character extra spacing and small baseline jitter, pen width
  (dilation / erosion of the ink);
- geometry: slant (shear), baseline curvature (a sine plus a drift), elastic distortion;
- appearance: paper tone with low-frequency stains and grain, ink darkness (ink to pencil) with
  texture, blur, noise.

Lines are cropped to their ink (+ a margin), resized to ``height`` keeping the aspect ratio and
written as ``<out>/<split>/<id>.<jpg|png>`` + ``<id>.gt.txt`` (UTF-8, NFC, one line, no trailing
newline), the layout of shared/data/htr/<set>/<split>, with ``<out>/synth.json`` describing the run.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from keyscribe.errors import DataError
from keyscribe.htr.fonts import available_fonts, font_charset

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
BUNDLED_TEXTS = {
    "fr": RESOURCES / "htr_text" / "fr_transcriptions.txt",  # CC BY 4.0, see its ATTRIBUTION.md
    "en": RESOURCES / "sonnets.txt",  # public domain
}
RENDER_PX = 64  # font size of the first rendering, before the final resize


@dataclass(frozen=True)
class SynthOptions:
    """Ranges the per-line random draws come from (uniform unless said otherwise)."""

    height: int = 128
    min_chars: int = 8
    max_chars: int = 72
    french_share: float = 0.75  # bundled texts: share of lines from the French transcriptions
    slant_deg: tuple[float, float] = (-8.0, 22.0)
    curve_amplitude: tuple[float, float] = (0.0, 0.12)  # x render size
    curve_periods: tuple[float, float] = (0.3, 2.0)  # sine periods along the line
    drift: tuple[float, float] = (-0.15, 0.15)  # baseline rise over the line, x render size
    spacing: tuple[float, float] = (-0.04, 0.12)  # extra advance per character, x render size
    jitter: float = 0.03  # per-character baseline jitter (std), x render size
    pen: tuple[int, ...] = (-1, 0, 0, 1, 1, 2)  # erosion (<0) / dilation (>0) steps, one drawn
    elastic_alpha: tuple[float, float] = (0.0, 4.0)  # px at render size
    elastic_sigma: tuple[float, float] = (6.0, 12.0)
    paper: tuple[float, float] = (170.0, 245.0)
    ink: tuple[float, float] = (10.0, 120.0)
    blur: tuple[float, float] = (0.0, 1.2)  # px at the output size
    noise: tuple[float, float] = (1.0, 8.0)
    val_fraction: float = 0.1
    image_format: str = "jpg"  # jpg (quality 85, like the shared sets) or png


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFC", " ".join(text.split()))


def load_words(path: Path) -> list[str]:
    """Words of a UTF-8 text file (whitespace-separated, NFC), with a clear error otherwise."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(path, f"cannot read text file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not UTF-8 text (byte {exc.start})") from None
    words = _normalise(text).split(" ")
    if words == [""]:
        raise DataError(path, "text file is empty")
    return words


@lru_cache(maxsize=8)
def _corpus(paths: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(load_words(Path(p))) for p in paths)


def sample_text(
    rng: np.random.Generator,
    corpora: tuple[tuple[str, ...], ...],
    weights: list[float],
    opts: SynthOptions,
) -> str:
    """A run of consecutive words of one corpus, between min_chars and max_chars long."""
    words = corpora[int(rng.choice(len(corpora), p=weights))]
    target = int(rng.integers(opts.min_chars, opts.max_chars + 1))
    start = int(rng.integers(0, len(words)))
    out: list[str] = []
    length = 0
    for word in words[start:] + words[:start]:
        if out and length + 1 + len(word) > target:
            break
        out.append(word)
        length += len(word) + (1 if len(out) > 1 else 0)
    text = " ".join(out)
    return text[: opts.max_chars].strip() or words[start][: opts.max_chars]


@lru_cache(maxsize=128)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _render_ink(
    text: str, font_path: str, rng: np.random.Generator, opts: SynthOptions
) -> np.ndarray:
    """Ink coverage in [0, 1] of the text on a generous canvas at render size."""
    size = int(RENDER_PX * rng.uniform(0.85, 1.15))
    font = _font(font_path, size)
    ascent, descent = font.getmetrics()
    spacing = rng.uniform(*opts.spacing) * size
    xs = [font.getlength(text[:i]) + i * spacing for i in range(len(text))]
    width = int(max(font.getlength(text) + len(text) * spacing, 1)) + 4 * size
    height = ascent + descent + 2 * size
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    jitter = rng.normal(0, opts.jitter * size, len(text))
    for ch, x, dy in zip(text, xs, jitter, strict=True):
        if not ch.isspace():
            draw.text((2 * size + x, size + dy), ch, font=font, fill=255)
    ink = np.asarray(canvas, dtype=np.float32) / 255.0
    pen = int(rng.choice(opts.pen))
    for _ in range(abs(pen)):
        op = ndimage.grey_dilation if pen > 0 else ndimage.grey_erosion
        ink = op(ink, size=(2, 2))
    return ink


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-smoothed noise scaled to max |1|, drawn at a lower resolution (sigma/3 px per
    cell) and upsampled bilinearly: the same look as filtering at full size, far cheaper."""
    step = max(1, int(sigma / 3))
    low = (shape[0] // step + 2, shape[1] // step + 2)
    field = ndimage.gaussian_filter(rng.normal(0, 1, low).astype(np.float32), sigma / step)
    field = ndimage.zoom(field, step, order=1)[: shape[0], : shape[1]]
    if field.shape != shape:  # tiny inputs
        field = np.pad(
            field, [(0, shape[0] - field.shape[0]), (0, shape[1] - field.shape[1])], mode="edge"
        )
    return field / (np.abs(field).max() + 1e-6)


def _warp(ink: np.ndarray, rng: np.random.Generator, opts: SynthOptions) -> np.ndarray:
    """Slant, baseline curvature and elastic distortion in one resampling."""
    ink = _crop(ink, 24)
    h, w = ink.shape
    size = RENDER_PX
    shear = np.tan(np.radians(rng.uniform(*opts.slant_deg)))
    pad = int(abs(shear) * h) + 1
    ink = np.pad(ink, ((0, 0), (pad, pad)))
    w += 2 * pad
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # the source x of an output pixel: sheared about the middle row (positive shear leans right)
    src_x = xx + shear * (yy - h / 2)
    t = xx / w
    amplitude = rng.uniform(*opts.curve_amplitude) * size
    periods = rng.uniform(*opts.curve_periods)
    phase = rng.uniform(0, 2 * np.pi)
    src_y = (
        yy
        + amplitude * np.sin(2 * np.pi * periods * t + phase)
        + rng.uniform(*opts.drift) * size * (t - 0.5)
    )
    alpha = rng.uniform(*opts.elastic_alpha)
    if alpha > 0:
        sigma = rng.uniform(*opts.elastic_sigma)
        for grid in (src_x, src_y):
            grid += alpha * _smooth_noise(rng, (h, w), sigma)
    return ndimage.map_coordinates(ink, [src_y, src_x], order=1, mode="constant", cval=0.0)


def _crop(ink: np.ndarray, m: int) -> np.ndarray:
    """The ink's bounding box plus m px (inside the array)."""
    rows = np.flatnonzero(ink.max(axis=1) > 0.15)
    cols = np.flatnonzero(ink.max(axis=0) > 0.15)
    if rows.size == 0 or cols.size == 0:
        return ink
    top, bottom = max(rows[0] - m, 0), min(rows[-1] + m + 1, ink.shape[0])
    left, right = max(cols[0] - m, 0), min(cols[-1] + m + 1, ink.shape[1])
    return ink[top:bottom, left:right]


def _paper_and_ink(ink: np.ndarray, rng: np.random.Generator, opts: SynthOptions) -> np.ndarray:
    h, w = ink.shape
    paper = np.full((h, w), rng.uniform(*opts.paper), dtype=np.float32)
    paper += _smooth_noise(rng, (h, w), rng.uniform(15, 40)) * rng.uniform(3, 20)  # stains
    paper += np.linspace(0, rng.uniform(-15, 15), w, dtype=np.float32)[None, :]  # uneven light
    paper += rng.normal(0, rng.uniform(1, 4), (h, w)).astype(np.float32)  # grain
    tone = rng.uniform(*opts.ink)
    texture = ndimage.gaussian_filter(rng.normal(0, 1, (h, w)).astype(np.float32), 1.0)
    coverage = np.clip(ink * (1 - rng.uniform(0, 0.35) * np.clip(texture, 0, None)), 0, 1)
    return paper - coverage * np.clip(paper - tone, 0, None)


def render_line(
    text: str, font_path: str | Path, rng: np.random.Generator, opts: SynthOptions | None = None
) -> Image.Image:
    """One synthetic line image (8-bit grayscale, height ``opts.height``) of ``text``."""
    opts = opts or SynthOptions()
    warped = _warp(_render_ink(text, str(font_path), rng, opts), rng, opts)
    ink = _crop(warped, int(rng.integers(4, 14)))
    image = _paper_and_ink(ink, rng, opts)
    out_w = max(int(round(ink.shape[1] * opts.height / ink.shape[0])), 8)
    pil = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8), "L").resize(
        (out_w, opts.height), Image.Resampling.LANCZOS
    )
    arr = np.asarray(pil, dtype=np.float32)
    blur = rng.uniform(*opts.blur)
    if blur > 0.2:
        arr = ndimage.gaussian_filter(arr, blur)
    noisy = arr + rng.normal(0, rng.uniform(*opts.noise), arr.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).round().astype(np.uint8), "L")


@dataclass(frozen=True)
class _Job:
    out: str
    seed: int
    fonts: tuple[str, ...]
    texts: tuple[str, ...]
    weights: tuple[float, ...]
    opts: SynthOptions


def _make_line(job: _Job, index: int, split: str) -> dict[str, Any]:
    rng = np.random.default_rng([job.seed, index])
    corpora = _corpus(job.texts)
    charsets = [font_charset(f) for f in job.fonts]
    for _ in range(50):
        text = sample_text(rng, corpora, list(job.weights), job.opts)
        usable = [i for i, cs in enumerate(charsets) if set(text.replace(" ", "")) <= cs]
        if usable:
            break
    else:
        raise DataError(
            None, f"no font covers the characters of the text near line {index} (last: {text!r})"
        )
    font = job.fonts[usable[int(rng.integers(len(usable)))]]
    image = render_line(text, font, rng, job.opts)
    line_id = f"synth-{index:07d}"
    folder = Path(job.out) / split
    suffix = "png" if job.opts.image_format == "png" else "jpg"
    if suffix == "png":
        image.save(folder / f"{line_id}.png", optimize=False)
    else:
        image.save(folder / f"{line_id}.jpg", quality=85)
    (folder / f"{line_id}.gt.txt").write_text(text, encoding="utf-8")
    return {
        "id": line_id,
        "split": split,
        "font": Path(font).stem,
        "width": image.width,
        "text": text,
    }


def _make_line_star(args: tuple[_Job, int, str]) -> dict[str, Any]:
    return _make_line(*args)


def synthesize_lines(
    out: Path,
    lines: int,
    seed: int = 0,
    height: int = 128,
    text: Path | None = None,
    fonts_dir: Path | None = None,
    workers: int = 1,
    fetch: bool = True,
    options: SynthOptions | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Render ``lines`` synthetic lines into out/train and out/val (+ out/synth.json, manifest.tsv)."""
    opts = options or SynthOptions(height=height)
    if opts.height != height and options is None:
        opts = SynthOptions(height=height)
    if lines < 1:
        raise DataError(None, f"--lines must be at least 1, got {lines}")
    if not 16 <= opts.height <= 512:
        raise DataError(None, f"--height must be between 16 and 512 px, got {opts.height}")
    if not 0 <= opts.val_fraction < 1:
        raise DataError(None, f"val fraction must be in [0, 1), got {opts.val_fraction}")
    if opts.image_format not in ("jpg", "png"):
        raise DataError(None, f"image format must be jpg or png, got {opts.image_format!r}")
    if workers < 1:
        raise DataError(None, f"--workers must be at least 1, got {workers}")
    if out.exists() and not out.is_dir():
        raise DataError(out, "output path exists and is not a folder")
    texts: tuple[str, ...]
    weights: tuple[float, ...]
    if text is not None:
        texts, weights = (str(text),), (1.0,)
    else:
        texts = (str(BUNDLED_TEXTS["fr"]), str(BUNDLED_TEXTS["en"]))
        weights = (opts.french_share, 1 - opts.french_share)
    _corpus(texts)  # read errors surface here, once
    fonts = tuple(str(f) for f in available_fonts(fonts_dir, fetch=fetch, log=log))
    if not fonts:
        raise DataError(fonts_dir, "no handwriting fonts found (run `keyscribe htr fetch-fonts`)")
    n_val = int(round(lines * opts.val_fraction)) if lines > 1 else 0
    val = set(np.random.default_rng(seed).permutation(lines)[:n_val].tolist())
    splits = ["val" if i in val else "train" for i in range(lines)]
    for split in set(splits):
        (out / split).mkdir(parents=True, exist_ok=True)
    job = _Job(str(out), seed, fonts, texts, weights, opts)
    tasks = [(job, i, splits[i]) for i in range(lines)]
    if workers == 1:
        rows = [_make_line_star(t) for t in tasks]
    else:
        with get_context("fork").Pool(workers) as pool:
            rows = pool.map(_make_line_star, tasks, chunksize=16)
    with open(out / "manifest.tsv", "w", encoding="utf-8") as f:
        f.write("id\tsplit\tfont\twidth\ttext\n")
        for r in rows:
            f.write(f"{r['id']}\t{r['split']}\t{r['font']}\t{r['width']}\t{r['text']}\n")
    summary = {
        "lines": lines,
        "train": splits.count("train"),
        "val": splits.count("val"),
        "seed": seed,
        "fonts": [Path(f).name for f in fonts],
        "texts": [re.sub(r".*/src/", "src/", t) for t in texts],
        "options": asdict(opts),
        "mean_width": round(float(np.mean([r["width"] for r in rows])), 1),
    }
    (out / "synth.json").write_text(
        json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return summary
