"""Commands that train: ``train``, ``demo``, ``sweep``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from keyscribe.cli.app import SetOption, app, overrides, print_json
from keyscribe.errors import ConfigError


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
    device: Annotated[
        str,
        typer.Option(
            "--device",
            help="Where the best checkpoint is scored after training: cpu, cuda[:N] or auto "
            "(training itself follows trainer.accelerator / trainer.devices).",
        ),
    ] = "auto",
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            min=1,
            help="Items per network call when scoring after training: HTR lines (default 16), or "
            "~33 s chunks of an sEMG session (default 1 on a CPU, 16 on a GPU); training batches "
            "are data.batch_size.",
        ),
    ] = None,
) -> None:
    """Train a model; writes <out>/best.ckpt, last.ckpt, config.yaml, logs/ and results.json."""
    from keyscribe import api
    from keyscribe.progress import wanted

    cfg = api.load_config(config, overrides(sets, out, data, max_epochs, max_steps, max_minutes))
    results = api.train(
        cfg, resume=resume, device=device, batch_size=batch_size, progress=wanted(as_json)
    )
    if results.get("global_rank"):  # DDP: rank 0 reports the run
        return
    if results.get("already_complete"):
        typer.echo(
            f"{results['run_dir']}: this run is complete; nothing to resume (results kept)",
            err=True,
        )
    if as_json:
        print_json(results)
        return
    typer.echo(
        f"run directory: {results['run_dir']}  ({results['epochs']} epochs, {results['train_seconds']} s)"
    )
    for split in ("train", "val", "test"):
        if results.get(f"{split}_cer") is not None:
            typer.echo(f"{split} CER: {results[f'{split}_cer']:.2f} %")


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
    only: Annotated[
        str | None, typer.Option("--only", help="Run one half: htr (seconds) or emg (minutes).")
    ] = None,
    htr_model: Annotated[
        str, typer.Option("--htr-model", help="Model for the sample page (a name or a file).")
    ] = "htr-fr",
) -> None:
    """The quick start. HTR: transcribe a shipped sample page with the bundled htr-fr model, print
    its CER and write the page back as ALTO (seconds). sEMG: synthesise sessions laid out as the
    emg2qwerty release, train a small model on one user's split file, report CER (greedy, and
    beam search + the default LM), transcribe the held-out session (minutes)."""
    halves = {
        "htr": lambda: _demo_page(out / "htr", htr_model),
        "emg": lambda: _demo_sessions(out, data, config, max_minutes, sets),
    }
    if only is not None and only not in halves:
        raise ConfigError(None, f"--only must be one of {', '.join(halves)}, got {only!r}")
    for name, half in halves.items():
        if only in (None, name):
            half()


def _demo_sessions(
    out: Path, data: Path, config: Path | None, max_minutes: float | None, sets: list[str] | None
) -> None:
    """The sEMG half of the quick start: synthetic sessions laid out as the release, a short
    training on one user's split file, greedy and beam + LM CER, the held-out session."""
    from keyscribe import api
    from keyscribe.emg.layout import index_sessions
    from keyscribe.emg.synth import synthesize
    from keyscribe.metrics import EditCounts

    splits = data / "splits" / "user0.yaml"
    if not (data / "metadata.csv").exists() or not splits.exists():
        typer.echo(f"writing synthetic sessions to {data} ...")
        synthesize(data, users=1, sessions=6, minutes=2.0, seed=0)
    config = config or Path(__file__).resolve().parents[3] / "configs/emg/quickstart.yaml"
    cfg = api.load_config(
        config, [f"data.splits={splits}", *overrides(sets, out, data, max_minutes=max_minutes)]
    )
    results = api.train(cfg)
    typer.echo(
        f"\nvalidation CER: {results['val_cer']:.2f} %   test CER: {results['test_cer']:.2f} %"
    )
    test = next(e.path for e in index_sessions(data, splits=splits) if e.split == "test")
    best = results["best_checkpoint"] or results["scored_checkpoint"]
    r = api.load_model(best).use_decoder("beam", "auto").transcribe(test)[0]
    beam = EditCounts()
    beam.add(r.reference_ids, r.label_ids)
    typer.echo(
        f"held-out session {test.name}: CER {results['test_cer']:.2f} % greedy, "
        f"{beam.rate:.2f} % beam search + the default character LM"
    )
    typer.echo("\nfirst 300 characters, beam search + LM")
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
    over: Annotated[
        str | None,
        typer.Option(
            "--over",
            help="One run per value of a key, e.g. data.splits=user0.yaml,...,user7.yaml.",
        ),
    ] = None,
    lm: Annotated[
        str,
        typer.Option(
            "--lm",
            help="Also score each run with beam search + this LM ('auto': the domain's default; "
            "'none': greedy only).",
        ),
    ] = "auto",
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
    cluster job each with --launcher submitit; score each greedy and with beam search + LM; then
    write <out>/results.csv, results.md (with the mean over runs) and plots/."""
    from keyscribe.sweep import LauncherOptions, SweepOptions, parse_over, run_sweep

    options = SweepOptions(
        overrides(sets, data=data), epochs_scale, max_minutes, None if lm == "none" else lm
    )
    where = LauncherOptions(
        launcher, cluster, slurm_partition, gpus_per_run, cpus_per_run, timeout_min, max_parallel
    )
    axis = parse_over(over) if over else None
    run_sweep(configs, out, options, log=typer.echo, launcher=where, over=axis)
    typer.echo(f"wrote {out / 'results.md'}, {out / 'results.csv'} and {out / 'plots'}/")


def _demo_page(out: Path, model: str) -> None:
    from keyscribe.htr.demo import transcribe_sample_page

    demo = transcribe_sample_page(out, model)
    typer.echo(f"HTR: {demo.page.name} ({demo.lines} lines, CC BY 4.0 CREMMA-MSS-20) with {model}")
    for reference, text in demo.texts[:3]:
        typer.echo(f"  reference: {reference}\n  decoded:   {text}")
    unseen = "; a page it was not trained on" if model == "htr-fr" else ""
    typer.echo(
        f"page CER {demo.cer:.2f} % (greedy{unseen})  wrote {demo.out}  ({demo.seconds:.1f} s)\n"
    )
