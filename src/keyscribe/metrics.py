"""Character and word error rates with insertion/deletion/substitution counts.

Corpus-level rates are summed edits over summed reference length (the benchmark's CER); the
mean of per-item rates is reported beside them for HTR users who expect it. Edit operations come
from rapidfuzz's Levenshtein alignment.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import torch
from rapidfuzz.distance import Levenshtein
from torchmetrics import Metric

from keyscribe.alphabet import Alphabet


@dataclass
class EditCounts:
    insertions: int = 0
    deletions: int = 0
    substitutions: int = 0
    reference_length: int = 0
    items: int = 0
    per_item_rates: list[float] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return self.insertions + self.deletions + self.substitutions

    @property
    def rate(self) -> float:
        """Corpus-level error rate in percent (edits / reference length)."""
        if self.reference_length == 0:
            return 0.0 if self.errors == 0 else 100.0
        return 100.0 * self.errors / self.reference_length

    @property
    def mean_item_rate(self) -> float:
        return sum(self.per_item_rates) / len(self.per_item_rates) if self.per_item_rates else 0.0

    def add(self, reference: Sequence[Hashable], hypothesis: Sequence[Hashable]) -> None:
        ins = dele = sub = 0
        for op in Levenshtein.editops(reference, hypothesis):
            if op.tag == "insert":
                ins += 1
            elif op.tag == "delete":
                dele += 1
            else:
                sub += 1
        self.insertions += ins
        self.deletions += dele
        self.substitutions += sub
        self.reference_length += len(reference)
        self.items += 1
        n = len(reference)
        self.per_item_rates.append(100.0 * (ins + dele + sub) / n if n else float(ins > 0) * 100.0)

    def as_dict(self, prefix: str) -> dict[str, float | int]:
        return {
            prefix: round(self.rate, 4),
            f"{prefix}_mean_per_item": round(self.mean_item_rate, 4),
            f"{prefix}_insertions": self.insertions,
            f"{prefix}_deletions": self.deletions,
            f"{prefix}_substitutions": self.substitutions,
            f"{prefix}_reference_length": self.reference_length,
        }


def reference_tokens(text: str | None, target_ids: Sequence[int]) -> list[Hashable]:
    """What a CER counts in a reference: the characters of its exact text where the domain keeps
    one (HTR: characters outside the charset then count as errors), else its class ids (sEMG)."""
    return list(text) if text is not None else list(target_ids)


def hypothesis_tokens(ids: Sequence[int], alphabet: Alphabet, as_text: bool) -> list[Hashable]:
    """A decoded hypothesis in the tokens of its reference (see ``reference_tokens``)."""
    return list(alphabet.decode(ids)) if as_text else list(ids)


def words(text: str) -> list[str]:
    return text.split()


class ErrorRate(Metric):
    """Corpus-level error rate over token sequences (class ids, or characters), summed across
    processes (for DDP)."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("errors", default=torch.tensor(0), dist_reduce_fx="sum")
        self.add_state("length", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(
        self, references: Sequence[Sequence[Hashable]], hypotheses: Sequence[Sequence[Hashable]]
    ) -> None:
        for ref, hyp in zip(references, hypotheses, strict=True):
            self.errors += Levenshtein.distance(list(ref), list(hyp))
            self.length += len(ref)

    def compute(self) -> torch.Tensor:
        return 100.0 * self.errors.float() / self.length.clamp(min=1).float()
