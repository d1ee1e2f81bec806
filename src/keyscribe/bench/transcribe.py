"""Whole-session sEMG transcription speed, network and decoding together, as the real-time factor
(RTF = seconds of compute per second of EMG; "x real time" = its inverse), per decoder, runtime
(torch eager, ONNX Runtime) and precision (fp32, bf16, int8; keyscribe.precision), in wall time
and in process CPU time (with one thread: what a dedicated core would take), with the CER of each
against the session's keys (bf16 and int8 should stay within a few tenths of a point of fp32).
The header says whether this CPU has native bf16 (without it bf16 is emulated and slower).

    keyscribe bench transcribe [--checkpoint CKPT | --config CONFIG] [--session FILE | --minutes 2]
        [--decoders greedy,beam,beam+lm] [--precisions fp32,bf16,int8] [--runtimes torch,onnx]
        [--rounds 3] [--lm LM.arpa|default] [--threads 1] [--json [PATH]]
    keyscribe bench transcribe --quick      # tiny model, 6 s session, greedy (the tests')

Without ``--checkpoint`` the model of ``--config`` (default: the emg2qwerty baseline,
configs/emg/baseline-tdsconv.yaml) runs with untrained weights: the network's speed does not
depend on its weights, but beam search's does (near-uniform posteriors keep the beam full), so
beam rows of an untrained model are a worst case; pass a trained checkpoint for typical ones.
Without ``--session`` a session of ``--minutes`` is synthesised (noise, a key every 250 ms).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
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
from keyscribe.precision import cpu_support

DECODERS = ("greedy", "beam", "beam+lm")
PRECISIONS = ("fp32", "bf16", "int8")
RUNTIMES = ("torch", "onnx")


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


def _onnx_recognizer(recognizer: Any, folder: Path) -> Any:
    """The same model exported to ONNX (checked against torch) and run by ONNX Runtime."""
    from keyscribe import api
    from keyscribe.domain import get_domain
    from keyscribe.export import OnnxCTCModel, export_onnx, parity_batches

    example = get_domain(recognizer.domain).example_input(recognizer.config)
    path = folder / "model.onnx"
    export_onnx(recognizer.model, parity_batches(example), path)
    return api.Recognizer(OnnxCTCModel(path), recognizer.alphabet, recognizer.config)


def _cer(results: list[dict[str, Any]]) -> float:
    from keyscribe.metrics import EditCounts

    counts = EditCounts()
    for r in results:
        counts.add(r["reference_ids"], r["label_ids"])
    return round(counts.rate, 2)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every (decoder, runtime, precision) case, timed in ``--rounds`` interleaved rounds (the
    median counts: other processes on the machine disturb some rounds, never all)."""
    set_threads(args.threads)
    torch_recognizer = _recognizer(args)
    with tempfile.TemporaryDirectory() as tmp:
        session = (
            Path(args.session)
            if args.session
            else write_long_session(Path(tmp) / "session.hdf5", args.minutes)
        )
        signal = _session_seconds(session)
        cases = [
            (decoder, runtime, precision)
            for decoder in args.decoders.split(",")
            for runtime in args.runtimes.split(",")
            for precision in (args.precisions.split(",") if runtime == "torch" else ["fp32"])
        ]
        onnx = _onnx_recognizer(torch_recognizer, Path(tmp)) if "onnx" in args.runtimes else None
        recognizers = {
            (decoder, runtime, precision): _use(
                onnx if runtime == "onnx" else torch_recognizer.use_precision(precision),
                decoder,
                args,
            )
            for decoder, runtime, precision in cases
        }
        timings: dict[tuple[str, str, str], list[Any]] = {case: [] for case in cases}
        outputs: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for round_ in range(args.rounds + 1):  # round 0 warms up (LM loading, allocations)
            for case in cases:
                recognizer = recognizers[case]
                if round_ == 0:
                    outputs[case] = recognizer.transcribe(session)
                    continue
                timings[case].append(measure(lambda r=recognizer: r.transcribe(session)))
        rows = [_row(case, timings[case], outputs[case], signal) for case in cases]
    model = (
        "checkpoint " + str(args.checkpoint)
        if args.checkpoint
        else f"untrained {args.config or 'baseline-tdsconv'}"
    )
    params = sum(p.numel() for p in torch_recognizer.model.parameters())
    return {
        "benchmark": "transcribe",
        "machine": machine_info(),
        "cpu_support": cpu_support().bf16_note(),
        "model": model,
        "parameters": params,
        "rounds": args.rounds,
        "rows": rows,
    }


def _row(
    case: tuple[str, str, str], timings: list[Any], results: list[dict[str, Any]], signal: float
) -> dict[str, Any]:
    decoder, runtime, precision = case
    total = statistics.median(t.wall for t in timings)
    cpu = statistics.median(t.cpu for t in timings)
    network = sum(r["seconds"] for r in results)
    decode = sum(r["decode_seconds"] for r in results)
    return {
        "decoder": decoder,
        "runtime": runtime,
        "precision": precision,
        "signal_s": round(signal, 1),
        "network_s": round(network, 3),  # of the first (warm-up) pass
        "decode_s": round(decode, 3),
        "total_s": round(total, 3),
        "rtf": round(total / signal, 5),
        "x_real_time": _rounded(ratio(signal, total)),
        # with one thread, process time is what a dedicated core would take
        "cpu_s": round(cpu, 3),
        "x_real_time_cpu": _rounded(ratio(signal, cpu)),
        "cer": _cer(results),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _session_seconds(path: Path) -> float:
    from keyscribe.emg.session import EmgSession

    session = EmgSession(path)
    return len(session) / 2000.0


def print_table(result: dict[str, Any]) -> None:
    print(machine_line(result["machine"]))
    print(f"# {result['cpu_support']}")
    print(
        f"# {result['model']}, {result['parameters']:,} parameters; median of {result['rounds']} "
        "interleaved round(s); CER % against the session's keys"
    )
    headers = [
        "decoder",
        "runtime",
        "precision",
        "signal s",
        "network s",
        "decode s",
        "total s",
        "RTF",
        "x real time",
        "CPU s",
        "x real time (CPU)",
        "CER %",
    ]
    keys = [
        "decoder",
        "runtime",
        "precision",
        "signal_s",
        "network_s",
        "decode_s",
        "total_s",
        "rtf",
        "x_real_time",
        "cpu_s",
        "x_real_time_cpu",
        "cer",
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
    parser.add_argument(
        "--precisions", default="fp32,bf16", help=f"comma-separated: {', '.join(PRECISIONS)}"
    )
    parser.add_argument(
        "--runtimes",
        default="torch,onnx" if importlib.util.find_spec("onnxruntime") else "torch",
        help="comma-separated: torch, onnx (ONNX Runtime on the exported model, fp32)",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved timing rounds (median) after a warm-up"
    )
    add_common_args(parser, threads=1)
    args = parser.parse_args(argv)
    for option, allowed in (
        ("decoders", DECODERS),
        ("precisions", PRECISIONS),
        ("runtimes", RUNTIMES),
    ):
        unknown = set(getattr(args, option).split(",")) - set(allowed)
        if unknown:
            parser.error(
                f"--{option}: unknown {', '.join(sorted(unknown))} (choose from {', '.join(allowed)})"
            )
    if args.quick:
        args.minutes, args.beam_size, args.rounds = 0.1, 4, 1
        args.decoders = "greedy"
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = get_args(argv)
    return emit(run(args), args.json, print_table)


if __name__ == "__main__":
    main()
