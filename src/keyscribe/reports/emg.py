"""The sEMG report: per session a timeline (log-spectrogram strip of both bands, the reference
keys at their press times, the decoded keys where CTC emitted them with their confidences,
errors marked), the keys as typed and the text as it reads after backspaces; for a streamed
session, the compute time of every chunk.

Built from ``evaluate --json --per-item`` / ``stream --json`` output; the spectrogram is read
from the session file named there when it is still on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from rapidfuzz.distance import Levenshtein

from keyscribe.reports.page import image_uri

STRIP_HZ = 40.0  # spectrogram columns per second of the strip
TILE_COLUMNS = 2048  # columns per inline image (browsers limit image sizes)
READ_SAMPLES = 1 << 18  # samples read from the session at a time


def spectrogram_strip(path: Path, n_fft: int = 64, hop: int = 16) -> dict[str, Any] | None:
    """A session's log-spectrogram averaged over each band's channels -> image tiles (rows: left
    band above right band, high frequencies on top), ``STRIP_HZ`` columns per second; None when
    the file is gone or unreadable."""
    from matplotlib import colormaps

    from keyscribe.emg.session import EmgSession
    from keyscribe.emg.transforms import LogSpectrogram
    from keyscribe.errors import DataError

    if not path.is_file():
        return None
    spec = LogSpectrogram(n_fft, hop)
    try:
        with EmgSession(path) as session:
            rate = session.sample_rate_hz
            pool = max(1, round(rate / hop / STRIP_HZ))
            parts = []
            step = (READ_SAMPLES // hop) * hop
            for start in range(
                0, len(session), step
            ):  # frames of one block end where the next start
                emg, _ = session.read(start, start + step + n_fft - hop)
                if emg.shape[0] < n_fft:
                    break
                frames = spec(torch.from_numpy(emg))  # (frames, band, channel, freq)
                parts.append(frames.mean(dim=2).numpy())  # (frames, band, freq)
    except (DataError, OSError):
        return None
    if not parts:
        return None
    logspec = np.concatenate(parts)
    usable = logspec.shape[0] // pool * pool
    if usable == 0:
        return None
    pooled = logspec[:usable].reshape(-1, pool, *logspec.shape[1:]).mean(axis=1)  # (cols, 2, freq)
    lo, hi = np.percentile(pooled, [2, 99.5])
    scaled = np.clip((pooled - lo) / max(hi - lo, 1e-6), 0, 1)
    bands = [scaled[:, b, ::-1].T for b in range(scaled.shape[1])]  # (freq, cols), high on top
    gap = np.full((2, scaled.shape[0]), np.nan)
    image = np.concatenate([bands[0], gap, *bands[1:]])
    rgb = colormaps["viridis"](np.nan_to_num(image))[..., :3]
    rgb[np.isnan(image)] = 1.0
    rgb8 = (rgb * 255).round().astype(np.uint8)
    seconds_per_column = pool * hop / rate
    first = (n_fft / 2) / rate - seconds_per_column / 2  # column 0 is centred on its frames
    tiles = []
    for c in range(0, rgb8.shape[1], TILE_COLUMNS):
        tile = rgb8[:, c : c + TILE_COLUMNS]
        tiles.append(
            {
                "t0": round(first + c * seconds_per_column, 4),
                "t1": round(first + (c + tile.shape[1]) * seconds_per_column, 4),
                "src": image_uri(tile, quality=82),
            }
        )
    return {"tiles": tiles, "rows": int(rgb8.shape[0]), "freq_bins": int(scaled.shape[2])}


def key_errors(reference: str, decoded: str) -> tuple[list[str], list[str], list[list[int]]]:
    """Per reference key and per decoded key ``=`` (matched), ``s`` (substituted), ``d``
    (reference key missed) or ``i`` (decoded key inserted), and the matched or substituted
    pairs ``[ref index, decoded index]`` of a minimal edit alignment."""
    ref_ops, hyp_ops = ["d"] * len(reference), ["i"] * len(decoded)
    pairs: list[list[int]] = []
    for op in Levenshtein.opcodes(reference, decoded):
        if op.tag in ("equal", "replace"):
            mark = "=" if op.tag == "equal" else "s"
            for k in range(op.src_end - op.src_start):
                ref_ops[op.src_start + k] = hyp_ops[op.dest_start + k] = mark
                pairs.append([op.src_start + k, op.dest_start + k])
    return ref_ops, hyp_ops, pairs


def session_view(item: dict[str, Any], spectrogram: bool = True) -> dict[str, Any]:
    """One decoded session (an evaluation item, or a stream result) -> its timeline and texts."""
    reference, decoded = item.get("reference_text") or "", item.get("text") or ""
    ref_ops, hyp_ops, pairs = key_errors(reference, decoded)
    ref_times = item.get("reference_times")
    if ref_times is not None and len(ref_times) != len(reference):
        ref_times = None  # keys outside the session's labels: no timeline for the reference
    edits = Levenshtein.distance(reference, decoded)
    session = item.get("session")
    view: dict[str, Any] = {
        "id": item.get("id") or (Path(session).stem if session else "session"),
        "session": session,
        "cer": round(100.0 * edits / max(1, len(reference)), 2) if reference else None,
        "reference": reference,
        "decoded": decoded,
        "reference_typed": item.get("reference_typed_text"),
        "decoded_typed": item.get("typed_text"),
        "ref_times": ref_times,
        "hyp_times": item.get("times"),
        "conf": item.get("confidences"),
        "ref_ops": ref_ops,
        "hyp_ops": hyp_ops,
        "pairs": pairs,
        "duration_s": item.get("duration_s"),
        "spectrogram": spectrogram_strip(Path(session)) if spectrogram and session else None,
    }
    if view["hyp_times"] is not None and len(view["hyp_times"]) != len(decoded):
        view["hyp_times"] = None
    return view


def _summary(scores: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: scores[key] for key in keys if key in scores}


def report_data(scores: dict[str, Any]) -> dict[str, Any]:
    """``evaluate --json --per-item`` output of an sEMG model -> what assets/emg.js draws."""
    keys = ("data", "checkpoint", "items", "cer", "wer", "cer_insertions", "cer_deletions",
            "cer_substitutions", "decoder")  # fmt: skip
    return {
        "title": "sEMG evaluation",
        "summary": _summary(scores, keys),
        "sessions": [session_view(item) for item in scores["results"]],
    }


def stream_data(result: dict[str, Any]) -> dict[str, Any]:
    """``stream --json`` output -> the session's timeline plus the compute time of each chunk."""
    keys = ("session", "encoder", "chunks", "chunk_ms", "mean_chunk_ms", "p95_chunk_ms",
            "real_time_factor", "algorithmic_latency_ms", "cer", "offline_cer", "equal_to_offline",
            "threads")  # fmt: skip
    return {
        "title": "sEMG stream",
        "summary": _summary(result, keys),
        "sessions": [session_view(result)],
        "latency": {
            "chunk_ms": result.get("chunk_ms"),
            "compute_ms": result.get("chunk_compute_ms"),
            "p95_ms": result.get("p95_chunk_ms"),
        },
    }


def transcription_data(items: list[dict[str, Any]]) -> dict[str, Any]:
    """``transcribe --json`` output of an sEMG model -> sessions with texts and decoded keys."""
    return {
        "title": "sEMG transcription",
        "summary": {"items": len(items)},
        "sessions": [session_view(item) for item in items],
    }
