"""Line sources: folder/.gt.txt, TSV, IAM lines.txt, and bad inputs (one clear line, skip or fail)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from PIL import Image

from keyscribe.errors import DataError
from keyscribe.htr.lines import SkipCounter, load_line_image, read_lines


def test_folder_reads_every_line_with_its_text(lines_dir: Path) -> None:
    records = read_lines(lines_dir)
    assert len(records) == 10
    by_id = {r.id: r for r in records}
    assert by_id["12_dbc9b_default_l008"].text == "Mais"
    assert by_id["50_df850_default_l014"].text == "à l'autre"
    image = load_line_image(by_id["12_dbc9b_default_l008"])
    assert image.mode == "L" and image.height == 128


def test_tsv_and_iam_list_the_same_lines(lines_dir: Path, tmp_path: Path) -> None:
    folder = {r.id: r.text for r in read_lines(lines_dir)}
    tsv = tmp_path / "lines.tsv"
    rows = ["image\ttext"] + [f"{lines_dir / (i + '.jpg')}\t{t}" for i, t in folder.items()]
    tsv.write_text("\n".join(rows), encoding="utf-8")
    assert {r.id: r.text for r in read_lines(tsv)} == folder

    # IAM: lines.txt + lines/<form prefix>/<form>/<id>.png, words joined by |
    iam_rows, iam_text = ["# IAM-style list"], {}
    for n, (line_id, text) in enumerate(folder.items()):
        iam_id = f"a01-000u-{n:02d}"
        target = tmp_path / "lines" / "a01" / "a01-000u" / f"{iam_id}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.open(lines_dir / f"{line_id}.jpg").save(target)
        iam_rows.append(f"{iam_id} ok 154 19 408 746 1661 89 {text.replace(' ', '|')}")
        iam_text[iam_id] = text
    (tmp_path / "lines.txt").write_text("\n".join(iam_rows), encoding="utf-8")
    records = read_lines(tmp_path / "lines.txt")
    assert {r.id: r.text for r in records} == iam_text
    assert all(load_line_image(r).height == 128 for r in records)


def _bad_folder(lines_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "bad"
    shutil.copytree(lines_dir, folder)
    (folder / "12_dbc9b_default_l008.gt.txt").unlink()  # missing transcription
    (folder / "50_df850_default_l020.gt.txt").write_text("  \n", encoding="utf-8")  # empty
    (folder / "50_df850_default_l010.gt.txt").write_bytes(
        "qui tu\xe9".encode("latin-1")
    )  # not UTF-8
    (folder / "12_dbc9b_default_l010.jpg").write_bytes(b"not a jpeg at all")  # corrupt image
    (folder / "12_dbc9b_default_l004.jpg").write_bytes(b"")  # empty image file
    return folder


def test_bad_text_files_are_skipped_named_and_counted(
    lines_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = _bad_folder(lines_dir, tmp_path)
    report = SkipCounter("skip")
    with caplog.at_level(logging.WARNING):
        records = read_lines(folder, report=report)
    assert len(records) == 7 and len(report.skipped) == 3
    messages = "\n".join(report.skipped)
    assert "12_dbc9b_default_l008.gt.txt: transcription file missing" in messages
    assert "50_df850_default_l020.gt.txt: transcription is empty" in messages
    assert "50_df850_default_l010.gt.txt: transcription is not UTF-8" in messages
    assert "skipped 3 line(s)" in caplog.text


def test_bad_inputs_fail_with_the_file_named_when_asked(lines_dir: Path, tmp_path: Path) -> None:
    folder = _bad_folder(lines_dir, tmp_path)
    with pytest.raises(
        DataError, match=r"12_dbc9b_default_l008\.gt\.txt: transcription file missing"
    ):
        read_lines(folder, on_error="fail")


@pytest.mark.parametrize("name", ["12_dbc9b_default_l010", "12_dbc9b_default_l004"])
def test_corrupt_or_empty_image_is_named(lines_dir: Path, tmp_path: Path, name: str) -> None:
    folder = _bad_folder(lines_dir, tmp_path)
    record = next(r for r in read_lines(folder) if r.id == name)
    with pytest.raises(DataError, match=rf"{name}\.jpg: unreadable image"):
        load_line_image(record)


def test_not_a_line_source(tmp_path: Path) -> None:
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    with pytest.raises(DataError, match="not a line source"):
        read_lines(tmp_path / "notes.pdf")
    with pytest.raises(DataError, match="not found"):
        read_lines(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no lines found"):
        read_lines(tmp_path / "empty")
