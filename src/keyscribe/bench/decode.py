"""Decoding speed and accuracy: greedy vs beam search vs beam search + character LM, on the same
checkpoint and data (sEMG test sessions, or HTR lines).

The network runs once per item; then each decoder decodes every item's log-probs, after a
warm-up (which loads the LM). Prints, per decoder: CER, frames/s and how many times real time it
decodes (seconds of signal per CPU second; sEMG) or CPU milliseconds per line (HTR), with the
machine, the torch threads and the commit. Speeds come from process CPU time, so that a shared
machine's load does not count.

With an LM and the python backend it also feeds the beam search + LM (beam
``--stream-beam-size``, default 20) 5 frames (40 ms of sEMG) at a time, as streaming does, and
prints the CPU milliseconds per chunk (the search, its stable labels and its tentative tail) and
the streamed and offline CER at that beam; and it runs the same search with no threshold pruning
(``beam+lm exact``) and prints on how many items the best hypothesis differs. On sEMG, when the
``kenlm`` package is installed, it runs a reference formulation of the emg2qwerty decoder
(``bench/reference_decoder.py``) beside keyscribe's search in the reference's LM convention
(``lm_style="emg2qwerty"``, top-10, no thresholds) on the same emissions and LM, and prints on how
many items their outputs differ and how many times faster each beam + LM row is.

    keyscribe bench decode CHECKPOINT DATA [--lm LM.arpa] [--beam-size 50] [--threads 1]
        [--stream-beam-size 20] [--backends flashlight,python] [--max-items N] [--json [PATH]]
    keyscribe bench decode --simulate 120 [--lm LM.arpa] ...
    keyscribe bench decode --quick      # 4 s simulated, beam 4 (the test suite's)

``--simulate SECONDS`` needs no checkpoint: it decodes simulated sEMG posteriors (99 classes at
125 frames/s; sonnet lines typed at 4 keys/s, each key's frame also giving a random rival key a
near-equal score, every other frame blank with small noise on the rest), as items of at most
10 s, each seeded by its index.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
from pathlib import Path
from typing import Any

import numpy as np
import torch

from keyscribe.bench.harness import (
    add_common_args,
    emit,
    machine_info,
    machine_line,
    measure,
    ratio,
    set_threads,
    table,
)
from keyscribe.decoding.scorers import kenlm_available
from keyscribe.domain import get_domain
from keyscribe.emg.keys import EMG_ALPHABET


def _model_items(checkpoint: str, data: str, max_items: int | None) -> tuple[str, Any, list[Any]]:
    """Each item's log-probs (the network runs once), reference and seconds of signal."""
    from keyscribe import api
    from keyscribe.metrics import reference_tokens

    recognizer = api.load_model(checkpoint)
    cfg, alphabet = recognizer.config, recognizer.alphabet
    dataset: Any = get_domain(cfg.domain).eval_dataset(cfg, Path(data), alphabet)
    items = []
    for i in range(min(len(dataset), max_items or len(dataset))):
        sample = dataset[i]
        log_probs, length = recognizer.log_probs(sample)
        spec = get_domain(cfg.domain)
        seconds = spec.signal_seconds(cfg, sample) if spec.signal_seconds else 0.0
        text = sample.text if spec.exact_text else None
        reference = reference_tokens(text, sample.targets.tolist())
        items.append((log_probs[:length].clone(), reference, seconds))
    return cfg.domain, alphabet, items


def simulated_item(seconds: float, seed: int = 0) -> tuple[torch.Tensor, list[int], float]:
    """Simulated sEMG log-probs ``(time, 99)`` at 125 frames/s, their key labels, the seconds."""
    from keyscribe.decoding.default_lm import sonnets_lines
    from keyscribe.emg.keys import text_to_labels

    rng = np.random.default_rng(seed)
    frames = int(seconds * 125)
    labels = text_to_labels(" ".join(line.strip() for line in sonnets_lines()))[: int(seconds * 4)]
    x = rng.normal(size=(frames, EMG_ALPHABET.num_classes))
    x[:, EMG_ALPHABET.blank] += 9.0
    for t, label in zip(np.linspace(10, frames - 10, len(labels)).astype(int), labels, strict=True):
        x[t, label] += 12.0 + rng.normal()
        x[t, rng.integers(0, 94)] += 11.0 + rng.normal()  # a rival key
    log_probs = torch.tensor(x).log_softmax(-1)
    return log_probs, labels, seconds


def _beam_rows(
    domain: str,
    alphabet: Any,
    lm: str | None,
    beam_size: int,
    weight: float,
    bonus: float,
    backends: list[str],
) -> list[tuple[str, str, Any]]:
    """(decoder, backend, item log-probs -> labels) for each beam search to time."""
    from keyscribe import builders
    from keyscribe.decoding.beam import BeamOptions

    spec = get_domain(domain)

    def best(decoder: Any) -> Any:
        return lambda lp: list(decoder.decode(lp)[0].label_ids)

    rows: list[tuple[str, str, Any]] = []
    for backend in backends:
        plain = BeamOptions(beam_size=beam_size, insertion_bonus=0.0, backend=backend)
        rows.append(
            ("beam", backend, best(builders.build_beam_decoder(spec, alphabet, None, plain)))
        )
        if lm:
            options = BeamOptions(
                beam_size, lm_weight=weight, insertion_bonus=bonus, backend=backend
            )
            decoder = builders.build_beam_decoder(spec, alphabet, lm, options)
            rows.append(("beam+lm", backend, best(decoder)))
    if lm and "python" in backends:  # the same search with no threshold pruning
        exact = BeamOptions(
            beam_size,
            1e9,
            lm_weight=weight,
            insertion_bonus=bonus,
            token_threshold=1e9,
            backend="python",
        )
        rows.append(
            (
                "beam+lm exact",
                "python",
                best(builders.build_beam_decoder(spec, alphabet, lm, exact)),
            )
        )
        if alphabet == EMG_ALPHABET and kenlm_available():  # the reference decodes its charset
            from keyscribe.bench.reference_decoder import ReferenceBeamDecoder

            style = dataclasses.replace(exact, lm_style="emg2qwerty")
            ours = builders.build_beam_decoder(spec, alphabet, lm, style)
            rows.append(("beam+lm emg2qwerty-style", "python", best(ours)))
            reference = ReferenceBeamDecoder(lm, beam_size, 10, weight, bonus)
            rows.append(
                ("emg2qwerty reference", "python", lambda lp: reference.decode(np.asarray(lp)))
            )
    return rows


def _streaming_latency(
    domain: str,
    alphabet: Any,
    lm: str,
    beam_size: int,
    weight: float,
    bonus: float,
    items: list[Any],
    chunk_frames: int = 5,
) -> dict[str, Any]:
    """Beam search + LM fed ``chunk_frames`` frames at a time (5 frames of 8 ms: a 40 ms chunk):
    CPU milliseconds per chunk (the search, its stable labels and tentative tail), the streamed
    and offline CER, and whether the streamed output equals offline's."""
    import time

    from keyscribe import builders
    from keyscribe.decoding.beam import BeamOptions
    from keyscribe.metrics import EditCounts, hypothesis_tokens

    options = BeamOptions(beam_size, lm_weight=weight, insertion_bonus=bonus, backend="python")
    decoder = builders.build_beam_decoder(get_domain(domain), alphabet, lm, options)
    decoder.decode(np.asarray(items[0][0][:50], dtype=np.float64))  # warm-up: loads the LM
    as_text = get_domain(domain).exact_text
    per_chunk, equal, streamed, offline = [], True, EditCounts(), EditCounts()
    gc.collect()  # as for the rows: no full collection left pending by earlier work
    for lp, reference, _ in items:
        frames = np.asarray(lp, dtype=np.float64)
        search = decoder.stream()
        for start in range(0, len(frames), chunk_frames):
            tick = time.thread_time()
            search.advance(frames[start : start + chunk_frames])
            search.stable()
            search.tentative()
            per_chunk.append(time.thread_time() - tick)
        labels, whole = list(search.hypotheses()[0][0]), list(decoder.decode(frames)[0].label_ids)
        equal &= labels == whole
        streamed.add(reference, hypothesis_tokens(labels, alphabet, as_text=as_text))
        offline.add(reference, hypothesis_tokens(whole, alphabet, as_text=as_text))
    ms = 1000 * np.asarray(per_chunk)
    frame_ms = 1000 * sum(s for *_, s in items) / sum(len(lp) for lp, *_ in items)
    return {
        "beam_size": beam_size,
        "cer": round(streamed.rate, 2),
        "offline_cer": round(offline.rate, 2),
        "chunk_ms": round(chunk_frames * frame_ms, 3),
        "chunks": len(ms),
        "mean_chunk_cpu_ms": round(float(ms.mean()), 3),
        "p95_chunk_cpu_ms": round(float(np.percentile(ms, 95)), 3),
        "max_chunk_cpu_ms": round(float(ms.max()), 3),
        "equal_to_offline": bool(equal),
    }


def run(
    checkpoint: str | None,
    data: str | None,
    lm: str | None,
    beam_size: int,
    lm_weight: float,
    insertion_bonus: float,
    backends: list[str],
    max_items: int | None,
    simulate: float = 0.0,
    stream_beam_size: int = 20,
) -> dict[str, Any]:
    from keyscribe.decoding.greedy import decode_greedy
    from keyscribe.metrics import EditCounts, hypothesis_tokens

    if simulate:  # items of at most 10 s, each its own seed
        n = max(1, int(np.ceil(simulate / 10)))
        domain, alphabet = "emg", EMG_ALPHABET
        items = [simulated_item(simulate / n, seed) for seed in range(n)]
    elif checkpoint is not None and data is not None:
        domain, alphabet, items = _model_items(checkpoint, data, max_items)
    else:
        raise ValueError("give a checkpoint and data, or simulate > 0")
    as_text = get_domain(domain).exact_text
    timed = not as_text and sum(seconds for *_, seconds in items) > 0  # items of a signal

    def greedy(lp: torch.Tensor) -> list[int]:
        return decode_greedy(lp[None], torch.tensor([len(lp)]), alphabet.blank)[0]

    decoders: list[tuple[str, str, Any]] = [("greedy", "-", greedy)]
    decoders += _beam_rows(domain, alphabet, lm, beam_size, lm_weight, insertion_bonus, backends)
    frames = sum(len(lp) for lp, _, _ in items)
    signal = sum(s for _, _, s in items)
    rows = []
    outputs: dict[str, list[list[int]]] = {}
    for name, backend, decode in decoders:
        decode(items[0][0][:50])  # warm-up: loads the LM
        counts = EditCounts()
        found = outputs[f"{name}/{backend}"] = []
        for lp, reference, _ in items:
            found.append(decode(lp))
            counts.add(reference, hypothesis_tokens(found[-1], alphabet, as_text=as_text))
        # every item decoded, repeated until 10 ms have passed (greedy on a short item is faster),
        # from a clean collector: a full collection that earlier rows left pending walks every
        # object in the process (torch's too) and would land on whichever row comes next
        gc.collect()
        timing = measure(lambda decode=decode: [decode(lp) for lp, _, _ in items])
        per_s = ratio(frames, timing.cpu)
        row = {
            "decoder": name,
            "backend": backend,
            "cer": round(counts.rate, 2),
            "cpu_seconds": round(timing.cpu, 5),
            "wall_seconds": round(timing.wall, 5),
            "frames_per_s": None if per_s is None else round(per_s),
        }
        if timed:
            speed = ratio(signal, timing.cpu)
            row["x_real_time"] = None if speed is None else float(f"{speed:.3g}")
        else:
            row["ms_per_line"] = round(1000 * timing.cpu / len(items), 2)
        rows.append(row)
    streaming = None
    if timed and lm and "python" in backends:
        streaming = _streaming_latency(
            domain, alphabet, lm, stream_beam_size, lm_weight, insertion_bonus, items
        )
    agreement = {}
    pairs = [
        ("pruned vs exact (best differs)", "beam+lm/python", "beam+lm exact/python"),
        (
            "ours vs emg2qwerty reference",
            "beam+lm emg2qwerty-style/python",
            "emg2qwerty reference/python",
        ),
    ]
    for label, a, b in pairs:
        if a in outputs and b in outputs:
            same = sum(x == y for x, y in zip(outputs[a], outputs[b], strict=True))
            agreement[label] = f"{len(items) - same} of {len(items)} items differ"
    # how many times faster than the reference formulation, by CPU time on the same emissions
    cpu = {r["decoder"]: r["cpu_seconds"] for r in rows if r["backend"] == "python"}
    reference_cpu = cpu.get("emg2qwerty reference")
    speedup = {
        name: round(reference_cpu / cpu[name], 1)
        for name in ("beam+lm", "beam+lm exact", "beam+lm emg2qwerty-style")
        if reference_cpu and cpu.get(name)
    }
    return {
        "checkpoint": checkpoint or f"simulated posteriors ({simulate} s)",
        "data": data,
        "domain": domain,
        "items": len(items),
        "frames": frames,
        "signal_seconds": round(signal, 1),
        "lm": lm,
        "beam_size": beam_size,
        "lm_weight": lm_weight,
        "insertion_bonus": insertion_bonus,
        "machine": machine_info(),
        "results": rows,
        "agreement": agreement,
        "speedup_vs_reference": speedup,
        "streaming": streaming,
    }


def print_table(out: dict[str, Any]) -> None:
    print(machine_line(out["machine"]))
    print(
        f"# {out['domain']}: {out['items']} items, {out['frames']} frames, {out['signal_seconds']} s "
        f"of signal; beam {out['beam_size']}, LM {out['lm']} (weight {out['lm_weight']}, "
        f"bonus {out['insertion_bonus']}); speeds from CPU time on one thread"
    )
    speed = "x_real_time" if "x_real_time" in out["results"][0] else "ms_per_line"
    rows = [
        [r["decoder"], r["backend"], r["cer"], r["frames_per_s"], r[speed]] for r in out["results"]
    ]
    print(table(["decoder", "backend", "CER %", "frames/s", speed.replace("_", " ")], rows))
    for label, value in out["agreement"].items():
        print(f"# {label}: {value}")
    if out.get("speedup_vs_reference"):
        ratios = ", ".join(f"{k} {v:g}x" for k, v in out["speedup_vs_reference"].items())
        print(f"# speed, ours vs emg2qwerty reference (CPU time, same emissions and LM): {ratios}")
    if out.get("streaming"):
        st = out["streaming"]
        print(
            f"# streaming beam+lm (python, beam {st['beam_size']}), CPU ms per "
            f"{st['chunk_ms']:g} ms chunk (search, stable and tentative labels): mean "
            f"{st['mean_chunk_cpu_ms']}, p95 {st['p95_chunk_cpu_ms']}, max "
            f"{st['max_chunk_cpu_ms']}; CER {st['cer']} % streamed, {st['offline_cer']} % offline "
            f"(same beam); equal to offline: {st['equal_to_offline']}"
        )


def _beam(text: str) -> int:
    value = int(text) if text.lstrip("-").isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"a beam holds at least one hypothesis, got {text!r}")
    return value


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="keyscribe bench decode",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoint", nargs="?")
    parser.add_argument("data", nargs="?", help="sEMG session file/folder or HTR lines")
    parser.add_argument(
        "--simulate", type=float, default=0.0, help="seconds of simulated sEMG instead"
    )
    parser.add_argument("--lm", default=None, help="character LM (ARPA or KenLM .bin) for beam+lm")
    parser.add_argument("--beam-size", type=_beam, default=50)
    parser.add_argument(
        "--stream-beam-size", type=_beam, default=20, help="beam of the streaming measurement"
    )
    parser.add_argument("--lm-weight", type=float, default=2.0)
    parser.add_argument("--insertion-bonus", type=float, default=2.0)
    parser.add_argument("--backends", default="flashlight,python")
    parser.add_argument("--max-items", type=int, default=None)
    add_common_args(parser, threads=1)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = get_args(argv)
    if args.quick:
        args.simulate, args.beam_size = args.simulate or 4.0, 4
        args.stream_beam_size = min(args.stream_beam_size, 4)
    if not args.simulate and not (args.checkpoint and args.data):
        raise SystemExit("give CHECKPOINT DATA, or --simulate SECONDS, or --quick")
    set_threads(args.threads)
    out = run(
        args.checkpoint,
        args.data,
        args.lm,
        args.beam_size,
        args.lm_weight,
        args.insertion_bonus,
        [b for b in args.backends.split(",") if b],
        args.max_items,
        args.simulate,
        args.stream_beam_size,
    )
    return emit(out, args.json, print_table)
