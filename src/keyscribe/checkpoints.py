"""Checkpoints in: a keyscribe checkpoint, or one of another origin that a domain can import
(emg2qwerty's), rebuilt as a ``Recognizer``; and a checkpoint's weights copied into a new model
before fine-tuning.

``.ckpt`` files are pickles: loading one runs code it holds, so load only checkpoints you trust.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from keyscribe import builders
from keyscribe.alphabet import Alphabet
from keyscribe.bundled import resolve
from keyscribe.domain import domain_names, get_domain
from keyscribe.errors import CheckpointError, ConfigError
from keyscribe.experiment import config_from_tree
from keyscribe.inference import Recognizer
from keyscribe.model_file import is_model_file, read_model_file
from keyscribe.models.ctc import CTCModel


def _torch_load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(path, "checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a truncated or foreign file raises many different errors
        raise CheckpointError(
            path, f"not a readable checkpoint ({exc.__class__.__name__})"
        ) from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(
            path, "not a keyscribe or emg2qwerty Lightning checkpoint (no state_dict)"
        )
    return ckpt


def _keyscribe_parts(path: Path, ckpt: dict[str, Any]) -> tuple[Any, Alphabet, dict[str, Any]]:
    meta = ckpt["keyscribe"]
    try:
        cfg = config_from_tree(meta["config"], path)
        alphabet = Alphabet.from_dict(meta["alphabet"])
    except ConfigError as exc:
        raise CheckpointError(path, f"its config: {exc.problem}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            path, f"damaged keyscribe metadata ({exc.__class__.__name__}: {exc})"
        ) from None
    state = {k[len("model.") :]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    return cfg, alphabet, state


def _foreign_parts(path: Path, ckpt: dict[str, Any]) -> tuple[Any, Alphabet, dict[str, Any]]:
    """A checkpoint of another origin, through the first domain that recognises it."""
    for name in domain_names():
        spec = get_domain(name)
        imported = spec.import_checkpoint(ckpt) if spec.import_checkpoint else None
        if imported is not None:
            tree, state = imported
            cfg = config_from_tree(tree, path)
            return cfg, spec.alphabet(cfg), state
    raise CheckpointError(path, "not a keyscribe or emg2qwerty checkpoint")


def _model_file_parts(path: Path) -> tuple[Any, Alphabet, dict[str, Any]]:
    """A keyscribe ``.safetensors`` file: weights, config and charset, no pickle involved."""
    model_file = read_model_file(path)
    try:
        cfg = config_from_tree(model_file.config, path)
        alphabet = Alphabet.from_dict(model_file.alphabet)
    except ConfigError as exc:
        raise CheckpointError(path, f"its config: {exc.problem}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(path, f"damaged metadata ({exc.__class__.__name__}: {exc})") from None
    return cfg, alphabet, model_file.state


def load_model(path: str | Path) -> Recognizer:
    """Rebuild a model from a keyscribe checkpoint (``.ckpt``: a pickle, so trusted files only),
    a keyscribe ``.safetensors`` file (no pickle), a bundled model's name (``keyscribe models``),
    or an emg2qwerty reference checkpoint."""
    path = resolve(path)
    if is_model_file(path):
        cfg, alphabet, state = _model_file_parts(path)
    else:
        ckpt = _torch_load(path)
        parts = _keyscribe_parts if "keyscribe" in ckpt else _foreign_parts
        cfg, alphabet, state = parts(path, ckpt)
    model = builders.build_model(cfg, alphabet)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(
            path, f"weights do not fit the model it describes ({str(exc).splitlines()[0]})"
        ) from None
    model.eval()
    return Recognizer(model, alphabet, cfg, path)


def initialise_from(model: CTCModel, alphabet: Alphabet, path: str | Path) -> dict[str, int]:
    """Copy a checkpoint's weights into ``model`` before fine-tuning: tensors matched by name and
    shape; the output layer row by row by symbol (blank to blank), so a new charset keeps what it
    shares with the old one. Everything else keeps its fresh initialisation."""
    source = load_model(path)
    old_state = source.model.state_dict()
    state = model.state_dict()
    copied = sum(1 for k in state if not k.startswith("head."))
    for key, value in state.items():
        if key.startswith("head."):
            continue
        if key in old_state and old_state[key].shape == value.shape:
            state[key] = old_state[key].clone()
        else:
            copied -= 1
    rows = 0
    if old_state["head.weight"].shape[1:] == state["head.weight"].shape[1:]:
        for label in range(alphabet.num_classes):
            if label == alphabet.blank:
                old_label = source.alphabet.blank
            elif alphabet.symbol(label) in source.alphabet:
                old_label = source.alphabet.index(alphabet.symbol(label))
            else:
                continue
            state["head.weight"][label] = old_state["head.weight"][old_label]
            state["head.bias"][label] = old_state["head.bias"][old_label]
            rows += 1
    model.load_state_dict(state)
    tensors = sum(1 for k in state if not k.startswith("head."))
    if copied == 0:
        raise CheckpointError(path, "no weights fit this model (different architecture?)")
    return {
        "tensors_copied": copied,
        "tensors": tensors,
        "output_rows_copied": rows,
        "output_rows": alphabet.num_classes,
    }
