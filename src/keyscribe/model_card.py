"""Model cards: what a shared model is, what it was trained on and how well it does.

A bundled model ships a hand-written card; a checkpoint exported without one gets the card
written here from what the checkpoint knows (its config, charset, parameters) and, when the run
folder is beside it, the run's ``results.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from keyscribe.alphabet import Alphabet
from keyscribe.config import ExperimentConfig, to_plain


def charset_line(alphabet: Alphabet) -> str:
    """The charset as one line: count, then the symbols (space shown as ␣)."""
    symbols = "".join("␣" if s == " " else s for s in alphabet.symbols)
    return f"{len(alphabet.symbols)} symbols + CTC blank: {symbols}"


def _run_results(checkpoint: Path | None) -> dict[str, Any]:
    if checkpoint is None:
        return {}
    results = checkpoint.parent / "results.json"
    try:
        return json.loads(results.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _figure(results: dict[str, Any], key: str) -> str | None:
    value = results.get(key)
    if isinstance(value, int | float):
        return f"{value:.2f} %"
    return None


def default_card(
    cfg: ExperimentConfig,
    alphabet: Alphabet,
    parameters: int,
    checkpoint: Path | None = None,
) -> str:
    """A markdown card for a model that has none, from its config and its run's results."""
    plain = to_plain(cfg)
    model = plain.get("model", {})
    data = plain.get("data", {})
    sources = {
        split: data.get(split) or (f"{data['root']}/{split}" if data.get("root") else "")
        for split in ("train", "val", "test")
    }
    lines = [
        f"# {cfg.name or 'keyscribe model'}",
        "",
        f"A keyscribe CTC recognizer ({cfg.domain}).",
        "",
        "## Architecture",
        "",
        f"- front end: `{json.dumps(model.get('frontend', {}), ensure_ascii=False)}`",
        f"- encoder: `{json.dumps(model.get('encoder', {}), ensure_ascii=False)}`",
        f"- parameters: {parameters:,}",
        f"- charset: {charset_line(alphabet)}",
        "",
        "## Training data",
        "",
    ]
    lines += [f"- {split}: {src}" for split, src in sources.items() if src]
    if not any(sources.values()):
        lines.append("- not recorded in the config")
    results = _run_results(checkpoint)
    figures = [
        (label, _figure(results, key))
        for label, key in (("validation CER", "val_cer"), ("test CER", "test_cer"))
    ]
    figures = [(label, f) for label, f in figures if f]
    if figures:
        lines += ["", "## Results (greedy decoding)", ""]
        lines += [f"- {label}: {f}" for label, f in figures]
    lines += [
        "",
        "## Licence and attribution",
        "",
        "Not recorded: state the licence of the weights and of the training data before sharing.",
        "",
    ]
    return "\n".join(lines)
