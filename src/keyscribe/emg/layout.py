"""Which sessions a data folder holds, and which split each belongs to.

Three layouts are read:

* the emg2qwerty release as it is downloaded: ``<session>.hdf5`` files plus a ``metadata.csv``
  whose columns include ``session`` and ``user`` (the release also has ``duration_mins``,
  ``num_keystrokes``, ``num_prompts``, ``quality_check_tags``, ...; extra columns are ignored)
  and no ``split``: the splits come from a split file of the benchmark's repository
  (``config/user/generic.yaml``, ``user0.yaml`` ... ``user7.yaml``), read as it ships;
* keyscribe's own ``metadata.csv`` with a ``split`` column (train / val / test);
* split folders ``train/ val/ test/`` of ``.hdf5`` files, or a flat folder (all ``test``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from keyscribe.atomic import atomic_write_text
from keyscribe.errors import ConfigError, DataError

SPLITS = ("train", "val", "test")
# the columns of the release's metadata.csv that keyscribe writes and reads (the benchmark's
# scripts read these too); the release may hold more, which are ignored
RELEASE_COLUMNS = (
    "session",
    "user",
    "duration_mins",
    "num_keystrokes",
    "num_prompts",
    "quality_check_tags",
)
SPLIT_FILE_HEADER = "# @package _global_\n"  # the benchmark's Hydra header, kept for its tools


@dataclass(frozen=True)
class SessionEntry:
    path: Path
    user: str
    split: str  # train, val or test; "" where the layout names no split (release, no split file)


@dataclass(frozen=True)
class SplitFile:
    """An emg2qwerty split file: ``user`` and ``(user, session)`` pairs per split."""

    path: Path
    user: str
    sessions: dict[str, list[tuple[str, str]]]  # split -> [(user, session name), ...]


def read_split_file(path: str | Path) -> SplitFile:
    """Parse a split YAML as the benchmark ships it (``dataset: {train: [{user, session}], ...}``)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(path, "split file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(path, f"not valid YAML ({str(exc).splitlines()[0]})") from None
    dataset = data.get("dataset") if isinstance(data, dict) else None
    if not isinstance(dataset, dict):
        raise ConfigError(
            path, "a split file needs a 'dataset' mapping of train / val / test lists"
        )
    unknown = sorted(set(map(str, dataset)) - set(SPLITS))
    if unknown:
        raise ConfigError(path, f"unknown split(s) {unknown} under 'dataset' (train, val, test)")
    sessions: dict[str, list[tuple[str, str]]] = {}
    for split in SPLITS:
        items = dataset.get(split) or []
        if not isinstance(items, list):
            raise ConfigError(path, f"dataset.{split} must be a list of {{user, session}}")
        pairs = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not item.get("session"):
                raise ConfigError(path, f"dataset.{split}[{i}] needs a 'session' name")
            pairs.append((str(item.get("user", "unknown")), str(item["session"])))
        sessions[split] = pairs
    return SplitFile(path, str(data.get("user", path.stem)), sessions)


def write_split_file(path: Path, user: str, sessions: dict[str, list[tuple[str, str]]]) -> None:
    """Write a split file in the benchmark's format (readable by its own training script)."""
    tree: dict[str, Any] = {
        "user": user,
        "dataset": {
            split: [{"user": u, "session": s} for u, s in sessions.get(split, [])]
            for split in SPLITS
        },
    }
    atomic_write_text(path, SPLIT_FILE_HEADER + yaml.safe_dump(tree, sort_keys=False))


def session_path(root: Path, name: str) -> Path:
    return root / (name if name.endswith(".hdf5") else f"{name}.hdf5")


def sessions_from_split_file(root: Path, split_file: str | Path) -> list[SessionEntry]:
    """The sessions a split file names, at ``root/<session>.hdf5``; every one must exist."""
    parsed = read_split_file(split_file)
    if not root.is_dir():
        raise DataError(root, "data folder not found")
    entries = []
    for split in SPLITS:
        for user, name in parsed.sessions[split]:
            path = session_path(root, name)
            if not path.is_file():
                raise DataError(parsed.path, f"session {name} not found in {root}")
            entries.append(SessionEntry(path, user, split))
    return entries


def index_sessions(
    root: str | Path, metadata: str | Path | None = None, splits: str | Path | None = None
) -> list[SessionEntry]:
    """Sessions under ``root`` with their user and split (see the module docstring).

    ``splits`` (a split file) decides the splits when given; otherwise a ``split`` column of the
    metadata CSV does, or the folders. A release-style metadata.csv alone lists every session
    with split "" (evaluation takes them all; training needs a split file).
    """
    root = Path(root)
    if not root.exists():
        raise DataError(root, "data folder not found")
    if splits:
        return sessions_from_split_file(root, splits)
    csv_path = Path(metadata) if metadata else root / "metadata.csv"
    if csv_path.is_file():
        return _from_metadata(root, csv_path)
    if metadata:
        raise DataError(csv_path, "metadata file not found")
    if root.is_file():
        return [SessionEntry(root, "unknown", "test")]
    entries = [
        SessionEntry(p, "unknown", split)
        for split in SPLITS
        for p in sorted((root / split).glob("*.hdf5"))
    ]
    if not entries:
        entries = [SessionEntry(p, "unknown", "test") for p in sorted(root.glob("*.hdf5"))]
    if not entries:
        raise DataError(root, "no metadata.csv and no .hdf5 session files")
    return entries


def read_metadata(csv_path: Path) -> list[dict[str, str]]:
    """Rows of a metadata CSV (our columns or the release's), stripped; needs ``session``."""
    with csv_path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if "session" not in (reader.fieldnames or []):
            raise DataError(csv_path, "missing column(s) ['session']")
        return [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]


def _from_metadata(root: Path, csv_path: Path) -> list[SessionEntry]:
    entries = []
    for row in read_metadata(csv_path):
        split = row.get("split")
        if split is not None and split not in SPLITS:
            raise DataError(csv_path, f"unknown split '{split}' for session {row['session']}")
        path = session_path(root, row["session"])
        entries.append(SessionEntry(path, row.get("user") or "unknown", split or ""))
    return entries


def require_splits(entries: list[SessionEntry], root: str | Path) -> None:
    """Training needs to know each session's split: say how to give it when it does not."""
    if any(not e.split for e in entries):
        raise DataError(
            Path(root) / "metadata.csv",
            "has no 'split' column (the release's layout): name a split file with data.splits "
            "(or --splits), e.g. the benchmark's config/user/generic.yaml",
        )


@dataclass(frozen=True)
class SplitSummary:
    """What one split holds: session names (as the split file has them) and their totals."""

    sessions: list[str]
    users: list[str]
    hours: float
    keystrokes: int


def summarize_splits(root: str | Path, splits: str | Path | None = None) -> dict[str, SplitSummary]:
    """Sessions, users, hours and keystrokes per split of a data folder. Hours and keystrokes
    come from metadata.csv's ``duration_mins`` and ``num_keystrokes`` where it has them, else
    from the session files."""
    from keyscribe.emg.session import SAMPLE_RATE_HZ, EmgSession

    root = Path(root)
    entries = index_sessions(root, splits=splits)
    require_splits(entries, root)
    csv_path = root / "metadata.csv"
    known = {r["session"]: r for r in read_metadata(csv_path)} if csv_path.is_file() else {}
    out = {}
    for split in SPLITS:
        chosen = [e for e in entries if e.split == split]
        hours, keystrokes = 0.0, 0
        for e in chosen:
            row = known.get(e.path.stem, {})
            try:
                h, k = float(row["duration_mins"]) / 60, int(float(row["num_keystrokes"]))
            except (KeyError, ValueError):
                with EmgSession(e.path) as session:
                    h, k = len(session) / SAMPLE_RATE_HZ / 3600, len(session.keystrokes)
            hours, keystrokes = hours + h, keystrokes + k
        users = list(dict.fromkeys(e.user for e in chosen))
        out[split] = SplitSummary([e.path.stem for e in chosen], users, hours, keystrokes)
    return out
