"""Benchmarks, one module per question: ``keyscribe bench NAME [ARGS...]``.

Every benchmark prints a small table headed by the machine, the torch threads and the commit,
writes its figures as JSON with ``--json PATH`` (a bare ``--json`` prints the JSON instead of the
table) and has a ``--quick`` mode of tiny sizes that the test suite runs (figures with no meaning). The
scripts in a checkout's ``bench/`` folder call these modules.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> what it measures (``keyscribe bench`` lists these)
BENCHMARKS = {
    "train_throughput": "sEMG encoders: training frames/s; TDSConv vs the 2-D reference",
    "deformable": "deformable vs standard convolution at the CRNN and 1D-LSTM layer shapes",
    "decode": "greedy vs beam vs beam+LM: CER, frames/s, real-time factor",
    "transcribe": "whole-session sEMG transcription (network + decoding): real-time factor",
    "memory": "peak memory of inspecting and transcribing a long sEMG session",
    "htr_throughput": "HTR training and transcription lines/s for a config",
    "rnn_paths": "recurrent encoder on CPU: packed vs per-layer forward+backward ms",
}


def run_benchmark(name: str, argv: list[str]) -> dict[str, Any]:
    """Run benchmark ``name`` with command-line ``argv``; returns its figures."""
    if name not in BENCHMARKS:
        raise KeyError(name)
    module = importlib.import_module(f"keyscribe.bench.{name}")
    return module.main(argv)
