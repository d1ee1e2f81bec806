"""Many PAGE / ALTO pages as one line source: a folder of XML files, a glob, or a manifest.

What ``ketos train -f xml`` users have: an eScriptorium export (a flat folder of XML and images),
an HTR-United repository (XML in nested folders), a shell glob, or a list of XML paths (one per
line, relative to the list file; ``#`` starts a comment). Each page's image is found from its
``imageFilename`` / ``sourceImageInformation`` relative to the XML (see :mod:`keyscribe.htr.pages`).

A page that cannot be used at all (not well-formed, image missing, no text lines) is one problem
for the :class:`~keyscribe.htr.lines.SkipCounter`: skipped with a warning naming the file and
counted, or raised with ``on_error: fail``. METS files, which exports put beside the pages, and
``*.keyscribe.xml`` files, which ``keyscribe transcribe`` writes, are passed over silently.
"""

from __future__ import annotations

import glob
import logging
import os
from pathlib import Path

from lxml import etree

from keyscribe.errors import DataError
from keyscribe.htr.images import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

MANIFEST_SUFFIXES = (".txt", ".lst", ".list", "")
OUTPUT_SUFFIX = ".keyscribe.xml"  # what transcribe writes beside a page: never an input


def is_glob(source: str | Path) -> bool:
    """A pattern (``*``, ``?``, ``[``) that names no existing file itself."""
    text = str(source)
    return glob.has_magic(text) and not Path(text).exists()


def _is_xml(path: Path) -> bool:
    return path.suffix.lower() == ".xml" and not path.name.lower().endswith(OUTPUT_SUFFIX)


def is_page_folder(path: Path) -> bool:
    """A folder with PAGE/ALTO XML files (at any depth) and no line images of its own."""
    if not path.is_dir():
        return False
    if any(p.suffix.lower() in IMAGE_SUFFIXES and _has_text_file(p) for p in path.iterdir()):
        return False
    return any(_is_xml(p) for p in path.rglob("*.xml"))


def _has_text_file(image: Path) -> bool:
    return image.with_name(image.name[: -len(image.suffix)] + ".gt.txt").exists()


def is_manifest(path: Path) -> bool:
    """A text file whose first entry (not blank, not a ``#`` comment) ends in ``.xml``."""
    if not path.is_file() or path.name.endswith(".gt.txt"):
        return False
    if path.suffix.lower() not in MANIFEST_SUFFIXES:
        return False
    try:
        with path.open("rb") as handle:
            for raw in handle:
                entry = raw.decode("utf-8-sig", errors="replace").strip()
                if entry and not entry.startswith("#"):
                    return entry.lower().endswith(".xml")
    except OSError:
        return False
    return False


def is_page_set(source: str | Path) -> bool:
    """Whether ``source`` names many pages (folder of XML, glob, manifest) rather than one file."""
    path = Path(source)
    return is_glob(source) or is_page_folder(path) or is_manifest(path)


def manifest_entries(manifest: Path) -> list[Path]:
    """The XML paths a manifest lists, relative to its folder (absolute paths kept)."""
    try:
        content = manifest.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(manifest, f"not UTF-8 (byte {exc.start})") from None
    entries = []
    for row in content.splitlines():
        entry = row.strip()
        if entry and not entry.startswith("#"):
            path = Path(entry)
            # normalised, so that messages name ../export/a.xml as export/a.xml
            entries.append(Path(os.path.normpath(manifest.parent / path)))
    return entries


def page_files(source: str | Path) -> list[Path]:
    """Every page XML that ``source`` names, in a stable order (sorted, or the manifest's)."""
    path = Path(source)
    if is_glob(source):
        matches = sorted(Path(m) for m in glob.glob(str(source), recursive=True))
        files = [m for m in matches if m.is_file() and _is_xml(m)]
        if not files:
            raise DataError(source, "no PAGE/ALTO .xml file matches this pattern")
        return files
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.xml") if p.is_file() and _is_xml(p))
        if not files:
            raise DataError(path, "no PAGE/ALTO .xml file in this folder")
        return files
    if is_manifest(path):
        return manifest_entries(path)
    if path.suffix.lower() == ".xml":
        return [path]
    raise DataError(path, "not PAGE/ALTO pages (an .xml file, a folder or glob of them, a list)")


def is_mets(xml: Path) -> bool:
    """A METS file (eScriptorium exports one beside the pages): not a page, nothing to read."""
    try:
        for _, element in etree.iterparse(str(xml), events=("start",), no_network=True):
            return etree.QName(element).localname.lower() == "mets"
    except (etree.XMLSyntaxError, OSError):
        return False
    return False
