"""Recognised pages out: the input ALTO or PAGE document, kept as it is, gaining the text, its
confidence and word (optionally glyph) elements with positions per line; or plain text; or JSON.

- ALTO: each recognised ``TextLine``'s ``String``/``SP``/``HYP`` children are replaced by one
  ``String`` per word (``CONTENT HPOS VPOS WIDTH HEIGHT WC``; in ALTO v4 also ``Shape/Polygon``,
  the part of the line's polygon the word covers) with an ``SP`` between words, and with
  ``--glyphs`` a ``Glyph`` per character (``CONTENT GC`` and its box). A line read as empty keeps
  one empty ``String`` (the schema needs one).
- PAGE (2013 and 2019): each recognised ``TextLine``'s ``Word`` and ``TextEquiv`` children are
  replaced by ``Word`` elements (``Coords``, ``TextEquiv@conf``; ``Glyph`` likewise with
  ``--glyphs``) and the line's ``TextEquiv@conf``; a region's own ``TextEquiv``, if it has one,
  becomes its lines' text; ``Metadata/LastChange`` is updated.

Everything else (ids, regions, reading order, metadata, the image reference) is left as it was;
lines that were not recognised (skipped as unreadable) keep what they had. Asked for the other
format (``--format alto`` for a PAGE page, or ``page`` for an ALTO one), a new document of that
format is written from the page's regions and lines (:mod:`keyscribe.htr.page_convert`).
Confidences are in [0, 1] (a word's: its least sure character's; a line's: the mean of its
characters').
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from keyscribe.atomic import atomic_write_bytes, atomic_write_text
from keyscribe.errors import ConfigError, DataError
from keyscribe.htr.page_convert import to_alto, to_page
from keyscribe.htr.pages import Page, PageLine
from keyscribe.htr.positions import Box, LineLayout

FORMATS = ("alto", "page", "txt", "json")
SUFFIXES = {"alto": ".xml", "page": ".xml", "txt": ".txt", "json": ".json"}
ALTO_V4_NAMESPACE_PREFIX = "http://www.loc.gov/standards/alto/ns-v4#"


def input_format(page: Page) -> str:
    """``alto`` or ``page``: the format a page's document is written back in."""
    return "alto" if page.format == "alto" else "page"


def output_path(xml: Path, fmt: str, out_dir: Path | None, tagged: bool = True) -> Path:
    """``<stem>.keyscribe.<xml|txt|json>`` (``tagged``) or ``<stem>.<ext>``, in ``out_dir`` or
    beside the input. Never the input itself."""
    if fmt not in FORMATS:
        raise ConfigError(None, f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    name = f"{xml.stem}.keyscribe{SUFFIXES[fmt]}" if tagged else f"{xml.stem}{SUFFIXES[fmt]}"
    out = (xml.parent if out_dir is None else Path(out_dir)) / name
    if out.resolve() == xml.resolve():
        raise DataError(xml, "refusing to overwrite the input page (choose another --out)")
    return out


def write_page(
    page: Page, layouts: dict[str, LineLayout], fmt: str, out: Path, glyphs: bool = False
) -> Path:
    """Write ``page`` with its recognised lines in ``fmt`` to ``out`` (atomically)."""
    if fmt not in FORMATS:
        raise ConfigError(None, f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "txt":
        ordered = reading_order(page)
        text = "".join(f"{layouts[line.id].text}\n" for line in ordered if line.id in layouts)
        atomic_write_text(out, text)
        return out
    if fmt == "json":
        atomic_write_text(out, json.dumps(page_json(page, layouts, glyphs), ensure_ascii=False))
        return out
    if fmt != input_format(page):  # a new document of the other format (see page_convert)
        page = to_alto(page) if fmt == "alto" else to_page(page)
        layouts = {line.id: layouts[line.id] for line in page.lines if line.id in layouts}
    if fmt == "alto":
        _fill_alto(page, layouts, glyphs)
    else:
        _fill_page(page, layouts, glyphs)
    atomic_write_bytes(out, etree.tostring(page.tree, xml_declaration=True, encoding="UTF-8"))
    return out


def _ordered_refs(group: etree._Element) -> list[str]:
    """Region ids of a PAGE reading-order group, nested groups flattened: an ordered group's
    members by ``index``, an unordered group's as written."""
    members = [c for c in group if _local(c) not in ("UserDefined", "Labels", "")]
    if "Ordered" in _local(group) and "Unordered" not in _local(group):
        members.sort(key=lambda c: int(c.get("index", "0") or 0))
    refs: list[str] = []
    for member in members:
        if _local(member).startswith("RegionRef"):
            refs.append(member.get("regionRef", ""))
        else:
            refs += _ordered_refs(member)
    return refs


def reading_order(page: Page) -> list[PageLine]:
    """The page's lines in reading order: PAGE regions as ``ReadingOrder`` lists them (lines of
    a region in document order; regions it leaves out after, in document order), ALTO lines and
    PAGE pages without one in document order."""
    root = page.tree.getroot()
    order = next((el for el in root.iter() if _local(el) == "ReadingOrder"), None)
    if order is None or input_format(page) != "page":
        return list(page.lines)
    rank = {ref: i for i, ref in enumerate(r for g in order for r in _ordered_refs(g))}

    def region_rank(line: PageLine) -> int:  # the nearest enclosing region that is listed
        for region in line.element.iterancestors():
            if region.get("id") in rank:
                return rank[str(region.get("id"))]
        return len(rank)

    keyed = [(region_rank(line), n, line) for n, line in enumerate(page.lines)]
    return [line for _, _, line in sorted(keyed, key=lambda k: (k[0], k[1]))]


def page_json(page: Page, layouts: dict[str, LineLayout], glyphs: bool) -> dict[str, object]:
    lines = []
    for line in reading_order(page):
        layout = layouts.get(line.id)
        if layout is None:
            continue
        words = []
        for word in layout.words:
            item = word.as_json(page=True)
            if glyphs:
                item["glyphs"] = [g.as_json(page=True) for g in word.glyphs]
            words.append(item)
        conf = None if layout.conf is None else round(layout.conf, 4)
        lines.append({"id": line.id, "text": layout.text, "conf": conf, "words": words})
    return {"page": str(page.xml), "image": str(page.image), "lines": lines}


# -- ALTO -----------------------------------------------------------------------------------------


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _alto_box(el: etree._Element, b: Box) -> None:
    el.set("HPOS", str(round(b.x0)))
    el.set("VPOS", str(round(b.y0)))
    el.set("WIDTH", str(max(1, round(b.x1) - round(b.x0))))
    el.set("HEIGHT", str(max(1, round(b.y1 - b.y0))))


def _alto_shape(el: etree._Element, ns: str | None, b: Box) -> None:
    shape = etree.SubElement(el, _tag(ns, "Shape"))
    points = " ".join(f"{x} {y}" for x, y in b.polygon)
    etree.SubElement(shape, _tag(ns, "Polygon")).set("POINTS", points)


def _tag(ns: str | None, name: str) -> str:
    return f"{{{ns}}}{name}" if ns else name


def _fill_alto(page: Page, layouts: dict[str, LineLayout], glyphs: bool) -> None:
    for line in page.lines:
        layout = layouts.get(line.id)
        if layout is None:
            continue
        el = line.element
        ns = etree.QName(el).namespace
        shapes = (ns or "").startswith(ALTO_V4_NAMESPACE_PREFIX)  # Shape in String: ALTO v4
        for old in [c for c in el if _local(c) in ("String", "SP", "HYP")]:
            el.remove(old)
        if not layout.words:
            etree.SubElement(el, _tag(ns, "String")).set("CONTENT", "")
            continue
        for k, word in enumerate(layout.words):
            string = etree.SubElement(el, _tag(ns, "String"))
            string.set("ID", f"{line.id}_w{k}")
            string.set("CONTENT", word.text)
            _alto_box(string, word)
            string.set("WC", f"{word.conf:.4f}")
            if shapes:
                _alto_shape(string, ns, word)
            for m, glyph in enumerate(word.glyphs if glyphs else []):
                if len(glyph.text) != 1:  # the schema's Glyph holds exactly one character
                    continue
                g = etree.SubElement(string, _tag(ns, "Glyph"))
                g.set("ID", f"{line.id}_w{k}_g{m}")
                g.set("CONTENT", glyph.text)
                g.set("GC", f"{glyph.conf:.4f}")
                _alto_box(g, glyph)
                if shapes:
                    _alto_shape(g, ns, glyph)
            if k < len(layout.spaces):
                sp = etree.SubElement(el, _tag(ns, "SP"))
                space = layout.spaces[k]
                sp.set("HPOS", str(round(space.x0)))
                sp.set("VPOS", str(round(space.y0)))
                sp.set("WIDTH", str(max(0, round(space.x1) - round(space.x0))))


# -- PAGE -----------------------------------------------------------------------------------------


def _points(b: Box) -> str:
    return " ".join(f"{x},{y}" for x, y in b.polygon)


def _text_equiv(parent: etree._Element, ns: str | None, text: str, conf: float | None) -> None:
    equiv = etree.SubElement(parent, _tag(ns, "TextEquiv"))
    if conf is not None:
        equiv.set("conf", f"{conf:.4f}")
    etree.SubElement(equiv, _tag(ns, "Unicode")).text = text


def _page_word(ns: str | None, word_id: str, b: Box, glyphs: bool) -> etree._Element:
    word = etree.Element(_tag(ns, "Word"))
    word.set("id", word_id)
    etree.SubElement(word, _tag(ns, "Coords")).set("points", _points(b))
    for m, glyph in enumerate(b.glyphs if glyphs else []):
        g = etree.SubElement(word, _tag(ns, "Glyph"))
        g.set("id", f"{word_id}_g{m}")
        etree.SubElement(g, _tag(ns, "Coords")).set("points", _points(glyph))
        _text_equiv(g, ns, glyph.text, glyph.conf)
    _text_equiv(word, ns, b.text, b.conf)
    return word


def _fill_page(page: Page, layouts: dict[str, LineLayout], glyphs: bool) -> None:
    regions: dict[etree._Element, None] = {}
    for line in page.lines:
        layout = layouts.get(line.id)
        if layout is None:
            continue
        el = line.element
        ns = etree.QName(el).namespace
        for old in [c for c in el if _local(c) in ("Word", "TextEquiv")]:
            el.remove(old)
        # schema order: AlternativeImage*, Coords, Baseline?, Word*, TextEquiv*, TextStyle?,
        # UserDefined?, Labels*
        new = [_page_word(ns, f"{line.id}_w{k}", w, glyphs) for k, w in enumerate(layout.words)]
        holder = etree.Element("holder")
        _text_equiv(holder, ns, layout.text, layout.conf)
        new.append(holder[0])
        later = [c for c in el if _local(c) in ("TextStyle", "UserDefined", "Labels")]
        for item in new:
            if later:
                later[0].addprevious(item)
            else:
                el.append(item)
        parent = el.getparent()
        if parent is not None:
            regions[parent] = None
    for region in regions:
        _refresh_region_text(region, page, layouts)
    _touch_last_change(page)


def _refresh_region_text(
    region: etree._Element, page: Page, layouts: dict[str, LineLayout]
) -> None:
    """A region that carries its own text gets its lines' (PAGE keeps the levels consistent)."""
    equiv = next((c for c in region if _local(c) == "TextEquiv"), None)
    if equiv is None:
        return
    texts = []
    for line in page.lines:
        if line.element.getparent() is region:
            texts.append(layouts[line.id].text if line.id in layouts else (line.text or ""))
    unicode = next((c for c in equiv if _local(c) == "Unicode"), None)
    if unicode is not None:
        unicode.text = "\n".join(texts)
    equiv.attrib.pop("conf", None)
    for plain in [c for c in equiv if _local(c) == "PlainText"]:
        equiv.remove(plain)


def _touch_last_change(page: Page) -> None:
    root = page.tree.getroot()
    for metadata in (c for c in root if _local(c) == "Metadata"):
        for last in (c for c in metadata if _local(c) == "LastChange"):
            last.text = datetime.now(UTC).replace(microsecond=0, tzinfo=None).isoformat()
