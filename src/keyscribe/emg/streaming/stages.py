"""The stages of streaming sEMG recognition, each carrying its state between chunks.

Each stage keeps only what its next output needs, so a chunk costs work in proportion to its
length, never a re-run of the session:

- log-spectrogram: frame ``f`` reads samples ``[f*hop, f*hop + n_fft)`` (``center=False``, the
  reasoning of chunked.py), so after the frames a buffer allows, the samples from the next
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

from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from keyscribe.emg.session import CHANNELS_PER_BAND, NUM_BANDS
from keyscribe.emg.transforms import LogSpectrogram
from keyscribe.models.encoder import Encoder
from keyscribe.models.encoders import (
    RecurrentEncoder,
    SequentialEncoder,
    TDSConv2dBlock,
    TDSConvEncoder,
)


class Stage(Protocol):
    exact: bool  # output equals the offline encoder's
    lookahead: int  # future frames an output waits for

    def push(self, x: Tensor) -> Tensor: ...  # (time, features) -> (time', out_features)

    def flush(self) -> Tensor: ...  # what is left at the end of the stream


class ConvStage:
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


class RecurrentStage:
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


class WindowStage:
    """Any length-preserving encoder, re-run over ``context`` past and ``lookahead`` future
    frames of each new span of outputs: approximate, since offline it sees the whole session."""

    exact = False

    def __init__(self, encoder: Encoder, context: int, lookahead: int) -> None:
        if int(encoder.output_lengths(torch.tensor([1000]))) != 1000:
            raise ValueError(f"{type(encoder).__name__} changes the frame rate")
        self.encoder, self.context, self.lookahead = encoder, context, lookahead
        self.out_features = int(encoder.out_features)
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
        lengths = torch.tensor([n], device=self.buffer.device)
        y, _ = self.encoder(self.buffer[None], lengths)  # (1, n, out_features)
        out = y[0, self.emitted - self.start : ready - self.start]
        self.emitted = ready
        drop = max(0, ready - self.context - self.start)
        self.buffer, self.start = self.buffer[drop:], self.start + drop
        return out


def encoder_stages(encoder: nn.Module, context: int, lookahead: int) -> list[Stage]:
    """Streaming stages for an encoder; consecutive non-causal parts share one window."""
    parts = list(encoder.encoders) if isinstance(encoder, SequentialEncoder) else [encoder]
    stages: list[Stage] = []
    pending: list[nn.Module] = []  # parts that see the future, windowed together

    def close_window() -> None:
        if pending:
            windowed = pending[0] if len(pending) == 1 else SequentialEncoder(*pending)
            stages.append(WindowStage(windowed, context, lookahead))
            pending.clear()

    for part in parts:
        if isinstance(part, TDSConvEncoder):
            close_window()
            stages.append(ConvStage(part))
        elif isinstance(part, RecurrentEncoder) and not part.rnn.bidirectional:
            close_window()
            stages.append(RecurrentStage(part))
        else:
            pending.append(part)
    close_window()
    return stages


class SpectrogramStage:
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
