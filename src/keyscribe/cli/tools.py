"""Commands about data, models, configs and speed: ``data inspect|splits|synth``, ``model info``,
``config reference``, ``bench``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from keyscribe.cli.app import SetOption, app, config_app, data_app, model_app, print_json
from keyscribe.errors import ConfigError


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
    from keyscribe.emg.session_info import inspect_session

    try:
        left, right = (int(v) for v in padding.split(","))
    except ValueError:
        raise typer.BadParameter(f"--padding must look like 1800,200, got {padding!r}") from None
    info = inspect_session(session, window_length, stride, (left, right))
    for warning in info["warnings"]:
        typer.echo(f"keyscribe: warning: {warning}", err=True)
    if as_json:
        print_json(info)
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


@data_app.command("splits")
def data_splits(
    root: Annotated[Path, typer.Argument(help="Data folder (the release's layout or keyscribe's).")],
    splits: Annotated[
        Path | None,
        typer.Option("--splits", help="A split file (the benchmark's config/user/*.yaml)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help='Print {"train": [...], "val": [...], "test": [...]}.')
    ] = False,
) -> None:
    """Which sessions go to each split, with users, hours and keystrokes per split."""
    from keyscribe.emg.layout import summarize_splits

    summary = summarize_splits(root, splits)
    if as_json:
        print_json({split: s.sessions for split, s in summary.items()})
        return
    typer.echo(f"{'split':<6} {'sessions':>8} {'users':>6} {'hours':>8} {'keystrokes':>11}")
    for split, s in summary.items():
        typer.echo(
            f"{split:<6} {len(s.sessions):>8} {len(s.users):>6} {s.hours:>8.2f} {s.keystrokes:>11,}"
        )


@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    users: Annotated[int, typer.Option(help="Users (each with its own anatomy and typing).")] = 1,
    sessions: Annotated[int, typer.Option(help="Sessions per user (>= 3: train, val, test).")] = 4,
    minutes: Annotated[float, typer.Option(help="Minutes per session.")] = 2.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Write synthetic sessions laid out as the emg2qwerty release: <session>.hdf5 files,
    metadata.csv and split files splits/generic.yaml, splits/user<N>.yaml."""
    from keyscribe.emg.synth import synthesize

    if users < 1 or sessions < 3 or minutes <= 0:
        raise typer.BadParameter("need --users >= 1, --sessions >= 3 and --minutes > 0")
    synthesize(out, users, sessions, minutes, seed)
    typer.echo(f"wrote {users * sessions} sessions, metadata.csv and splits/ to {out}")


@model_app.command("info")
def model_info(
    config: Annotated[
        Path,
        typer.Argument(help="Experiment config (YAML), a checkpoint or a bundled model's name."),
    ],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    sets: SetOption = None,
) -> None:
    """Parameter counts of the model a config (or checkpoint) describes."""
    from keyscribe import api
    from keyscribe.bundled import bundled

    if config.suffix in (".ckpt", ".safetensors") or bundled(str(config)) is not None:
        cfg = api.load_model(config).config
    else:
        cfg = api.load_config(config, sets or [])
    info = api.model_info(cfg)
    if as_json:
        print_json(info)
        return
    for key, value in info.items():
        typer.echo(f"{key}: {value:,}" if isinstance(value, int) else f"{key}: {value}")


@config_app.command("reference")
def config_reference(
    write: Annotated[
        Path | None, typer.Option(help="Update this Markdown file's generated block.")
    ] = None,
    check: Annotated[
        Path | None, typer.Option(help="Exit 1 when this file's block is out of date.")
    ] = None,
) -> None:
    """Every config key of every domain (type, default, meaning) as Markdown, from the dataclasses."""
    from keyscribe import config_reference as ref

    if write is not None and check is not None:
        raise ConfigError(None, "--write and --check exclude each other")
    if write is not None:
        ref.check_or_write(write, write=True)
    elif check is not None and not ref.check_or_write(check, write=False):
        typer.echo(
            f"{check}: out of date; run keyscribe config reference --write {check}", err=True
        )
        raise typer.Exit(1)
    elif check is None:
        typer.echo(ref.render(), nl=False)
