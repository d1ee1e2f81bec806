"""Long sessions in bounded memory: whole-session transcription is computed chunk by chunk
(keyscribe/emg/streaming/chunked.py) with the same outputs as reading the session whole, and a 30-minute
session is inspected and transcribed with a peak RSS far below what it takes in memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from helpers.checkpoints import EMG_TINY, save_untrained
from helpers.sessions import key, write_session
from keyscribe import api
from keyscribe.decoding.confidence import best_path_confidences, label_confidences
from keyscribe.decoding.greedy import decode_greedy
from keyscribe.emg.streaming import whole_session
from keyscribe.emg.streaming.chunked import streamed_log_probs

REPO = Path(__file__).resolve().parents[2]


def test_streamed_equals_whole(tmp_path: Path, emg_ckpt: Path) -> None:
    keys = [key("abc"[i % 3], 300 + 700 * i) for i in range(50)]
    path = write_session(tmp_path / "s.hdf5", 37_000, keys, compression="gzip")
    recognizer = api.load_model(emg_ckpt)
    dataset = recognizer.dataset(path)
    whole, whole_length = recognizer.log_probs(dataset[0])  # the session read whole
    # batches of chunks (the last chunk shorter, in a call of its own) change nothing either
    for chunk, batch in ((97, 1), (97, 5), (300, 1), (300, 4), (100_000, 3)):
        streamed, length = streamed_log_probs(
            recognizer.model, dataset, 64, 16, chunk_frames=chunk, batch_size=batch
        )
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


def _recurrent_ckpt(root: Path, encoder: str) -> Path:
    cfg = api.load_config(
        REPO / "configs/emg/quickstart.yaml",
        [*EMG_TINY, f"out_dir={root}", f"model.encoder={encoder}"],
    )
    return save_untrained(cfg, root / "rnn.ckpt")


def _read_sizes(monkeypatch) -> list[int]:
    """Record how many samples each EmgSession.read returns."""
    from keyscribe.emg.session import EmgSession

    sizes: list[int] = []
    real = EmgSession.read

    def read(self, start: int, stop: int):  # type: ignore[no-untyped-def]
        sizes.append(stop - start)
        return real(self, start, stop)

    monkeypatch.setattr(EmgSession, "read", read)
    return sizes


def test_causal_lstm_session_streams_exactly(tmp_path: Path, monkeypatch) -> None:
    keys = [key("abc"[i % 3], 300 + 700 * i) for i in range(100)]
    path = write_session(tmp_path / "s.hdf5", 75_000, keys)
    recognizer = api.load_model(
        _recurrent_ckpt(
            tmp_path, "{kind: lstm, hidden_size: 8, num_layers: 2, bidirectional: false}"
        )
    )
    whole = recognizer._results([recognizer.dataset(path)[0]])[0]
    sizes = _read_sizes(monkeypatch)
    streamed = recognizer.transcribe(path)[0]
    assert max(sizes) <= whole_session.READ_SECONDS * 2000 < 75_000  # never read whole
    for field in ("text", "label_ids", "reference_ids", "typed_text"):
        assert streamed[field] == whole[field], field
    np.testing.assert_allclose(streamed["confidences"], whole["confidences"], atol=1e-5)


def test_long_session_of_bidirectional_model_is_windowed(tmp_path: Path, monkeypatch) -> None:
    keys = [key("abc"[i % 3], 300 + 700 * i) for i in range(100)]
    path = write_session(tmp_path / "s.hdf5", 75_000, keys)
    recognizer = api.load_model(
        _recurrent_ckpt(tmp_path, "{kind: lstm, hidden_size: 8, num_layers: 2}")
    )
    dataset = recognizer.dataset(path)
    whole, n = recognizer.log_probs(dataset[0])
    sizes = _read_sizes(monkeypatch)
    assert (
        whole_session.carried_state_log_probs(recognizer, dataset) is None
    )  # short: read whole, exact
    monkeypatch.setattr(whole_session, "LONG_SESSION_S", 20.0)  # this 37.5 s session is now "long"
    windowed, length = whole_session.carried_state_log_probs(recognizer, dataset)
    assert max(sizes) <= whole_session.READ_SECONDS * 2000 < 75_000
    assert length == n
    # 10 s of context either side: frames away from a window's edge see what they see whole
    agree = (windowed.argmax(-1) == whole[:n].argmax(-1)).float().mean().item()
    assert agree > 0.99 and (windowed - whole[:n]).abs().max() < 1e-2
