"""StreamingRecognizer: EMG chunks in, key glyphs out, with state carried between chunks (the
stages and why each is exact or windowed: stages.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from keyscribe.decoding.greedy import IncrementalGreedy
from keyscribe.devices import module_device
from keyscribe.emg.dataset import data_transforms, eval_channel_projection
from keyscribe.emg.frontend import EmgSpectrogramFrontend
from keyscribe.emg.keys import typed_result
from keyscribe.emg.session import CHANNELS_PER_BAND, NUM_BANDS, SAMPLE_RATE_HZ, check_finite
from keyscribe.emg.streaming.stages import SpectrogramStage, encoder_stages
from keyscribe.errors import CheckpointError, ConfigError


@dataclass(frozen=True)
class StreamingOptions:
    """How models that see the future are windowed; causal models ignore both."""

    lookahead_ms: float = 200.0  # future signal an emission waits for (its algorithmic latency)
    context_ms: float = 1000.0  # past signal re-read with each window

    def __post_init__(self) -> None:
        if self.lookahead_ms < 0 or self.context_ms < 0:
            raise ConfigError(None, "streaming lookahead and context must be >= 0 ms")


class StreamingRecognizer:
    """An sEMG ``Recognizer`` fed chunk by chunk: ``push(emg)`` returns the new key glyphs (⌫ among
    them: a live display deletes on it, as ``typed_text`` does), ``flush()`` ends the stream.

    Exact (equal to offline decoding) for causal encoders: TDSConv, unidirectional LSTM / GRU and
    their hybrid; windowed with ``options`` otherwise.

    ``decoder``: ``"greedy"``, ``"beam"`` (prefix beam search carried across chunks, ``lm`` and
    ``beam_options`` as ``Recognizer.use_decoder`` takes them), or None for the recognizer's own.
    With beam search, ``push`` returns the stable labels (shared by every hypothesis in the beam:
    no later frame changes them) and ``tentative`` holds the best hypothesis's labels after them;
    ``flush`` settles the rest, so the whole output is offline beam search's on the same frames.
    """

    def __init__(
        self,
        recognizer: Any,
        options: StreamingOptions | None = None,
        keep_log_probs: bool = False,
        decoder: str | None = None,
        lm: Any = "auto",
        beam_options: Any = None,
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
        self.device = module_device(self.model)  # spectrogram frames go there; log-probs return
        self.blank, self.alphabet = recognizer.alphabet.blank, recognizer.alphabet
        transform = data_transforms(data, eval_channel_projection(data))[1]
        self.spectrogram = SpectrogramStage(transform, data.n_fft, data.hop_length)
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
        if decoder is not None:
            recognizer = recognizer.use_decoder(decoder, lm, beam_options)
        self.beam = recognizer.beam  # a decoding.beam.BeamDecoder, or None: greedy
        self.search = None if self.beam is None else self.beam.stream()
        self._log_probs: list[Tensor] | None = [] if keep_log_probs else None

    @property
    def text(self) -> str:
        """Key glyphs decoded so far."""
        return self.alphabet.decode(self.label_ids)

    @property
    def tentative(self) -> str:
        """Beam search: the best hypothesis's key glyphs after the stable ones (may change)."""
        return "" if self.search is None else self.alphabet.decode(self.search.tentative())

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
        check_finite(None, emg.numpy(), start=self.samples, where=" of the stream")
        self.samples += emg.shape[0]
        spec = self.spectrogram.push(emg)
        if spec is None:
            return ""
        lengths = torch.tensor([spec.shape[0]], device=self.device)
        x, _ = self.model.frontend(spec[None].to(self.device), lengths)
        return self._through(0, x[0])  # x: (1, frames, features)

    @torch.inference_mode()
    def flush(self) -> str:
        """End of stream: windowed stages emit their last frames with the lookahead there is."""
        text = ""
        for i, stage in enumerate(self.stages):
            text += self._through(i + 1, stage.flush())
        if self.search is not None:  # the end: the best hypothesis, its LM end scored
            best = list(self.search.hypotheses()[0][0])
            rest = best[len(self.label_ids) :]
            self.label_ids = best
            text += self.alphabet.decode(rest)
        return text

    def _through(self, first: int, x: Tensor) -> str:
        """Run frames ``(time, features)`` through stages ``first``.. and the head, decode them."""
        for stage in self.stages[first:]:
            if x.shape[0] == 0:
                return ""
            x = stage.push(x)
        if x.shape[0] == 0:
            return ""
        log_probs = self.model.head(x).float().log_softmax(dim=-1).cpu()  # (time, classes), fp32
        if self._log_probs is not None:
            self._log_probs.append(log_probs)
        if self.search is not None:
            self.search.advance(log_probs.double().numpy())
            new = self.search.stable()
        else:
            new = self.greedy.step(log_probs)
        self.label_ids += new
        return self.alphabet.decode(new)
