"""Long sessions in bounded memory: whole-session transcription is computed chunk by chunk
(keyscribe/emg/stream.py) with the same outputs as reading the session whole, and a 30-minute
session is inspected and transcribed with a peak RSS far below what it takes in memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from fixtures.sessions import key, write_session
from keyscribe import api
from keyscribe.decoding.confidence import best_path_confidences, label_confidences
from keyscribe.decoding.greedy import decode_greedy
from keyscribe.emg.stream import streamed_log_probs

REPO = Path(__file__).resolve().parents[2]


def test_streamed_equals_whole(tmp_path: Path, emg_ckpt: Path) -> None:
    keys = [key("abc"[i % 3], 300 + 700 * i) for i in range(50)]
    path = write_session(tmp_path / "s.hdf5", 37_000, keys, compression="gzip")
    recognizer = api.load_model(emg_ckpt)
    dataset = recognizer.dataset(path)
    whole, whole_length = recognizer.log_probs(dataset[0])  # the session read whole
    for chunk in (97, 300, 100_000):
        streamed, length = streamed_log_probs(recognizer.model, dataset, 64, 16, chunk_frames=chunk)
        assert length == whole_length and streamed.shape == whole[:length].shape
        torch.testing.assert_close(streamed, whole[:length], rtol=0, atol=1e-5)  # float32 conv sums
        assert torch.equal(streamed.argmax(-1), whole[:length].argmax(-1))
    streamed_result = recognizer.transcribe(path)[0]
    whole_result = recognizer._results([dataset[0]])[0]
    for field in ("text", "label_ids", "reference_ids", "confidences", "words", "typed_text"):
        assert streamed_result[field] == whole_result[field], field


def test_best_path_confidences_equal_the_alignment() -> None:
    generator = torch.Generator().manual_seed(0)
    log_probs = torch.randn(400, 12, generator=generator).mul(3).log_softmax(-1)
    ids = decode_greedy(log_probs[None], torch.tensor([400]), 0)[0]
    assert best_path_confidences(log_probs, 0) == label_confidences(log_probs, ids, 0)
    assert best_path_confidences(log_probs[:0], 0) == []


def test_thirty_minute_session_in_bounded_memory(tmp_path: Path) -> None:
    """bench/memory.py in its own process: 30 min (3.6 M samples; whole it takes ~1.3 GB as EMG
    plus spectrogram) is inspected and transcribed within a few hundred MB over the baseline."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "memory.py"),
            "--minutes",
            "30",
            "--json",
            "--keep",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)
    assert figures["samples"] == 3_600_000 and figures["whole_in_memory_mb"] > 1300
    assert figures["transcribe_peak_rss_mb"] - figures["baseline_peak_rss_mb"] < 500, figures
    assert np.isfinite(figures["transcribe_s"])
