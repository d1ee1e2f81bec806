"""Pages out: ALTO / PAGE documents kept as they are, gaining text, confidences and word (and
glyph) elements whose positions come from the CTC alignment and lie inside their line.

The network here is scripted (known log-probs per line, see ``scripted``), so that the expected
positions are known exactly; test_training.py runs the same path with a trained model.

PAGE 2019 output is validated with the official XSD (tests/fixtures/xsd, from the PyPI package
``ocrd``). No PyPI package ships the ALTO v4 XSD (see tests/fixtures/xsd/README.md), so ALTO output
is checked against the rules of the ALTO 4.2 schema written out in ``check_alto_v4`` below.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from lxml import etree
from shapely.geometry import Polygon
from typer.testing import CliRunner

from helpers.checkpoints import save_untrained
from keyscribe import api
from keyscribe.cli import app
from keyscribe.errors import DataError
from keyscribe.htr.pages import read_page
from keyscribe.htr.positions import LineGeometry, label_extents, layout_line
from keyscribe.htr.transcribe import PageOutput, transcribe_inputs

FIXTURES = Path(__file__).parents[1] / "fixtures"
PAGE_XSD = FIXTURES / "xsd" / "pagecontent-2019-07-15.xsd"
SHARED_PAGES = Path(__file__).parents[2] / ".." / "shared" / "data" / "htr" / "pages" / "alto"
ALTO = "{http://www.loc.gov/standards/alto/ns-v4#}"
WORDS = ("ab", "c", "abc")  # what the scripted network reads on every line


@pytest.fixture(scope="module")
def checkpoint(lines_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny untrained HTR model (its weights do not matter: the network is scripted)."""
    tiny = {
        "domain": "htr",
        "data": {
            "height": 32,
            "train": str(lines_dir),
            "val": str(lines_dir),
            "charset_extra": "abc",
        },
        "model": {
            "frontend": {
                "kind": "puigcerver",
                "channels": [4, 4],
                "pool_widths": [2, 2],
                "pool_heights": [2, 2],
                "dropout": 0.0,
            },
            "encoder": {"kind": "lstm", "hidden_size": 8, "num_layers": 1, "dropout": 0.0},
        },
    }
    cfg = api.config_from_tree(tiny)
    return save_untrained(cfg, tmp_path_factory.mktemp("model") / "tiny.ckpt")


def scripted_log_probs(alphabet, width: int) -> tuple[torch.Tensor, int, list[tuple[int, float]]]:
    """Log-probs ``(frames, classes)`` for a line ``width`` columns wide, one frame per 4
    columns, reading WORDS: each symbol peaks on one frame (probability 0.9), spread evenly.
    Also returns (frame, posterior) per symbol."""
    frames = max(1, width // 4)
    text = " ".join(WORDS)
    probs = np.full((frames, alphabet.num_classes), 1e-6)
    probs[:, alphabet.blank] = 1.0
    peaks = []
    for k, symbol in enumerate(text):
        f = int((k + 0.5) * frames / len(text))
        probs[f] = 1e-6
        probs[f, alphabet.index(symbol)] = 0.9
        probs[f, alphabet.blank] = 0.1
        peaks.append((f, 0.9))
    probs /= probs.sum(axis=1, keepdims=True)
    return torch.from_numpy(np.log(probs)).float(), frames, peaks


@pytest.fixture
def scripted(checkpoint: Path, monkeypatch: pytest.MonkeyPatch):
    """load_model, with a network that reads WORDS on every line."""
    real = api.load_model

    def load(path):
        recognizer = real(path)

        def batch_log_probs(samples):
            out = []
            for s in samples:
                lp, frames, _ = scripted_log_probs(recognizer.alphabet, s.inputs.shape[0])
                out.append((lp, frames))
            return out

        recognizer.batch_log_probs = batch_log_probs
        return recognizer

    monkeypatch.setattr(api, "load_model", load)
    return load(checkpoint)


# -- positions ------------------------------------------------------------------------------------


def test_extents_reach_halfway_between_aligned_frames() -> None:
    probs = np.full((10, 3), 0.01)
    probs[:, 0] = 0.98
    probs[2] = [0.1, 0.89, 0.01]
    probs[6] = [0.1, 0.01, 0.89]
    extents = label_extents(np.log(probs), [1, 2], blank=0)
    assert extents == [(2.0, 4.5), (4.5, 7.0)]


def test_columns_map_through_crop_and_resize_and_stay_in_the_polygon() -> None:
    # a line cut at (100, 50), 200 x 40 px, resized to 100 columns (half size); 50 frames
    polygon = ((104, 54), (296, 60), (296, 86), (104, 80))
    geometry = LineGeometry(100, 50, 200, 40, 100, polygon)
    symbols = list("ab cd")
    extents = [(5, 10), (10, 15), (15, 20), (20, 30), (30, 40)]  # frames
    layout = layout_line("l1", symbols, [0.9, 0.8, 0.7, 0.6, 0.95], extents, 50, geometry)
    assert [w.text for w in layout.words] == ["ab", "cd"]
    # frame f = column 2 f = page x 100 + 4 f
    assert (layout.words[0].x0, layout.words[0].x1) == (120, 160)
    assert (layout.words[1].x0, layout.words[1].x1) == (180, 260)
    assert [w.conf for w in layout.words] == [0.8, 0.6]
    assert (layout.spaces[0].x0, layout.spaces[0].x1, layout.spaces[0].conf) == (160, 180, 0.7)
    assert [(g.text, g.x0, g.x1) for g in layout.words[1].glyphs] == [
        ("c", 180, 220),
        ("d", 220, 260),
    ]
    line = Polygon(polygon).buffer(1.0)
    for box in [*layout.words, *layout.spaces, *layout.words[0].glyphs]:
        assert line.contains(Polygon(box.polygon)), box
    assert layout.conf == pytest.approx(np.mean([0.9, 0.8, 0.7, 0.6, 0.95]))


# -- schema checks --------------------------------------------------------------------------------


def check_page_2019(path: Path) -> None:
    schema = etree.XMLSchema(etree.parse(str(PAGE_XSD)))
    doc = etree.parse(str(path))
    assert schema.validate(doc), schema.error_log


def _float(el, name: str) -> float:
    value = el.get(name)
    assert value is not None, f"{el.tag} without {name}"
    number = float(value)
    assert math.isfinite(number)
    return number


def check_alto_v4(path: Path) -> None:
    """The ALTO 4.2 schema's rules for what transcribe writes: alto = Description?, Styles?,
    Tags?, Layout; Description starts with MeasurementUnit; Page needs ID and PHYSICAL_IMG_NR;
    TextBlock needs ID, holds Shape? then TextLine*; TextLine = Shape?, (String, SP?)+,
    HYP?; String needs CONTENT, its children are Shape?, ALTERNATIVE*, Glyph*; Glyph needs a
    one-character CONTENT, children Shape?, Variant*; SP has no children; WC and GC are floats in
    [0, 1]; positions are floats; Polygon needs POINTS; IDs are unique NCNames."""
    doc = etree.parse(str(path))
    root = doc.getroot()
    assert root.tag == f"{ALTO}alto"
    top = [etree.QName(c).localname for c in root]
    assert top[-1:] == ["Layout"] and set(top) <= {"Description", "Styles", "Tags", "Layout"}
    description = root.find(f"{ALTO}Description")
    if description is not None:  # MeasurementUnit first and required
        assert etree.QName(description[0]).localname == "MeasurementUnit"
        assert description[0].text in ("pixel", "mm10", "inch1200")
    for page in root.iter(f"{ALTO}Page"):  # ID and PHYSICAL_IMG_NR required
        assert page.get("ID") and float(page.get("PHYSICAL_IMG_NR")) >= 0
    for block in root.iter(f"{ALTO}TextBlock"):  # BlockType: ID required, Shape? first
        assert block.get("ID")
        kids = [etree.QName(c).localname for c in block]
        assert set(kids) <= {"Shape", "TextLine"} and "Shape" not in kids[1:]
    ids = [el.get("ID") for el in doc.iter() if isinstance(el.tag, str) and el.get("ID")]
    assert len(ids) == len(set(ids)), "duplicate ID"
    assert all(i[0].isalpha() or i[0] == "_" for i in ids)
    for line in doc.iter(f"{ALTO}TextLine"):
        names = [etree.QName(c).localname for c in line]
        body = names[1:] if names[:1] == ["Shape"] else names
        if body[-1:] == ["HYP"]:
            body = body[:-1]
        assert body and body[0] == "String", names
        for a, b in zip(body, body[1:], strict=False):
            assert (a, b) in (("String", "String"), ("String", "SP"), ("SP", "String")), names
        assert body[-1] == "String" or body[-1] == "SP"
        for string in line.iter(f"{ALTO}String"):
            assert string.get("CONTENT") is not None
            kids = [etree.QName(c).localname for c in string]
            order = {"Shape": 0, "ALTERNATIVE": 1, "Glyph": 2}
            assert [order[k] for k in kids] == sorted(order[k] for k in kids), kids
            assert kids.count("Shape") <= 1
            for el in [string, *string.iter(f"{ALTO}Glyph")]:
                for key in ("HPOS", "VPOS", "WIDTH", "HEIGHT"):
                    if el.get(key) is not None:
                        _float(el, key)
            if string.get("WC") is not None:
                assert 0.0 <= _float(string, "WC") <= 1.0
            for glyph in string.iter(f"{ALTO}Glyph"):
                assert len(glyph.get("CONTENT", "")) == 1
                assert 0.0 <= _float(glyph, "GC") <= 1.0
                assert {etree.QName(c).localname for c in glyph} <= {"Shape", "Variant"}
        for sp in line.iter(f"{ALTO}SP"):
            assert len(sp) == 0 and set(sp.attrib) <= {"ID", "HPOS", "VPOS", "WIDTH", "HEIGHT"}
    for polygon in doc.iter(f"{ALTO}Polygon"):
        assert polygon.get("POINTS")


def _inside(points: list[tuple[float, float]], line: Polygon) -> bool:
    return line.buffer(1.0).contains(Polygon(points))


# -- pages out ------------------------------------------------------------------------------------


def _page(pages_dir: Path, tmp_path: Path, name: str) -> Path:
    shutil.copy(pages_dir / "01R_crop.jpg", tmp_path / "01R_crop.jpg")
    return Path(shutil.copy(pages_dir / name, tmp_path / name))


def test_alto_gains_strings_spaces_and_glyphs_inside_their_lines(
    scripted, pages_dir: Path, tmp_path: Path
) -> None:
    xml = _page(pages_dir, tmp_path, "01R_crop.alto.xml")
    before = etree.parse(str(xml))
    results = transcribe_inputs(scripted, [xml], PageOutput("alto", tmp_path / "out", False, True))
    out = tmp_path / "out" / "01R_crop.alto.xml"
    check_alto_v4(out)
    doc = etree.parse(str(out))
    lines = list(doc.iter(f"{ALTO}TextLine"))
    assert [x.get("ID") for x in lines] == [x.get("ID") for x in before.iter(f"{ALTO}TextLine")]
    assert [b.get("ID") for b in doc.iter(f"{ALTO}TextBlock")] == [
        b.get("ID") for b in before.iter(f"{ALTO}TextBlock")
    ]
    assert doc.find(f".//{ALTO}sourceImageInformation") is not None
    page = read_page(xml)
    for line, original in zip(lines, page.lines, strict=True):
        strings = line.findall(f"{ALTO}String")
        assert [s.get("CONTENT") for s in strings] == list(WORDS)
        assert len(line.findall(f"{ALTO}SP")) == len(WORDS) - 1
        shape = Polygon(original.polygon)
        xs = [p[0] for p in original.polygon]
        ys = [p[1] for p in original.polygon]
        for s in [*strings, *line.iter(f"{ALTO}Glyph")]:
            x, y = _float(s, "HPOS"), _float(s, "VPOS")
            w, h = _float(s, "WIDTH"), _float(s, "HEIGHT")
            assert min(xs) - 1 <= x and x + w <= max(xs) + 1 and w >= 1
            assert min(ys) - 1 <= y and y + h <= max(ys) + 1 and h >= 1
            values = [float(v) for v in s.find(f"{ALTO}Shape/{ALTO}Polygon").get("POINTS").split()]
            assert _inside(list(zip(values[0::2], values[1::2], strict=True)), shape)
        assert [g.get("CONTENT") for g in line.iter(f"{ALTO}Glyph")] == list("".join(WORDS))
        x0 = [_float(s, "HPOS") for s in strings]
        assert x0 == sorted(x0)  # left to right, as read
        assert all(0.0 <= float(s.get("WC")) <= 1.0 for s in strings)
    assert [r["text"] for r in results] == [" ".join(WORDS)] * 3
    assert all(0.0 <= r["conf"] <= 1.0 for r in results)
    assert [w["text"] for w in results[0]["words"]] == list(WORDS)
    assert {r["page"] for r in results} == {str(xml)}


@pytest.mark.parametrize("name", ["01R_crop.page2019.xml", "01R_crop.page2013.xml"])
def test_page_gains_words_with_coords_and_conf(
    scripted, pages_dir: Path, tmp_path: Path, name: str
) -> None:
    xml = _page(pages_dir, tmp_path, name)
    transcribe_inputs(scripted, [xml], PageOutput(None, None, True, True))
    out = tmp_path / name.replace(".xml", ".keyscribe.xml")
    if "2019" in name:
        check_page_2019(out)
    doc = etree.parse(str(out))
    ns = {"p": doc.getroot().nsmap[None]}
    assert [r.get("id") for r in doc.findall(".//p:TextRegion", ns)] == ["r1"]
    page = read_page(xml)
    for line, original in zip(doc.findall(".//p:TextLine", ns), page.lines, strict=True):
        assert line.get("id") == original.id
        assert line.find("p:Baseline", ns) is not None  # kept
        words = line.findall("p:Word", ns)
        assert [w.find("p:TextEquiv/p:Unicode", ns).text for w in words] == list(WORDS)
        line_equiv = line.find("p:TextEquiv", ns)
        assert line_equiv.find("p:Unicode", ns).text == " ".join(WORDS)
        assert 0.0 <= float(line_equiv.get("conf")) <= 1.0
        shape = Polygon(original.polygon)
        for el in [*words, *line.iter(f"{{{ns['p']}}}Glyph")]:
            assert 0.0 <= float(el.find("p:TextEquiv", ns).get("conf")) <= 1.0
            points = [
                tuple(map(int, p.split(","))) for p in el.find("p:Coords", ns).get("points").split()
            ]
            assert _inside(points, shape)
    # the input is untouched, and reads back with the new text
    assert read_page(xml).lines[0].text == "Mon cher George,"
    shutil.copy(pages_dir / "01R_crop.jpg", out.parent / "01R_crop.jpg")
    assert [line.text for line in read_page(out).lines] == [" ".join(WORDS)] * 3


def test_txt_json_and_the_cli(scripted, pages_dir: Path, tmp_path: Path, checkpoint: Path) -> None:
    xml = _page(pages_dir, tmp_path, "01R_crop.page2019.xml")
    runner = CliRunner()
    for fmt in ("txt", "json"):
        result = runner.invoke(
            app,
            [
                "transcribe",
                str(checkpoint),
                str(xml),
                "--format",
                fmt,
                "--out",
                str(tmp_path / "o"),
            ],
        )
        assert result.exit_code == 0, result.output
    assert (tmp_path / "o" / "01R_crop.page2019.txt").read_text(encoding="utf-8") == (
        f"{' '.join(WORDS)}\n" * 3
    )
    data = json.loads((tmp_path / "o" / "01R_crop.page2019.json").read_text(encoding="utf-8"))
    assert [len(line["words"]) for line in data["lines"]] == [len(WORDS)] * 3
    word = data["lines"][0]["words"][0]
    assert set(word) >= {"text", "conf", "x0", "x1", "y0", "y1", "polygon"}


def test_other_format_is_a_new_valid_document_with_the_same_lines(
    scripted, pages_dir: Path, tmp_path: Path
) -> None:
    page_xml = _page(pages_dir, tmp_path, "01R_crop.page2019.xml")
    alto_xml = _page(pages_dir, tmp_path, "01R_crop.alto.xml")
    transcribe_inputs(scripted, [page_xml], PageOutput("alto", tmp_path / "a", False, True))
    transcribe_inputs(scripted, [alto_xml], PageOutput("page", tmp_path / "p", False, True))
    check_alto_v4(tmp_path / "a" / "01R_crop.page2019.xml")
    check_page_2019(tmp_path / "p" / "01R_crop.alto.xml")
    for out, source in (
        (tmp_path / "a" / "01R_crop.page2019.xml", page_xml),
        (tmp_path / "p" / "01R_crop.alto.xml", alto_xml),
    ):
        shutil.copy(pages_dir / "01R_crop.jpg", out.parent / "01R_crop.jpg")
        converted, original = read_page(out), read_page(source)
        assert [line.id for line in converted.lines] == [line.id for line in original.lines]
        assert [line.text for line in converted.lines] == [" ".join(WORDS)] * 3
        for a, b in zip(converted.lines, original.lines, strict=True):
            assert np.allclose(a.polygon, b.polygon, atol=0.5)
    doc = etree.parse(str(tmp_path / "a" / "01R_crop.page2019.xml"))
    assert [b.get("ID") for b in doc.iter(f"{ALTO}TextBlock")] == ["r1"]
    assert doc.find(f".//{ALTO}fileName").text == "01R_crop.jpg"


def test_line_image_json_has_word_columns(scripted, lines_dir: Path, checkpoint: Path) -> None:
    image = sorted(lines_dir.glob("*.jpg"))[0]
    result = CliRunner().invoke(app, ["transcribe", str(checkpoint), str(image), "--json"])
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout)
    width = Image_width(image)
    assert [w["text"] for w in line["words"]] == list(WORDS)
    for w in line["words"]:
        assert set(w) >= {"text", "conf", "x0", "x1"} and 0 <= w["x0"] < w["x1"] <= width
        assert 0.0 <= w["conf"] <= 1.0
    # the scripted peaks: frame f covers columns [4 f, 4 f + 4) of the resized line
    x0 = [w["x0"] for w in line["words"]]
    assert x0 == sorted(x0)


def Image_width(path: Path) -> int:
    from PIL import Image

    with Image.open(path) as im:
        return im.width


def test_evaluate_reads_a_glob_or_many_pages(
    scripted, pages_dir: Path, tmp_path: Path, checkpoint: Path
) -> None:
    for name in ("01R_crop.alto.xml", "01R_crop.page2013.xml"):
        _page(pages_dir, tmp_path, name)
    args = ["evaluate", str(checkpoint), f"{tmp_path}/*.xml", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert scores["lines"] == 6 and scores["cer"] > 0
    # what the shell makes of an unquoted glob: several paths, scored together
    pages = sorted(str(p) for p in tmp_path.glob("*.xml"))
    args = ["evaluate", str(checkpoint), *pages, "--json", "--per-item"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    several = json.loads(result.stdout)
    assert several["lines"] == 6 and several["cer"] == pytest.approx(scores["cer"])
    assert [r["page"]["xml"] for r in several["results"]] == [p for p in pages for _ in range(3)]


@pytest.mark.skipif(not SHARED_PAGES.is_dir(), reason="../shared/data/htr/pages not present")
def test_shared_escriptorium_pages_validate(scripted, tmp_path: Path) -> None:
    """The two eScriptorium ALTO v4 pages, written back as ALTO and as PAGE 2019 documents."""
    transcribe_inputs(scripted, [SHARED_PAGES], PageOutput("page", tmp_path / "page", False))
    for name in ("01R_P1S7P178_001.xml", "50_df850_default.xml"):
        check_page_2019(tmp_path / "page" / name)
        doc = etree.parse(str(tmp_path / "page" / name))
        ns = {"p": doc.getroot().nsmap[None]}
        lines = {x.id: x for x in read_page(SHARED_PAGES / name).lines}
        assert len(doc.findall(".//p:TextLine", ns)) == len(lines)
        for line in doc.findall(".//p:TextLine", ns):
            shape = Polygon(lines[line.get("id")].polygon).buffer(0)
            for word in line.findall("p:Word", ns):
                points = word.find("p:Coords", ns).get("points").split()
                assert _inside([tuple(map(int, q.split(","))) for q in points], shape)
    transcribe_inputs(scripted, [SHARED_PAGES], PageOutput("alto", tmp_path, False, True))
    for name in ("01R_P1S7P178_001.xml", "50_df850_default.xml"):
        out = tmp_path / name
        check_alto_v4(out)
        page = read_page(SHARED_PAGES / name)
        doc = etree.parse(str(out))
        by_id = {line.id: line for line in page.lines}
        for line in doc.iter(f"{ALTO}TextLine"):
            shape = Polygon(by_id[line.get("ID")].polygon)
            if not shape.is_valid:
                shape = shape.buffer(0)
            for s in line.iter(f"{ALTO}String"):
                values = [
                    float(v) for v in s.find(f"{ALTO}Shape/{ALTO}Polygon").get("POINTS").split()
                ]
                assert _inside(list(zip(values[0::2], values[1::2], strict=True)), shape)
                assert 0.0 <= float(s.get("WC")) <= 1.0


def test_txt_and_json_follow_the_page_reading_order(
    scripted, pages_dir: Path, tmp_path: Path
) -> None:
    """Lines of a region that ReadingOrder puts first come first; the document keeps its order."""
    xml = _page(pages_dir, tmp_path, "01R_crop.page2019.xml")
    tree = etree.parse(str(xml))
    ns = tree.getroot().nsmap[None]
    r1 = tree.find(f".//{{{ns}}}TextRegion")
    last = r1.findall(f"{{{ns}}}TextLine")[-1]
    r2 = etree.SubElement(r1.getparent(), f"{{{ns}}}TextRegion", id="r2")
    etree.SubElement(r2, f"{{{ns}}}Coords", points="0,0 1156,0 1156,199 0,199")
    r2.append(last)
    order = etree.Element(f"{{{ns}}}ReadingOrder")
    group = etree.SubElement(order, f"{{{ns}}}OrderedGroup", id="ro")
    etree.SubElement(group, f"{{{ns}}}RegionRefIndexed", index="1", regionRef="r1")
    etree.SubElement(group, f"{{{ns}}}RegionRefIndexed", index="0", regionRef="r2")
    r1.getparent().insert(0, order)
    tree.write(str(xml), xml_declaration=True, encoding="UTF-8")
    check_page_2019(xml)
    ids = [line.id for line in read_page(xml).lines]
    transcribe_inputs(scripted, [xml], PageOutput("json", tmp_path / "o", False))
    transcribe_inputs(scripted, [xml], PageOutput("page", tmp_path / "o", False))
    data = json.loads((tmp_path / "o" / "01R_crop.page2019.json").read_text(encoding="utf-8"))
    assert [line["id"] for line in data["lines"]] == [ids[2], ids[0], ids[1]]
    check_page_2019(tmp_path / "o" / "01R_crop.page2019.xml")
    kept = etree.parse(str(tmp_path / "o" / "01R_crop.page2019.xml"))
    assert [e.get("id") for e in kept.iter(f"{{{ns}}}TextLine")] == ids


def test_alto_v3_pages_read_and_write_without_v4_shapes(
    scripted, pages_dir: Path, tmp_path: Path
) -> None:
    shutil.copy(pages_dir / "01R_crop.jpg", tmp_path / "01R_crop.jpg")
    v3 = (pages_dir / "01R_crop.alto.xml").read_text(encoding="utf-8").replace("ns-v4#", "ns-v3#")
    xml = tmp_path / "v3.xml"
    xml.write_text(v3, encoding="utf-8")
    transcribe_inputs(scripted, [xml], PageOutput(None, tmp_path / "o", False, True))
    doc = etree.parse(str(tmp_path / "o" / "v3.xml"))
    v3_ns = "{http://www.loc.gov/standards/alto/ns-v3#}"
    strings = list(doc.iter(f"{v3_ns}String"))
    assert [s.get("CONTENT") for s in strings] == list(WORDS) * 3
    assert all(s.find(f"{v3_ns}Shape") is None and s.get("HPOS") for s in strings)
    assert len(list(doc.iter(f"{v3_ns}Glyph"))) == len("".join(WORDS)) * 3


def test_pages_of_one_name_in_several_folders_keep_their_folders(
    scripted, pages_dir: Path, tmp_path: Path
) -> None:
    for folder in ("a", "b/c"):
        (tmp_path / "corpus" / folder).mkdir(parents=True)
        _page(pages_dir, tmp_path / "corpus" / folder, "01R_crop.alto.xml")
    out = tmp_path / "out"
    transcribe_inputs(scripted, [tmp_path / "corpus"], PageOutput("txt", out, False))
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.txt")) == [
        "a/01R_crop.alto.txt",
        "b/c/01R_crop.alto.txt",
    ]
    twice = [tmp_path / "corpus" / "a" / "01R_crop.alto.xml", tmp_path / "corpus" / "b" / "c"]
    with pytest.raises(DataError, match="written already for another page of the same name"):
        transcribe_inputs(scripted, twice, PageOutput("txt", tmp_path / "flat", False))
