"""``keyscribe transcribe`` for HTR: lines recognised with word and glyph positions, and pages
written back (see :mod:`keyscribe.htr.page_output`).

Each line runs through the network once (lines of similar width batched together); the decoded
labels are aligned to the line's frames (:mod:`keyscribe.htr.positions`) and placed in the line
image (a line given directly) or on the page (a line of a PAGE/ALTO file). A page input is an
``.xml`` file, a folder of them, a glob or a manifest; anything else is a line source as
:func:`keyscribe.htr.lines.read_lines` reads it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from keyscribe.errors import DataError
from keyscribe.htr.images import crop_origin
from keyscribe.htr.page_output import input_format, output_path, write_page
from keyscribe.htr.pages import read_page
from keyscribe.htr.pagesets import is_mets, is_page_set, page_files
from keyscribe.htr.positions import LineGeometry, LineLayout, label_extents, layout_line
from keyscribe.inference import LINES_PER_CALL

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PageOutput:
    """Where recognised pages go: ``format`` (alto, page, txt, json; None: the input's own
    format), ``out_dir`` (None: beside each input), ``tagged`` (name ``<stem>.keyscribe.<ext>``
    rather than ``<stem>.<ext>``), ``glyphs`` (a Glyph per character too)."""

    format: str | None = None
    out_dir: Path | None = None
    tagged: bool = True
    glyphs: bool = False


def geometry(dataset: Any, index: int) -> LineGeometry:
    """How line ``index`` of a LineDataset sits in its source image."""
    record = dataset.records[index]
    crop_width, crop_height = dataset.sizes[index]
    width = int(dataset.lines[index].shape[1])
    if record.polygon is None:
        return LineGeometry(0, 0, crop_width, crop_height, width)
    left, top = crop_origin(record.polygon)
    return LineGeometry(left, top, crop_width, crop_height, width, tuple(record.polygon))


def recognize(
    recognizer: Any, dataset: Any, on_page: bool, batch_size: int | None = None
) -> list[tuple[dict[str, Any], LineLayout]]:
    """Every line of ``dataset`` -> its result (the keys ``transcribe --json`` prints, words
    with ``conf x0 x1``; ``y0 y1 polygon`` on a page) and its layout, in dataset order;
    ``batch_size`` lines per network call (None: ``LINES_PER_CALL``)."""
    batch_size = batch_size or LINES_PER_CALL
    n = len(dataset)
    order = sorted(range(n), key=dataset.widths.__getitem__)
    out: list[tuple[dict[str, Any], LineLayout] | None] = [None] * n
    blank = recognizer.alphabet.blank
    for start in range(0, n, batch_size):
        batch = order[start : start + batch_size]
        samples = [dataset[i] for i in batch]
        began = time.perf_counter()
        outputs = recognizer.batch_log_probs(samples)
        elapsed = (time.perf_counter() - began) / len(samples)
        for i, sample, (log_probs, frames) in zip(batch, samples, outputs, strict=True):
            result = recognizer.describe(sample, log_probs, frames, elapsed).to_json()
            ids = result["label_ids"]
            lp = log_probs[:frames].detach().cpu().double().numpy()
            layout = layout_line(
                sample.id,
                [recognizer.alphabet.symbol(k) for k in ids],
                result["confidences"],
                label_extents(np.asarray(lp), ids, blank),
                frames,
                geometry(dataset, i),
            )
            result["words"] = _words_json(result.get("words", []), layout, on_page)
            result["conf"] = None if layout.conf is None else round(layout.conf, 4)
            out[i] = (result, layout)
    return [item for item in out if item is not None]


def _words_json(
    words: Sequence[dict[str, Any]], layout: LineLayout, on_page: bool
) -> list[dict[str, Any]]:
    """The decoder's words (text, label span, confidence) with their positions."""
    placed = [w.as_json(page=on_page) for w in layout.words]
    if len(words) != len(placed):
        return placed
    return [
        {**p, **{k: w[k] for k in ("start", "end", "confidence") if k in w}}
        for p, w in zip(placed, words, strict=True)
    ]


def transcribe_inputs(
    recognizer: Any,
    inputs: Sequence[str | Path],
    output: PageOutput,
    wrote: Callable[[Path], None] = lambda path: None,
    batch_size: int | None = None,
) -> list[dict[str, Any]]:
    """Recognise every input (``batch_size`` lines per network call); pages are written per ``output`` (``wrote`` hears of each file).
    With ``out_dir``, pages of a folder, glob or manifest keep their folders below the folder
    they share (``corpus/a/001.xml`` and ``corpus/b/001.xml`` -> ``out/a/001.xml``,
    ``out/b/001.xml``). Returns the per-line results, inputs in order."""
    results: list[dict[str, Any]] = []
    written: set[Path] = set()
    for source in inputs:
        if is_page_set(source) or Path(source).suffix.lower() == ".xml":
            xmls = [x for x in page_files(source) if not (x.is_file() and is_mets(x))]
            base = Path(os.path.commonpath([x.parent.absolute() for x in xmls])) if xmls else None
            for xml in xmls:
                out_dir = output.out_dir
                if out_dir is not None and base is not None:
                    out_dir = out_dir / xml.parent.absolute().relative_to(base)
                try:
                    results += _transcribe_page(
                        recognizer, xml, output, out_dir, written, wrote, batch_size
                    )
                except DataError as exc:
                    if len(xmls) == 1:
                        raise
                    log.warning("skipping page: %s", exc)
        else:
            dataset = recognizer.dataset(source)
            results += [r for r, _ in recognize(recognizer, dataset, False, batch_size)]
    return results


def _transcribe_page(
    recognizer: Any,
    xml: Path,
    output: PageOutput,
    out_dir: Path | None,
    written: set[Path],
    wrote: Callable[[Path], None],
    batch_size: int | None,
) -> list[dict[str, Any]]:
    page = read_page(xml)
    fmt = output.format or input_format(page)
    out = output_path(xml, fmt, out_dir, output.tagged)
    if out.absolute() in written:
        raise DataError(xml, f"{out} is written already for another page of the same name")
    dataset = recognizer.dataset(xml)
    recognized = recognize(recognizer, dataset, True, batch_size)
    layouts = {layout.id: layout for _, layout in recognized}
    wrote(write_page(page, layouts, fmt, out, output.glyphs))
    written.add(out.absolute())
    return [{**result, "page": str(xml)} for result, _ in recognized]
