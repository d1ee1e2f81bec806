"""PAGE XML (2013 and 2019 schemas) and ALTO (v2-v4) pages: read their text lines.

A page names its image (PAGE ``Page/@imageFilename``, ALTO ``sourceImageInformation/fileName``),
looked up beside the XML; each ``TextLine`` gives a polygon (PAGE ``Coords/@points``, ALTO
``Shape/Polygon/@POINTS``, or the ALTO ``HPOS VPOS WIDTH HEIGHT`` box) in pixels of the
EXIF-oriented image, and an optional transcription (PAGE line-level ``TextEquiv/Unicode``, ALTO
``String/@CONTENT`` joined by spaces). Problems raise DataError naming the XML file; a line
whose coordinates cannot be read is left out and its problem kept in ``Page.problems`` (naming
the line id and its line in the XML), so that one bad line does not cost the whole page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from keyscribe.errors import DataError
from keyscribe.htr.images import IMAGE_SUFFIXES

PAGE_NAMESPACES = {
    "http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15": "2013",
    "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15": "2019",
}


@dataclass
class PageLine:
    id: str
    polygon: list[tuple[float, float]]
    text: str | None
    element: etree._Element = field(repr=False)
    number: int = 0  # position among the page's TextLine elements (unreadable ones included)


@dataclass
class Page:
    xml: Path
    image: Path
    format: str  # "page-2013", "page-2019" or "alto"
    lines: list[PageLine]
    tree: etree._ElementTree = field(repr=False)
    # lines that could not be read (no or unreadable coordinates), each naming file and line
    problems: list[DataError] = field(default_factory=list)


def _parse(path: Path) -> etree._ElementTree:
    if not path.is_file():
        raise DataError(path, "not found")
    try:
        return etree.parse(
            str(path), etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
        )
    except etree.XMLSyntaxError as exc:
        raise DataError(path, f"not well-formed XML ({exc.msg})") from None


def _image_path(xml: Path, name: str | None) -> Path:
    candidates = []
    if name:
        candidates += [xml.parent / name, xml.parent / Path(name).name]
    candidates += [xml.with_suffix(s) for s in IMAGE_SUFFIXES]
    for c in candidates:
        if c.is_file():
            return c
    raise DataError(xml, f"page image {name or xml.stem + '.*'} not found beside the XML")


def _where(el: etree._Element, line_id: str) -> str:
    """How a problem names its line: the id and the line of the XML file it starts on."""
    return f"TextLine {line_id} (XML line {el.sourceline})"


def _points(text: str, xml: Path, where: str) -> list[tuple[float, float]]:
    """``"x,y x,y ..."`` (PAGE) or ``"x y x y ..."`` / ``"x,y x,y"`` (ALTO) -> [(x, y), ...]."""
    try:
        values = [float(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise DataError(xml, f"{where}: unreadable points {text[:40]!r}") from None
    if len(values) < 4 or len(values) % 2:
        raise DataError(xml, f"{where}: needs at least two x,y points, got {text[:40]!r}")
    return list(zip(values[0::2], values[1::2], strict=True))


def _tag(namespace: str | None, name: str) -> str:
    return f"{{{namespace}}}{name}" if namespace else name


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _read_page_xml(xml: Path, tree: etree._ElementTree, version: str) -> Page:
    root = tree.getroot()
    ns = {"p": etree.QName(root).namespace}
    page_el = root.find("p:Page", ns)
    if page_el is None:
        raise DataError(xml, "PAGE file without a Page element")
    lines: list[PageLine] = []
    problems: list[DataError] = []
    for number, el in enumerate(page_el.iterfind(".//p:TextLine", ns)):
        line_id = el.get("id") or f"line{number}"
        coords = el.find("p:Coords", ns)
        try:
            if coords is None or not coords.get("points"):
                raise DataError(xml, f"{_where(el, line_id)}: no Coords/@points")
            polygon = _points(coords.get("points", ""), xml, _where(el, line_id))
        except DataError as exc:
            problems.append(exc)
            continue
        equivs = el.findall("p:TextEquiv", ns)
        equivs.sort(key=lambda e: int(e.get("index", "0") or 0))
        text = None
        for eq in equivs:
            uni = eq.find("p:Unicode", ns)
            if uni is not None and uni.text is not None:
                text = uni.text
                break
        lines.append(PageLine(line_id, polygon, text, el, number))
    if not lines and not problems:
        raise DataError(xml, "page has no TextLine")
    image = _image_path(xml, page_el.get("imageFilename"))
    return Page(xml, image, f"page-{version}", lines, tree, problems)


def _alto_polygon(
    el: etree._Element, xml: Path, where: str, q: Any, ns: dict[str, str] | None
) -> list[tuple[float, float]]:
    """A TextLine's ``Shape/Polygon``, else its ``HPOS VPOS WIDTH HEIGHT`` box."""
    polygon_el = el.find(f"{q('Shape')}/{q('Polygon')}", namespaces=ns)
    if polygon_el is not None and polygon_el.get("POINTS"):
        return _points(polygon_el.get("POINTS", ""), xml, where)
    try:
        x, y, w, h = (float(el.get(k, "")) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT"))
    except ValueError:
        raise DataError(
            xml, f"{where}: neither a Shape/Polygon nor HPOS/VPOS/WIDTH/HEIGHT"
        ) from None
    return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]


def _read_alto(xml: Path, tree: etree._ElementTree) -> Page:
    root = tree.getroot()
    ns = {"a": etree.QName(root).namespace} if etree.QName(root).namespace else None
    q = (lambda n: f"a:{n}") if ns else (lambda n: n)
    unit = root.findtext(f".//{q('MeasurementUnit')}", namespaces=ns)
    if unit and unit.strip() != "pixel":
        raise DataError(xml, f"MeasurementUnit {unit.strip()!r} is not supported (need 'pixel')")
    name = root.findtext(f".//{q('sourceImageInformation')}/{q('fileName')}", namespaces=ns)
    lines: list[PageLine] = []
    problems: list[DataError] = []
    for number, el in enumerate(root.iterfind(f".//{q('TextLine')}", namespaces=ns)):
        line_id = el.get("ID") or f"line{number}"
        try:
            polygon = _alto_polygon(el, xml, _where(el, line_id), q, ns)
        except DataError as exc:
            problems.append(exc)
            continue
        words = [s.get("CONTENT", "") for s in el.iterfind(q("String"), namespaces=ns)]
        text = " ".join(w for w in words if w) if words else None
        lines.append(PageLine(line_id, polygon, text, el, number))
    if not lines and not problems:
        raise DataError(xml, "page has no TextLine")
    image = _image_path(xml, name.strip() if name else None)
    return Page(xml, image, "alto", lines, tree, problems)


def read_page(path: str | Path) -> Page:
    """A PAGE or ALTO file -> its image path and text lines (document order)."""
    xml = Path(path)
    tree = _parse(xml)
    root = tree.getroot()
    namespace = etree.QName(root).namespace or ""
    if _local(root) == "PcGts":
        version = PAGE_NAMESPACES.get(namespace)
        if version is None:
            raise DataError(
                xml, f"PAGE namespace {namespace!r} is not supported (2013-07-15 or 2019-07-15)"
            )
        return _read_page_xml(xml, tree, version)
    if _local(root) == "alto":
        return _read_alto(xml, tree)
    raise DataError(
        xml, f"neither PAGE (PcGts) nor ALTO (alto) XML: root element is {_local(root)!r}"
    )
