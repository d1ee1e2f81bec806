"""When keys happen in a session, in seconds from its first sample: the reference keys at their
press times, the decoded keys at the output frames CTC emitted them (for timelines)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from keyscribe.emg.keys import key_symbol
from keyscribe.emg.session import SAMPLE_RATE_HZ, EmgSession


def reference_key_times(path: str | Path) -> dict[str, Any]:
    """The keys that label the whole session (those with a glyph pressed between its first and
    last timestamps, as ``EmgSession.labels`` takes them), in order: ``keys`` (glyphs),
    ``times`` (s from the first sample), and the session's ``duration_s``."""
    with EmgSession(path) as session:
        t0 = float(session.read(0, 1)[1][0])
        t1 = float(session.read(len(session) - 1, len(session))[1][0])
        keys, times = [], []
        for keystroke in session.keystrokes:
            if keystroke["start"] > t1:
                break
            symbol = key_symbol(keystroke["key"])
            if symbol is not None and keystroke["start"] >= t0:
                keys.append(symbol)
                times.append(round(float(keystroke["start"]) - t0, 4))
        return {
            "keys": "".join(keys),
            "times": times,
            "duration_s": round(len(session) / session.sample_rate_hz, 3),
        }


def frame_times(
    frames: list[int], num_frames: int, num_samples: int, n_fft: int, hop: int, rate: float
) -> list[float]:
    """Output frames -> seconds. Input frame ``f`` of the log-spectrogram reads samples
    ``[f*hop, f*hop + n_fft)``; an encoder that trims frames (valid convolutions) reads
    ``trim = input frames - output frames`` more input frames for each output frame, so output
    frame ``t`` is placed at the centre of the input frames ``[t, t + trim]`` it reads."""
    input_frames = max(0, (num_samples - n_fft) // hop + 1)
    trim = max(0, input_frames - num_frames)
    return [round(((t + trim / 2) * hop + n_fft / 2) / rate, 4) for t in frames]


def add_session_details(
    recognizer: Any, dataset: Any, items: list[dict[str, Any]]
) -> dict[str, Any]:
    """Adds to each evaluated whole session (``items`` in ``dataset`` order) its file
    (``session``), ``duration_s``, the press time of each reference key (``reference_times``)
    and the time of each decoded key (``times``), for timelines. Items that are windows of
    sessions, not whole ones, get nothing."""
    from torch.utils.data import ConcatDataset

    from keyscribe.emg.dataset import WindowedSessionDataset

    parts = list(dataset.datasets) if isinstance(dataset, ConcatDataset) else [dataset]
    whole = [p for p in parts if isinstance(p, WindowedSessionDataset) and len(p) == 1]
    if len(whole) != len(parts) or len(parts) != len(items):
        return {}
    data = recognizer.config.data
    for part, item in zip(parts, items, strict=True):
        reference = reference_key_times(part.path)
        item["session"] = str(part.path)
        item["duration_s"] = reference["duration_s"]
        if reference["keys"] == item["reference_text"]:
            item["reference_times"] = reference["times"]
        if "frames" in item:
            item["times"] = frame_times(
                item["frames"], item["num_frames"], part.num_samples, data.n_fft,
                data.hop_length, part.session.sample_rate_hz,
            )  # fmt: skip
    return {}


def streamed_key_details(
    recognizer: Any, path: str | Path, log_probs: Any, num_samples: int, reference_text: str
) -> dict[str, Any]:
    """A replayed session's decoded keys with their confidences, frames and times (from the
    streamed log-probs ``(frames, classes)``), and the press times of its reference keys."""
    from keyscribe.decoding.confidence import best_path_posteriors

    data = recognizer.config.data
    confidences, frames = best_path_posteriors(log_probs, recognizer.alphabet.blank)
    reference = reference_key_times(path)
    out: dict[str, Any] = {
        "confidences": [round(c, 4) for c in confidences],
        "frames": frames,
        "times": frame_times(
            frames,
            int(log_probs.shape[0]),
            num_samples,
            data.n_fft,
            data.hop_length,
            SAMPLE_RATE_HZ,
        ),  # fmt: skip
    }
    if reference["keys"] == reference_text:
        out["reference_times"] = reference["times"]
    return out
