"""Commands that run a trained model: ``evaluate``, ``transcribe``, ``export``, ``stream``,
``tune-decoder``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from keyscribe.cli import lm as dec
from keyscribe.cli.app import app, print_json
from keyscribe.cli.options import (
    CHECKPOINT_HELP,
    BatchSizeOption,
    DeviceOption,
    PrecisionOption,
)


@app.command()
def evaluate(
    checkpoint: Annotated[Path, typer.Argument(help=CHECKPOINT_HELP)],
    data: Annotated[
        list[Path],
        typer.Argument(
            help="Session files/folders (sEMG), or line sources (HTR: lines folders, PAGE/ALTO "
            "pages, folders, globs or lists of them); several are scored together."
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    per_item: Annotated[
        bool,
        typer.Option(
            "--per-item",
            help="Include each item's text, confidences and frames (and line images or key times).",
        ),
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option("--report", help="Also write a self-contained HTML report of the items."),
    ] = None,
    decoder: dec.DecoderOption = None,
    lm: dec.LMOption = "auto",
    beam_size: dec.BeamSizeOption = None,
    top_k: dec.TopKOption = None,
    lm_weight: dec.LMWeightOption = None,
    insertion_bonus: dec.BonusOption = None,
    backend: dec.BackendOption = None,
    precision: PrecisionOption = "fp32",
    device: DeviceOption = "auto",
    batch_size: BatchSizeOption = None,
) -> None:
    """Character and word error rates of a checkpoint on data (a progress bar on a terminal,
    none with --json)."""
    from keyscribe import api
    from keyscribe.progress import wanted

    beam = dec.beam_overrides(beam_size, top_k, lm_weight, insertion_bonus, backend=backend)
    details = per_item or html is not None
    report = api.evaluate(
        checkpoint,
        data[0] if len(data) == 1 else data,
        decoder,
        lm,
        beam,
        precision,
        details=details,
        device=device,
        batch_size=batch_size,
        progress=wanted(as_json),
    )
    scores = {**report.to_json(per_item=per_item), "checkpoint": str(checkpoint)}
    if html is not None:
        from keyscribe.reports import evaluation_page

        page = evaluation_page({**report.to_json(), "checkpoint": str(checkpoint)}, html)
        typer.echo(f"wrote {page}", err=True)
    if as_json:
        print_json(scores)
        return
    typer.echo(
        f"{scores['items']} items  CER {scores['cer']:.2f} % (ins {scores['cer_insertions']}, "
        f"del {scores['cer_deletions']}, sub {scores['cer_substitutions']} / {scores['cer_reference_length']})"
        f"  WER {scores['wer']:.2f} %  ({scores['decoder']} decoding {scores['decode_seconds']:.1f} s)"
    )


@app.command()
def transcribe(
    checkpoint: Annotated[Path, typer.Argument(help=CHECKPOINT_HELP)],
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Session .hdf5 files (sEMG); line images, PAGE/ALTO pages, folders, globs or "
            "lists of pages (HTR)."
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (one object per input item).")
    ] = False,
    decoder: dec.DecoderOption = None,
    lm: dec.LMOption = "auto",
    beam_size: dec.BeamSizeOption = None,
    top_k: dec.TopKOption = None,
    lm_weight: dec.LMWeightOption = None,
    insertion_bonus: dec.BonusOption = None,
    nbest: dec.NBestOption = None,
    backend: dec.BackendOption = None,
    xml_out: Annotated[
        Path | None,
        typer.Option(
            "--xml-out",
            help="HTR: folder for the <name>.keyscribe.xml copies of pages (default: beside each).",
        ),
    ] = None,
    page_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="HTR pages: write alto, page (the input's own format), txt or json.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="HTR pages: folder for <name>.<xml|txt|json>."),
    ] = None,
    glyphs: Annotated[
        bool, typer.Option("--glyphs", help="HTR pages: a Glyph per character too.")
    ] = False,
    runtime: Annotated[
        str,
        typer.Option("--runtime", help="Run the network with 'torch' or 'onnx' (ONNX Runtime)."),
    ] = "torch",
    onnx: Annotated[
        Path | None,
        typer.Option(
            "--onnx",
            help="With --runtime onnx: the exported model (default: CHECKPOINT with .onnx).",
        ),
    ] = None,
    precision: PrecisionOption = "fp32",
    device: DeviceOption = "auto",
    batch_size: BatchSizeOption = None,
) -> None:
    """Decode inputs to text; prints the reference beside it when the input carries one.
    With --json: per-character and per-word confidences (and n-best lists); HTR words carry their
    position (x0, x1). A PAGE/ALTO page gets a copy holding the text, confidences and word boxes:
    <name>.keyscribe.xml beside it (or in --xml-out), or <out>/<name>.<ext> with --out."""
    from keyscribe import api
    from keyscribe.evaluation import configured_decoder
    from keyscribe.progress import progress, wanted

    beam = dec.beam_overrides(beam_size, top_k, lm_weight, insertion_bonus, nbest, backend)
    recognizer = configured_decoder(api.load_model(checkpoint), decoder, lm, beam)
    recognizer = recognizer.use_device(device).use_precision(precision).use_runtime(runtime, onnx)
    several = len(inputs) > 1  # a bar over the inputs, else over the items of the one input
    recognizer = recognizer.use_progress(wanted(as_json) and not several)
    files = recognizer.spec.transcribe_files
    if files is not None:  # the domain writes documents back (HTR: PAGE/ALTO pages)
        options = {
            "format": page_format,
            "out": out,
            "xml_out": xml_out,
            "glyphs": glyphs,
            "batch_size": batch_size,
        }
        results = files(recognizer, inputs, options, lambda p: typer.echo(f"wrote {p}", err=True))
    else:
        given = [
            f
            for f, v in (
                ("--format", page_format),
                ("--out", out),
                ("--xml-out", xml_out),
                ("--glyphs", glyphs),
            )
            if v
        ]
        if given:
            from keyscribe.errors import ConfigError

            raise ConfigError(
                None,
                f"{', '.join(given)}: write documents back, which {recognizer.domain} models do not",
            )
        paths = progress(inputs, len(inputs), "inputs", wanted(as_json) and several)
        results = [r.to_json() for path in paths for r in recognizer.transcribe(path, batch_size)]
    if as_json:
        print_json(results[0] if len(results) == 1 else results)
        return
    for r in results:
        typer.echo(f"== {r['id']}")
        if "typed_text" in r:
            typer.echo(f"reference keys: {r['reference_text']!r}")
            typer.echo(f"decoded keys:   {r['text']!r}")
            typer.echo(f"reference text: {r['reference_typed_text']!r}")
            typer.echo(f"decoded text:   {r['typed_text']!r}")
        else:
            if r["reference_text"]:
                typer.echo(f"reference: {r['reference_text']}")
            typer.echo(f"decoded:   {r['text']}")


@app.command()
def export(
    checkpoint: Annotated[Path, typer.Argument(help=CHECKPOINT_HELP)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the model.")],
    format: Annotated[
        str, typer.Option("--format", help="onnx (the network) or safetensors (to share).")
    ] = "onnx",
    tolerance: Annotated[
        float | None,
        typer.Option(
            "--tolerance",
            help="Max abs log-prob difference allowed (onnx; default 1e-3, int8: 0.5 against fp32).",
        ),
    ] = None,
    card: Annotated[
        Path | None,
        typer.Option("--card", help="Model card (markdown) for safetensors; default: written."),
    ] = None,
    precision: Annotated[
        str,
        typer.Option(
            "--precision",
            help="onnx: fp32, or int8 (ONNX Runtime's dynamic quantisation of MatMul/Gemm "
            "weights); bf16 is refused: ONNX Runtime's CPU provider has no bf16 kernels.",
        ),
    ] = "fp32",
) -> None:
    """Export the network (inputs -> log-probs, lengths) with dynamic batch and time/width axes,
    after checking ONNX Runtime against torch on two batches of different lengths (the charset
    rides in its metadata); or, with --format safetensors, the weights with the config, charset
    and model card in the file's metadata: loading it runs no pickle."""
    from keyscribe import api

    result = api.export(checkpoint, out, format, tolerance, card, precision)
    if format == "safetensors":
        typer.echo(
            f"wrote {result['out']} ({result['parameters']:,} parameters, "
            f"{result['bytes'] / 1e6:.1f} MB)"
        )
        return
    shapes = ", ".join("x".join(map(str, s)) for s in result["parity_shapes"])
    typer.echo(
        f"wrote {result['out']}; ONNX Runtime vs torch max abs diff {result['max_abs_diff']:.3g} on inputs {shapes}"
    )


@app.command()
def stream(
    checkpoint: Annotated[Path, typer.Argument(help="An sEMG .ckpt from keyscribe or emg2qwerty.")],
    session: Annotated[Path, typer.Argument(help="An emg2qwerty .hdf5 session to replay.")],
    chunk_ms: Annotated[
        float, typer.Option("--chunk-ms", help="Chunk length a live source would send.")
    ] = 40.0,
    lookahead_ms: Annotated[
        float,
        typer.Option(
            "--lookahead-ms",
            help="Models that see the future (bidirectional): future signal per emission.",
        ),
    ] = 200.0,
    context_ms: Annotated[
        float, typer.Option("--context-ms", help="Such models: past signal re-read per window.")
    ] = 1000.0,
    realtime: Annotated[
        bool,
        typer.Option(
            "--realtime/--no-realtime",
            help="Pace chunks as recorded (default: as fast as possible).",
        ),
    ] = False,
    threads: Annotated[
        int,
        typer.Option(
            "--threads", min=1, help="Compute threads (chunks are small: more rarely pay)."
        ),
    ] = 1,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object at the end.")
    ] = False,
    precision: PrecisionOption = "fp32",
    decoder: dec.DecoderOption = "greedy",
    lm: dec.LMOption = "auto",
    beam_size: dec.BeamSizeOption = None,
    top_k: dec.TopKOption = None,
    lm_weight: dec.LMWeightOption = None,
    insertion_bonus: dec.BonusOption = None,
    device: Annotated[
        str,
        typer.Option(
            "--device",
            help="Where the network runs: cpu (default: 40 ms chunks are too small to pay a GPU's "
            "transfers), cuda[:N] or auto.",
        ),
    ] = "cpu",
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            min=1,
            help="Chunks (~33 s) per network call in the offline decoding the stream is compared "
            "with (TDSConv); the stream itself sends one --chunk-ms chunk per call, as a live "
            "source does (default 1 on a CPU, 16 on a GPU).",
        ),
    ] = None,
) -> None:
    """Replay a session chunk by chunk through a streaming recognizer (carried state: exact for
    causal models, a sliding window for bidirectional ones) and print text as it comes, then
    per-chunk compute time, latency and CER vs the reference and vs offline decoding. With
    --decoder beam the search is carried across chunks; the text printed is the stable part."""
    import torch

    from keyscribe import api
    from keyscribe.emg.streaming import StreamingOptions

    def show(text: str) -> None:
        typer.echo(text, nl=False)

    torch.set_num_threads(threads)  # 2 threads on 2 busy cores made 40 ms chunks ~100x slower
    results = api.stream(
        checkpoint,
        session,
        chunk_ms,
        StreamingOptions(lookahead_ms, context_ms),
        realtime,
        None if as_json else show,
        precision,
        decoder,
        lm,
        dec.beam_overrides(beam_size, top_k, lm_weight, insertion_bonus, backend="python"),
        device,
        batch_size,
    )
    if as_json:
        print_json(results)
        return
    typer.echo(
        f"\n{results['chunks']} chunks of {results['chunk_ms']:g} ms: compute mean {results['mean_chunk_ms']:.2f} ms, "
        f"p95 {results['p95_chunk_ms']:.2f} ms ({results['threads']} threads); algorithmic latency "
        f"{results['algorithmic_latency_ms']:g} ms ({'exact' if results['exact'] else 'windowed, approximate'})"
    )
    typer.echo(
        f"CER {results['cer']:.2f} % (offline {results['offline_cer']:.2f} %, vs offline {results['cer_vs_offline']:.2f} %); "
        f"equal to offline: {results['equal_to_offline']}"
    )


@app.command("tune-decoder")
def tune_decoder(
    checkpoint: Annotated[Path, typer.Argument(help=CHECKPOINT_HELP)],
    data: Annotated[Path, typer.Argument(help="Data root whose validation split to tune on.")],
    lm: dec.LMOption = "auto",
    lm_weights: Annotated[str, typer.Option(help="Comma-separated LM weights.")] = "0.5,1,2,3",
    bonuses: Annotated[str, typer.Option(help="Comma-separated insertion bonuses.")] = "0,1,2,3",
    beam_size: dec.BeamSizeOption = None,
    backend: dec.BackendOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the results as JSON.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Grid-search beam search's LM weight and insertion bonus on the validation split."""
    from keyscribe import api

    try:
        weights = [float(w) for w in lm_weights.split(",")]
        bonus_values = [float(b) for b in bonuses.split(",")]
    except ValueError:
        raise typer.BadParameter("--lm-weights and --bonuses are comma-separated numbers") from None
    beam = dec.beam_overrides(beam_size, backend=backend)
    results = api.tune_decoder(checkpoint, data, lm, weights, bonus_values, beam or None)
    if out is not None:
        from keyscribe.atomic import atomic_write_text

        atomic_write_text(out, json.dumps(results, indent=2) + "\n")
    if as_json:
        print_json(results)
        return
    typer.echo(f"{results['items']} validation items, greedy CER {results['greedy_cer']:.2f} %")
    for g in results["grid"]:
        typer.echo(
            f"lm_weight {g['lm_weight']:<5} insertion_bonus {g['insertion_bonus']:<5} CER {g['cer']:.2f} %"
        )
    best = results["best"]
    typer.echo(
        f"best: --lm-weight {best['lm_weight']} --insertion-bonus {best['insertion_bonus']} "
        f"(CER {best['cer']:.2f} %)"
    )
