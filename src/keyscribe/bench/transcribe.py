"""Whole-session sEMG transcription speed, network and decoding together, as the real-time factor
(RTF = seconds of compute per second of EMG; "x real time" = its inverse), per decoder, in wall
time and in process CPU time (with one thread: what a dedicated core would take).

    keyscribe bench transcribe [--checkpoint CKPT | --config CONFIG] [--session FILE | --minutes 2]
        [--decoders greedy,beam,beam+lm] [--lm LM.arpa|default] [--threads 1] [--json [PATH]]
    keyscribe bench transcribe --quick      # tiny model, 6 s session, greedy + beam 4 (the tests')

Without ``--checkpoint`` the model of ``--config`` (default: the emg2qwerty baseline,
configs/emg/baseline-tdsconv.yaml) runs with untrained weights: the network's speed does not
depend on its weights, but beam search's does (near-uniform posteriors keep the beam full), so
beam rows of an untrained model are a worst case; pass a trained checkpoint for typical ones.
Without ``--session`` a session of ``--minutes`` is synthesised (noise, a key every 250 ms).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import torch

from keyscribe.bench.harness import (
    add_common_args,
    emit,
    machine_info,
    machine_line,
    measure,
    ratio,
    repo_config,
    set_threads,
    table,
)
from keyscribe.bench.memory import write_long_session

DECODERS = ("greedy", "beam", "beam+lm")


def _recognizer(args: argparse.Namespace) -> Any:
    from keyscribe import api, builders
    from keyscribe.domain import get_domain

    if args.checkpoint:
        return api.load_model(args.checkpoint)
    overrides = (
        ["model.frontend.mlp_features=[16]", "model.encoder.block_channels=[4]"]
        if args.quick
        else []
    )
    cfg = api.load_config(args.config or repo_config("emg/baseline-tdsconv.yaml"), overrides)
    alphabet = get_domain(cfg.domain).alphabet(cfg)
    torch.manual_seed(0)
    return api.Recognizer(builders.build_model(cfg, alphabet), alphabet, cfg)


def _use(recognizer: Any, decoder: str, args: argparse.Namespace) -> Any:
    beam = {"beam_size": args.beam_size}
    if decoder == "greedy":
        return recognizer.use_decoder("greedy")
    if decoder == "beam":
        return recognizer.use_decoder("beam", None, beam)
    return recognizer.use_decoder("beam", args.lm or "default", beam)


def run(args: argparse.Namespace) -> dict[str, Any]:
    set_threads(args.threads)
    recognizer = _recognizer(args)
    with tempfile.TemporaryDirectory() as tmp:
        session = (
            Path(args.session)
            if args.session
            else write_long_session(Path(tmp) / "session.hdf5", args.minutes)
        )
        rows = []
        for decoder in args.decoders.split(","):
            if decoder not in DECODERS:
                raise SystemExit(
                    f"--decoders: unknown decoder {decoder!r} (choose from {', '.join(DECODERS)})"
                )
            decoding = _use(recognizer, decoder, args)
            results = decoding.transcribe(session)  # warm-up: loads the LM, allocations
            timing = measure(lambda decoding=decoding: decoding.transcribe(session))
            total, cpu = timing.wall, timing.cpu
            signal = _session_seconds(session)
            network = sum(r["seconds"] for r in results)
            decode = sum(r["decode_seconds"] for r in results)
            rows.append(
                {
                    "decoder": decoder,
                    "signal_s": round(signal, 1),
                    "network_s": round(network, 3),
                    "decode_s": round(decode, 3),
                    "total_s": round(total, 3),
                    "rtf": round(total / signal, 5),
                    "x_real_time": _rounded(ratio(signal, total)),
                    # with one thread, process time is what a dedicated core would take
                    "cpu_s": round(cpu, 3),
                    "x_real_time_cpu": _rounded(ratio(signal, cpu)),
                }
            )
    model = (
        "checkpoint " + str(args.checkpoint)
        if args.checkpoint
        else f"untrained {args.config or 'baseline-tdsconv'}"
    )
    params = sum(p.numel() for p in recognizer.model.parameters())
    return {
        "benchmark": "transcribe",
        "machine": machine_info(),
        "model": model,
        "parameters": params,
        "rows": rows,
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _session_seconds(path: Path) -> float:
    from keyscribe.emg.session import EmgSession

    session = EmgSession(path)
    return len(session) / 2000.0


def print_table(result: dict[str, Any]) -> None:
    print(machine_line(result["machine"]))
    print(f"# {result['model']}, {result['parameters']:,} parameters")
    headers = [
        "decoder",
        "signal s",
        "network s",
        "decode s",
        "total s",
        "RTF",
        "x real time",
        "CPU s",
        "x real time (CPU)",
    ]
    keys = [
        "decoder",
        "signal_s",
        "network_s",
        "decode_s",
        "total_s",
        "rtf",
        "x_real_time",
        "cpu_s",
        "x_real_time_cpu",
    ]
    print(table(headers, [[row[k] for k in keys] for row in result["rows"]]))


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--checkpoint", default=None, help="a trained sEMG checkpoint")
    source.add_argument(
        "--config", default=None, help="untrained model of this config (default: the baseline)"
    )
    parser.add_argument(
        "--session", default=None, help="an emg2qwerty HDF5 session (default: synthesised)"
    )
    parser.add_argument(
        "--minutes", type=float, default=2.0, help="length of the synthesised session"
    )
    parser.add_argument(
        "--decoders", default="greedy,beam+lm", help=f"comma-separated: {', '.join(DECODERS)}"
    )
    parser.add_argument(
        "--lm", default=None, help="ARPA character LM for beam+lm (default: the default English LM)"
    )
    parser.add_argument("--beam-size", type=int, default=50)
    add_common_args(parser, threads=1)
    args = parser.parse_args(argv)
    unknown = set(args.decoders.split(",")) - set(DECODERS)
    if unknown:
        parser.error(
            f"--decoders: unknown {', '.join(sorted(unknown))} (choose from {', '.join(DECODERS)})"
        )
    if args.quick:
        args.minutes, args.beam_size = 0.1, 4
        args.decoders = "greedy,beam"
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = get_args(argv)
    return emit(run(args), args.json, print_table)


if __name__ == "__main__":
    main()
