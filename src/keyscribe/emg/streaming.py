"""Streaming sEMG recognition: EMG chunks in, text out, with state carried between chunks.

Each stage keeps only what its next output needs, so a chunk costs work in proportion to its
length, never a re-run of the session:

- log-spectrogram: frame ``f`` reads samples ``[f*hop, f*hop + n_fft)`` (``center=False``, the
  reasoning of emg/stream.py), so after the frames a buffer allows, the samples from the next
  frame's start on are kept (fewer than ``n_fft``);
- front end (spectrogram norm in eval mode, per-frame MLP): per frame, nothing to keep;
- TDSConv: valid convolutions over past frames only, so it is causal as it stands; each conv
  block keeps its last ``kernel_width - 1`` input frames and every new frame gives one new
  output, equal to offline (the first ``trim`` frames only fill the receptive field);
- unidirectional LSTM / GRU: the hidden (and cell) state, equal to offline;
- anything that sees the future (bidirectional RNNs, ConvResNet, Conformer): a sliding window of
  ``context_ms`` past and ``lookahead_ms`` future frames per emission, approximate;
- greedy CTC: the previous frame's label, so a repeat across a chunk border collapses as offline.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from keyscribe.decoding.greedy import IncrementalGreedy, decode_greedy
from keyscribe.emg.dataset import WindowedSessionDataset, data_transforms, eval_channel_projection
from keyscribe.emg.frontend import EmgSpectrogramFrontend
from keyscribe.emg.keys import typed_result
from keyscribe.emg.session import CHANNELS_PER_BAND, NUM_BANDS, SAMPLE_RATE_HZ
from keyscribe.emg.stream import can_stream, streamed_log_probs, whole_session_label
from keyscribe.emg.transforms import LogSpectrogram
from keyscribe.errors import CheckpointError, ConfigError, DataError
from keyscribe.metrics import EditCounts
from keyscribe.models.encoders import (
    RecurrentEncoder,
    SequentialEncoder,
    TDSConv2dBlock,
    TDSConvEncoder,
)


@dataclass(frozen=True)
class StreamingOptions:
    """How models that see the future are windowed; causal models ignore both."""

    lookahead_ms: float = 200.0  # future signal an emission waits for (its algorithmic latency)
    context_ms: float = 1000.0  # past signal re-read with each window

    def __post_init__(self) -> None:
        if self.lookahead_ms < 0 or self.context_ms < 0:
            raise ConfigError(None, "streaming lookahead and context must be >= 0 ms")


class _Stage(Protocol):
    exact: bool  # output equals the offline encoder's
    lookahead: int  # future frames an output waits for

    def push(self, x: Tensor) -> Tensor: ...  # (time, features) -> (time', out_features)

    def flush(self) -> Tensor: ...  # what is left at the end of the stream


class _ConvStage:
    """TDSConv with each conv block's left context carried."""

    exact, lookahead = True, 0

    def __init__(self, encoder: TDSConvEncoder) -> None:
        self.blocks = list(encoder.blocks)
        self.caches: dict[int, Tensor] = {}  # block index -> its last kernel_width - 1 inputs

    def push(self, x: Tensor) -> Tensor:
        y = x[None]  # (1, time, features)
        for i, block in enumerate(self.blocks):
            if isinstance(block, TDSConv2dBlock):
                if i in self.caches:
                    y = torch.cat([self.caches[i], y], dim=1)
                keep = block.conv2d.kernel_size[1] - 1
                self.caches[i] = y[:, max(0, y.shape[1] - keep) :]
                if y.shape[1] <= keep:  # the receptive field is not full yet
                    return x[:0]
            y = block(y)
        return y[0]

    def flush(self) -> Tensor:
        return torch.empty(0)


class _RecurrentStage:
    """Unidirectional LSTM / GRU with its state carried."""

    exact, lookahead = True, 0

    def __init__(self, encoder: RecurrentEncoder) -> None:
        self.rnn = encoder.rnn
        self.state: Any = None  # h, or (h, c): (layers, 1, hidden)

    def push(self, x: Tensor) -> Tensor:
        if x.shape[0] == 0:
            return x.new_empty(0, self.rnn.hidden_size)
        y, self.state = self.rnn(x[None], self.state)  # eval mode: no output dropout
        return y[0]

    def flush(self) -> Tensor:
        return torch.empty(0)


class _WindowStage:
    """Any length-preserving encoder, re-run over ``context`` past and ``lookahead`` future
    frames of each new span of outputs: approximate, since offline it sees the whole session."""

    exact = False

    def __init__(self, encoder: nn.Module, context: int, lookahead: int) -> None:
        if int(encoder.output_lengths(torch.tensor([1000]))) != 1000:  # type: ignore[operator]
            raise ValueError(f"{type(encoder).__name__} changes the frame rate")
        self.encoder, self.context, self.lookahead = encoder, context, lookahead
        self.out_features = int(encoder.out_features)  # type: ignore[arg-type]
        self.buffer: Tensor | None = None  # input frames [start, start + len)
        self.start = 0
        self.emitted = 0  # outputs given so far

    def push(self, x: Tensor) -> Tensor:
        self.buffer = x if self.buffer is None else torch.cat([self.buffer, x])
        return self._emit(self.start + self.buffer.shape[0] - self.lookahead)

    def flush(self) -> Tensor:
        return (
            torch.empty(0) if self.buffer is None else self._emit(self.start + self.buffer.shape[0])
        )

    def _emit(self, ready: int) -> Tensor:
        assert self.buffer is not None
        if ready <= self.emitted:
            return self.buffer.new_empty(0, self.out_features)
        n = self.buffer.shape[0]
        y, _ = self.encoder(self.buffer[None], torch.tensor([n]))  # (1, n, out_features)
        out = y[0, self.emitted - self.start : ready - self.start]
        self.emitted = ready
        drop = max(0, ready - self.context - self.start)
        self.buffer, self.start = self.buffer[drop:], self.start + drop
        return out


def encoder_stages(encoder: nn.Module, context: int, lookahead: int) -> list[_Stage]:
    """Streaming stages for an encoder; consecutive non-causal parts share one window."""
    parts = list(encoder.encoders) if isinstance(encoder, SequentialEncoder) else [encoder]
    stages: list[_Stage] = []
    pending: list[nn.Module] = []  # parts that see the future, windowed together

    def close_window() -> None:
        if pending:
            windowed = pending[0] if len(pending) == 1 else SequentialEncoder(*pending)
            stages.append(_WindowStage(windowed, context, lookahead))
            pending.clear()

    for part in parts:
        if isinstance(part, TDSConvEncoder):
            close_window()
            stages.append(_ConvStage(part))
        elif isinstance(part, RecurrentEncoder) and not part.rnn.bidirectional:
            close_window()
            stages.append(_RecurrentStage(part))
        else:
            pending.append(part)
    close_window()
    return stages


class _SpectrogramStage:
    """Raw EMG ``(samples, band, channel)`` -> log-spectrogram frames, keeping the tail of samples
    the next frame needs."""

    def __init__(self, transform: Callable[[Tensor], Tensor], n_fft: int, hop_length: int) -> None:
        self.transform, self.n_fft, self.hop = transform, n_fft, hop_length
        self.num_frames = LogSpectrogram(n_fft, hop_length).num_frames
        self.tail = torch.empty(0, NUM_BANDS, CHANNELS_PER_BAND)

    def push(self, emg: Tensor) -> Tensor | None:
        x = torch.cat([self.tail, emg])
        frames = self.num_frames(x.shape[0])
        self.tail = x[frames * self.hop :]
        if frames == 0:
            return None
        return self.transform(x[: (frames - 1) * self.hop + self.n_fft])  # (frames, band, ch, freq)


class StreamingRecognizer:
    """An sEMG ``Recognizer`` fed chunk by chunk: ``push(emg)`` returns the new key glyphs (⌫ among
    them: a live display deletes on it, as ``typed_text`` does), ``flush()`` ends the stream.

    Exact (equal to offline decoding) for causal encoders: TDSConv, unidirectional LSTM / GRU and
    their hybrid; windowed with ``options`` otherwise. Greedy decoding only.
    """

    def __init__(
        self, recognizer: Any, options: StreamingOptions | None = None, keep_log_probs: bool = False
    ) -> None:
        if recognizer.domain != "emg":
            raise CheckpointError(
                recognizer.path,
                f"streaming needs an sEMG model, this is a {recognizer.domain!r} one",
            )
        if not isinstance(getattr(recognizer.model, "frontend", None), EmgSpectrogramFrontend):
            raise CheckpointError(recognizer.path, "streaming needs the torch runtime's front end")
        options = options or StreamingOptions()
        data = recognizer.config.data
        self.frame_ms = 1000.0 * data.hop_length / SAMPLE_RATE_HZ
        self.model = recognizer.model.eval()
        self.blank, self.alphabet = recognizer.alphabet.blank, recognizer.alphabet
        transform = data_transforms(data, eval_channel_projection(data))[1]
        self.spectrogram = _SpectrogramStage(transform, data.n_fft, data.hop_length)
        try:
            self.stages = encoder_stages(
                self.model.encoder,
                math.ceil(options.context_ms / self.frame_ms),
                math.ceil(options.lookahead_ms / self.frame_ms),
            )
        except ValueError as exc:
            raise CheckpointError(recognizer.path, f"cannot stream this encoder: {exc}") from None
        self.exact = all(stage.exact for stage in self.stages)
        self.lookahead_ms = sum(stage.lookahead for stage in self.stages) * self.frame_ms
        self.samples = 0  # received so far
        self.label_ids: list[int] = []
        self.greedy = IncrementalGreedy(self.blank)
        self._log_probs: list[Tensor] | None = [] if keep_log_probs else None

    @property
    def text(self) -> str:
        """Key glyphs decoded so far."""
        return self.alphabet.decode(self.label_ids)

    @property
    def typed_text(self) -> str:
        """The text on screen so far (⌫ applied, ⏎ a newline)."""
        return typed_result(self.text)

    def log_probs(self) -> Tensor:
        """All emitted log-probs ``(frames, classes)`` (with ``keep_log_probs``)."""
        if self._log_probs is None:
            raise ValueError("StreamingRecognizer was created without keep_log_probs")
        return (
            torch.cat(self._log_probs)
            if self._log_probs
            else torch.empty(0, self.alphabet.num_classes)
        )

    @torch.inference_mode()
    def push(self, chunk: np.ndarray | Tensor) -> str:
        """chunk ``(samples, band=2, channel=16)`` at 2 kHz -> the key glyphs it completes."""
        emg = torch.as_tensor(chunk, dtype=torch.float32)
        if emg.ndim != 3 or tuple(emg.shape[1:]) != (NUM_BANDS, CHANNELS_PER_BAND):
            raise ValueError(
                f"chunk must be (samples, {NUM_BANDS}, {CHANNELS_PER_BAND}), got {tuple(emg.shape)}"
            )
        bad = ~torch.isfinite(emg).all(dim=(1, 2))
        if bad.any():
            raise DataError(
                None,
                f"non-finite EMG sample at index {self.samples + int(bad.int().argmax())} of the stream",
            )
        self.samples += emg.shape[0]
        spec = self.spectrogram.push(emg)
        if spec is None:
            return ""
        x, _ = self.model.frontend(spec[None], torch.tensor([spec.shape[0]]))
        return self._through(0, x[0])  # x: (1, frames, features)

    @torch.inference_mode()
    def flush(self) -> str:
        """End of stream: windowed stages emit their last frames with the lookahead there is."""
        text = ""
        for i, stage in enumerate(self.stages):
            text += self._through(i + 1, stage.flush())
        return text

    def _through(self, first: int, x: Tensor) -> str:
        """Run frames ``(time, features)`` through stages ``first``.. and the head, decode them."""
        for stage in self.stages[first:]:
            if x.shape[0] == 0:
                return ""
            x = stage.push(x)
        if x.shape[0] == 0:
            return ""
        log_probs = self.model.head(x).float().log_softmax(dim=-1)  # (time, classes), fp32
        if self._log_probs is not None:
            self._log_probs.append(log_probs)
        new = self.greedy.step(log_probs)
        self.label_ids += new
        return self.alphabet.decode(new)


def _offline(recognizer: Any, dataset: Any) -> Tensor:
    """The session's offline log-probs ``(frames, classes)``: TDSConv in exact overlapping chunks,
    other encoders on the session read whole, never through this module (what it is checked by)."""
    if can_stream(recognizer.model, dataset):
        data = recognizer.config.data
        log_probs, n = streamed_log_probs(recognizer.model, dataset, data.n_fft, data.hop_length)
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
) -> dict[str, Any]:
    """Feed a recorded session to a StreamingRecognizer in chunks of ``chunk_ms``, as fast as
    possible or (``realtime``) at the pace it was recorded; time each chunk, then decode the
    session offline and compare. ``on_text`` gets each chunk's new key glyphs."""
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

    offline = _offline(recognizer, dataset)
    offline_ids = decode_greedy(offline[None], torch.tensor([offline.shape[0]]), stream.blank)[0]
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
    }
