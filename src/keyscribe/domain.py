"""What a domain (sEMG, HTR, ...) gives the shared core, and the registry that finds domains.

The core asks a ``DomainSpec`` for everything domain-specific and never compares domain names.
A domain is a subpackage ``keyscribe/<name>/`` whose ``domain.py`` holds ``SPEC``; packages of
other origins register theirs with :func:`register_domain` or the ``keyscribe.domains`` entry
point group. This module imports no domain and nothing above the config.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from torch import nn
from torch.utils.data import Dataset

from keyscribe.alphabet import Alphabet
from keyscribe.data.batch import Sample
from keyscribe.errors import ConfigError


def _no_extras(result: dict[str, Any]) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class DomainSpec:
    """A domain's hooks. ``cfg`` is the domain's experiment dataclass (``schema``)."""

    name: str
    schema: type  # experiment dataclass with the domain's ``data`` options
    alphabet: Callable[[Any], Alphabet]  # cfg -> alphabet (may read training text)
    frontend: Callable[[Any], nn.Module]  # cfg -> front end with ``out_features``
    datasets: Callable[[Any, Alphabet], dict[str, Dataset[Sample]]]  # train/val(/test) splits
    # (cfg, a user's path, alphabet, need_text) -> items to score or transcribe; need_text: items
    # without a reference are skipped by name instead of scored against an empty one
    eval_dataset: Callable[[Any, Path, Alphabet, bool], Dataset[Sample]]
    test_batch_size: int = 1
    # cfg -> factor for encoder sizes given in frames (see builders.scale_frames); 1.0 keeps them
    frame_scale: Callable[[Any], float] = lambda cfg: 1.0
    # cfg -> one model input (1, time, ...) for counting MACs per frame and exporting
    example_input: Callable[[Any], Any] | None = None
    # the alphabet every model of the domain shares (sEMG's keys), for decoding saved
    # log-probabilities without a checkpoint; None: each model has its own
    fixed_alphabet: Alphabet | None = None
    # alphabet -> decoding.charlm.LMView (how its classes look to a character LM); None: plain
    lm_view: Callable[[Alphabet], Any] | None = None
    # what ``lm="auto"`` means for beam search: "default" (the default English LM) or None
    default_lm: str | None = None
    # (recognizer, dataset, batch size) -> [(label item, log-probs (time', classes), length,
    # seconds)] for items the domain decodes whole in its own way (long sEMG sessions: the batch
    # size counts chunks of a session per network call), or None
    whole_item_log_probs: (
        Callable[[Any, Any, int], Sequence[tuple[Sample, Any, int, float]] | None] | None
    ) = None
    # (cfg, item) -> seconds of signal the item holds, for real-time factors; None: items have
    # no duration (line images)
    signal_seconds: Callable[[Any, Sample], float] | None = None
    # a result's dict -> extra keys the domain adds to it (sEMG: the text after backspaces)
    describe: Callable[[dict[str, Any]], dict[str, Any]] = _no_extras
    # score characters of the exact reference text (HTR: characters outside the charset count as
    # errors) instead of the reference's label ids
    exact_text: bool = False
    # what an item is called in evaluation reports ("lines"); None: items only
    item_noun: str | None = None
    # a foreign checkpoint dict -> (config tree, model state dict), or None when not its format
    import_checkpoint: (
        Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, Any]] | None] | None
    ) = None
    # (recognizer, input paths, output options, on_written) -> results as JSON, for domains that
    # transcribe files their own way and write documents back (HTR: PAGE/ALTO pages); None:
    # every input through ``Recognizer.transcribe``
    transcribe_files: (
        Callable[[Any, list[Path], dict[str, Any], Callable[[Path], None]], list[dict[str, Any]]]
        | None
    ) = None
    # (recognizer, dataset, its evaluated items in order) -> adds what a report draws of each item
    # (line images, key times) and returns evaluation-wide keys; None: nothing to add
    item_details: Callable[[Any, Any, list[dict[str, Any]]], dict[str, Any]] | None = None


_REGISTERED: dict[str, DomainSpec] = {}
_PACKAGE = Path(__file__).parent


def register_domain(spec: DomainSpec) -> None:
    """Make ``spec`` known by its name (a domain from another package, or a test's)."""
    _REGISTERED[spec.name] = spec


def _discover(name: str) -> DomainSpec | None:
    if name.isidentifier() and (_PACKAGE / name / "domain.py").is_file():
        spec = importlib.import_module(f"keyscribe.{name}.domain").SPEC
        _REGISTERED[name] = spec
        return spec
    for point in entry_points(group="keyscribe.domains"):
        if point.name == name:
            spec = point.load()
            _REGISTERED[name] = spec
            return spec
    return None


def domain_names() -> list[str]:
    """Every domain that can be loaded: keyscribe's subpackages with a domain.py, entry points,
    and those registered at run time."""
    found = {p.parent.name for p in _PACKAGE.glob("*/domain.py")}
    found |= {p.name for p in entry_points(group="keyscribe.domains")}
    return sorted(found | set(_REGISTERED))


def get_domain(name: str) -> DomainSpec:
    spec = _REGISTERED.get(name) or _discover(name)
    if spec is None:
        raise ConfigError(None, f"domain must be one of {domain_names()}, got '{name}'")
    return spec
