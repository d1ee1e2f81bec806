"""Inference: a trained model with its alphabet and config, turning items into results.

``Recognizer`` runs the network and hands each item's log-probs to a decoding strategy
(``GreedyDecoding`` or ``BeamDecoding``, both ``decode(log_probs) -> list[Hypothesis]``); what is
domain-specific (whole-session decoding, extra result keys) comes from the domain's spec.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor

from keyscribe import builders
from keyscribe.alphabet import Alphabet
from keyscribe.bundled import bundled_lm
from keyscribe.config import ExperimentConfig
from keyscribe.data.batch import Sample, collate
from keyscribe.decoding.beam import Hypothesis
from keyscribe.decoding.confidence import best_path_posteriors, label_posteriors, word_confidences
from keyscribe.decoding.greedy import decode_greedy
from keyscribe.domain import DomainSpec, get_domain
from keyscribe.errors import ConfigError, DataError
from keyscribe.models.ctc import CTCModel, InputTooShortError
from keyscribe.progress import progress
from keyscribe.results import Transcription

LINES_PER_CALL = 16  # default batch of line images per network call


class Decoding(Protocol):
    """How log-probs ``(time, classes)`` of one item become label sequences, best first."""

    name: ClassVar[str]

    def decode(self, log_probs: Tensor) -> list[Hypothesis]: ...

    def posteriors(
        self, log_probs: Tensor, label_ids: Sequence[int]
    ) -> tuple[list[float], list[int]]: ...  # per label: confidence, frame of its peak


@dataclass(frozen=True)
class GreedyDecoding:
    """Best path: the likeliest class per frame, repeats merged, blanks dropped. Its score is the
    best path's log-probability (a lower bound of the labels' CTC log-probability)."""

    alphabet: Alphabet
    name: ClassVar[str] = "greedy"

    def decode(self, log_probs: Tensor) -> list[Hypothesis]:
        ids = decode_greedy(
            log_probs[None], torch.tensor([log_probs.shape[0]]), self.alphabet.blank
        )[0]
        score = float(log_probs.max(dim=-1).values.sum()) if log_probs.shape[0] else 0.0
        return [Hypothesis(tuple(ids), self.alphabet.decode(ids), score, score, 0.0)]

    def posteriors(
        self, log_probs: Tensor, label_ids: Sequence[int]
    ) -> tuple[list[float], list[int]]:
        # the best path aligns itself: O(time), not O(time x labels)
        return best_path_posteriors(log_probs, self.alphabet.blank)


@dataclass(frozen=True)
class BeamDecoding:
    """Prefix beam search (``decoding.beam.BeamDecoder``), optionally with a character LM."""

    search: Any  # a decoding.beam.BeamDecoder
    name: ClassVar[str] = "beam"

    def decode(self, log_probs: Tensor) -> list[Hypothesis]:
        return list(self.search.decode(log_probs))

    def posteriors(
        self, log_probs: Tensor, label_ids: Sequence[int]
    ) -> tuple[list[float], list[int]]:
        return label_posteriors(log_probs, list(label_ids), self.search.alphabet.blank)


def beam_decoding(
    spec: DomainSpec,
    alphabet: Alphabet,
    lm: str | Path | None = "auto",
    options: Any = None,
    weights: Path | None = None,
) -> BeamDecoding:
    """Beam search for a domain's alphabet. ``lm``: an ARPA character LM, ``"default"`` (the
    default English LM), ``"auto"`` (the LM shipped with the bundled model whose weights are
    ``weights``, else the domain's default LM, if it has one) or None; ``options``:
    a ``BeamOptions`` or a dict of its fields (the insertion bonus then defaults to 2 with an LM
    and 0 without)."""
    from keyscribe.decoding.beam import BeamOptions

    if str(lm) == "auto":
        lm = bundled_lm(weights) or spec.default_lm
    lm = None if str(lm) == "none" else lm
    if lm is not None and lm != "default" and not Path(lm).is_file():
        raise DataError(lm, "language model not found")
    try:
        if not isinstance(options, BeamOptions):
            options = BeamOptions(**{"insertion_bonus": 2.0 if lm else 0.0, **(options or {})})
    except ValueError as exc:
        raise ConfigError(None, f"beam options: {exc}") from None
    try:
        return BeamDecoding(builders.build_beam_decoder(spec, alphabet, lm, options))
    except ValueError as exc:  # an unreadable ARPA file
        raise DataError(lm, str(exc)) from None


@dataclass
class Recognizer:
    """A trained model with its alphabet and config (what a checkpoint holds) and how it decodes.
    ``use_decoder`` and ``use_runtime`` return a new recognizer; this one stays as it is."""

    model: CTCModel
    alphabet: Alphabet
    config: ExperimentConfig
    path: Path | None = None
    decoding: Decoding = field(default=None)  # type: ignore[assignment]  # set in __post_init__
    precision: str = "fp32"  # see use_precision
    fp32_model: CTCModel | None = None  # the model as loaded, while another precision runs
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))  # see use_device
    show_progress: bool = False  # a progress bar on stderr over the items (see use_progress)

    def __post_init__(self) -> None:
        if self.decoding is None:
            self.decoding = GreedyDecoding(self.alphabet)

    @property
    def domain(self) -> str:
        return self.config.domain

    @property
    def spec(self) -> DomainSpec:
        return get_domain(self.config.domain)

    @property
    def beam(self) -> Any:
        """The beam search in use (a ``decoding.beam.BeamDecoder``), or None when greedy."""
        return self.decoding.search if isinstance(self.decoding, BeamDecoding) else None

    def use_decoder(
        self, decoder: str = "greedy", lm: str | Path | None = None, options: Any = None
    ) -> Recognizer:
        """This model decoding with ``"greedy"`` (best path) or ``"beam"`` search (``lm`` and
        ``options`` as :func:`beam_decoding` takes them)."""
        if decoder not in ("greedy", "beam"):
            raise ConfigError(None, f"decoder must be 'greedy' or 'beam', got {decoder!r}")
        if decoder == "greedy":
            return self._with(decoding=GreedyDecoding(self.alphabet))
        return self._with(decoding=beam_decoding(self.spec, self.alphabet, lm, options, self.path))

    def use_precision(self, precision: str = "fp32") -> Recognizer:
        """This model run in ``"fp32"``, ``"bf16"`` (CPU autocast) or ``"int8"`` (dynamically
        quantised Linear layers); log-probs stay fp32 (see keyscribe.precision)."""
        from keyscribe.precision import check_precision, with_precision

        check_precision(precision)
        if precision == "int8" and self.device.type != "cpu":  # dynamic quantisation: CPU only
            raise ConfigError(None, "--precision int8 runs on the CPU; use --device cpu")
        loaded = self.fp32_model or self.model
        if not isinstance(loaded, CTCModel):
            raise ConfigError(None, "--precision applies to the torch runtime, not to ONNX Runtime")
        model = with_precision(loaded, precision)
        return self._with(fp32_model=loaded, model=model, precision=precision)

    def use_device(self, device: str | torch.device = "cpu") -> Recognizer:
        """This model run on ``device``: "cpu", "cuda[:N]" or "auto" (a GPU when torch sees
        one, else the CPU). Inputs go there batch by batch; log-probs come back to the CPU."""
        from keyscribe.devices import resolve_device

        target = device if isinstance(device, torch.device) else resolve_device(device)
        if target == self.device:
            return self
        if not isinstance(self.model, torch.nn.Module):
            raise ConfigError(None, "--device applies to the torch runtime, not to ONNX Runtime")
        if self.precision != "fp32":  # the precision wraps the model where it is
            raise ConfigError(None, "choose the device before the precision (use_device first)")
        # a copy: this recognizer keeps its model where it is
        return self._with(model=copy.deepcopy(self.model).to(target), device=target)

    def use_progress(self, enabled: bool = True) -> Recognizer:
        """This model showing a progress bar on stderr while it works through many items."""
        return self._with(show_progress=enabled)

    def use_runtime(self, runtime: str = "torch", onnx: str | Path | None = None) -> Recognizer:
        """This model run with ``"torch"`` or ``"onnx"`` (ONNX Runtime on ``onnx``, by default
        the checkpoint's name with ``.onnx``, as ``keyscribe export`` writes it)."""
        if runtime not in ("torch", "onnx"):
            raise ConfigError(None, f"runtime must be 'torch' or 'onnx', got {runtime!r}")
        if runtime == "torch":
            return self
        from keyscribe.export import OnnxCTCModel

        if self.device.type != "cpu":
            raise ConfigError(None, "--runtime onnx runs on the CPU; use --device cpu")

        if self.precision != "fp32":
            raise ConfigError(
                None,
                "--precision applies to the torch runtime; ONNX Runtime runs the exported "
                "graph as written (export with --precision int8 for an int8 graph)",
            )
        if onnx is None and self.path is None:
            raise ConfigError(None, "runtime 'onnx' needs the path of an exported model")
        where = Path(onnx) if onnx is not None else Path(str(self.path)).with_suffix(".onnx")
        return self._with(model=OnnxCTCModel(where))

    def _with(self, **changes: Any) -> Recognizer:
        """A shallow copy with ``changes``: the same network and alphabet, this one untouched."""
        other = copy.copy(self)
        for name, value in changes.items():
            setattr(other, name, value)
        return other

    @torch.inference_mode()
    def log_probs(self, sample: Sample) -> tuple[Tensor, int]:
        """One item -> log-probs ``(time', classes)`` and its length."""
        return self.batch_log_probs([sample])[0]

    @torch.inference_mode()
    def batch_log_probs(self, samples: Sequence[Sample]) -> list[tuple[Tensor, int]]:
        """Items padded into one batch -> per item log-probs ``(time', classes)`` and length."""
        self.model.eval()
        batch = collate(samples)
        inputs, input_lengths = batch.inputs, batch.input_lengths
        if self.device.type != "cpu":
            inputs, input_lengths = inputs.to(self.device), input_lengths.to(self.device)
        try:
            out, lengths = self.model(inputs, input_lengths)
        except InputTooShortError as exc:
            item = samples[exc.indices[0]]
            raise DataError(
                item.id,
                f"too short for this model ({exc.frames[0]} input frames give no output frame)",
            ) from None
        out, lengths = out.cpu(), lengths.cpu()  # decoding runs on the CPU
        return [(out[i], int(lengths[i])) for i in range(len(samples))]

    def decode(self, log_probs: Tensor, length: int) -> list[int]:
        """The best label sequence of one item's log-probs ``(time', classes)``."""
        return list(self.decoding.decode(log_probs[:length])[0].label_ids)

    def decode_item(self, log_probs: Tensor, length: int) -> dict[str, Any]:
        """One item's log-probs -> label ids, confidence per character and per word (CTC-aligned
        posteriors), decoding time, and with beam search the scores (n-best when asked)."""
        start = time.perf_counter()
        log_probs = log_probs[:length]
        out: dict[str, Any] = {"decoder": self.decoding.name}
        hyps = self.decoding.decode(log_probs)
        ids = list(hyps[0].label_ids)
        if isinstance(self.decoding, BeamDecoding):
            out.update(score=round(hyps[0].score, 4), lm_score=round(hyps[0].lm_score, 4))
            if len(hyps) > 1:
                out["nbest"] = [{"text": h.text, "score": round(h.score, 4)} for h in hyps]
        out["decode_seconds"] = round(time.perf_counter() - start, 4)
        conf, frames = self.decoding.posteriors(log_probs, ids)
        view = builders.lm_view(self.spec, self.alphabet)
        boundaries = {
            self.alphabet.symbol(i) for i, t in enumerate(view.tokens) if t in ("<sp>", "</s>")
        }
        out["label_ids"] = ids
        out["confidences"] = [round(c, 4) for c in conf]
        out["frames"] = frames  # the output frame of each label's peak posterior
        out["num_frames"] = length
        out["words"] = word_confidences([self.alphabet.symbol(i) for i in ids], conf, boundaries)
        return out

    def dataset(self, path: str | Path, need_text: bool = False) -> Any:
        """The items this model would read at ``path`` (sessions, or lines with the model's
        preprocessing); ``need_text``: skip items without a reference."""
        return self.spec.eval_dataset(self.config, Path(path), self.alphabet, need_text)

    def transcribe(self, path: str | Path, batch_size: int | None = None) -> list[Transcription]:
        """Every item found at ``path`` -> text, label ids, reference and per-char confidence."""
        return self.results(self.dataset(path), batch_size)

    def results(self, dataset: Any, batch_size: int | None = None) -> list[Transcription]:
        """Results for every item, in dataset order. Items with ``widths`` (HTR lines) are decoded
        in width-sorted batches of ``batch_size`` (None: ``LINES_PER_CALL``); items the domain
        decodes whole (sEMG sessions) its own way (``batch_size`` chunks of a session per network
        call; None: the domain's choice)."""
        n = len(dataset)
        widths = getattr(dataset, "widths", None)
        whole = self.spec.whole_item_log_probs
        if widths is None and whole is not None:
            decoded = whole(self, dataset, batch_size)
            if decoded is not None:
                return [self.describe(item, lp, length, s) for item, lp, length, s in decoded]
        if widths is None:
            batches = [[i] for i in range(n)]
        else:
            order = sorted(range(n), key=widths.__getitem__)
            size = batch_size or LINES_PER_CALL
            batches = [order[j : j + size] for j in range(0, n, size)]
        results: list[Transcription | None] = [None] * n
        for batch in progress(batches, len(batches), "decoding", self.show_progress):
            for i, result in zip(batch, self._results([dataset[i] for i in batch]), strict=True):
                results[i] = result
        return [r for r in results if r is not None]

    def _results(self, samples: Sequence[Sample]) -> list[Transcription]:
        """Decode items as one padded batch (HTR lines of similar width batch well)."""
        start = time.perf_counter()
        outputs = self.batch_log_probs(samples)
        elapsed = (time.perf_counter() - start) / len(samples)
        return [
            self.describe(s, lp, n, elapsed) for s, (lp, n) in zip(samples, outputs, strict=True)
        ]

    def describe(
        self, sample: Sample, log_probs: Tensor, length: int, elapsed: float
    ) -> Transcription:
        """One item's result from its log-probs ``(time', classes)``: for callers that run the
        network themselves (HTR pages keep each line's log-probs to place its words)."""
        decoded = self.decode_item(log_probs, length)
        ids = decoded.pop("label_ids")
        reference = sample.targets.tolist()
        result = Transcription(
            id=sample.id,
            text=self.alphabet.decode(ids),
            label_ids=ids,
            # the exact transcription when the domain keeps one (HTR: it may hold characters
            # outside the charset, which then count as errors)
            reference_text=sample.text
            if sample.text is not None
            else self.alphabet.decode(reference),
            reference_ids=reference,
            decoded=decoded,  # decoder, confidences, words, decode_seconds (beam: scores, n-best)
            seconds=round(elapsed, 4),
        )
        result.extra.update(self.spec.describe(result.to_json()))
        return result
