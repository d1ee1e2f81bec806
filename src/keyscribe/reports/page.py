"""One self-contained HTML file: the report's data as inline JSON, its script and styles inline,
images as ``data:`` URIs, so it opens from disk in any browser with no server and no network."""

from __future__ import annotations

import base64
import io
import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from keyscribe.atomic import atomic_write_text

ASSETS = "keyscribe.reports"


def _asset(name: str) -> str:
    return (resources.files(ASSETS) / "assets" / name).read_text(encoding="utf-8")


def image_uri(image: np.ndarray | Image.Image, quality: int = 70) -> str:
    """An 8-bit image (grey ``(h, w)``, RGB ``(h, w, 3)`` or RGBA) -> the smaller of its PNG and
    JPEG ``data:`` URIs (JPEG only without transparency). Scanned lines are smaller as JPEG,
    flat drawings and tiny maps as PNG."""
    picture = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    png = io.BytesIO()
    picture.save(png, format="PNG", optimize=True)
    best, kind = png.getvalue(), "png"
    if picture.mode in ("L", "RGB"):
        jpeg = io.BytesIO()
        picture.save(jpeg, format="JPEG", quality=quality, optimize=True)
        if jpeg.tell() < len(best):
            best, kind = jpeg.getvalue(), "jpeg"
    return f"data:image/{kind};base64,{base64.b64encode(best).decode('ascii')}"


def _inline_json(data: Any) -> str:
    """JSON that is safe inside ``<script>``: no ``</script>`` or ``<!--`` can close it early."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def render(kind: str, title: str, data: dict[str, Any]) -> str:
    """The page of report ``kind`` (``htr``, ``emg`` or ``runs``: the script assets/<kind>.js)."""
    from html import escape

    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        # no request may leave the page: images are data: URIs, everything else is inline
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
        f"<title>{escape(title)}</title>\n"
        f"<style>\n{_asset('report.css')}</style>\n</head>\n"
        f'<body data-kind="{escape(kind)}">\n<main id="app"><h1>{escape(title)}</h1>'
        "<noscript>This report needs JavaScript.</noscript></main>\n"
        f'<script type="application/json" id="ks-data">{_inline_json(data)}</script>\n'
        f"<script>\n{_asset('common.js')}\n{_asset(kind + '.js')}\n</script>\n"
        "</body></html>\n"
    )


def write_page(out: Path, kind: str, title: str, data: dict[str, Any]) -> Path:
    out = Path(out)
    atomic_write_text(out, render(kind, title, data))
    return out
