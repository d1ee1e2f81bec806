"""Cut the text lines of PAGE / ALTO pages into the line-folder layout, split by page.

``keyscribe htr extract-lines PAGES... --out DIR`` writes ``DIR/<split>/<stem>.png`` (the line
crop at the page's resolution: polygon box plus margin, ink of neighbouring lines masked with the
paper tone, as training reads it) and ``<stem>.gt.txt`` (UTF-8, NFC, one line), and
``DIR/manifest.tsv`` naming each line's split, source page and line id. Whole pages go to one
split (``--split-by page``): lines of one page share a hand, a pen and a scan, so a page split
across train and test would flatter the test score. ``<stem>`` is ``<page stem>_l<NNN>``, NNN the
index of the line's ``TextLine`` in its page, as in the shared line sets.
"""

from __future__ import annotations

import csv
import io
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

from keyscribe.atomic import atomic_write_text
from keyscribe.errors import ConfigError, DataError
from keyscribe.htr.images import crop_polygon, open_image
from keyscribe.htr.lines import SkipCounter, normalize_text
from keyscribe.htr.pages import Page, read_page
from keyscribe.htr.pagesets import is_mets, page_files

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
MANIFEST_COLUMNS = ("id", "split", "image", "source_page", "line_id", "width", "height", "text")


@dataclass(frozen=True)
class ExtractOptions:
    """How lines are split: by ``page`` (no page in two splits) or by ``line``; shares of lines
    for val and test, aimed at with whole pages; the seed of the shuffle; bad lines ``skip`` or
    ``fail``."""

    split_by: str = "page"
    val: float = 0.1
    test: float = 0.1
    seed: int = 0
    on_error: str = "skip"

    def __post_init__(self) -> None:
        if self.split_by not in ("page", "line"):
            raise ConfigError(None, f"--split-by must be page or line, got {self.split_by!r}")
        if not (0.0 <= self.val < 1.0 and 0.0 <= self.test < 1.0 and self.val + self.test < 1.0):
            raise ConfigError(
                None,
                f"--val and --test must be >= 0 with a sum below 1, got {self.val}, {self.test}",
            )


@dataclass
class ExtractSummary:
    out: Path
    pages: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    lines: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    skipped: int = 0


@dataclass
class _PageLines:
    page: Page
    lines: list[tuple[int, str, str]]  # (index in page.lines, line id, text)


def _usable_lines(page: Page, report: SkipCounter) -> _PageLines:
    for problem in page.problems:
        report(problem)
    lines = []
    for index, line in enumerate(page.lines):
        text = normalize_text(line.text or "")
        if not text.strip():
            report(DataError(page.xml, f"TextLine {line.id} has no transcription"))
            continue
        lines.append((index, line.id, text))
    return _PageLines(page, lines)


def _closer(count: int, add: int, target: float) -> bool:
    """Whether adding ``add`` lines brings ``count`` nearer to ``target``."""
    return abs(count + add - target) < abs(count - target)


def split_pages(sizes: list[int], options: ExtractOptions) -> list[str]:
    """A split per page (by its line count ``sizes``): pages in a seeded order, each to the
    first of test, val that it brings closer to its share of all lines, else to train; a split
    asked for that got no page takes train's smallest page while train keeps one."""
    order = list(range(len(sizes)))
    random.Random(options.seed).shuffle(order)
    total = sum(sizes)
    targets = {"test": options.test * total, "val": options.val * total}
    counts = {"test": 0, "val": 0}
    splits = ["train"] * len(sizes)
    for i in order:
        for split in ("test", "val"):
            if _closer(counts[split], sizes[i], targets[split]):
                splits[i] = split
                counts[split] += sizes[i]
                break
    for split in ("test", "val"):
        train = [i for i in order if splits[i] == "train" and sizes[i] > 0]
        if targets[split] > 0 and split not in splits and len(train) > 1:
            splits[min(train, key=lambda i: sizes[i])] = split
    return splits


def _line_splits(pages: list[_PageLines], options: ExtractOptions) -> list[list[str]]:
    """Per page, a split per line."""
    if options.split_by == "page":
        per_page = split_pages([len(p.lines) for p in pages], options)
        return [[split] * len(p.lines) for split, p in zip(per_page, pages, strict=True)]
    flat = [(i, j) for i, p in enumerate(pages) for j in range(len(p.lines))]
    per_line = split_pages([1] * len(flat), options)
    out: list[list[str]] = [[""] * len(p.lines) for p in pages]
    for (i, j), split in zip(flat, per_line, strict=True):
        out[i][j] = split
    return out


def extract_lines(
    sources: list[str | Path], out: str | Path, options: ExtractOptions | None = None
) -> ExtractSummary:
    """Every transcribed line of the pages in ``sources`` (XML files, folders, globs, manifests)
    -> ``out/<split>/<stem>.png`` + ``.gt.txt`` and ``out/manifest.tsv``."""
    options = options or ExtractOptions()
    out = Path(out)
    if (out / "manifest.tsv").exists():
        raise DataError(out, "already holds extracted lines (manifest.tsv); choose another --out")
    report = SkipCounter(options.on_error)
    pages: list[_PageLines] = []
    for source in sources:
        for xml in page_files(source):
            if xml.is_file() and is_mets(xml):
                continue
            try:
                pages.append(_usable_lines(read_page(xml), report))
            except DataError as exc:
                report(exc)
    if not any(p.lines for p in pages):
        first = f"; first: {report.skipped[0]}" if report.skipped else ""
        raise DataError(", ".join(map(str, sources)), f"no transcribed lines found{first}")
    summary = ExtractSummary(out)
    rows: list[tuple[object, ...]] = []
    stems: set[str] = set()
    for page_lines, splits in zip(pages, _line_splits(pages, options), strict=True):
        written = _write_page(page_lines, splits, out, stems, report, rows)
        for split in set(written):
            summary.pages[split] += 1
        for split in written:
            summary.lines[split] += 1
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(MANIFEST_COLUMNS)
    writer.writerows(rows)
    atomic_write_text(out / "manifest.tsv", buffer.getvalue())
    report.report(str(out))
    summary.skipped = len(report.skipped)
    return summary


def _write_page(
    page_lines: _PageLines,
    splits: list[str],
    out: Path,
    stems: set[str],
    report: SkipCounter,
    rows: list[tuple[object, ...]],
) -> list[str]:
    """Crop and write one page's lines; returns the split of each line written."""
    page = page_lines.page
    if not page_lines.lines:
        return []
    try:
        image = open_image(page.image)
    except DataError as exc:
        report(exc)
        return []
    written = []
    for (index, line_id, text), split in zip(page_lines.lines, splits, strict=True):
        number = page.lines[index].number
        stem = f"{page.xml.stem}_l{number:03d}"
        suffix = 2
        while stem in stems:  # two pages of one name in different folders
            stem, suffix = f"{page.xml.stem}-{suffix}_l{number:03d}", suffix + 1
        try:
            crop = crop_polygon(image, page.lines[index].polygon, f"{page.xml} (line {line_id})")
        except DataError as exc:
            report(exc)
            continue
        stems.add(stem)
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        crop.save(folder / f"{stem}.png")
        (folder / f"{stem}.gt.txt").write_text(text, encoding="utf-8")
        rows.append((stem, split, f"{split}/{stem}.png", str(page.xml), line_id, *crop.size, text))
        written.append(split)
    return written
