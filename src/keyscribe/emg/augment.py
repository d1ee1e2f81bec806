"""Down-Up boosted training data (semg-long-range-dependency, section 3.1.1): one decimated and
re-interpolated copy of every training session per factor, written once to a cache folder in
the emg2qwerty schema (same timestamps, keystrokes and prompts) and then read like any session,
so the filter never runs again in later epochs or runs."""

from __future__ import annotations

import hashlib
from pathlib import Path

from keyscribe.emg.session import EmgSession
from keyscribe.emg.synth import write_session
from keyscribe.emg.transforms import down_up


def cache_folder(root: str | Path, cache_dir: str) -> Path:
    """Where derived data goes: ``cache_dir``, or ``<root>/.keyscribe-cache``."""
    root = Path(root)
    return (
        Path(cache_dir)
        if cache_dir
        else (root if root.is_dir() else root.parent) / ".keyscribe-cache"
    )


def down_up_session(path: Path, factor: int, cache_dir: Path) -> Path:
    """The cached Down-Up copy of session ``path`` (written on first use).

    The file name carries the source's size and modification time, so an edited source gets a
    fresh copy. The whole session is filtered at once (a 30-minute benchmark session needs
    about 1 GB of memory here); the write is atomic, so a killed run leaves no half file.
    """
    stat = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[
        :10
    ]
    out = cache_dir / f"downup{factor}" / f"{path.stem}-{key}.hdf5"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with EmgSession(path) as session:
        emg, time = session.read()
        write_session(
            out,
            down_up(emg, factor),
            time,
            session.keystrokes,
            session.prompts,
            session.session_name,
            session.user,
        )
    return out
