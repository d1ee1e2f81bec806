"""Many PAGE / ALTO pages as one line source: folders, globs, manifests, bad lines and pages."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from lxml import etree

from keyscribe.errors import DataError
from keyscribe.htr.config import HtrDataConfig
from keyscribe.htr.domain import split_records, split_sources
from keyscribe.htr.lines import SkipCounter, read_lines

SHARED_PAGES = Path(__file__).parents[2] / ".." / "shared" / "data" / "htr" / "pages" / "alto"
FORMATS = ("01R_crop.alto.xml", "01R_crop.page2013.xml", "01R_crop.page2019.xml")


def _copy_pages(pages_dir: Path, dest: Path) -> list[Path]:
    """The three fixture pages (one per format) in ``dest`` and ``dest/nested/``, images beside."""
    out = []
    for i, name in enumerate(FORMATS):
        folder = dest / "nested" if i == 2 else dest
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(pages_dir / "01R_crop.jpg", folder / "01R_crop.jpg")
        out.append(Path(shutil.copy(pages_dir / name, folder / name)))
    return out


def test_folder_glob_and_manifest_read_the_same_lines(pages_dir: Path, tmp_path: Path) -> None:
    pages = _copy_pages(pages_dir, tmp_path / "export")
    # what an eScriptorium export puts beside the pages, and what transcribe writes: not pages
    (tmp_path / "export" / "METS.xml").write_text(
        '<mets xmlns="http://www.loc.gov/METS/"/>', encoding="utf-8"
    )
    shutil.copy(pages[0], tmp_path / "export" / "01R_crop.alto.keyscribe.xml")
    manifest = tmp_path / "lists" / "train.txt"
    manifest.parent.mkdir()
    manifest.write_text(
        "# pages to train on\n"
        + "\n".join(f"../export/{p.relative_to(tmp_path / 'export')}" for p in pages)
        + "\n",
        encoding="utf-8",
    )
    one_by_one = [r for p in pages for r in read_lines(p)]
    assert len(one_by_one) == 3 * 3
    for source in (tmp_path / "export", f"{tmp_path}/export/**/*.xml", manifest):
        records = read_lines(source)
        assert sorted((r.source.name, r.id, r.text) for r in records) == sorted(
            (r.source.name, r.id, r.text) for r in one_by_one
        ), source
        assert all(r.image.name == "01R_crop.jpg" and r.polygon for r in records)
    assert [r.source for r in read_lines(manifest)] == [r.source for r in one_by_one]


def test_bad_line_is_skipped_with_file_and_line_named(
    pages_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _copy_pages(pages_dir, tmp_path)
    page = tmp_path / "nested" / "01R_crop.page2019.xml"
    tree = etree.parse(str(page))
    ns = {"p": tree.getroot().nsmap[None]}
    coords = tree.findall(".//p:TextLine", ns)[1].find("p:Coords", ns)
    coords.set("points", "12,a 30,40")
    tree.write(str(page))
    report = SkipCounter()
    with caplog.at_level(logging.WARNING):
        records = read_lines(tmp_path, report=report)
    assert len(records) == 3 * 3 - 1 and len(report.skipped) == 1
    assert "01R_crop.page2019.xml: TextLine" in report.skipped[0]
    assert "(XML line " in report.skipped[0] and "unreadable points" in report.skipped[0]
    assert any("01R_crop.page2019.xml" in m for m in caplog.messages)
    with pytest.raises(DataError, match=r"01R_crop.page2019.xml: TextLine .*unreadable points"):
        read_lines(tmp_path, on_error="fail")


def test_unusable_page_is_one_skip_or_a_failure(pages_dir: Path, tmp_path: Path) -> None:
    _copy_pages(pages_dir, tmp_path)
    (tmp_path / "broken.xml").write_text("<PcGts><Page", encoding="utf-8")
    report = SkipCounter()
    assert len(read_lines(tmp_path, report=report)) == 3 * 3
    assert len(report.skipped) == 1 and "broken.xml: not well-formed XML" in report.skipped[0]
    with pytest.raises(DataError, match=r"broken.xml: not well-formed XML"):
        read_lines(f"{tmp_path}/*.xml", on_error="fail")
    with pytest.raises(DataError, match=r"no PAGE/ALTO .xml file matches"):
        read_lines(f"{tmp_path}/*.nothing.xml")
    missing = tmp_path / "list.lst"
    missing.write_text("gone.xml\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"gone.xml: not found"):
        read_lines(missing, on_error="fail")


def test_split_sources_take_page_folders_and_manifests(pages_dir: Path, tmp_path: Path) -> None:
    _copy_pages(pages_dir, tmp_path / "train")
    (tmp_path / "val.txt").write_text("train/01R_crop.alto.xml\n", encoding="utf-8")
    data = HtrDataConfig(root=str(tmp_path), test=f"{tmp_path}/train/*.xml")
    assert split_sources(data, "train") == [tmp_path / "train"]
    assert split_sources(data, "val") == [tmp_path / "val.txt"]
    assert len(split_records(data, "train")) == 9
    assert len(split_records(data, "val")) == 3
    assert len(split_records(data, "test")) == 6  # not the nested page


@pytest.mark.skipif(not SHARED_PAGES.is_dir(), reason="../shared/data/htr/pages not present")
def test_shared_escriptorium_pages_read_as_a_folder_and_a_glob() -> None:
    report = SkipCounter()
    records = read_lines(SHARED_PAGES, report=report)
    assert {r.source.name for r in records} == {
        "01R_P1S7P178_001.xml",
        "50_df850_default.xml",
    }
    assert len(records) > 20 and not report.skipped
    assert len(read_lines(f"{SHARED_PAGES}/*.xml", need_text=False)) >= len(records)
