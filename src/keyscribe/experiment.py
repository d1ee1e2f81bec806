"""Experiment configs as a whole: a file (with its bases and ``--set`` overrides) -> the domain's
experiment dataclass, with the model's encoder and front-end options checked as well, so a bad
key stops at load time with the file and key, not later at build time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from keyscribe import builders
from keyscribe.config import ExperimentConfig, apply_overrides, read_config_tree, to_dataclass
from keyscribe.domain import get_domain
from keyscribe.errors import ConfigError


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Read a config file (with its bases), apply ``key=value`` overrides, validate."""
    tree = apply_overrides(read_config_tree(path), overrides)
    return config_from_tree(tree, path)


def config_from_tree(tree: dict[str, Any], source: str | Path | None = None) -> ExperimentConfig:
    try:
        spec = get_domain(tree.get("domain", "emg"))
        cfg: ExperimentConfig = to_dataclass(tree, spec.schema, source)
        builders.check_model_options(cfg, spec)
    except ConfigError as exc:
        raise ConfigError(exc.path or source, exc.problem) from None
    return cfg
