"""PAGE (2013, 2019) and ALTO pages: lines, crops, EXIF orientation, bad pages (writing pages
back: test_page_output.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from lxml import etree
from PIL import Image

from keyscribe.errors import DataError
from keyscribe.htr.lines import SkipCounter, load_line_image, read_lines
from keyscribe.htr.pages import read_page

TEXTS = ["Mon cher George,", "Je suis en retard", None]  # the third: checked against the ALTO


@pytest.mark.parametrize(
    "name", ["01R_crop.alto.xml", "01R_crop.page2013.xml", "01R_crop.page2019.xml"]
)
def test_each_format_gives_the_same_lines(pages_dir: Path, name: str) -> None:
    alto = read_page(pages_dir / "01R_crop.alto.xml")
    page = read_page(pages_dir / name)
    assert page.image == pages_dir / "01R_crop.jpg"
    assert [line.id for line in page.lines] == [line.id for line in alto.lines]
    assert [line.text for line in page.lines][:2] == TEXTS[:2]
    assert [line.text for line in page.lines] == [line.text for line in alto.lines]
    assert page.lines[0].polygon == alto.lines[0].polygon
    crops = [np.asarray(load_line_image(r)) for r in read_lines(pages_dir / name)]
    expected = [np.asarray(load_line_image(r)) for r in read_lines(pages_dir / "01R_crop.alto.xml")]
    assert all(np.array_equal(a, b) for a, b in zip(crops, expected, strict=True))


def test_crop_is_the_polygon_box_plus_margin(pages_dir: Path) -> None:
    record = read_lines(pages_dir / "01R_crop.alto.xml")[0]
    xs = [p[0] for p in record.polygon]
    ys = [p[1] for p in record.polygon]
    crop = load_line_image(record)
    assert crop.mode == "L"
    assert crop.width == int(max(xs)) - int(min(xs)) + 1 + 8
    assert crop.height == min(200, int(max(ys)) + 5) - max(0, int(min(ys)) - 4)


def test_exif_orientation_is_honoured(pages_dir: Path, tmp_path: Path) -> None:
    """A page stored rotated with EXIF Orientation=6 crops exactly as the upright page."""
    xml = (
        (pages_dir / "01R_crop.alto.xml")
        .read_text(encoding="utf-8")
        .replace("01R_crop.jpg", "01R_crop.png")
    )
    (tmp_path / "page.xml").write_text(xml, encoding="utf-8")
    upright = Image.open(pages_dir / "01R_crop.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": the stored pixels are rotated 90 CCW
    upright.rotate(90, expand=True).save(tmp_path / "01R_crop.png", exif=exif)
    rotated = [np.asarray(load_line_image(r)) for r in read_lines(tmp_path / "page.xml")]
    reference = [
        np.asarray(load_line_image(r)) for r in read_lines(pages_dir / "01R_crop.alto.xml")
    ]
    assert [a.shape for a in rotated] == [b.shape for b in reference]
    # PNG copy of the decoded JPEG: identical pixels
    assert all(np.array_equal(a, b) for a, b in zip(rotated, reference, strict=True))


def test_page_without_lines_and_line_outside_page(pages_dir: Path, tmp_path: Path) -> None:
    tree = etree.parse(str(pages_dir / "01R_crop.page2019.xml"))
    ns = {"p": tree.getroot().nsmap[None]}
    lines = tree.findall(".//p:TextLine", ns)
    lines[0].find("p:Coords", ns).set("points", "5000,5000 5100,5000 5100,5050 5000,5050")
    shutil.copy(pages_dir / "01R_crop.jpg", tmp_path / "01R_crop.jpg")
    tree.write(str(tmp_path / "outside.xml"))
    records = read_lines(tmp_path / "outside.xml")
    with pytest.raises(
        DataError,
        match=r"outside.xml \(line eSc_line_06a94875\): line box .* is outside the 1157x200 page",
    ):
        load_line_image(records[0])
    for line in lines:
        line.getparent().remove(line)
    tree.write(str(tmp_path / "empty.xml"))
    with pytest.raises(DataError, match=r"empty.xml: page has no TextLine"):
        read_lines(tmp_path / "empty.xml")
    (tmp_path / "broken.xml").write_text("<PcGts><Page", encoding="utf-8")
    with pytest.raises(DataError, match=r"broken.xml: not well-formed XML"):
        read_lines(tmp_path / "broken.xml")


def test_line_without_text_is_skipped_for_training(pages_dir: Path, tmp_path: Path) -> None:
    tree = etree.parse(str(pages_dir / "01R_crop.alto.xml"))
    ns = {"a": tree.getroot().nsmap[None]}
    string = tree.find(".//a:TextLine/a:String", ns)
    string.getparent().remove(string)
    shutil.copy(pages_dir / "01R_crop.jpg", tmp_path / "01R_crop.jpg")
    tree.write(str(tmp_path / "page.xml"))
    report = SkipCounter()
    assert len(read_lines(tmp_path / "page.xml", report=report)) == 2 and len(report.skipped) == 1
    assert len(read_lines(tmp_path / "page.xml", need_text=False)) == 3
