"""Where each recognised character and word lies on the line, and on the page.

The network reads a line cut out of its page by the polygon's box (plus a margin, see
:func:`keyscribe.htr.images.crop_box`; lines are not deskewed) and resized to a fixed height, and
emits ``frames`` outputs for the ``width`` columns of the resized line: frame ``f`` covers
columns ``[f * width / frames, (f + 1) * width / frames)``. The best CTC alignment of the decoded
labels gives each character its frames; CTC puts a character's evidence on a few frames with
blanks between, so each character's extent reaches halfway to its neighbours'. A column ``c``
maps back to page x ``left + c * crop_width / width``. Vertically, a word or glyph is the part of
the line's polygon between its x bounds (with shapely), so it lies inside the polygon; its box
(ALTO ``HPOS VPOS WIDTH HEIGHT``) is that part's bounding box. A line image given directly is
its own polygon: a rectangle of its size.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

from keyscribe.decoding.confidence import ctc_align

Point = tuple[float, float]


@dataclass(frozen=True)
class LineGeometry:
    """How a line's resized image sits in its source: the crop's top-left corner and size in
    source pixels, the resized width the network read, and the line's polygon (None: the
    source is the line image itself)."""

    left: float
    top: float
    crop_width: int
    crop_height: int
    width: int
    polygon: tuple[Point, ...] | None = None

    def column_to_x(self, column: float) -> float:
        return self.left + column * self.crop_width / max(1, self.width)

    def outline(self) -> BaseGeometry:
        """The line's area in source pixels: its polygon (repaired if it crosses itself), or the
        crop's rectangle."""
        if self.polygon is None or len(self.polygon) < 3:
            return box(
                self.left, self.top, self.left + self.crop_width, self.top + self.crop_height
            )
        shape = Polygon(self.polygon)
        if not shape.is_valid:
            shape = shape.buffer(0)
        if shape.is_empty or shape.area <= 0:
            xs = [p[0] for p in self.polygon]
            ys = [p[1] for p in self.polygon]
            return box(min(xs), min(ys), max(xs) + 1, max(ys) + 1)
        return shape


@dataclass
class Box:
    """A glyph, word or space: its text, confidence in [0, 1], x extent, the part of the line's
    polygon it covers (integer points, clockwise as given) and that part's box."""

    text: str
    conf: float
    x0: float
    x1: float
    y0: float = 0.0
    y1: float = 0.0
    polygon: list[tuple[int, int]] = field(default_factory=list)
    glyphs: list[Box] = field(default_factory=list)

    def as_json(self, page: bool) -> dict[str, object]:
        """``{text, conf, x0, x1}``, with ``y0 y1`` and ``polygon`` on a page."""
        out: dict[str, object] = {
            "text": self.text,
            "conf": round(self.conf, 4),
            "x0": round(self.x0, 1),
            "x1": round(self.x1, 1),
        }
        if page:
            out.update(y0=round(self.y0, 1), y1=round(self.y1, 1), polygon=self.polygon)
        return out


@dataclass
class LineLayout:
    """A recognised line: text, confidence (mean of its characters', None when empty), words and
    the spaces between them, each word with its glyphs."""

    id: str
    text: str
    conf: float | None
    words: list[Box]
    spaces: list[Box]


def label_extents(
    log_probs: np.ndarray, labels: Sequence[int], blank: int
) -> list[tuple[float, float]]:
    """Per label, its ``[start, end)`` in frames: the frames CTC aligns it to, widened halfway to
    the next label's; labels the frames cannot hold share the line evenly."""
    frames = log_probs.shape[0]
    n = len(labels)
    if n == 0:
        return []
    spans = ctc_align(log_probs, labels, blank)
    if spans is None:
        step = frames / n
        return [(i * step, (i + 1) * step) for i in range(n)]
    out = []
    for i, (start, end) in enumerate(spans):
        left = float(start) if i == 0 else (spans[i - 1][1] + start) / 2
        right = float(end) if i == n - 1 else (end + spans[i + 1][0]) / 2
        out.append((left, right))
    return out


def _largest_polygon(shape: BaseGeometry) -> Polygon | None:
    parts = [g for g in getattr(shape, "geoms", [shape]) if isinstance(g, Polygon) and g.area > 0]
    return max(parts, key=lambda g: g.area) if parts else None


def _int_ring(shape: Polygon) -> list[tuple[int, int]]:
    """A polygon's outline as integer points (PAGE needs them), no repeats, at least 3."""
    points: list[tuple[int, int]] = []
    for x, y in list(shape.exterior.coords)[:-1]:
        p = (max(0, round(x)), max(0, round(y)))
        if not points or points[-1] != p:
            points.append(p)
    if len(points) > 1 and points[0] == points[-1]:
        points.pop()
    if len(points) < 3:
        x0, y0, x1, y1 = shape.bounds
        a, b = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
        c, d = max(a + 1, int(np.ceil(x1))), max(b + 1, int(np.ceil(y1)))
        points = [(a, b), (c, b), (c, d), (a, d)]
    return points


def place(outline: BaseGeometry, text: str, conf: float, x0: float, x1: float) -> Box:
    """The part of ``outline`` between ``x0`` and ``x1`` (clamped to it) as a Box."""
    minx, miny, maxx, maxy = outline.bounds
    x0, x1 = max(minx, min(x0, maxx)), max(minx, min(x1, maxx))
    if x1 - x0 < 1.0:  # at least a pixel wide, inside the outline's extent
        x1 = min(maxx, x0 + 1.0)
        x0 = max(minx, x1 - 1.0)
    part = _largest_polygon(shapely.clip_by_rect(outline, x0, miny - 1, x1, maxy + 1))
    if part is None:  # a sliver the polygon does not reach: the outline's full height there
        part = box(x0, miny, x1, maxy)
    ring = _int_ring(part)
    ys = [p[1] for p in ring]
    return Box(text, conf, x0, x1, float(min(ys)), float(max(ys)), ring)


def layout_line(
    line_id: str,
    symbols: Sequence[str],
    confidences: Sequence[float],
    extents: Sequence[tuple[float, float]],
    frames: int,
    geometry: LineGeometry,
    separators: Collection[str] = (" ",),
) -> LineLayout:
    """Decoded symbols with their confidences and frame extents -> words, spaces and glyphs
    placed in the line's source (page, or line image) coordinates."""
    outline = geometry.outline()
    scale = geometry.width / max(1, frames)

    def x(frame: float) -> float:
        return geometry.column_to_x(frame * scale)

    words: list[Box] = []
    ranges: list[tuple[int, int]] = []  # label indices [first, last] of each word
    current: list[int] = []

    def close() -> None:
        if not current:
            return
        a, b = current[0], current[-1]
        text = "".join(symbols[a : b + 1])
        word = place(outline, text, min(confidences[a : b + 1]), x(extents[a][0]), x(extents[b][1]))
        word.glyphs = [
            place(outline, symbols[i], confidences[i], x(extents[i][0]), x(extents[i][1]))
            for i in current
        ]
        words.append(word)
        ranges.append((a, b))
        current.clear()

    for i, symbol in enumerate(symbols):
        if symbol in separators:
            close()
        else:
            current.append(i)
    close()
    spaces = []
    for k in range(1, len(words)):
        between = confidences[ranges[k - 1][1] + 1 : ranges[k][0]]
        conf = min(between, default=1.0)
        spaces.append(place(outline, " ", conf, words[k - 1].x1, words[k].x0))
    text = "".join(symbols)
    line_conf = float(np.mean(confidences)) if len(confidences) else None
    return LineLayout(line_id, text, line_conf, words, spaces)
