"""Whole-session log-probs in bounded memory: the session is read, transformed and run through
the model in chunks of output frames, so a multi-hour recording never sits in memory whole.

Exact for the models whose every stage is local in time: the eval transform (channel projection,
then the ``center=False`` log-spectrogram, whose frame ``f`` reads samples ``[f*hop, f*hop+n_fft)``),
the per-frame spectrogram norm and rotation-invariant MLP, and the TDSConv encoder, whose output
frame ``t`` reads input frames ``[t, t + trim]`` (valid convolutions, no stride). Each chunk of
output frames ``[o0, o1)`` therefore reads input frames ``[o0, o1 + trim)`` and samples
``[o0*hop, (o1+trim-1)*hop + n_fft)``: chunks overlap by ``trim`` frames and nothing else changes.
Chunks are independent, so ``batch_size`` of them (all but the last the same length) go through the
network in one call: what ``--batch-size`` buys on a GPU for sEMG sessions.
Other encoders go through ``whole_session.carried_state_log_probs``: streamed with carried state where they are
causal (exact), in overlapping windows where they see the future and the session is long
(approximate), read whole otherwise.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from keyscribe.devices import module_device
from keyscribe.emg.dataset import WindowedSessionDataset
from keyscribe.emg.frontend import EmgSpectrogramFrontend
from keyscribe.emg.session import check_finite
from keyscribe.errors import DataError
from keyscribe.models.ctc import CTCModel
from keyscribe.models.encoders import TDSConvEncoder

WINDOW_0 = " (window 0)"  # errors name the whole session as the one window it is

CHUNK_FRAMES = 4096  # output frames per chunk (~33 s at 125 Hz): a few MB of spectrogram


def can_stream(model: CTCModel, item: object) -> bool:
    """Whether ``item`` (a dataset) is one whole session that ``model`` can take in chunks."""
    return (
        isinstance(item, WindowedSessionDataset)
        and item.window_length == item.num_samples
        and isinstance(getattr(model, "frontend", None), EmgSpectrogramFrontend)
        and isinstance(getattr(model, "encoder", None), TDSConvEncoder)
    )


@torch.inference_mode()
def streamed_log_probs(
    model: CTCModel,
    dataset: WindowedSessionDataset,
    n_fft: int,
    hop_length: int,
    chunk_frames: int | None = None,
    batch_size: int = 1,
) -> tuple[Tensor, int]:
    """Log-probs ``(time', classes)`` and their length for the whole session of ``dataset``, chunk
    by chunk (``chunk_frames`` output frames, default ``CHUNK_FRAMES``), ``batch_size`` chunks per
    network call; a session too short for one output frame raises DataError naming it."""
    chunk_frames = chunk_frames or CHUNK_FRAMES
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
    device = module_device(model)  # inputs go where the model is; log-probs come back to the CPU
    log_probs: Tensor | None = None  # (total, classes), filled chunk by chunk (no concat copy)
    starts = list(range(0, total, chunk_frames))
    for b in range(0, len(starts), max(1, batch_size)):
        group = starts[b : b + max(1, batch_size)]
        bounds = [(o0, min(o0 + chunk_frames, total)) for o0 in group]
        chunks = []  # each (o1 - o0 + trim, band, channel, freq)
        for o0, o1 in bounds:
            start, stop = o0 * hop_length, (o1 + trim - 1) * hop_length + n_fft
            emg = check_finite(path, *session.read(start, stop), start, WINDOW_0)
            chunks.append(dataset.transform(torch.from_numpy(emg)))
        # only the session's last chunk can be shorter: it goes alone, nothing is padded
        ragged = chunks[-1].shape[0] != chunks[0].shape[0]
        calls = [chunks[:-1], chunks[-1:]] if ragged else [chunks]
        outs: list[Tensor] = []
        for call in calls:
            inputs = torch.stack(call).to(device)  # (chunks, frames, band, channel, freq)
            lengths = torch.full((len(call),), call[0].shape[0], device=device)
            out, _ = model(inputs, lengths)
            outs.extend(out.cpu())
        for (o0, o1), out in zip(bounds, outs, strict=True):
            if log_probs is None:
                log_probs = torch.empty(total, out.shape[-1], dtype=out.dtype)
            log_probs[o0:o1] = out  # (o1 - o0, classes)
    tail = (frames - 1) * hop_length + n_fft  # samples after the last frame: checked, as whole
    if tail < len(session):
        check_finite(path, *session.read(tail, len(session)), tail, WINDOW_0)
    assert log_probs is not None  # total > 0: at least one chunk
    return log_probs, total
