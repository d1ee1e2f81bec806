"""Line sources: where each handwritten line's image and transcription come from.

A :class:`LineRecord` names one line: either a whole image file (a line folder, IAM, TSV) or a
region of a page image (PAGE XML, ALTO). Nothing is decoded here except text; images are read by
:func:`load_line_image`. Readers raise :class:`~keyscribe.errors.DataError` naming the file;
:func:`read_lines` turns per-line problems into skips (logged, counted) or a failure, as configured.

Supported inputs (``read_lines(path)`` picks by what ``path`` is):

- a folder of line images with sibling ``<stem>.gt.txt`` (``.jpg .jpeg .png .tif .tiff .bmp .webp``);
- a PAGE XML (2013 or 2019 schema) or ALTO XML page: each ``TextLine`` cropped from its polygon
  (or box), see :mod:`keyscribe.htr.pagexml` and :mod:`keyscribe.htr.alto`;
- an IAM ``lines.txt`` (``id ok|err threshold n x y w h tags text|with|bars``) with the image tree
  ``lines/a01/a01-000u/a01-000u-00.png`` beside it (or in ``lines/``);
- a ``.tsv`` of ``image<TAB>text`` rows (paths relative to the TSV; a header ``image text`` is
  allowed).
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from keyscribe.errors import DataError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
CROP_MARGIN_PX = 4  # margin around a line polygon's box, as the shared sets were cut
MIN_LINE_PX = 2  # a crop thinner than this (after clipping to the page) is not a line


@dataclass(frozen=True)
class LineRecord:
    """One line: an image (whole file, or a region of a page) and its transcription.

    ``polygon`` is a list of (x, y) page pixels in the EXIF-oriented page; ``text`` is None when
    the source has no transcription (e.g. a page to transcribe).
    """

    id: str
    image: Path
    text: str | None
    polygon: tuple[tuple[float, float], ...] | None = None
    source: Path | None = None  # the XML / list file the line came from (for messages)

    @property
    def origin(self) -> Path:
        return self.source or self.image


class SkipCounter:
    """Collects per-line problems: fail on the first (``on_error="fail"``) or log and count them."""

    def __init__(self, on_error: str = "skip") -> None:
        if on_error not in ("skip", "fail"):
            raise ValueError(f"on_error must be 'skip' or 'fail', got {on_error!r}")
        self.on_error = on_error
        self.skipped: list[str] = []

    def __call__(self, error: DataError) -> None:
        if self.on_error == "fail":
            raise error
        log.warning("skipping line: %s", error)
        self.skipped.append(str(error))

    def report(self, what: str) -> None:
        if self.skipped:
            log.warning(
                "%s: skipped %d line(s) with problems (see the warnings above)",
                what,
                len(self.skipped),
            )


def normalize_text(text: str) -> str:
    """NFC, trailing newline dropped: transcriptions compare as Unicode, not as bytes."""
    return unicodedata.normalize("NFC", text.rstrip("\r\n"))


def read_text_file(path: Path) -> str:
    """A ``.gt.txt``: UTF-8 (a BOM is tolerated), one line, not empty."""
    if not path.is_file():
        raise DataError(path, "transcription file missing")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(path, f"transcription is not UTF-8 (byte {exc.start})") from None
    text = normalize_text(text)
    if "\n" in text:
        text = " ".join(part.strip() for part in text.splitlines())
    if not text.strip():
        raise DataError(path, "transcription is empty")
    return text


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


def crop_polygon(
    page: Image.Image, polygon: Sequence[tuple[float, float]], where: str
) -> Image.Image:
    """Grayscale crop of a line: the polygon's box plus a margin, clipped to the page; pixels
    outside the polygon (dilated by the margin) take the line's median paper tone so that the ink
    of neighbouring lines does not leak in (how the shared line sets were made).
    """
    gray = page.convert("L")
    xs = [p[0] for p in polygon]
    ys = [p[1] for p in polygon]
    left = max(0, int(min(xs)) - CROP_MARGIN_PX)
    top = max(0, int(min(ys)) - CROP_MARGIN_PX)
    right = min(gray.width, int(max(xs)) + 1 + CROP_MARGIN_PX)
    bottom = min(gray.height, int(max(ys)) + 1 + CROP_MARGIN_PX)
    if right - left < MIN_LINE_PX or bottom - top < MIN_LINE_PX:
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


def load_line_image(
    record: LineRecord, page_cache: dict[Path, Image.Image] | None = None
) -> Image.Image:
    """The line as a grayscale PIL image (mode ``L``), EXIF orientation honoured."""
    if record.polygon is None:
        return open_image(record.image).convert("L")
    if page_cache is not None and record.image in page_cache:
        page = page_cache[record.image]
    else:
        page = open_image(record.image)
        if page_cache is not None:
            page_cache.clear()  # pages are large: keep only the current one
            page_cache[record.image] = page
    return crop_polygon(page, record.polygon, f"{record.origin} (line {record.id})")


# -- readers --------------------------------------------------------------------------------------


def folder_lines(folder: Path, report: SkipCounter, need_text: bool = True) -> list[LineRecord]:
    """Line images in ``folder`` (not recursive), each with its sibling ``<stem>.gt.txt``."""
    images = sorted(
        p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )
    records = []
    for image in images:
        gt = image.with_name(image.name[: -len(image.suffix)] + ".gt.txt")
        text: str | None = None
        if need_text or gt.exists():
            try:
                text = read_text_file(gt)
            except DataError as exc:
                report(exc)
                continue
        records.append(LineRecord(image.stem, image, text))
    return records


def iam_lines(
    lines_txt: Path, report: SkipCounter, image_root: Path | None = None
) -> list[LineRecord]:
    """IAM ``lines.txt``: ``a01-000u-00 ok 154 19 408 746 1661 89 A|MOVE|to|stop`` per line.

    Images are looked up as ``<root>/<form prefix>/<form>/<id>.png`` with root = ``image_root``,
    ``lines/`` beside the file, or the file's folder; lines marked ``err`` are kept (as in the
    usual Aachen splits), ``#`` comments skipped.
    """
    try:
        content = lines_txt.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(lines_txt, f"not UTF-8 (byte {exc.start})") from None
    roots = [image_root] if image_root else [lines_txt.parent / "lines", lines_txt.parent]
    records = []
    for number, row in enumerate(content.splitlines(), 1):
        if not row.strip() or row.startswith("#"):
            continue
        fields = row.split(" ", 8)
        if len(fields) != 9:
            report(
                DataError(
                    lines_txt,
                    f"line {number}: expected 9 space-separated fields, got {len(fields)}",
                )
            )
            continue
        line_id, text = fields[0], normalize_text(fields[8].replace("|", " "))
        parts = line_id.split("-")
        rel = Path(parts[0], "-".join(parts[:2]), f"{line_id}.png")
        image = next(
            (r / rel for r in roots if r is not None and (r / rel).exists()), roots[0] / rel
        )
        if not text.strip():
            report(DataError(lines_txt, f"line {number} ({line_id}): empty transcription"))
            continue
        records.append(LineRecord(line_id, image, text, source=lines_txt))
    return records


def tsv_lines(tsv: Path, report: SkipCounter) -> list[LineRecord]:
    """``image<TAB>text`` rows; image paths relative to the TSV's folder."""
    try:
        content = tsv.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(tsv, f"not UTF-8 (byte {exc.start})") from None
    records = []
    for number, row in enumerate(content.splitlines(), 1):
        if not row.strip():
            continue
        fields = row.split("\t")
        if number == 1 and [f.strip().lower() for f in fields[:2]] == ["image", "text"]:
            continue
        if len(fields) < 2 or not fields[1].strip():
            report(
                DataError(
                    tsv, f"row {number}: needs an image path and a non-empty text, tab-separated"
                )
            )
            continue
        image = (
            (tsv.parent / fields[0]).resolve()
            if not Path(fields[0]).is_absolute()
            else Path(fields[0])
        )
        records.append(
            LineRecord(
                Path(fields[0]).stem, image, normalize_text("\t".join(fields[1:])), source=tsv
            )
        )
    return records


def page_lines(xml: Path, report: SkipCounter, need_text: bool = True) -> list[LineRecord]:
    """Lines of a PAGE or ALTO file (by its root element)."""
    from keyscribe.htr.pages import read_page

    page = read_page(xml)
    records = []
    for line in page.lines:
        if need_text and not (line.text or "").strip():
            report(DataError(xml, f"TextLine {line.id} has no transcription"))
            continue
        records.append(LineRecord(line.id, page.image, line.text, tuple(line.polygon), source=xml))
    return records


def read_lines(
    path: str | Path,
    on_error: str = "skip",
    need_text: bool = True,
    report: SkipCounter | None = None,
) -> list[LineRecord]:
    """Every line record under ``path`` (see the module docstring for the formats).

    Per-line problems (missing/empty/non-UTF-8 ``.gt.txt``, a line without text) are skipped and
    counted, or raised with ``on_error="fail"``; a file that is not a line source at all raises.
    """
    path = Path(path)
    report = report or SkipCounter(on_error)
    if not path.exists():
        raise DataError(path, "not found")
    if path.is_dir():
        records = folder_lines(path, report, need_text)
    elif path.suffix.lower() == ".xml":
        records = page_lines(path, report, need_text)
    elif path.suffix.lower() == ".tsv":
        records = tsv_lines(path, report)
    elif path.name.endswith(".txt") and not path.name.endswith(".gt.txt"):
        records = iam_lines(path, report)
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        gt = path.with_name(path.name[: -len(path.suffix)] + ".gt.txt")
        text = read_text_file(gt) if gt.exists() else None
        records = [LineRecord(path.stem, path, text)]
    else:
        raise DataError(path, "not a line source (folder, .xml page, .tsv, IAM lines.txt or image)")
    report.report(str(path))
    if not records and not report.skipped:
        raise DataError(path, "no lines found")
    if not records:
        raise DataError(
            path, f"no usable lines ({len(report.skipped)} skipped; first: {report.skipped[0]})"
        )
    return records


def texts(records: Iterable[LineRecord]) -> list[str]:
    return [r.text for r in records if r.text is not None]
