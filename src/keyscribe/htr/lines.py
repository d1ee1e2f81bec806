"""Line sources: where each handwritten line's image and transcription come from.

A :class:`LineRecord` names one line: either a whole image file (a line folder, IAM, TSV) or a
region of a page image (PAGE XML, ALTO). Nothing is decoded here except text; images are read by
:func:`load_line_image`. Readers raise :class:`~keyscribe.errors.DataError` naming the file;
:func:`read_lines` turns per-line problems into skips (logged, counted) or a failure, as configured.

Supported inputs (``read_lines(path)`` picks by what ``path`` is):

- a folder of line images with sibling ``<stem>.gt.txt`` (``.jpg .jpeg .png .tif .tiff .bmp .webp``);
- a PAGE XML (2013 or 2019 schema) or ALTO (v2-v4) page: each ``TextLine`` cropped from its
  polygon (or box), see :mod:`keyscribe.htr.pages`;
- many such pages: a folder of them (at any depth, images beside), a glob (``'pages/*.xml'``) or a
  manifest listing XML paths, see :mod:`keyscribe.htr.pagesets`;
- an IAM ``lines.txt`` (``id ok|err threshold n x y w h tags text|with|bars``) with the image tree
  ``lines/a01/a01-000u/a01-000u-00.png`` beside it (or in ``lines/``);
- a ``.tsv`` of ``image<TAB>text`` rows (paths relative to the TSV; a header ``image text`` is
  allowed).
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from keyscribe.errors import DataError
from keyscribe.htr.images import IMAGE_SUFFIXES, crop_polygon, open_image
from keyscribe.htr.pages import read_page
from keyscribe.htr.pagesets import is_mets, is_page_set, page_files

log = logging.getLogger(__name__)


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
    """Lines of a PAGE or ALTO file (by its root element); lines without coordinates (and,
    with ``need_text``, without text) go to ``report``."""
    page = read_page(xml)
    for problem in page.problems:
        report(problem)
    records = []
    for line in page.lines:
        if need_text and not (line.text or "").strip():
            report(DataError(xml, f"TextLine {line.id} has no transcription"))
            continue
        records.append(LineRecord(line.id, page.image, line.text, tuple(line.polygon), source=xml))
    return records


def page_set_lines(
    source: str | Path, report: SkipCounter, need_text: bool = True
) -> list[LineRecord]:
    """Lines of many pages (folder, glob or manifest, see :mod:`keyscribe.htr.pagesets`); a page
    that cannot be read at all is one problem for ``report``, not the end of the run."""
    records = []
    for xml in page_files(source):
        if xml.is_file() and is_mets(xml):
            continue
        try:
            records += page_lines(xml, report, need_text)
        except DataError as exc:
            report(exc)
    return records


def _single_source_lines(path: Path, report: SkipCounter, need_text: bool) -> list[LineRecord]:
    if not path.exists():
        raise DataError(path, "not found")
    if path.is_dir():
        return folder_lines(path, report, need_text)
    if path.suffix.lower() == ".xml":
        return page_lines(path, report, need_text)
    if path.suffix.lower() == ".tsv":
        return tsv_lines(path, report)
    if path.name.endswith(".txt") and not path.name.endswith(".gt.txt"):
        return iam_lines(path, report)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        gt = path.with_name(path.name[: -len(path.suffix)] + ".gt.txt")
        text = read_text_file(gt) if gt.exists() else None
        return [LineRecord(path.stem, path, text)]
    raise DataError(
        path, "not a line source (folder, .xml page or pages, .tsv, IAM lines.txt or image)"
    )


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
    report = report or SkipCounter(on_error)
    if is_page_set(path):
        records = page_set_lines(path, report, need_text)
    else:
        records = _single_source_lines(Path(path), report, need_text)
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
