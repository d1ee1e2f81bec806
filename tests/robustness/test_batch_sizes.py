"""``--batch-size`` is used wherever it is given: HTR lines per network call, also when lines
are transcribed through the page writer; sEMG chunks per call default to one on a CPU (memory
stays bounded, tests/robustness/test_long_session.py) and to batches on a GPU."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from helpers.checkpoints import LINES
from keyscribe import api
from keyscribe.emg.streaming.whole_session import chunks_per_call


def _spy(recognizer: Any) -> list[int]:
    sizes: list[int] = []
    real = recognizer.batch_log_probs

    def counted(samples: list[Any]) -> Any:
        sizes.append(len(samples))
        return real(samples)

    recognizer.batch_log_probs = counted
    return sizes


def test_htr_transcribe_files_take_the_batch_size(htr_ckpt: Path) -> None:
    recognizer = api.load_model(htr_ckpt)
    lines = len(recognizer.dataset(LINES))
    assert lines > 3
    for batch_size, largest in ((3, 3), (None, min(lines, 16))):
        sizes = _spy(recognizer)
        options = {"batch_size": batch_size}
        results = recognizer.spec.transcribe_files(recognizer, [Path(LINES)], options, print)
        assert len(results) == lines and sum(sizes) == lines
        assert max(sizes) == largest, sizes


def test_semg_chunks_per_call_default_by_device() -> None:
    cpu = SimpleNamespace(device=torch.device("cpu"))
    gpu = SimpleNamespace(device=torch.device("cuda", 0))
    assert chunks_per_call(cpu, None) == 1 and chunks_per_call(gpu, None) == 16
    assert chunks_per_call(cpu, 4) == 4 and chunks_per_call(gpu, 2) == 2
