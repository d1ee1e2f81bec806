"""Peak memory of ``data inspect`` and whole-session ``transcribe`` on a long session: are they
streamed from disk? Writes a synthetic session of --minutes (in chunks, gzip-compressed, the
emg2qwerty schema), then in this one process: loads an untrained quickstart-shaped model (TDSConv,
or with ``--encoder`` a BiLSTM or a causal LSTM), inspects the session, transcribes it; prints the
peak RSS (resource.getrusage) after each step, and what the session would take in memory whole
(EMG float32 + its log-spectrogram).

    keyscribe bench memory [--minutes 30] [--tiny] [--encoder tdsconv|lstm|lstm-uni]
        [--long-session-minutes M] [--json [PATH]] [--keep DIR] [--quick]

``--quick``: a 6-second session and the tiny model (the test suite's). Where a GPU is present the
CUDA peak is recorded too (the model runs on the CPU here, so it stays 0 unless it is moved).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from keyscribe.bench.harness import (
    add_common_args,
    emit,
    machine_info,
    machine_line,
    repo_config,
    set_threads,
    table,
)
from keyscribe.domain import get_domain
from keyscribe.emg.streaming import whole_session

RATE_HZ = 2000
T0 = 1_700_000_000.0
CHUNK = 1 << 18  # samples written per chunk


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def write_long_session(path: Path, minutes: float, seed: int = 0) -> Path:
    """A session of ``minutes`` in the exact schema, written chunk by chunk (never whole in memory):
    quantised noise (compresses well) and a keystroke every 250 ms."""
    n = int(minutes * 60 * RATE_HZ)
    dtype = np.dtype(
        [("emg_left", np.float32, (16,)), ("emg_right", np.float32, (16,)), ("time", np.float64)]
    )
    rng = np.random.default_rng(seed)
    keys = [
        {"key": "abcdefgh "[i % 9], "start": T0 + t, "end": T0 + t + 0.05}
        for i, t in enumerate(np.arange(0.2, n / RATE_HZ - 0.2, 0.25))
    ]
    with h5py.File(path, "w") as f:
        group = f.create_group("emg2qwerty")
        ts = group.create_dataset(
            "timeseries",
            shape=(n,),
            dtype=dtype,
            chunks=(min(8192, n),),
            compression="gzip",
            compression_opts=1,
            shuffle=True,
        )
        for lo in range(0, n, CHUNK):
            hi = min(n, lo + CHUNK)
            rows = np.empty(hi - lo, dtype)
            noise = rng.integers(-4, 5, (hi - lo, 2, 16)).astype(np.float32)
            rows["emg_left"], rows["emg_right"] = noise[:, 0], noise[:, 1]
            rows["time"] = T0 + np.arange(lo, hi) / RATE_HZ
            ts[lo:hi] = rows
        group.attrs.update(
            session_name=path.stem,
            user="u0",
            condition="on_keyboard",
            duration_mins=minutes,
            keystrokes=json.dumps(keys),
            prompts="[]",
        )
    return path


TINY = [
    "model.frontend.mlp_features=[16]",
    "model.encoder.block_channels=[4]",
    "model.encoder.kernel_width=4",
]
# --encoder: the quickstart's TDSConv (chunked, exact), or recurrent encoders of the CPU configs'
# size: causal ones stream with carried state, bidirectional ones in windows past LONG_SESSION_S
ENCODERS = {
    "tdsconv": [],
    "lstm": ["model.encoder={kind: lstm, hidden_size: 64, num_layers: 2, dropout: 0.0}"],
    "lstm-uni": [
        "model.encoder={kind: lstm, hidden_size: 96, num_layers: 2, dropout: 0.0, bidirectional: false}"
    ],
}


def tiny_checkpoint(path: Path, tiny: bool = False, encoder: str = "tdsconv") -> Path:
    """An untrained quickstart-shaped model (weights do not matter for memory); ``tiny``:
    4 channels (the test's, faster)."""
    from keyscribe import api, builders
    from keyscribe.atomic import atomic_torch_save
    from keyscribe.config import to_plain

    cfg = api.load_config(
        repo_config("emg/quickstart.yaml"),
        [f"out_dir={path.parent}", *(TINY if tiny else []), *ENCODERS[encoder]],
    )
    alphabet = get_domain("emg").alphabet(cfg)
    model = builders.build_model(cfg, alphabet)
    meta = {"config": to_plain(cfg), "domain": "emg", "format": 1, "alphabet": alphabet.to_dict()}
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    atomic_torch_save({"state_dict": state, "keyscribe": meta}, path)
    return path


def run(
    minutes: float, folder: Path, tiny: bool = False, encoder: str = "tdsconv"
) -> dict[str, Any]:
    from keyscribe import api
    from keyscribe.emg.session_info import inspect_session

    start = time.perf_counter()
    session = write_long_session(folder / "long.hdf5", minutes)
    write_s = time.perf_counter() - start
    recognizer = api.load_model(tiny_checkpoint(folder / "model.ckpt", tiny, encoder))
    n = int(minutes * 60 * RATE_HZ)
    out: dict[str, Any] = {
        "minutes": minutes,
        "model": ("tiny " if tiny else "quickstart ") + encoder,
        "long_session_minutes": whole_session.LONG_SESSION_S / 60,
        "samples": n,
        "file_mb": round(session.stat().st_size / 2**20, 1),
        "whole_in_memory_mb": round(n * 32 * 4 / 2**20 + (n - 64) // 16 * 32 * 33 * 4 / 2**20, 1),
        "write_s": round(write_s, 1),
        "baseline_peak_rss_mb": round(peak_rss_mb(), 1),
    }
    start = time.perf_counter()
    info = inspect_session(session)
    out["inspect_s"] = round(time.perf_counter() - start, 1)
    out["inspect_peak_rss_mb"] = round(peak_rss_mb(), 1)
    start = time.perf_counter()
    result = recognizer.transcribe(session)[0]
    out["transcribe_s"] = round(time.perf_counter() - start, 1)
    out["transcribe_peak_rss_mb"] = round(peak_rss_mb(), 1)
    out["keystrokes"] = info["num_keystrokes"]
    out["decoded_characters"] = len(result["text"])
    if torch.cuda.is_available():
        out["cuda_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    out["machine"] = machine_info()
    return out


def print_table(out: dict[str, Any]) -> None:
    print(machine_line(out["machine"]))
    print(
        f"# {out['minutes']:g} min session, {out['samples']:,} samples, {out['file_mb']} MB gzip; "
        f"whole in memory ~{out['whole_in_memory_mb']:,} MB (EMG + spectrogram); {out['model']} model"
    )
    rows = [
        ["imports + model", out["baseline_peak_rss_mb"], "-"],
        ["data inspect", out["inspect_peak_rss_mb"], out["inspect_s"]],
        ["transcribe (whole session)", out["transcribe_peak_rss_mb"], out["transcribe_s"]],
    ]
    print(table(["after", "peak RSS MB", "seconds"], rows))
    if "cuda_peak_mb" in out:
        print(f"CUDA peak: {out['cuda_peak_mb']} MB")


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="keyscribe bench memory",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument(
        "--tiny", action="store_true", help="A 4-channel model instead of the quickstart's."
    )
    parser.add_argument("--encoder", choices=list(ENCODERS), default="tdsconv")
    parser.add_argument(
        "--long-session-minutes",
        type=float,
        default=None,
        help="Window bidirectional encoders past this length (default: keyscribe's, 60).",
    )
    parser.add_argument(
        "--keep", type=Path, help="Write the session here (default: a temp folder)."
    )
    add_common_args(parser, threads=1)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = get_args(argv)
    set_threads(args.threads)
    minutes, tiny = (0.1, True) if args.quick else (args.minutes, args.tiny)
    if args.long_session_minutes is not None:
        whole_session.LONG_SESSION_S = 60 * args.long_session_minutes
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        out = run(minutes, args.keep, tiny, args.encoder)
    else:
        with tempfile.TemporaryDirectory(prefix="keyscribe-memory-") as tmp:
            out = run(minutes, Path(tmp), tiny, args.encoder)
    return emit(out, args.json, print_table)
