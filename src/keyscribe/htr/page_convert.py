"""A page in the other format: PAGE -> ALTO v4, ALTO -> PAGE 2019, for ``transcribe --format``.

What carries over is what both formats hold: the image reference and size, the text regions
(PAGE ``TextRegion`` <-> ALTO ``TextBlock``, ids and polygons kept) and in them the text lines
(ids, polygons, baselines), in document order. Everything else (other region types, reading
order, styles, tags, metadata beyond the image) has no counterpart and is left out; the text and
words are filled in afterwards as for a page written in its own format.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from lxml import etree

from keyscribe.htr.images import open_image
from keyscribe.htr.pages import Page, PageLine

ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
ALTO_SCHEMA = "http://www.loc.gov/standards/alto/v4/alto-4-2.xsd"
PAGE_NS = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
XSI = "http://www.w3.org/2001/XMLSchema-instance"

Point = tuple[float, float]


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _child(el: etree._Element, name: str) -> etree._Element | None:
    return next((c for c in el if _local(c) == name), None)


def _numbers(text: str | None) -> list[float]:
    try:
        return [float(v) for v in (text or "").replace(",", " ").split()]
    except ValueError:
        return []


def _pairs(values: Sequence[float]) -> list[Point]:
    return list(zip(values[0::2], values[1::2], strict=False))


def _region_polygon(region: etree._Element, lines: list[PageLine]) -> list[Point]:
    """A region's own outline (PAGE Coords, ALTO Shape/Polygon or box), else its lines' box."""
    coords = _child(region, "Coords")
    if coords is not None:
        points = _pairs(_numbers(coords.get("points")))
        if len(points) >= 3:
            return points
    shape = _child(region, "Shape")
    polygon = _child(shape, "Polygon") if shape is not None else None
    if polygon is not None:
        points = _pairs(_numbers(polygon.get("POINTS")))
        if len(points) >= 3:
            return points
    box = _numbers(" ".join(region.get(k, "") for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT")))
    if len(box) == 4:
        x, y, w, h = box
        return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    xs = [p[0] for line in lines for p in line.polygon]
    ys = [p[1] for line in lines for p in line.polygon]
    return [(min(xs), min(ys)), (max(xs), min(ys)), (max(xs), max(ys)), (min(xs), max(ys))]


def _baseline(line: PageLine) -> list[Point]:
    """PAGE ``Baseline/@points`` or ALTO ``@BASELINE`` as points (ALTO < 4.2: a number, none)."""
    el = _child(line.element, "Baseline")
    values = _numbers(el.get("points") if el is not None else line.element.get("BASELINE"))
    return _pairs(values) if len(values) >= 4 and len(values) % 2 == 0 else []


def _regions(page: Page) -> list[tuple[str, list[Point], list[PageLine]]]:
    """(id, polygon, lines) per region holding lines, in document order."""
    groups: dict[etree._Element, list[PageLine]] = {}
    for line in page.lines:
        groups.setdefault(line.element.getparent(), []).append(line)
    out = []
    for n, (region, lines) in enumerate(groups.items()):
        region_id = region.get("id") or region.get("ID") or f"region{n}"
        out.append((region_id, _region_polygon(region, lines), lines))
    return out


def _image_size(page: Page) -> tuple[int, int]:
    root = page.tree.getroot()
    for el in root.iter():
        if _local(el) == "Page":
            w = el.get("imageWidth") or el.get("WIDTH")
            h = el.get("imageHeight") or el.get("HEIGHT")
            if w and h:
                return round(float(w)), round(float(h))
    return open_image(page.image).size


def _image_name(page: Page) -> str:
    root = page.tree.getroot()
    for el in root.iter():
        if _local(el) == "Page" and el.get("imageFilename"):
            return str(el.get("imageFilename"))
        if _local(el) == "fileName" and (el.text or "").strip():
            return (el.text or "").strip()
    return page.image.name


def _box(points: Sequence[Point]) -> dict[str, str]:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return {
        "HPOS": str(round(min(xs))),
        "VPOS": str(round(min(ys))),
        "WIDTH": str(max(1, round(max(xs) - min(xs)))),
        "HEIGHT": str(max(1, round(max(ys) - min(ys)))),
    }


def to_alto(page: Page) -> Page:
    """A PAGE page as a new ALTO v4 document (lines without text yet)."""
    nsmap = {None: ALTO_NS, "xsi": XSI}
    root = etree.Element(f"{{{ALTO_NS}}}alto", nsmap=nsmap)
    root.set(f"{{{XSI}}}schemaLocation", f"{ALTO_NS} {ALTO_SCHEMA}")
    a = lambda name: f"{{{ALTO_NS}}}{name}"  # noqa: E731
    description = etree.SubElement(root, a("Description"))
    etree.SubElement(description, a("MeasurementUnit")).text = "pixel"
    source = etree.SubElement(description, a("sourceImageInformation"))
    etree.SubElement(source, a("fileName")).text = _image_name(page)
    width, height = _image_size(page)
    layout = etree.SubElement(root, a("Layout"))
    page_el = etree.SubElement(
        layout, a("Page"), ID="page1", PHYSICAL_IMG_NR="1", WIDTH=str(width), HEIGHT=str(height)
    )
    space = etree.SubElement(
        page_el, a("PrintSpace"), HPOS="0", VPOS="0", WIDTH=str(width), HEIGHT=str(height)
    )
    lines = []
    for region_id, polygon, region_lines in _regions(page):
        block = etree.SubElement(space, a("TextBlock"), ID=region_id, **_box(polygon))
        _alto_polygon(etree.SubElement(block, a("Shape")), a, polygon)
        for line in region_lines:
            el = etree.SubElement(block, a("TextLine"), ID=line.id, **_box(line.polygon))
            baseline = _baseline(line)
            if baseline:
                el.set("BASELINE", " ".join(f"{round(x)} {round(y)}" for x, y in baseline))
            _alto_polygon(etree.SubElement(el, a("Shape")), a, line.polygon)
            # the schema needs a String in every line; a recognised line's replace it
            etree.SubElement(el, a("String"), CONTENT=line.text or "")
            lines.append(PageLine(line.id, line.polygon, line.text, el, line.number))
    return Page(page.xml, page.image, "alto", lines, etree.ElementTree(root))


def _alto_polygon(shape: etree._Element, a, points: Sequence[Point]) -> None:  # noqa: ANN001
    text = " ".join(f"{round(x)} {round(y)}" for x, y in points)
    etree.SubElement(shape, a("Polygon")).set("POINTS", text)


def _page_points(points: Sequence[Point]) -> str:
    return " ".join(f"{max(0, round(x))},{max(0, round(y))}" for x, y in points)


def to_page(page: Page) -> Page:
    """An ALTO page as a new PAGE 2019 document (lines without text yet)."""
    p = lambda name: f"{{{PAGE_NS}}}{name}"  # noqa: E731
    root = etree.Element(p("PcGts"), nsmap={None: PAGE_NS})
    metadata = etree.SubElement(root, p("Metadata"))
    now = datetime.now(UTC).replace(microsecond=0, tzinfo=None).isoformat()
    etree.SubElement(metadata, p("Creator")).text = "keyscribe"
    etree.SubElement(metadata, p("Created")).text = now
    etree.SubElement(metadata, p("LastChange")).text = now
    width, height = _image_size(page)
    page_el = etree.SubElement(
        root,
        p("Page"),
        imageFilename=_image_name(page),
        imageWidth=str(width),
        imageHeight=str(height),
    )
    lines = []
    for region_id, polygon, region_lines in _regions(page):
        region = etree.SubElement(page_el, p("TextRegion"), id=region_id)
        etree.SubElement(region, p("Coords"), points=_page_points(polygon))
        for line in region_lines:
            el = etree.SubElement(region, p("TextLine"), id=line.id)
            etree.SubElement(el, p("Coords"), points=_page_points(line.polygon))
            baseline = _baseline(line)
            if baseline:
                etree.SubElement(el, p("Baseline"), points=_page_points(baseline))
            lines.append(PageLine(line.id, line.polygon, line.text, el, line.number))
    return Page(page.xml, page.image, "page-2019", lines, etree.ElementTree(root))
