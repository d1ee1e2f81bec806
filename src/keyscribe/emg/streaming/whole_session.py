"""Whole-session log-probs for offline decoding in bounded memory: TDSConv in exact chunks
(chunked.py), other encoders with carried state (recognizer.py) where that is exact or the session
is long; the rest read whole."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import ConcatDataset

from keyscribe.data.batch import Sample
from keyscribe.emg.dataset import WindowedSessionDataset
from keyscribe.emg.session import SAMPLE_RATE_HZ, check_finite
from keyscribe.emg.streaming.chunked import can_stream, streamed_log_probs
from keyscribe.emg.streaming.recognizer import StreamingOptions, StreamingRecognizer
from keyscribe.errors import CheckpointError, DataError
from keyscribe.progress import progress

log = logging.getLogger(__name__)

WINDOW_0 = " (window 0)"  # errors name the whole session as the one window it is


def whole_session_label(dataset: WindowedSessionDataset) -> Sample:
    """The whole-session item without its EMG: targets and id as ``dataset[0]`` gives them."""
    session = dataset.session
    first_t = session.read(0, 1)[1][0]
    last_t = session.read(len(session) - 1, len(session))[1][0]
    labels = session.labels(first_t, last_t)
    return Sample(torch.empty(0), torch.tensor(labels, dtype=torch.long), f"{dataset.path.stem}:0")


LONG_SESSION_S = 3600.0
"""Sessions longer than this (seconds) go through encoders that see the future (bidirectional
RNNs, ConvResNet, Conformer) in overlapping windows of ``WINDOW_CONTEXT_MS`` past and future
signal rather than whole: bounded memory, approximate. Shorter ones are read whole, exactly."""
WINDOW_CONTEXT_MS = 10_000.0
READ_SECONDS = 30.0  # signal read from disk and pushed per step


@torch.inference_mode()
def carried_state_log_probs(
    recognizer: object, dataset: WindowedSessionDataset
) -> tuple[Tensor, int] | None:
    """Log-probs ``(time', classes)`` of the whole session of ``dataset`` for encoders other than
    TDSConv, read from disk in steps and run with carried state (recognizer.py): exact for
    causal encoders (unidirectional LSTM / GRU and their TDSConv hybrid) at any length; windowed
    for the others when the session is longer than ``LONG_SESSION_S``; None otherwise (then the
    session is read whole)."""
    options = StreamingOptions(lookahead_ms=WINDOW_CONTEXT_MS, context_ms=WINDOW_CONTEXT_MS)
    try:
        streamer = StreamingRecognizer(recognizer, options, keep_log_probs=True)
    except CheckpointError:  # e.g. a strided encoder (ConvResNet) cannot be windowed
        return None
    session, path = dataset.session, Path(dataset.path)
    if not streamer.exact and len(session) / SAMPLE_RATE_HZ <= LONG_SESSION_S:
        return None
    if not streamer.exact:
        log.warning(
            "%s: %.0f minutes, longer than %.0f: %s runs in windows of %.0f s context either side "
            "(approximate; shorter sessions are read whole)",
            path,
            len(session) / SAMPLE_RATE_HZ / 60,
            LONG_SESSION_S / 60,
            type(recognizer.model.encoder).__name__,
            WINDOW_CONTEXT_MS / 1000,  # type: ignore[attr-defined]
        )
    step = int(READ_SECONDS * SAMPLE_RATE_HZ)
    for start in range(0, len(session), step):
        emg, times = session.read(start, min(start + step, len(session)))
        streamer.push(check_finite(path, emg, times, start, WINDOW_0))
    streamer.flush()
    log_probs = streamer.log_probs()
    if log_probs.shape[0] == 0:
        raise DataError(path, "too short for this model (no output frame)")
    return log_probs, log_probs.shape[0]


def chunks_per_call(recognizer: Any, batch_size: int | None) -> int:
    """``batch_size``, or by default 1 on a CPU (memory stays lowest: each ~33 s chunk's
    activations are held at once) and 16 on a GPU (which wants batches)."""
    if batch_size is not None:
        return batch_size
    return 1 if recognizer.device.type == "cpu" else 16


def whole_session_results(
    recognizer: Any, dataset: Any, batch_size: int | None = None
) -> list[tuple[Sample, Tensor, int, float]] | None:
    """Per whole session of ``dataset``: its label item, log-probs ``(time', classes)``, their
    length and the seconds they took, in bounded memory where the model allows it (TDSConv in
    chunks, ``batch_size`` chunks per network call; causal recurrent encoders with carried state, others in windows when a session is
    longer than ``LONG_SESSION_S``); the rest read whole. None when the items are windows of
    sessions, or the model runs in ONNX Runtime (no torch front end to stream)."""
    parts: list[Any] = list(dataset.datasets) if isinstance(dataset, ConcatDataset) else [dataset]
    whole = [
        isinstance(p, WindowedSessionDataset) and p.window_length == p.num_samples for p in parts
    ]
    model = recognizer.model
    if not all(whole) or not isinstance(getattr(model, "frontend", None), torch.nn.Module):
        return None
    batch_size = chunks_per_call(recognizer, batch_size)
    out = []
    for part in progress(parts, len(parts), "sessions", recognizer.show_progress):
        start = time.perf_counter()
        data = recognizer.config.data
        if can_stream(model, part):
            found = streamed_log_probs(
                model, part, data.n_fft, data.hop_length, batch_size=batch_size
            )
        else:
            found = carried_state_log_probs(recognizer, part)
        if found is None:
            item = part[0]
            ((log_probs, length),) = recognizer.batch_log_probs([item])
        else:
            item = whole_session_label(part)
            log_probs, length = found
        out.append((item, log_probs, length, time.perf_counter() - start))
    return out
