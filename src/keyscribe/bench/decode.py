"""Decoding speed and accuracy: greedy vs beam search vs beam search + character LM, on the same
checkpoint and data (sEMG test sessions, or HTR lines).

The network runs once per item; then each decoder decodes every item's log-probs, after one
warm-up item (which loads the LM). Prints, per decoder: CER, frames/s, and the real-time factor
(decoding seconds per second of signal; sEMG) or milliseconds per line (HTR), with the machine,
the torch threads and the commit.

    keyscribe bench decode CHECKPOINT DATA [--lm LM.arpa] [--beam-size 50] [--threads 1]
        [--backends flashlight,python] [--max-items N] [--json [PATH]]
    keyscribe bench decode --simulate 120 [--lm LM.arpa] ...
    keyscribe bench decode --quick      # 4 s simulated, beam 4 (the test suite's)

``--simulate SECONDS`` needs no checkpoint: it decodes simulated sEMG posteriors (99 classes at
125 frames/s; sonnet lines typed at 4 keys/s, each key's frame also giving a random rival key a
near-equal score, every other frame blank with small noise on the rest), seeded.
"""

from __future__ import annotations

import argparse
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
) -> dict[str, Any]:
    from keyscribe import builders
    from keyscribe.decoding.beam import BeamOptions
    from keyscribe.decoding.greedy import decode_greedy
    from keyscribe.metrics import EditCounts, hypothesis_tokens

    if simulate:
        domain, alphabet, items = "emg", EMG_ALPHABET, [simulated_item(simulate)]
    elif checkpoint is not None and data is not None:
        domain, alphabet, items = _model_items(checkpoint, data, max_items)
    else:
        raise ValueError("give a checkpoint and data, or simulate > 0")
    as_text = get_domain(domain).exact_text
    timed = not as_text and sum(seconds for *_, seconds in items) > 0  # items of a signal

    def greedy(lp: torch.Tensor) -> list[int]:
        return decode_greedy(lp[None], torch.tensor([len(lp)]), alphabet.blank)[0]

    decoders: list[tuple[str, str, Any]] = [("greedy", "-", greedy)]
    for backend in backends:
        plain = BeamOptions(beam_size=beam_size, insertion_bonus=0.0, backend=backend)
        beam = builders.build_beam_decoder(get_domain(domain), alphabet, None, plain)
        decoders.append(("beam", backend, lambda lp, d=beam: list(d.decode(lp)[0].label_ids)))
        if lm:
            options = BeamOptions(
                beam_size, lm_weight=lm_weight, insertion_bonus=insertion_bonus, backend=backend
            )
            with_lm = builders.build_beam_decoder(get_domain(domain), alphabet, lm, options)
            decoders.append(
                ("beam+lm", backend, lambda lp, d=with_lm: list(d.decode(lp)[0].label_ids))
            )

    frames = sum(len(lp) for lp, _, _ in items)
    signal = sum(s for _, _, s in items)
    rows = []
    for name, backend, decode in decoders:
        decode(items[0][0])  # warm-up: loads the LM
        counts = EditCounts()
        for lp, reference, _ in items:
            counts.add(reference, hypothesis_tokens(decode(lp), alphabet, as_text=as_text))
        # every item decoded, repeated until 10 ms have passed (greedy on a short item is faster)
        elapsed = measure(lambda decode=decode: [decode(lp) for lp, _, _ in items]).wall
        per_s = ratio(frames, elapsed)
        row = {
            "decoder": name,
            "backend": backend,
            "cer": round(counts.rate, 2),
            "seconds": round(elapsed, 5),
            "frames_per_s": None if per_s is None else round(per_s),
        }
        if timed:
            rtf = ratio(elapsed, signal)
            row["real_time_factor"] = None if rtf is None else float(f"{rtf:.3g}")  # greedy: ~1e-4
        else:
            row["ms_per_line"] = round(1000 * elapsed / len(items), 2)
        rows.append(row)
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
    }


def print_table(out: dict[str, Any]) -> None:
    print(machine_line(out["machine"]))
    print(
        f"# {out['domain']}: {out['items']} items, {out['frames']} frames, {out['signal_seconds']} s "
        f"of signal; beam {out['beam_size']}, LM {out['lm']} (weight {out['lm_weight']}, "
        f"bonus {out['insertion_bonus']})"
    )
    speed = "real_time_factor" if "real_time_factor" in out["results"][0] else "ms_per_line"
    rows = [
        [r["decoder"], r["backend"], r["cer"], r["frames_per_s"], r[speed]] for r in out["results"]
    ]
    print(table(["decoder", "backend", "CER %", "frames/s", speed.replace("_", " ")], rows))


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
    parser.add_argument("--lm", default=None, help="ARPA character LM for the beam+lm rows")
    parser.add_argument("--beam-size", type=int, default=50)
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
    )
    return emit(out, args.json, print_table)
