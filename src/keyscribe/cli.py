"""The ``keyscribe`` command line: a thin layer over keyscribe.api.

User mistakes (bad files, bad configs) print one line ``keyscribe: error: <path>: <problem>`` and
exit with status 2; heavy modules are imported inside commands so ``--help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from keyscribe.decoding import cli as dec
from keyscribe.errors import KeyscribeError
from keyscribe.htr.cli import htr_app

app = typer.Typer(
    help="CTC recognizers for sEMG keystrokes and handwritten text lines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Inspect and synthesise data.", no_args_is_help=True)
model_app = typer.Typer(help="Describe models.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(model_app, name="model")
app.add_typer(htr_app, name="htr")
app.add_typer(dec.lm_app, name="lm")

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Config override key.path=value (repeatable)."),
]


def _print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, indent=2))


def _overrides(
    sets: list[str] | None,
    out: Path | None = None,
    data: Path | None = None,
    max_epochs: int | None = None,
    max_steps: int | None = None,
    max_minutes: float | None = None,
) -> list[str]:
    overrides = list(sets or [])
    if out is not None:
        overrides.append(f"out_dir={out}")
    if data is not None:
        overrides.append(f"data.root={data}")
    if max_epochs is not None:
        overrides.append(f"trainer.max_epochs={max_epochs}")
    if max_steps is not None:
        overrides.append(f"trainer.max_steps={max_steps}")
    if max_minutes is not None:
        overrides.append(f"trainer.max_time_minutes={max_minutes}")
    return overrides


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="Experiment config (YAML).")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run directory.")] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="Data root (overrides data.root).")
    ] = None,
    max_epochs: Annotated[int | None, typer.Option(help="Override trainer.max_epochs.")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Override trainer.max_steps.")] = None,
    max_minutes: Annotated[float | None, typer.Option(help="Wall-clock budget in minutes.")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from <out>/last.ckpt.")
    ] = False,
    sets: SetOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
) -> None:
    """Train a model; writes <out>/best.ckpt, last.ckpt, config.yaml, logs/ and results.json."""
    from keyscribe import api

    cfg = api.load_config(config, _overrides(sets, out, data, max_epochs, max_steps, max_minutes))
    results = api.train(cfg, resume=resume)
    if results.get("global_rank"):  # DDP: rank 0 reports the run
        return
    if as_json:
        _print_json(results)
        return
    typer.echo(
        f"run directory: {results['run_dir']}  ({results['epochs']} epochs, {results['train_seconds']} s)"
    )
    for split in ("train", "val", "test"):
        if results.get(f"{split}_cer") is not None:
            typer.echo(f"{split} CER: {results[f'{split}_cer']:.2f} %")


@app.command()
def evaluate(
    checkpoint: Annotated[Path, typer.Argument(help="A .ckpt from keyscribe or emg2qwerty.")],
    data: Annotated[Path, typer.Argument(help="Session file/folder (sEMG) or lines folder (HTR).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    per_item: Annotated[bool, typer.Option("--per-item", help="Include each item's text.")] = False,
    decoder: dec.DecoderOption = "greedy",
    lm: dec.LMOption = "auto",
    beam_size: dec.BeamSizeOption = None,
    top_k: dec.TopKOption = None,
    lm_weight: dec.LMWeightOption = None,
    insertion_bonus: dec.BonusOption = None,
    backend: dec.BackendOption = None,
) -> None:
    """Character and word error rates of a checkpoint on data."""
    from keyscribe import api

    beam = dec.beam_overrides(beam_size, top_k, lm_weight, insertion_bonus, backend=backend)
    scores = api.evaluate(checkpoint, data, decoder, lm, beam)
    if not per_item:
        scores.pop("results")
    if as_json:
        _print_json(scores)
        return
    typer.echo(
        f"{scores['items']} items  CER {scores['cer']:.2f} % (ins {scores['cer_insertions']}, "
        f"del {scores['cer_deletions']}, sub {scores['cer_substitutions']} / {scores['cer_reference_length']})"
        f"  WER {scores['wer']:.2f} %  ({scores['decoder']} decoding {scores['decode_seconds']:.1f} s)"
    )


@app.command()
def transcribe(
    checkpoint: Annotated[Path, typer.Argument(help="A .ckpt from keyscribe or emg2qwerty.")],
    inputs: Annotated[
        list[Path], typer.Argument(help="Session .hdf5 files (sEMG) or line images (HTR).")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (one object per input item).")
    ] = False,
    decoder: dec.DecoderOption = "greedy",
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
            help="HTR: folder for the PAGE/ALTO copies holding the text (default: beside each input).",
        ),
    ] = None,
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
) -> None:
    """Decode inputs to text; prints the reference beside it when the input carries one.
    With --json: per-character and per-word confidences (and n-best lists). HTR inputs are line
    images or PAGE/ALTO pages; a page's recognised text goes into a copy, <name>.keyscribe.xml."""
    from keyscribe import api

    beam = dec.beam_overrides(beam_size, top_k, lm_weight, insertion_bonus, nbest, backend)
    recognizer = (
        api.load_model(checkpoint).use_decoder(decoder, lm, beam).use_runtime(runtime, onnx)
    )
    results = []
    for path in inputs:
        found = recognizer.transcribe(path)
        results += found
        if recognizer.domain == "htr" and path.suffix.lower() == ".xml":
            from keyscribe.htr.pages import write_transcription

            typer.echo(f"wrote {write_transcription(path, found, xml_out)}", err=True)
    if as_json:
        _print_json(results[0] if len(results) == 1 else results)
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
    checkpoint: Annotated[Path, typer.Argument(help="A .ckpt from keyscribe or emg2qwerty.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the model.")],
    format: Annotated[str, typer.Option("--format", help="Export format (onnx).")] = "onnx",
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Max abs log-prob difference allowed.")
    ] = 1e-3,
) -> None:
    """Export the network (inputs -> log-probs, lengths) with dynamic batch and time/width axes,
    after checking ONNX Runtime against torch on two batches of different lengths."""
    from keyscribe import api

    result = api.export(checkpoint, out, format, tolerance)
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
) -> None:
    """Replay a session chunk by chunk through a streaming recognizer (carried state: exact for
    causal models, a sliding window for bidirectional ones) and print text as it comes, then
    per-chunk compute time, latency and CER vs the reference and vs offline decoding."""
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
    )
    if as_json:
        _print_json(results)
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
    checkpoint: Annotated[Path, typer.Argument(help="A .ckpt from keyscribe or emg2qwerty.")],
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
        from keyscribe.training.checkpoint_io import atomic_write_text

        atomic_write_text(out, json.dumps(results, indent=2) + "\n")
    if as_json:
        _print_json(results)
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


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Run directory.")] = Path("runs/quickstart"),
    data: Annotated[Path, typer.Option("--data", help="Where the synthetic sessions go.")] = Path(
        "data/quickstart"
    ),
    config: Annotated[
        Path | None, typer.Option(help="Config (default: the packaged quickstart).")
    ] = None,
    max_minutes: Annotated[float | None, typer.Option(help="Training budget in minutes.")] = None,
    sets: SetOption = None,
) -> None:
    """The quick start: synthesise sessions, train a small model, report CER, transcribe a session."""
    from keyscribe import api
    from keyscribe.emg.dataset import index_sessions
    from keyscribe.emg.synth import synthesize

    if not (data / "metadata.csv").exists():
        typer.echo(f"writing synthetic sessions to {data} ...")
        synthesize(data, users=1, sessions=6, minutes=2.0, seed=0)
    config = config or Path(__file__).resolve().parents[2] / "configs/emg/quickstart.yaml"
    cfg = api.load_config(config, _overrides(sets, out, data, max_minutes=max_minutes))
    results = api.train(cfg)
    typer.echo(
        f"\nvalidation CER: {results['val_cer']:.2f} %   test CER: {results['test_cer']:.2f} %"
    )
    test = next(e.path for e in index_sessions(data) if e.split == "test")
    r = api.load_model(results["best_checkpoint"]).transcribe(test)[0]
    typer.echo(f"\nheld-out session {test.name}  (first 300 characters)")
    typer.echo(f"reference: {r['reference_typed_text'][:300]!r}")
    typer.echo(f"decoded:   {r['typed_text'][:300]!r}")


@app.command()
def sweep(
    configs: Annotated[
        list[Path], typer.Argument(help="Config files, or folders of them (one run each).")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Sweep folder: <out>/<config name>/ per run.")
    ],
    data: Annotated[
        Path | None, typer.Option("--data", help="Data root (overrides data.root).")
    ] = None,
    epochs_scale: Annotated[
        float | None, typer.Option(help="Multiply every run's epochs (and warm-up).")
    ] = None,
    max_minutes: Annotated[
        float | None, typer.Option(help="Wall-clock budget per run, minutes.")
    ] = None,
    sets: SetOption = None,
    launcher: Annotated[
        str,
        typer.Option(
            help="'sequential' (here, one by one) or 'submitit' (one cluster job per run)."
        ),
    ] = "sequential",
    cluster: Annotated[
        str | None,
        typer.Option(help="submitit: 'slurm' or 'local' (default: slurm when found, else local)."),
    ] = None,
    slurm_partition: Annotated[
        str | None, typer.Option(help="submitit on Slurm: the partition.")
    ] = None,
    gpus_per_run: Annotated[
        int, typer.Option(help="submitit: GPUs per run (sets trainer.devices).")
    ] = 0,
    cpus_per_run: Annotated[int | None, typer.Option(help="submitit: CPU cores per task.")] = None,
    timeout_min: Annotated[int, typer.Option(help="submitit: job time limit, minutes.")] = 24 * 60,
    max_parallel: Annotated[
        int | None, typer.Option(help="submitit on Slurm: runs at once.")
    ] = None,
) -> None:
    """Train configs one after another (finished runs skipped, killed ones resumed), or as one
    cluster job each with --launcher submitit, then write <out>/results.csv, results.md and plots/."""
    from keyscribe.sweep import LauncherOptions, SweepOptions, run_sweep

    options = SweepOptions(_overrides(sets, data=data), epochs_scale, max_minutes)
    where = LauncherOptions(
        launcher, cluster, slurm_partition, gpus_per_run, cpus_per_run, timeout_min, max_parallel
    )
    run_sweep(configs, out, options, log=typer.echo, launcher=where)
    typer.echo(f"wrote {out / 'results.md'}, {out / 'results.csv'} and {out / 'plots'}/")


@app.command(
    context_settings={
        "allow_extra_args": True,
        "ignore_unknown_options": True,
        "help_option_names": [],
    },
    add_help_option=False,
)
def bench(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Benchmark name (none: list them).")] = None,
) -> None:
    """Run a benchmark: keyscribe bench NAME [ARGS...] (keyscribe bench NAME --help for its options).
    Each prints a table with the machine and threads; --json [PATH] writes its figures, --quick
    runs tiny sizes."""
    from keyscribe.bench import BENCHMARKS, run_benchmark

    if name is None or name not in BENCHMARKS:
        if name not in (None, "--help", "-h"):
            typer.echo(f"keyscribe: error: unknown benchmark {name!r}", err=True)
        for known, what in BENCHMARKS.items():
            typer.echo(f"{known:18s} {what}")
        raise typer.Exit(0 if name in (None, "--help", "-h") else 2)
    run_benchmark(name, list(ctx.args))


@data_app.command("inspect")
def data_inspect(
    session: Annotated[Path, typer.Argument(help="An emg2qwerty .hdf5 session.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    window_length: Annotated[
        int | None, typer.Option(help="Also label each window of this many samples.")
    ] = None,
    padding: Annotated[
        str, typer.Option(help="Left,right context samples (do not change labels).")
    ] = "0,0",
    stride: Annotated[
        int | None, typer.Option(help="Window stride (default: window length).")
    ] = None,
) -> None:
    """Samples, duration and labels of a session (whole session and, optionally, per window)."""
    from keyscribe.emg.inspect import inspect_session

    try:
        left, right = (int(v) for v in padding.split(","))
    except ValueError:
        raise typer.BadParameter(f"--padding must look like 1800,200, got {padding!r}") from None
    info = inspect_session(session, window_length, stride, (left, right))
    for warning in info["warnings"]:
        typer.echo(f"keyscribe: warning: {warning}", err=True)
    if as_json:
        _print_json(info)
        return
    for key in (
        "session_name",
        "user",
        "condition",
        "num_samples",
        "sample_rate",
        "channels",
        "duration_s",
    ):
        typer.echo(f"{key}: {info[key]}")
    typer.echo(f"labels ({len(info['label_ids'])}): {info['label_text']!r}")
    for i, w in enumerate(info.get("windows", [])):
        typer.echo(f"window {i}: {len(w)} labels")


@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    users: Annotated[int, typer.Option(help="Users (each with its own anatomy and typing).")] = 1,
    sessions: Annotated[int, typer.Option(help="Sessions per user (>= 3: train, val, test).")] = 4,
    minutes: Annotated[float, typer.Option(help="Minutes per session.")] = 2.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Write synthetic sessions in the emg2qwerty HDF5 schema plus metadata.csv."""
    from keyscribe.emg.synth import synthesize

    if users < 1 or sessions < 3 or minutes <= 0:
        raise typer.BadParameter("need --users >= 1, --sessions >= 3 and --minutes > 0")
    synthesize(out, users, sessions, minutes, seed)
    typer.echo(f"wrote {users * sessions} sessions and metadata.csv to {out}")


@model_app.command("info")
def model_info(
    config: Annotated[Path, typer.Argument(help="Experiment config (YAML) or a checkpoint.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    sets: SetOption = None,
) -> None:
    """Parameter counts of the model a config (or checkpoint) describes."""
    from keyscribe import api

    if config.suffix == ".ckpt":
        cfg = api.load_model(config).config
    else:
        cfg = api.load_config(config, sets or [])
    info = api.model_info(cfg)
    if as_json:
        _print_json(info)
        return
    for key, value in info.items():
        typer.echo(f"{key}: {value:,}" if isinstance(value, int) else f"{key}: {value}")


def main() -> None:
    try:
        app()
    except KeyscribeError as exc:
        typer.echo(f"keyscribe: error: {exc}", err=True)
        sys.exit(2)
