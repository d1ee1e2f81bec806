"""Whole-session log-probs in bounded memory: the session is read, transformed and run through
the model in chunks of output frames, so a multi-hour recording never sits in memory whole.

Exact for the models whose every stage is local in time: the eval transform (channel projection,
then the ``center=False`` log-spectrogram, whose frame ``f`` reads samples ``[f*hop, f*hop+n_fft)``),
the per-frame spectrogram norm and rotation-invariant MLP, and the TDSConv encoder, whose output
frame ``t`` reads input frames ``[t, t + trim]`` (valid convolutions, no stride). Each chunk of
output frames ``[o0, o1)`` therefore reads input frames ``[o0, o1 + trim)`` and samples
``[o0*hop, (o1+trim-1)*hop + n_fft)``: chunks overlap by ``trim`` frames and nothing else changes.
Other encoders go through ``carried_state_log_probs``: streamed with carried state where they are
causal (exact), in overlapping windows where they see the future and the session is long
(approximate), read whole otherwise.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from keyscribe.data.batch import Sample
from keyscribe.emg.dataset import WindowedSessionDataset
from keyscribe.emg.frontend import EmgSpectrogramFrontend
from keyscribe.emg.session import SAMPLE_RATE_HZ
from keyscribe.errors import CheckpointError, DataError
from keyscribe.models.ctc import CTCModel
from keyscribe.models.encoders import TDSConvEncoder

log = logging.getLogger(__name__)

CHUNK_FRAMES = 4096  # output frames per chunk (~33 s at 125 Hz): a few MB of spectrogram


def can_stream(model: CTCModel, item: object) -> bool:
    """Whether ``item`` (a dataset) is one whole session that ``model`` can take in chunks."""
    return (
        isinstance(item, WindowedSessionDataset)
        and item.window_length == item.num_samples
        and isinstance(getattr(model, "frontend", None), EmgSpectrogramFrontend)
        and isinstance(getattr(model, "encoder", None), TDSConvEncoder)
    )


def whole_session_label(dataset: WindowedSessionDataset) -> Sample:
    """The whole-session item without its EMG: targets and id as ``dataset[0]`` gives them."""
    session = dataset.session
    first_t = session.read(0, 1)[1][0]
    last_t = session.read(len(session) - 1, len(session))[1][0]
    labels = session.labels(first_t, last_t)
    return Sample(torch.empty(0), torch.tensor(labels, dtype=torch.long), f"{dataset.path.stem}:0")


def _checked(path: Path, emg: np.ndarray, time: np.ndarray, start: int) -> np.ndarray:
    """The whole-session path's checks, with indices into the session."""
    bad = ~np.isfinite(emg).all(axis=(1, 2))
    if bad.any():
        raise DataError(
            path, f"non-finite EMG sample at index {start + int(bad.argmax())} (window 0)"
        )
    if not np.isfinite(time).all():
        where = start + int((~np.isfinite(time)).argmax())
        raise DataError(path, f"non-finite timestamp at index {where} (window 0)")
    return emg


@torch.inference_mode()
def streamed_log_probs(
    model: CTCModel,
    dataset: WindowedSessionDataset,
    n_fft: int,
    hop_length: int,
    chunk_frames: int = CHUNK_FRAMES,
) -> tuple[Tensor, int]:
    """Log-probs ``(time', classes)`` and their length for the whole session of ``dataset``, chunk
    by chunk; a session too short for one output frame raises DataError naming it."""
    model.eval()
    session, path = dataset.session, Path(dataset.path)
    frames = max(0, (len(session) - n_fft) // hop_length + 1)
    encoder = model.encoder
    if not isinstance(encoder, TDSConvEncoder):  # see can_stream
        raise TypeError(f"chunked decoding needs a TDSConv encoder, got {type(encoder).__name__}")
    trim = encoder.trim
    total = frames - trim
    if total <= 0:
        raise DataError(
            path,
            f"too short for this model ({frames} spectrogram frames; its encoder needs more than {trim})",
        )
    log_probs: Tensor | None = None  # (total, classes), filled chunk by chunk (no concat copy)
    for o0 in range(0, total, chunk_frames):
        o1 = min(o0 + chunk_frames, total)
        start, stop = o0 * hop_length, (o1 + trim - 1) * hop_length + n_fft
        emg = _checked(path, *session.read(start, stop), start)
        inputs = dataset.transform(torch.from_numpy(emg))  # (o1 - o0 + trim, band, channel, freq)
        out, _ = model(inputs[None], torch.tensor([inputs.shape[0]]))
        if log_probs is None:
            log_probs = out.new_empty(total, out.shape[-1])
        log_probs[o0:o1] = out[0]  # (o1 - o0, classes)
    tail = (frames - 1) * hop_length + n_fft  # samples after the last frame: checked, as whole
    if tail < len(session):
        _checked(path, *session.read(tail, len(session)), tail)
    assert log_probs is not None  # total > 0: at least one chunk
    return log_probs, total


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
    TDSConv, read from disk in steps and run with carried state (emg/streaming.py): exact for
    causal encoders (unidirectional LSTM / GRU and their TDSConv hybrid) at any length; windowed
    for the others when the session is longer than ``LONG_SESSION_S``; None otherwise (then the
    session is read whole)."""
    from keyscribe.emg.streaming import StreamingOptions, StreamingRecognizer

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
        streamer.push(_checked(path, *session.read(start, min(start + step, len(session))), start))
    streamer.flush()
    log_probs = streamer.log_probs()
    if log_probs.shape[0] == 0:
        raise DataError(path, "too short for this model (no output frame)")
    return log_probs, log_probs.shape[0]
