"""The HTR evaluation report: one row per line (image, aligned reference and hypothesis, per
character confidence, CER), a character confusion table and, for page inputs, a page view.

Built from ``evaluate --json --per-item`` output alone, so a saved evaluation can be reported
later; page images are read from disk when they are still there."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from PIL import Image
from rapidfuzz.distance import Levenshtein

from keyscribe.reports.page import image_uri

PAGE_WIDTH_PX = 1400  # page views are downscaled to this width (the lines keep their pixels)
CONFUSIONS = 40  # rows of the confusion table


def align(reference: str, hypothesis: str) -> list[list[str]]:
    """A minimal edit alignment as columns ``[ref char, hyp char, op]``, op one of ``=`` (equal),
    ``s`` (substitution), ``d`` (deletion: ref char only) and ``i`` (insertion: hyp char only);
    ``n`` marks the characters of a line without a reference."""
    columns: list[list[str]] = []
    for op in Levenshtein.opcodes(reference, hypothesis):
        ref, hyp = reference[op.src_start : op.src_end], hypothesis[op.dest_start : op.dest_end]
        if op.tag == "equal":
            columns += [[r, r, "="] for r in ref]
        elif op.tag == "replace":  # one-to-one (opcodes merge single substitutions)
            columns += [[r, h, "s"] for r, h in zip(ref, hyp, strict=True)]
        elif op.tag == "delete":
            columns += [[r, "", "d"] for r in ref]
        else:
            columns += [["", h, "i"] for h in hyp]
    return columns


def confusion_counts(alignments: list[list[list[str]]], top: int = CONFUSIONS) -> list[list[Any]]:
    """The most frequent errors over all lines as ``[ref, hyp, count]`` (``""`` for a deleted or
    inserted character), most frequent first, ties in character order."""
    counts = Counter((r, h) for columns in alignments for r, h, op in columns if op in "sdi")
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [[r, h, n] for (r, h), n in ranked[:top]]


def _page_views(rows: list[dict[str, Any]], items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pages of the lines that came from PAGE / ALTO files: the page image (downscaled, when it
    is still on disk) and each line's polygon in its pixels, with the row it belongs to."""
    pages: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(items):
        where = item.get("page")
        if not where:
            continue
        page = pages.get(where["xml"])
        if page is None:
            page = pages[where["xml"]] = {
                "xml": where["xml"],
                "name": Path(where["xml"]).name,
                "image": None,
                "lines": [],
            }
            image = Path(where["image"])
            if image.is_file():
                with Image.open(image) as picture:
                    from PIL import ImageOps

                    picture = ImageOps.exif_transpose(picture).convert("L")
                    page["size"] = list(picture.size)
                    scale = min(1.0, PAGE_WIDTH_PX / picture.width)
                    small = picture.resize(
                        (
                            max(1, round(picture.width * scale)),
                            max(1, round(picture.height * scale)),
                        )
                    )
                    page["image"] = image_uri(small, quality=75)
        page["lines"].append({"row": index, "polygon": where["polygon"], "cer": rows[index]["cer"]})
    for page in pages.values():
        if "size" not in page:  # no image: frame the polygons
            xs = [x for line in page["lines"] for x, _ in line["polygon"]]
            ys = [y for line in page["lines"] for _, y in line["polygon"]]
            page["size"] = [max(xs) + 20, max(ys) + 20]
    return list(pages.values())


def report_data(scores: dict[str, Any]) -> dict[str, Any]:
    """``evaluate --json --per-item`` output -> what assets/htr.js draws."""
    items = scores["results"]
    rows, alignments = [], []
    for item in items:
        ref, hyp = item.get("reference_text") or "", item.get("text") or ""
        # a transcribed line without a reference has no errors to mark and no CER
        columns = align(ref, hyp) if ref else [["", h, "n"] for h in hyp]
        alignments.append(columns)
        confidences = item.get("confidences")
        if confidences is not None and len(confidences) != len(hyp):
            confidences = None  # a symbol of several characters: no per-character shading
        row: dict[str, Any] = {
            "id": item["id"],
            "align": columns,
            "cer": round(100.0 * Levenshtein.distance(ref, hyp) / len(ref), 2) if ref else None,
            "length": len(ref),
            "conf": confidences,
            "mean_conf": round(sum(confidences) / len(confidences), 4) if confidences else None,
        }
        for key in ("image", "width", "height", "offsets", "frames", "num_frames"):
            if key in item:
                row[key] = item[key]
        rows.append(row)
    summary = {
        key: scores[key]
        for key in (
            "data",
            "checkpoint",
            "lines",
            "items",
            "cer",
            "wer",
            "cer_insertions",
            "cer_deletions",
            "cer_substitutions",
            "cer_reference_length",
            "decoder",
        )
        if key in scores
    }
    return {
        "summary": summary,
        "rows": rows,
        "confusions": confusion_counts(alignments),
        "pages": _page_views(rows, items),
        "deformable_layers": scores.get("deformable_layers", []),
    }
