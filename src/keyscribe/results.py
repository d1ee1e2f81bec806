"""Results of transcribing and evaluating, as dataclasses whose ``to_json()`` gives the keys the
CLI prints. They also read like the dicts they replace (``result["text"]``), so scripts written
against those keep working."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


class _JsonView:
    """Read access by JSON key: ``r["cer"]``, ``"nbest" in r``, ``r.get(k)``, ``dict(r)``."""

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    def __getitem__(self, key: str) -> Any:
        return self.to_json()[key]

    def __contains__(self, key: object) -> bool:
        return key in self.to_json()

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_json().get(key, default)

    def keys(self) -> Iterator[str]:
        return iter(self.to_json())


@dataclass
class Transcription(_JsonView):
    """One item decoded: its text and label ids, the reference it carries, and the decoder's
    details (``decoded``: decoder, confidences per character and word, timings; beam search adds
    scores and n-best). ``extra`` holds the keys its domain adds (sEMG: the typed text)."""

    id: str
    text: str
    label_ids: list[int]
    reference_text: str
    reference_ids: list[int]
    decoded: dict[str, Any]
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "label_ids": self.label_ids,
            "reference_text": self.reference_text,
            "reference_ids": self.reference_ids,
            **self.decoded,
            "seconds": self.seconds,
            **self.extra,
        }


@dataclass
class EvalReport(_JsonView):
    """Error rates of a model on a data set: ``counts`` holds ``cer``/``wer`` and their insertion,
    deletion, substitution and reference-length counts; ``results`` each item's text."""

    data: str
    items: int
    counts: dict[str, Any]
    seconds: float
    decoder: str
    decode_seconds: float
    results: list[dict[str, Any]]
    item_noun: str | None = None  # HTR reports count "lines" too
    precision: str = "fp32"  # what the network ran in
    extra: dict[str, Any] = field(default_factory=dict)  # evaluation-wide keys reports draw

    @property
    def cer(self) -> float:
        return float(self.counts["cer"])

    @property
    def wer(self) -> float:
        return float(self.counts["wer"])

    def to_json(self, per_item: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"data": self.data, "items": self.items}
        if self.item_noun:
            out[self.item_noun] = self.items
        out.update(self.counts)
        out.update(seconds=self.seconds, decoder=self.decoder, decode_seconds=self.decode_seconds)
        out.update(self.extra)
        if per_item:
            out["results"] = self.results
        out["precision"] = self.precision
        return out
