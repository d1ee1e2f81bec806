"""Scoring a model: CER / WER with their edit counts over a data set, and transcribing files."""

from __future__ import annotations

import glob
import time
from pathlib import Path
from typing import Any

from keyscribe.checkpoints import load_model
from keyscribe.errors import DataError
from keyscribe.inference import Recognizer
from keyscribe.metrics import EditCounts, words
from keyscribe.results import EvalReport, Transcription


def evaluate_dataset(recognizer: Recognizer, dataset: Any, name: str = "data") -> EvalReport:
    chars, wrds = EditCounts(), EditCounts()
    items = []
    start = time.perf_counter()
    exact_text = recognizer.spec.exact_text
    decode_seconds = 0.0
    for result in recognizer.results(dataset):
        decode_seconds += result.decoded["decode_seconds"]
        if exact_text:  # characters of the exact text: ones outside the charset count as errors
            chars.add(list(result.reference_text), list(result.text))
        else:
            chars.add(result.reference_ids, result.label_ids)
        wrds.add(words(result.reference_text), words(result.text))
        items.append(
            {"id": result.id, "text": result.text, "reference_text": result.reference_text}
        )
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


def evaluate(
    checkpoint: str | Path,
    data: str | Path,
    decoder: str | None = "greedy",
    lm: str | Path | None = None,
    beam_options: Any = None,
    precision: str = "fp32",
) -> EvalReport:
    """Score a checkpoint on a session file / folder (sEMG) or a lines folder (HTR), decoding with
    ``decoder`` ("greedy" or "beam", optionally with the character LM ``lm``; None: as the
    checkpoint's config says); the network runs in ``precision`` (fp32, bf16 or int8)."""
    data = Path(data)
    # before loading the model and LM: a wrong path should fail fast (a glob is read later)
    if not data.exists() and not glob.has_magic(str(data)):
        raise DataError(data, "not found")
    recognizer = configured_decoder(load_model(checkpoint), decoder, lm, beam_options)
    recognizer = recognizer.use_precision(precision)
    # items to score need their reference: one without is skipped by name, not scored as empty
    dataset = recognizer.dataset(data, need_text=True)
    return evaluate_dataset(recognizer, dataset, str(data))


def transcribe(
    checkpoint: str | Path,
    path: str | Path,
    decoder: str | None = "greedy",
    lm: str | Path | None = None,
    beam_options: Any = None,
    precision: str = "fp32",
) -> list[Transcription]:
    recognizer = configured_decoder(load_model(checkpoint), decoder, lm, beam_options)
    return recognizer.use_precision(precision).transcribe(path)
