"""Handwriting fonts for synthetic lines: the bundled ones, and more fetched from npm.

Every font comes from a ``@fontsource/<name>`` package on the npm registry (Google Fonts
builds, OFL-1.1 or Apache-2.0). Only the Latin subset at one weight is kept (a .woff file that
Pillow's FreeType reads directly; it covers French: àâçéèêëîïôùûüœ « » ’ €), with the package's
LICENSE and metadata.json. Eight are bundled in keyscribe/resources/fonts; ``fetch_fonts``
(``keyscribe htr fetch-fonts``) downloads the whole list below into a cache folder, checking
each tarball against the registry's sha512 integrity. Licences: docs/synthetic-htr.md.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tarfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from keyscribe.errors import DataError

REGISTRY = "https://registry.npmjs.org"
VENDORED_DIR = Path(__file__).resolve().parents[1] / "resources" / "fonts"
FONT_SUFFIXES = (".woff", ".ttf", ".otf")


@dataclass(frozen=True)
class FontPackage:
    name: str  # @fontsource/<name>
    family: str
    license: str
    version: str = "5.3.0"
    weight: int = 400
    bundled: bool = False


FONT_PACKAGES: tuple[FontPackage, ...] = (
    FontPackage("caveat", "Caveat", "OFL-1.1", bundled=True),
    FontPackage("dancing-script", "Dancing Script", "OFL-1.1", bundled=True),
    FontPackage("homemade-apple", "Homemade Apple", "Apache-2.0", bundled=True),
    FontPackage("indie-flower", "Indie Flower", "OFL-1.1", bundled=True),
    FontPackage("kalam", "Kalam", "OFL-1.1", bundled=True),
    FontPackage("patrick-hand", "Patrick Hand", "OFL-1.1", bundled=True),
    FontPackage("shadows-into-light", "Shadows Into Light", "OFL-1.1", bundled=True),
    FontPackage("cedarville-cursive", "Cedarville Cursive", "OFL-1.1", bundled=True),
    FontPackage("reenie-beanie", "Reenie Beanie", "OFL-1.1"),
    FontPackage("gochi-hand", "Gochi Hand", "OFL-1.1"),
    FontPackage("handlee", "Handlee", "OFL-1.1"),
    FontPackage("nothing-you-could-do", "Nothing You Could Do", "OFL-1.1"),
    FontPackage("la-belle-aurore", "La Belle Aurore", "OFL-1.1"),
    FontPackage("sacramento", "Sacramento", "OFL-1.1"),
    FontPackage("rock-salt", "Rock Salt", "Apache-2.0"),
    FontPackage("covered-by-your-grace", "Covered By Your Grace", "OFL-1.1"),
)


def font_cache_dir() -> Path:
    """Where fetched fonts go: $KEYSCRIBE_FONT_DIR, else $XDG_CACHE_HOME (~/.cache)/keyscribe/fonts."""
    if os.environ.get("KEYSCRIBE_FONT_DIR"):
        return Path(os.environ["KEYSCRIBE_FONT_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "keyscribe" / "fonts"


def font_files(*dirs: Path) -> list[Path]:
    """Font files under the given folders (one level of sub-folders), sorted, without duplicates
    by file name (a fetched copy of a bundled font counts once)."""
    seen: dict[str, Path] = {}
    for d in dirs:
        if not d.is_dir():
            continue
        for path in sorted(d.glob("*/*")) + sorted(d.glob("*")):
            if path.suffix.lower() in FONT_SUFFIXES and path.name not in seen:
                seen[path.name] = path
    return sorted(seen.values(), key=lambda p: p.name)


def _get(url: str, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "keyscribe-fetch-fonts"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


def fetch_font(pkg: FontPackage, dest: Path, timeout: float = 30.0) -> Path:
    """Download one @fontsource package, check its integrity and keep its Latin .woff at the
    package's weight plus LICENSE and metadata.json in dest/<name>/. Returns the font file."""
    target = dest / pkg.name
    woff = f"{pkg.name}-latin-{pkg.weight}-normal.woff"
    if (target / woff).is_file():
        return target / woff
    meta = json.loads(_get(f"{REGISTRY}/@fontsource%2F{pkg.name}/{pkg.version}", timeout))
    dist = meta["dist"]
    blob = _get(dist["tarball"], timeout)
    algo, _, digest = dist.get("integrity", "").partition("-")
    if algo != "sha512" or base64.b64decode(digest) != hashlib.sha512(blob).digest():
        raise DataError(dist["tarball"], "tarball does not match the registry's sha512 integrity")
    if meta.get("license") != pkg.license:
        raise DataError(
            dist["tarball"], f"licence is {meta.get('license')!r}, expected {pkg.license}"
        )
    wanted = {
        f"package/files/{woff}": woff,
        "package/LICENSE": "LICENSE",
        "package/metadata.json": "metadata.json",
    }
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.name in wanted and member.isfile():
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                (target / wanted[member.name]).write_bytes(data)
    if not (target / woff).is_file():
        raise DataError(dist["tarball"], f"no {woff} in the package")
    return target / woff


def fetch_fonts(
    dest: Path | None = None,
    names: list[str] | None = None,
    timeout: float = 30.0,
    log: Callable[[str], None] = print,
    stop_on_error: bool = False,
) -> list[Path]:
    """Fetch the listed packages (default: all of FONT_PACKAGES) into dest (default: the cache).
    Fonts already there are kept; a package that fails is logged and skipped (or, with
    ``stop_on_error``, ends the fetching: offline, one failure is enough)."""
    dest = dest or font_cache_dir()
    by_name = {p.name: p for p in FONT_PACKAGES}
    unknown = sorted(set(names or []) - set(by_name))
    if unknown:
        raise DataError(None, f"unknown font package(s) {unknown}; known: {sorted(by_name)}")
    fetched = []
    for name in names or list(by_name):
        try:
            fetched.append(fetch_font(by_name[name], dest, timeout))
        except (OSError, ValueError, KeyError, tarfile.TarError, DataError) as exc:
            log(f"keyscribe: warning: font {name}: {exc}")
            if stop_on_error:
                log(
                    "keyscribe: warning: using the bundled fonts; `keyscribe htr fetch-fonts` adds more"
                )
                break
    return fetched


def available_fonts(
    extra: Path | None = None, fetch: bool = False, log: Callable[[str], None] = print
) -> list[Path]:
    """Bundled fonts, fonts in the cache and, if given, in ``extra``. With ``fetch``, the first
    call that finds the cache without the full list tries to fetch it (failures only warn)."""
    cache = font_cache_dir()
    if fetch and not (cache / ".complete").exists():
        got = fetch_fonts(cache, timeout=15.0, log=log, stop_on_error=True)
        if len(got) == len(FONT_PACKAGES):
            (cache / ".complete").write_text("all fonts fetched\n", encoding="utf-8")
    dirs = [VENDORED_DIR, cache] + ([extra] if extra else [])
    fonts = font_files(*dirs)
    if extra is not None and not font_files(extra):
        raise DataError(extra, f"no font files ({', '.join(FONT_SUFFIXES)}) in this folder")
    return fonts


@lru_cache(maxsize=64)
def font_charset(path: str) -> frozenset[str]:
    """Characters the font maps to a glyph."""
    from fontTools.ttLib import TTFont

    with TTFont(path, lazy=True) as font:
        return frozenset(chr(c) for c in font.getBestCmap())
