"""The Python API in one place: the functions the CLI, bench/ and users call. Each lives in the
module of its question (inference, checkpoints, evaluation, training/run, decoding/tuning); this
facade re-exports them and adds the two small entry points with nowhere better to live."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from keyscribe.checkpoints import initialise_from, load_model
from keyscribe.config import to_plain
from keyscribe.decoding.tuning import tune_decoder
from keyscribe.errors import CheckpointError, ConfigError, DataError
from keyscribe.evaluation import evaluate, evaluate_dataset, transcribe
from keyscribe.experiment import config_from_tree, load_config
from keyscribe.inference import Recognizer
from keyscribe.model_info import count_parameters, model_info
from keyscribe.results import EvalReport, Transcription
from keyscribe.training.run import train

__all__ = [
    "EvalReport",
    "Recognizer",
    "Transcription",
    "config_from_tree",
    "count_parameters",
    "evaluate",
    "evaluate_dataset",
    "export",
    "initialise_from",
    "load_config",
    "load_model",
    "model_info",
    "stream",
    "train",
    "transcribe",
    "tune_decoder",
]


def stream(
    checkpoint: str | Path,
    session: str | Path,
    chunk_ms: float = 40.0,
    options: Any = None,
    realtime: bool = False,
    on_text: Any = None,
    precision: str = "fp32",
    decoder: str = "greedy",
    lm: str | Path | None = "auto",
    beam_options: Any = None,
    device: str = "cpu",
    batch_size: int | None = None,
) -> dict[str, Any]:
    """Replay an sEMG session in chunks of ``chunk_ms`` through a streaming recognizer (carried
    state, see emg/streaming/): per-chunk compute time, latency, CER vs the reference and vs
    offline decoding. ``options``: a ``StreamingOptions``; ``on_text`` gets each new piece of text;
    ``decoder``, ``lm``, ``beam_options``: as ``Recognizer.use_decoder`` takes them;
    ``batch_size``: chunks per network call of the offline decoding (the stream sends one)."""
    session = Path(session)
    if not session.exists():  # before loading the model: a wrong path should fail fast
        raise DataError(session, "file not found")
    from keyscribe.emg.streaming import StreamingOptions, replay_session

    recognizer = (
        load_model(checkpoint)
        .use_device(device)
        .use_precision(precision)
        .use_decoder(decoder, lm, beam_options)
    )
    return replay_session(
        recognizer, session, chunk_ms, options or StreamingOptions(), realtime, on_text, batch_size
    )


def export(
    checkpoint: str | Path,
    out: str | Path,
    format: str = "onnx",
    tolerance: float | None = None,
    card: str | Path | None = None,
    precision: str = "fp32",
) -> dict[str, Any]:
    """Export a checkpoint's network to ONNX (dynamic batch and time/width axes), checked
    against torch with ONNX Runtime on two random batches of different lengths (``precision``
    "int8" quantises the graph's MatMul/Gemm weights, checked against fp32 torch, default
    tolerance 0.5); or its weights, config, charset and model card (``card``, a markdown file)
    to ``.safetensors``."""
    from keyscribe.export import EXPORT_TOLERANCE, export_onnx, parity_batches

    if format == "safetensors":
        from keyscribe.sharing import export_safetensors

        if precision != "fp32":
            raise ConfigError(None, f"--format safetensors writes fp32 weights, not {precision!r}")

        return export_safetensors(checkpoint, out, card)
    if format != "onnx":
        raise ConfigError(None, f"export format must be 'onnx' or 'safetensors', got {format!r}")
    if precision not in EXPORT_TOLERANCE:
        raise ConfigError(
            None,
            f"export precision must be fp32 or int8, got {precision!r}"
            + (" (ONNX Runtime's CPU provider has no bf16 kernels)" if precision == "bf16" else ""),
        )
    tolerance = EXPORT_TOLERANCE[precision] if tolerance is None else tolerance
    recognizer = load_model(checkpoint)
    spec = recognizer.spec
    example = spec.example_input(recognizer.config) if spec.example_input else None
    if example is None:
        raise CheckpointError(
            checkpoint, f"domain {recognizer.domain!r} gives no example input to export with"
        )
    try:
        metadata = {
            "keyscribe.alphabet": json.dumps(recognizer.alphabet.to_dict(), ensure_ascii=False),
            "keyscribe.config": json.dumps(to_plain(recognizer.config), ensure_ascii=False),
        }
        result = export_onnx(
            recognizer.model, parity_batches(example), out, tolerance, precision == "int8", metadata
        )
    except ValueError as exc:
        raise CheckpointError(checkpoint, f"ONNX export failed its parity check: {exc}") from None
    return {
        "checkpoint": str(checkpoint),
        "out": str(result.path),
        "format": format,
        "precision": precision,
        "max_abs_diff": result.max_abs_diff,
        "tolerance": tolerance,
        "parity_shapes": [list(s) for s in result.parity_shapes],
    }
