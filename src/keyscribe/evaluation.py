"""Scoring a model: CER / WER with their edit counts over a data set, and transcribing files."""

from __future__ import annotations

import glob
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch.utils.data import ConcatDataset

from keyscribe.checkpoints import load_model
from keyscribe.errors import DataError
from keyscribe.inference import Recognizer
from keyscribe.metrics import EditCounts, words
from keyscribe.results import EvalReport, Transcription

# per-item keys of detailed results (``evaluate --per-item``; reports draw them)
DETAIL_KEYS = ("id", "text", "reference_text", "confidences", "frames", "num_frames", "typed_text",
               "reference_typed_text")  # fmt: skip


def evaluate_dataset(
    recognizer: Recognizer,
    dataset: Any,
    name: str = "data",
    details: bool = False,
    batch_size: int | None = None,
) -> EvalReport:
    """CER / WER over ``dataset`` with each item's texts; ``details`` keeps what a report draws
    of each item too (confidences, frames, and the domain's: line images, key times);
    ``batch_size`` items per network call where the domain batches items."""
    chars, wrds = EditCounts(), EditCounts()
    items = []
    start = time.perf_counter()
    exact_text = recognizer.spec.exact_text
    decode_seconds = 0.0
    for result in recognizer.results(dataset, batch_size):
        decode_seconds += result.decoded["decode_seconds"]
        if exact_text:  # characters of the exact text: ones outside the charset count as errors
            chars.add(list(result.reference_text), list(result.text))
        else:
            chars.add(result.reference_ids, result.label_ids)
        wrds.add(words(result.reference_text), words(result.text))
        kept = DETAIL_KEYS if details else DETAIL_KEYS[:3]
        full = result.to_json()
        items.append({k: full[k] for k in kept if k in full})
    extra = {"domain": recognizer.domain}
    if details and recognizer.spec.item_details is not None:
        extra.update(recognizer.spec.item_details(recognizer, dataset, items))
    return EvalReport(
        data=name,
        items=len(items),
        counts={**chars.as_dict("cer"), **wrds.as_dict("wer")},
        seconds=round(time.perf_counter() - start, 3),
        decoder=recognizer.decoding.name,
        decode_seconds=round(decode_seconds, 3),  # of which decoding (search, confidences)
        results=items,
        item_noun=recognizer.spec.item_noun,
        precision=recognizer.precision,
        extra=extra,
    )


def configured_decoder(
    recognizer: Recognizer, decoder: str | None, lm: str | Path | None, beam_options: Any
) -> Recognizer:
    """``recognizer`` decoding as asked, or with ``decoder`` None as its config's ``decoder:``
    section says (an ``lm`` given explicitly still wins over the config's)."""
    if decoder is None:
        configured = recognizer.config.decoder
        decoder = configured.kind
        lm = configured.lm if lm in (None, "auto") else lm
    return recognizer.use_decoder(decoder, lm, beam_options)


class ItemsOf(ConcatDataset):  # type: ignore[type-arg]
    """The items of several sources as one data set. A per-item list that every part has (HTR:
    ``widths``, ``lines``, ``records``) is the parts' lists joined, so that lines are still
    decoded in width-sorted batches and reports find each line's image."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in ("datasets", "cumulative_sizes"):
            raise AttributeError(name)
        parts = [getattr(d, name, None) for d in self.datasets]
        if all(isinstance(p, list) for p in parts):
            return [x for p in parts for x in p]
        raise AttributeError(name)


def evaluate(
    checkpoint: str | Path,
    data: str | Path | Sequence[str | Path],
    decoder: str | None = "greedy",
    lm: str | Path | None = None,
    beam_options: Any = None,
    precision: str = "fp32",
    details: bool = False,
    device: str = "cpu",
    batch_size: int | None = None,
    progress: bool = False,
) -> EvalReport:
    """Score a checkpoint on a session file / folder (sEMG) or a lines folder (HTR), or on
    several of them at once (``data`` a list), decoding with ``decoder`` ("greedy" or "beam",
    optionally with the character LM ``lm``; None: as the checkpoint's config says); the network
    runs in ``precision`` (fp32, bf16 or int8) on ``device`` ("cpu", "cuda" or "auto"),
    ``batch_size`` items at a time; ``details``: see ``evaluate_dataset``; ``progress`` shows a
    bar on stderr."""
    paths = [Path(d) for d in ([data] if isinstance(data, str | Path) else data)]
    if not paths:
        raise DataError(None, "no data to evaluate on")
    # before loading the model and LM: a wrong path should fail fast (a glob is read later)
    for path in paths:
        if not path.exists() and not glob.has_magic(str(path)):
            raise DataError(path, "not found")
    recognizer = configured_decoder(load_model(checkpoint), decoder, lm, beam_options)
    recognizer = recognizer.use_device(device).use_precision(precision).use_progress(progress)
    # items to score need their reference: one without is skipped by name, not scored as empty
    parts = [recognizer.dataset(path, need_text=True) for path in paths]
    dataset = parts[0] if len(parts) == 1 else ItemsOf(parts)
    return evaluate_dataset(
        recognizer, dataset, " ".join(map(str, paths)), details, batch_size=batch_size
    )


def transcribe(
    checkpoint: str | Path,
    path: str | Path,
    decoder: str | None = "greedy",
    lm: str | Path | None = None,
    beam_options: Any = None,
    precision: str = "fp32",
    device: str = "cpu",
    batch_size: int | None = None,
) -> list[Transcription]:
    recognizer = configured_decoder(load_model(checkpoint), decoder, lm, beam_options)
    return recognizer.use_device(device).use_precision(precision).transcribe(path, batch_size)
