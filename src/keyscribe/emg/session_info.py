"""What ``keyscribe data inspect`` reports about one session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from keyscribe.emg.dataset import window_labels
from keyscribe.emg.keys import labels_to_text
from keyscribe.emg.session import CHANNELS_PER_BAND, NUM_BANDS, EmgSession


def inspect_session(
    path: str | Path,
    window_length: int | None = None,
    stride: int | None = None,
    padding: tuple[int, int] = (0, 0),
) -> dict[str, Any]:
    """Session facts and labels; with ``window_length``, the labels of each window as the
    reference windowed dataset yields them (padding widens only the EMG slice, so it is
    accepted for symmetry with training but never changes labels)."""
    with EmgSession(path) as session:
        warnings = session.check_finite()
        labels = session.labels()
        info: dict[str, Any] = {
            "path": str(path),
            "session_name": session.session_name,
            "user": session.user,
            "condition": session.condition,
            "num_samples": len(session),
            "sample_rate": session.sample_rate_hz,
            "channels": NUM_BANDS * CHANNELS_PER_BAND,
            "duration_s": round(float(session.time[-1] - session.time[0]) + 1 / session.sample_rate_hz, 6),
            "num_keystrokes": len(session.keystrokes),
            "num_prompts": len(session.prompts),
            "label_ids": labels,
            "label_text": labels_to_text(labels),
            "warnings": warnings,
        }
        if window_length is not None:
            info["window_length"] = window_length
            info["padding"] = list(padding)
            info["windows"] = window_labels(session, window_length, stride)
    return info
