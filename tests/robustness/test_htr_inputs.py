"""Broken handwriting inputs through ``transcribe``, ``evaluate`` and ``train``: unreadable,
empty, huge and 1-pixel images, unusual pixel formats, EXIF rotation, bad ``.gt.txt`` files,
characters outside the charset and PAGE/ALTO pages with no lines or boxes off the page."""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.checkpoints import LINES
from helpers.cli import assert_user_error, run_cli
from keyscribe import api

PAGES = LINES.parent / "pages"
SOURCE = sorted(LINES.glob("*.jpg"))[0]


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width x height`` pixels and holds none (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _save(path: Path, image: Image.Image, **kw) -> Path:
    image.save(path, **kw)
    return path


def _gray() -> Image.Image:
    return Image.open(SOURCE).convert("L")


UNREADABLE = {
    "not an image": (
        lambda d: _write(d / "x.png", b"\x89PNG\r\n\x1a\nnot really"),
        "unreadable image",
    ),
    "zero bytes": (lambda d: _write(d / "x.png", b""), "unreadable image"),
    "truncated jpeg": (
        lambda d: _write(d / "x.jpg", SOURCE.read_bytes()[:2000]),
        "unreadable image",
    ),
    "huge dimensions": (
        lambda d: _write(d / "x.png", _png_header(100_000, 100_000)),
        "image too large",
    ),
}


@pytest.mark.parametrize("command", ["transcribe", "evaluate"])
@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_unreadable_image(
    case: str, command: str, tmp_path: Path, htr_ckpt: Path, monkeypatch, capsys
) -> None:
    make, problem = UNREADABLE[case]
    image = make(tmp_path)
    (tmp_path / f"{image.stem}.gt.txt").write_text("abc", encoding="utf-8")
    target = image if command == "transcribe" else tmp_path
    result = run_cli([command, htr_ckpt, target], monkeypatch, capsys)
    assert_user_error(result, target, f"no usable lines (1 skipped; first: {image}: {problem}")


READABLE = {
    "1 pixel": lambda d: _save(d / "x.png", Image.new("L", (1, 1), 0)),
    "CMYK": lambda d: _save(d / "x.jpg", _gray().convert("CMYK")),
    "16-bit": lambda d: _save(
        d / "x.png", Image.fromarray(np.asarray(_gray()).astype(np.uint16) * 257)
    ),
    "RGBA": lambda d: _save(d / "x.png", _gray().convert("RGBA")),
    "gray+alpha": lambda d: _save(d / "x.png", _gray().convert("LA")),
    "palette": lambda d: _save(d / "x.png", _gray().convert("P")),
    "1-bit": lambda d: _save(d / "x.png", _gray().convert("1")),
    "float TIFF": lambda d: _save(
        d / "x.tif", Image.fromarray(np.asarray(_gray()).astype(np.float32) / 255)
    ),
}


@pytest.mark.parametrize("case", sorted(READABLE))
def test_unusual_pixel_formats_transcribe(
    case: str, tmp_path: Path, htr_ckpt: Path, monkeypatch, capsys
) -> None:
    image = READABLE[case](tmp_path)
    code, out, err = run_cli(["transcribe", htr_ckpt, image, "--json"], monkeypatch, capsys)
    assert code == 0 and "Traceback" not in err, err
    assert json.loads(out)["id"] == "x"


@pytest.mark.parametrize("case", ["CMYK", "16-bit", "RGBA", "gray+alpha", "float TIFF"])
def test_pixel_formats_read_as_the_same_line(case: str, tmp_path: Path, htr_ckpt: Path) -> None:
    """16-bit scans are scaled (Pillow alone clips them to white), alpha is composited on white."""
    recognizer = api.load_model(htr_ckpt)
    reference = recognizer.dataset(_save(tmp_path / "ref.png", _gray())).lines[0].astype(int)
    line = recognizer.dataset(READABLE[case](tmp_path)).lines[0].astype(int)
    tolerance = 12 if case == "CMYK" else 1  # JPEG re-encoding
    assert line.shape == reference.shape and np.abs(line - reference).mean() < tolerance


def test_exif_rotation_is_applied(tmp_path: Path, htr_ckpt: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 8  # "rotate 90 CW to view": stored sideways, shown upright
    upright = _gray()
    _save(tmp_path / "rot.png", upright.transpose(Image.Transpose.ROTATE_270), exif=exif)
    recognizer = api.load_model(htr_ckpt)
    line = recognizer.dataset(tmp_path / "rot.png").lines[0]
    expected = recognizer.dataset(_save(tmp_path / "up.png", upright)).lines[0]
    assert line.shape == expected.shape and np.array_equal(line, expected)


def _folder(tmp_path: Path, gt: bytes | None, name: str = "bad") -> Path:
    """A folder with one good line and one line whose .gt.txt holds ``gt`` (None: missing)."""
    folder = tmp_path / "lines"
    folder.mkdir(exist_ok=True)
    shutil.copy(SOURCE, folder / "good.jpg")
    (folder / "good.gt.txt").write_text("abc", encoding="utf-8")
    shutil.copy(SOURCE, folder / f"{name}.jpg")
    if gt is not None:
        (folder / f"{name}.gt.txt").write_bytes(gt)
    return folder


GT_CASES = {
    "missing": (None, "transcription file missing"),
    "empty": (b"", "transcription is empty"),
    "whitespace only": (b" \n\t\n", "transcription is empty"),
    "not UTF-8": (b"caf\xe9 cr\xe8me", "transcription is not UTF-8 (byte 3)"),
}


@pytest.mark.parametrize("case", sorted(GT_CASES))
def test_bad_transcription_is_skipped_by_name(
    case: str, tmp_path: Path, htr_config: Path, monkeypatch, capsys, caplog
) -> None:
    """Documented skip (data.on_error: skip, the default): one warning line naming the file; with
    on_error=fail the same problem is the one error line."""
    gt, problem = GT_CASES[case]
    folder = _folder(tmp_path, gt)
    args = [
        "train",
        htr_config,
        "--set",
        f"data.train={folder}",
        "--set",
        f"data.val={LINES}",
        "--out",
        tmp_path / "run",
    ]
    code, out, err = run_cli([*args, "--max-steps", "1"], monkeypatch, capsys)
    assert code == 0 and "Traceback" not in err, err
    assert f"skipping line: {folder / 'bad.gt.txt'}: {problem}" in caplog.text  # logging: stderr
    code, out, err = run_cli([*args, "--set", "data.on_error=fail"], monkeypatch, capsys)
    assert_user_error((code, out, err), folder / "bad.gt.txt", problem)
    caplog.clear()  # evaluate skips the line by name too (never scores it against "")
    code, out, err = run_cli(
        ["evaluate", tmp_path / "run" / "last.ckpt", folder, "--json"], monkeypatch, capsys
    )
    assert code == 0 and json.loads(out)["lines"] == 1, err
    assert f"skipping line: {folder / 'bad.gt.txt'}: {problem}" in caplog.text


def test_characters_outside_the_charset(
    tmp_path: Path, htr_ckpt: Path, monkeypatch, capsys, caplog
) -> None:
    """Evaluate: scored as errors, with a warning naming them; transcribe ignores references."""
    folder = _folder(tmp_path, "ab\u263a\u05d0".encode())
    code, out, err = run_cli(["evaluate", htr_ckpt, folder, "--json"], monkeypatch, capsys)
    assert code == 0 and "Traceback" not in err, err
    assert json.loads(out)["lines"] == 2 and "outside the charset" in caplog.text


def test_all_lines_unusable(tmp_path: Path, htr_ckpt: Path, monkeypatch, capsys) -> None:
    folder = tmp_path / "lines"
    folder.mkdir()
    _write(folder / "a.png", b"")
    result = run_cli(["evaluate", htr_ckpt, folder], monkeypatch, capsys)
    assert_user_error(
        result, folder, "no usable lines (1 skipped; first:", "a.gt.txt: transcription file missing"
    )
    (folder / "a.gt.txt").write_text("abc", encoding="utf-8")
    result = run_cli(["evaluate", htr_ckpt, folder], monkeypatch, capsys)
    assert_user_error(
        result, folder, "no usable lines (1 skipped; first:", "a.png: unreadable image"
    )


PAGE_NS = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15"


def _page(tmp_path: Path, lines: str) -> Path:
    shutil.copy(PAGES / "01R_crop.jpg", tmp_path / "p.jpg")
    xml = tmp_path / "p.xml"
    xml.write_text(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<PcGts xmlns="{PAGE_NS}"><Page imageFilename="p.jpg" '
        f'imageWidth="100" imageHeight="100"><TextRegion id="r">{lines}</TextRegion></Page></PcGts>\n',
        encoding="utf-8",
    )
    return xml


def _line(line_id: str, points: str) -> str:
    return f'<TextLine id="{line_id}"><Coords points="{points}"/><TextEquiv><Unicode>ab</Unicode></TextEquiv></TextLine>'


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda d: _page(d, ""), "page has no TextLine"),
        (lambda d: _write(d / "p.xml", b"<PcGts><Page"), "not well-formed XML"),
        (lambda d: _page(d, _line("l1", "90000,90000 91000,90000 91000,90040")), "no usable lines"),
        (lambda d: _page(d, _line("l1", "a,b c,d")), "unreadable points"),
    ],
    ids=["no lines", "not well-formed", "box outside the page", "bad points"],
)
def test_bad_page_xml(
    make, problem: str, tmp_path: Path, htr_ckpt: Path, monkeypatch, capsys
) -> None:
    xml = make(tmp_path)
    code, _, err = run_cli(["transcribe", htr_ckpt, xml], monkeypatch, capsys)
    assert code == 2 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert str(xml) in last and problem in last, err


def test_box_outside_page_is_named(tmp_path: Path, htr_ckpt: Path, monkeypatch, capsys) -> None:
    xml = _page(tmp_path, _line("l1", "90000,90000 91000,90000 91000,90040"))
    result = run_cli(["transcribe", htr_ckpt, xml], monkeypatch, capsys)
    assert_user_error(result, xml, "(line l1): line box (90000,90000)-(91000,90040) is outside the")
