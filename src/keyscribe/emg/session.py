"""Read-only, lazy view of one emg2qwerty session file.

Schema (the benchmark's): HDF5 group ``emg2qwerty`` holding a compound dataset ``timeseries``
with fields ``emg_left`` float32 (16,), ``emg_right`` float32 (16,), ``time`` float64 (unix
seconds, 2 kHz), in any field order, possibly compressed; group attributes ``session_name``,
``user``, ``condition``, ``duration_mins``, ``keystrokes`` (JSON list of {key, start, end}) and
``prompts`` (JSON list of {name, start, end, payload: {text}}).

Only metadata is loaded on open; samples are read from disk per slice, because sessions are
200-300 MB. h5py handles do not pickle, so datasets open sessions lazily in each worker.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from keyscribe.emg.keys import keystroke_labels
from keyscribe.errors import DataError

GROUP = "emg2qwerty"
TIMESERIES = "timeseries"
EMG_FIELDS = ("emg_left", "emg_right")
TIME_FIELD = "time"
SAMPLE_RATE_HZ = 2000.0
NUM_BANDS = 2
CHANNELS_PER_BAND = 16


def _parse_json_list(path: Path, name: str, raw: Any) -> list[Any]:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    try:
        value = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise DataError(path, f"attribute '{name}' is not valid JSON ({exc})") from None
    if not isinstance(value, list):
        raise DataError(path, f"attribute '{name}' must be a JSON list, got {type(value).__name__}")
    return value


def _check_keystrokes(path: Path, items: list[Any]) -> list[dict[str, Any]]:
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "key" not in item or "start" not in item:
            raise DataError(path, f"keystrokes[{i}] must be an object with 'key' and 'start'")
        if not isinstance(item["key"], str):
            raise DataError(path, f"keystrokes[{i}].key must be a string")
        start = item["start"]
        if isinstance(start, bool) or not isinstance(start, int | float) or not math.isfinite(start):
            raise DataError(path, f"keystrokes[{i}].start must be a finite number")
    return items


def _first_line(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")


class EmgSession:
    """One session file. Use as a context manager, or call ``close()``.

    ``read(start, stop)`` returns EMG as ``(samples, band=2, channel=16)`` float32 (left band
    first) and timestamps ``(samples,)`` float64.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise DataError(self.path, "file not found")
        if self.path.is_dir():
            raise DataError(self.path, "is a directory, expected an .hdf5 session file")
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as exc:
            raise DataError(self.path, f"not a readable HDF5 file ({exc.__class__.__name__})") from None
        try:
            self._open()
        except (KeyError, OSError, ValueError, RuntimeError) as exc:  # h5py on a damaged file
            self._file.close()
            raise DataError(self.path, f"corrupt HDF5 structure ({_first_line(exc)})") from None
        except BaseException:
            self._file.close()
            raise

    def _open(self) -> None:
        path = self.path
        if GROUP not in self._file or not isinstance(self._file[GROUP], h5py.Group):
            raise DataError(path, f"no group '{GROUP}'")
        group = self._file[GROUP]
        if TIMESERIES not in group or not isinstance(group[TIMESERIES], h5py.Dataset):
            raise DataError(path, f"{GROUP} has no dataset '{TIMESERIES}'")
        ts = group[TIMESERIES]
        fields = ts.dtype.fields
        if fields is None:
            raise DataError(path, f"{GROUP}/{TIMESERIES} is not a compound dataset")
        if ts.ndim != 1:
            raise DataError(path, f"{GROUP}/{TIMESERIES} must be 1-D, has shape {ts.shape}")
        for name in EMG_FIELDS:
            if name not in fields:
                raise DataError(path, f"{GROUP}/{TIMESERIES} has no field '{name}'")
            dtype = fields[name][0]
            if dtype.shape != (CHANNELS_PER_BAND,) or dtype.base.kind != "f":
                raise DataError(
                    path,
                    f"field '{name}' must be float ({CHANNELS_PER_BAND},), got {dtype.base}{dtype.shape}",
                )
        if TIME_FIELD not in fields:
            raise DataError(path, f"{GROUP}/{TIMESERIES} has no field '{TIME_FIELD}'")
        tdtype = fields[TIME_FIELD][0]
        if tdtype.shape != () or tdtype.kind != "f":
            raise DataError(path, f"field '{TIME_FIELD}' must be a float scalar, got {tdtype}")
        if len(ts) == 0:
            raise DataError(path, "empty session (0 samples)")
        self._ts = ts
        attrs = group.attrs
        if "keystrokes" not in attrs:
            raise DataError(path, f"{GROUP} has no attribute 'keystrokes'")
        self.keystrokes = _check_keystrokes(
            path, _parse_json_list(path, "keystrokes", attrs["keystrokes"])
        )
        self.prompts = (
            _parse_json_list(path, "prompts", attrs["prompts"]) if "prompts" in attrs else []
        )
        for i, prompt in enumerate(self.prompts):
            if not isinstance(prompt, dict):
                raise DataError(path, f"prompts[{i}] must be an object, got {type(prompt).__name__}")
        self.session_name = str(attrs.get("session_name", path.stem))
        self.user = str(attrs.get("user", "unknown"))
        self.condition = str(attrs.get("condition", "on_keyboard"))
        try:
            self.duration_mins = float(attrs.get("duration_mins", len(ts) / SAMPLE_RATE_HZ / 60))
        except (TypeError, ValueError):
            raise DataError(path, f"attribute 'duration_mins' must be a number, got {attrs['duration_mins']!r}") from None
        self._time: np.ndarray | None = None

    # -- context management -------------------------------------------------------------------
    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> EmgSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- samples --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._ts.shape[0])

    @property
    def sample_rate_hz(self) -> float:
        return SAMPLE_RATE_HZ

    @property
    def time(self) -> np.ndarray:
        """All timestamps ``(samples,)``; read once (8 bytes per sample), then cached."""
        if self._time is None:
            try:
                self._time = np.asarray(self._ts.fields(TIME_FIELD)[:], dtype=np.float64)
            except (OSError, ValueError) as exc:  # a damaged chunk
                raise DataError(self.path, f"unreadable timestamps ({_first_line(exc)})") from None
        return self._time

    def read(self, start: int = 0, stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Samples [start, stop) -> emg ``(n, 2, 16)`` float32, time ``(n,)`` float64."""
        stop = len(self) if stop is None else min(stop, len(self))
        start = max(0, start)
        try:
            rows = self._ts[start:stop]
        except (OSError, ValueError) as exc:  # a damaged or truncated chunk
            raise DataError(self.path, f"unreadable samples {start}-{stop} ({_first_line(exc)})") from None
        emg = np.stack([rows[f] for f in EMG_FIELDS], axis=1).astype(np.float32, copy=False)
        return emg, np.asarray(rows[TIME_FIELD], dtype=np.float64)

    def slice_time(self, start_t: float = -math.inf, end_t: float = math.inf) -> tuple[int, int]:
        """Sample range [start, stop) whose timestamps fall in [start_t, end_t)."""
        start, stop = np.searchsorted(self.time, [start_t, end_t])
        return int(start), int(stop)

    def check_finite(self, start: int = 0, stop: int | None = None, chunk: int = 1 << 18) -> list[str]:
        """Raise DataError at the first NaN/Inf sample or timestamp; return warnings about
        timestamp order.

        Duplicated or decreasing timestamps are reported, not refused: the reference labels
        windows by the timestamps at their two ends and never requires order, so neither do we.
        """
        stop = len(self) if stop is None else stop
        last_t = -math.inf
        warnings: list[str] = []
        for lo in range(start, stop, chunk):
            emg, t = self.read(lo, min(lo + chunk, stop))
            check_finite(self.path, emg, t, lo)
            steps = np.diff(np.concatenate([[last_t], t]))
            if not warnings and (steps <= 0).any():
                i = lo + int((steps <= 0).argmax())
                kind = "duplicated" if steps[i - lo] == 0 else "decreasing"
                warnings.append(f"{self.path}: timestamps not increasing ({kind}) at index {i}")
            last_t = t[-1]
        return warnings

    # -- labels ---------------------------------------------------------------------------------
    def labels(self, start_t: float = -math.inf, end_t: float = math.inf) -> list[int]:
        """Class ids of keys pressed in [start_t, end_t]; default: the whole session's keys."""
        return keystroke_labels(self.keystrokes, start_t, end_t)

    def __repr__(self) -> str:
        return f"EmgSession({self.session_name!r}, {len(self)} samples)"


def check_finite(
    path: str | Path | None,
    emg: np.ndarray,
    times: np.ndarray | None = None,
    start: int = 0,
    where: str = "",
) -> np.ndarray:
    """``emg`` ``(samples, band, channel)`` unchanged, or DataError at its first NaN/Inf sample
    (or timestamp) by index into the session (``start``: the index of ``emg[0]``); ``where`` ends
    the message (" (window 3)"). Every reader of EMG checks through here."""
    bad = ~np.isfinite(emg).all(axis=(1, 2))
    if bad.any():
        raise DataError(path, f"non-finite EMG sample at index {start + int(bad.argmax())}{where}")
    if times is not None and not np.isfinite(times).all():
        at = start + int((~np.isfinite(times)).argmax())
        raise DataError(path, f"non-finite timestamp at index {at}{where}")
    return emg
