"""Models shipped inside the package, usable by name wherever a checkpoint path goes.

``resources/models/index.json`` lists them; each entry names its ``.safetensors`` weights (see
:mod:`keyscribe.model_file`), its model card (markdown) and optionally a character LM (ARPA) that
beam search uses with ``--lm auto``. A name resolves to its weights only when no file of that
name exists, so a local file always wins over a bundled model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from keyscribe.errors import CheckpointError

INDEX = "index.json"


def models_dir() -> Path:
    """Where the bundled models live (a real folder: the package is installed unzipped)."""
    return Path(str(resources.files("keyscribe.resources") / "models"))


@dataclass(frozen=True)
class BundledModel:
    """One entry of the index: what ``keyscribe models`` lists."""

    name: str
    domain: str
    language: str
    licence: str
    weights: Path
    card: Path
    lm: Path | None = None
    summary: str = ""
    # test CER (%) per data set, greedy decoding, as measured for the card
    test_cer: dict[str, float] = field(default_factory=dict)


def _entry(folder: Path, raw: dict) -> BundledModel:
    try:
        return BundledModel(
            name=raw["name"],
            domain=raw["domain"],
            language=raw["language"],
            licence=raw["licence"],
            weights=folder / raw["weights"],
            card=folder / raw["card"],
            lm=folder / raw["lm"] if raw.get("lm") else None,
            summary=raw.get("summary", ""),
            test_cer={k: float(v) for k, v in raw.get("test_cer", {}).items()},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(folder / INDEX, f"bad entry {raw!r} ({exc})") from None


def registry(folder: Path | None = None) -> dict[str, BundledModel]:
    """Every bundled model by name (empty when the index is absent)."""
    folder = folder or models_dir()
    index = folder / INDEX
    if not index.is_file():
        return {}
    try:
        raw = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(index, f"unreadable model index ({exc})") from None
    models = [_entry(folder, item) for item in raw.get("models", [])]
    return {m.name: m for m in models}


def bundled(name: str) -> BundledModel | None:
    """The bundled model called ``name``, unless a file or folder of that name exists."""
    if Path(name).exists():
        return None
    return registry().get(name)


def resolve(path_or_name: str | Path) -> Path:
    """A checkpoint path as given, or a bundled model's weights when given its name."""
    model = bundled(str(path_or_name))
    if model is None:
        return Path(path_or_name)
    if not model.weights.is_file():
        raise CheckpointError(model.weights, f"bundled model {model.name!r}: weights missing")
    return model.weights


def bundled_lm(weights: Path | None) -> Path | None:
    """The LM shipped with the bundled model whose weights are ``weights``, if any."""
    if weights is None:
        return None
    for model in registry().values():
        if model.lm is not None and model.weights.resolve() == Path(weights).resolve():
            return model.lm
    return None
