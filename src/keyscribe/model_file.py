"""Models people can share: a recognizer as one ``.safetensors`` file.

A ``.ckpt`` is a pickle: loading one runs whatever code its author put in it, so only load
checkpoints you trust. A ``.safetensors`` file holds only tensors and a string-to-string header,
and reading it runs no code. keyscribe writes the network's weights (``float32``, names as in the
model's ``state_dict``) and, in the header:

- ``keyscribe.format``: ``"1"``, the version of this layout;
- ``keyscribe.config``: the experiment config as JSON (what rebuilds the network);
- ``keyscribe.alphabet``: the charset as JSON (``Alphabet.to_dict``);
- ``keyscribe.card``: the model card, markdown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from keyscribe.errors import CheckpointError

FORMAT_VERSION = "1"
SUFFIX = ".safetensors"
_KEYS = ("keyscribe.format", "keyscribe.config", "keyscribe.alphabet", "keyscribe.card")


@dataclass(frozen=True)
class ModelFile:
    """What a keyscribe ``.safetensors`` file holds."""

    state: dict[str, Tensor]  # the network's state_dict
    config: dict[str, Any]  # experiment config tree
    alphabet: dict[str, Any]  # Alphabet.to_dict()
    card: str  # model card, markdown


def is_model_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() == SUFFIX


def write_model_file(model_file: ModelFile, out: str | Path) -> Path:
    """Write weights and metadata to ``out`` (atomically: a reader never sees half a file)."""
    from safetensors.torch import save

    from keyscribe.atomic import atomic_write_bytes

    metadata = {
        "keyscribe.format": FORMAT_VERSION,
        "keyscribe.config": json.dumps(model_file.config, ensure_ascii=False),
        "keyscribe.alphabet": json.dumps(model_file.alphabet, ensure_ascii=False),
        "keyscribe.card": model_file.card,
    }
    # safetensors refuses tensors sharing memory or not contiguous: give it plain copies
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model_file.state.items()}
    out = Path(out)
    atomic_write_bytes(out, save(tensors, metadata=metadata))
    return out


def read_metadata(path: str | Path) -> dict[str, str]:
    """The header of a keyscribe ``.safetensors`` file, checked; no tensor is read."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "model file not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(path, f"not a readable .safetensors file ({exc})") from None
    missing = [k for k in _KEYS if k not in metadata]
    if missing:
        raise CheckpointError(
            path, f"not a keyscribe model file (its metadata lacks {', '.join(missing)})"
        )
    if metadata["keyscribe.format"] != FORMAT_VERSION:
        raise CheckpointError(
            path,
            f"model file format {metadata['keyscribe.format']!r}; this keyscribe reads "
            f"{FORMAT_VERSION!r}",
        )
    return metadata


def read_model_file(path: str | Path) -> ModelFile:
    """Weights and metadata of a keyscribe ``.safetensors`` file (no pickle involved)."""
    from safetensors.torch import load_file

    metadata = read_metadata(path)
    try:
        config = json.loads(metadata["keyscribe.config"])
        alphabet = json.loads(metadata["keyscribe.alphabet"])
    except json.JSONDecodeError as exc:
        raise CheckpointError(path, f"damaged metadata ({exc})") from None
    if not isinstance(config, dict) or not isinstance(alphabet, dict):
        raise CheckpointError(path, "damaged metadata (config and alphabet must be objects)")
    state = load_file(str(path), device="cpu")
    return ModelFile(state, config, alphabet, metadata["keyscribe.card"])


def state_for_export(model: torch.nn.Module) -> dict[str, Tensor]:
    """The tensors of ``model.state_dict()`` as ``float32`` (buffers of other types kept)."""
    return {k: v.float() if v.is_floating_point() else v for k, v in model.state_dict().items()}
