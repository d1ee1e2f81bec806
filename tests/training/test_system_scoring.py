"""Training-time CER scores what `evaluate` scores: exact HTR texts as characters, sEMG keys as ids."""

from __future__ import annotations

import torch
from torch import nn

from keyscribe.alphabet import Alphabet
from keyscribe.config import OptimConfig
from keyscribe.data.batch import Sample, collate
from keyscribe.models.ctc import CTCModel
from keyscribe.training.schedule_clock import ScheduleClock
from keyscribe.training.system import CTCSystem


class _Identity(nn.Module):
    """Frames pass through: (batch, time, 4) -> (batch, time, 4)."""

    out_features = 4

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return lengths

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, lengths


def _system(alphabet: Alphabet) -> CTCSystem:
    model = CTCModel(_Identity(), _Identity(), alphabet.num_classes)
    return CTCSystem(model, alphabet, OptimConfig(), ScheduleClock(max_epochs=1))


def test_htr_reference_characters_outside_the_charset_count_as_errors() -> None:
    alphabet = Alphabet.from_texts(["ab"])  # blank 0, a 1, b 2
    # "aĵb": the target ids keep only the known characters, the text keeps all three
    sample = Sample(torch.zeros(5, 4), torch.tensor([1, 2]), "line-1", text="aĵb")
    refs, hyps = _system(alphabet)._scored(collate([sample]), [[1, 2]])
    assert refs == [["a", "ĵ", "b"]] and hyps == [["a", "b"]]


def test_ids_are_scored_where_a_sample_keeps_no_text() -> None:
    alphabet = Alphabet(("x", "y"), blank=2)
    sample = Sample(torch.zeros(5, 4), torch.tensor([0, 1, 1]), "window-1")
    refs, hyps = _system(alphabet)._scored(collate([sample]), [[0, 1]])
    assert refs == [[0, 1, 1]] and hyps == [[0, 1]]


def test_batch_keeps_texts_on_move() -> None:
    batch = collate([Sample(torch.zeros(3, 4), torch.tensor([1]), "l", text="a")])
    assert batch.to("cpu").texts == ["a"]
