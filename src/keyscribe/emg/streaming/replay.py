"""Replay a recorded session through a StreamingRecognizer chunk by chunk, timed, and compare it
with offline decoding of the same session."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from keyscribe.decoding.greedy import decode_greedy
from keyscribe.decoding.prefix_search import prefix_beam_search
from keyscribe.emg.dataset import WindowedSessionDataset
from keyscribe.emg.keytimes import streamed_key_details
from keyscribe.emg.streaming.chunked import can_stream, streamed_log_probs
from keyscribe.emg.streaming.recognizer import StreamingOptions, StreamingRecognizer
from keyscribe.emg.streaming.whole_session import chunks_per_call, whole_session_label
from keyscribe.errors import ConfigError, DataError
from keyscribe.metrics import EditCounts


def _offline(recognizer: Any, dataset: Any, batch_size: int | None) -> Tensor:
    """The session's offline log-probs ``(frames, classes)``: TDSConv in exact overlapping chunks
    (``batch_size`` per network call), other encoders on the session read whole, never through
    this module (what it is checked by)."""
    if can_stream(recognizer.model, dataset):
        data = recognizer.config.data
        log_probs, n = streamed_log_probs(
            recognizer.model,
            dataset,
            data.n_fft,
            data.hop_length,
            batch_size=chunks_per_call(recognizer, batch_size),
        )
    else:
        log_probs, n = recognizer.log_probs(dataset[0])
    return log_probs[:n]


def _chunks(session: Any, step: int) -> Iterator[tuple[int, np.ndarray]]:
    """(end sample, EMG ``(step, band, channel)``) of a session, read ~10 s at a time: the
    source's reading is not part of a chunk's timed work."""
    block = step * max(1, 20_000 // step)
    for block_start in range(0, len(session), block):
        emg, _ = session.read(block_start, min(block_start + block, len(session)))
        for start in range(0, emg.shape[0], step):
            yield block_start + min(start + step, emg.shape[0]), emg[start : start + step]


def replay_session(
    recognizer: Any,
    path: str | Path,
    chunk_ms: float = 40.0,
    options: StreamingOptions | None = None,
    realtime: bool = False,
    on_text: Callable[[str], None] | None = None,
    batch_size: int | None = None,
) -> dict[str, Any]:
    """Feed a recorded session to a StreamingRecognizer in chunks of ``chunk_ms``, as fast as
    possible or (``realtime``) at the pace it was recorded; time each chunk, then decode the
    session offline (the recognizer's decoder: greedy or beam search; ``batch_size`` chunks of
    the session per network call) and compare. ``on_text`` gets each chunk's new key glyphs
    (beam search: the stable ones)."""
    if chunk_ms <= 0:
        raise ConfigError(None, f"chunk length must be > 0 ms, got {chunk_ms}")
    stream = StreamingRecognizer(recognizer, options, keep_log_probs=True)  # refuses HTR models
    dataset = recognizer.dataset(path)  # the whole session, checked as offline decoding checks it
    if not isinstance(dataset, WindowedSessionDataset):
        raise DataError(path, "expected one .hdf5 session file, not a folder or an index")
    session = dataset.session
    rate = session.sample_rate_hz
    step = max(1, round(chunk_ms * rate / 1000.0))
    seconds: list[tuple[float, float]] = []  # per chunk: wall, CPU time of this thread
    wall = time.perf_counter()
    for end, emg in _chunks(session, step):
        tick, cpu = time.perf_counter(), time.thread_time()
        try:
            text = stream.push(emg)
        except DataError as exc:
            raise DataError(path, exc.problem) from None
        seconds.append((time.perf_counter() - tick, time.thread_time() - cpu))
        if on_text is not None and text:
            on_text(text)
        if realtime:  # wait until the chunk's last sample would have been recorded
            time.sleep(max(0.0, wall + end / rate - time.perf_counter()))
    tick = time.perf_counter()
    text = stream.flush()
    flush_s = time.perf_counter() - tick
    if on_text is not None and text:
        on_text(text)

    offline = _offline(recognizer, dataset, batch_size)
    if stream.beam is not None:  # the same search over the offline frames at once
        beam = stream.beam
        found = prefix_beam_search(offline.double().numpy(), stream.blank, beam.options, beam.steps)
        offline_ids = list(found[0][0])
    else:
        offline_ids = decode_greedy(offline[None], torch.tensor([offline.shape[0]]), stream.blank)[
            0
        ]
    reference = whole_session_label(dataset).targets.tolist()
    streamed = stream.log_probs()
    cer, offline_cer, versus = EditCounts(), EditCounts(), EditCounts()
    cer.add(reference, stream.label_ids)
    offline_cer.add(reference, offline_ids)
    versus.add(offline_ids, stream.label_ids)
    ms, cpu_ms = (1000.0 * np.asarray(seconds)).T
    duration_s = len(session) / rate
    same_shape = streamed.shape == offline.shape
    return {
        "session": str(path),
        "encoder": recognizer.config.model.encoder.get("kind"),
        "decoder": "greedy" if stream.beam is None else "beam",
        "lm": None
        if stream.beam is None or stream.beam.lm_path is None
        else str(stream.beam.lm_path),
        "exact": stream.exact,  # causal model: streaming should equal offline
        "chunks": len(seconds),
        "chunk_ms": 1000.0 * step / rate,
        "realtime": realtime,
        "threads": torch.get_num_threads(),
        "mean_chunk_ms": round(float(ms.mean()), 3),
        "p95_chunk_ms": round(float(np.percentile(ms, 95)), 3),
        "max_chunk_ms": round(float(ms.max()), 3),
        # CPU time stays put when other processes share the cores (wall time does not)
        "mean_chunk_cpu_ms": round(float(cpu_ms.mean()), 3),
        "p95_chunk_cpu_ms": round(float(np.percentile(cpu_ms, 95)), 3),
        "flush_ms": round(1000.0 * flush_s, 3),
        # seconds of compute per second of EMG
        "real_time_factor": round((float(ms.sum()) / 1000.0 + flush_s) / duration_s, 5),
        "algorithmic_latency_ms": stream.lookahead_ms,
        "stft_window_ms": 1000.0 * recognizer.config.data.n_fft / rate,
        "wall_seconds": round(time.perf_counter() - wall, 2),
        "duration_s": round(duration_s, 2),
        "frames": int(streamed.shape[0]),
        "offline_frames": int(offline.shape[0]),
        "max_abs_log_prob_diff": float((streamed - offline).abs().max())
        if same_shape and len(offline)
        else None,
        "cer": round(cer.rate, 2),
        "offline_cer": round(offline_cer.rate, 2),
        "cer_vs_offline": round(versus.rate, 2),  # offline decoding taken as the reference
        "equal_to_offline": stream.label_ids == offline_ids,
        "text": stream.text,
        "offline_text": recognizer.alphabet.decode(offline_ids),
        "reference_text": recognizer.alphabet.decode(reference),
        "typed_text": stream.typed_text,
        "chunk_compute_ms": [round(float(v), 3) for v in ms],  # per chunk, for latency plots
        **streamed_key_details(
            recognizer, path, streamed, len(session), recognizer.alphabet.decode(reference)
        ),  # for timelines
    }
