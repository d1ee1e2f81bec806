"""Sharing models: export a checkpoint as ``.safetensors`` with its card, and show a card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from keyscribe import bundled
from keyscribe.checkpoints import load_model
from keyscribe.config import to_plain
from keyscribe.errors import DataError
from keyscribe.model_card import default_card
from keyscribe.model_file import (
    ModelFile,
    is_model_file,
    read_metadata,
    state_for_export,
    write_model_file,
)


def _count(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def card_of(path_or_name: str | Path) -> str:
    """The model card of a bundled model (by name), a ``.safetensors`` file or a checkpoint
    (written from its config and its run's results; loading a ``.ckpt`` unpickles it)."""
    model = bundled.bundled(str(path_or_name))
    if model is not None:
        return model.card.read_text(encoding="utf-8")
    if is_model_file(path_or_name):
        return read_metadata(path_or_name)["keyscribe.card"]
    recognizer = load_model(path_or_name)
    return default_card(
        recognizer.config, recognizer.alphabet, _count(recognizer.model), recognizer.path
    )


def export_safetensors(
    checkpoint: str | Path, out: str | Path, card: str | Path | None = None
) -> dict[str, Any]:
    """Write ``checkpoint``'s weights, config, charset and card (``card``: a markdown file; by
    default the model's own card) to a ``.safetensors`` file at ``out``."""
    recognizer = load_model(checkpoint)
    if card is not None:
        try:
            text = Path(card).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(card, f"unreadable model card ({exc.__class__.__name__})") from None
    elif bundled.bundled(str(checkpoint)) is not None or is_model_file(checkpoint):
        text = card_of(checkpoint)  # re-exporting a shared model keeps its card
    else:
        text = default_card(
            recognizer.config, recognizer.alphabet, _count(recognizer.model), recognizer.path
        )
    state = state_for_export(recognizer.model)
    path = write_model_file(
        ModelFile(state, to_plain(recognizer.config), recognizer.alphabet.to_dict(), text), out
    )
    return {
        "checkpoint": str(checkpoint),
        "out": str(path),
        "format": "safetensors",
        "tensors": len(state),
        "parameters": _count(recognizer.model),
        "bytes": path.stat().st_size,
    }
