"""The one place that maps config names (domains, front ends, encoders) to classes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from torch import nn
from torch.utils.data import Dataset

from keyscribe.alphabet import Alphabet
from keyscribe.config import ExperimentConfig, to_dataclass
from keyscribe.data.batch import Sample
from keyscribe.data.module import CTCDataModule
from keyscribe.errors import ConfigError
from keyscribe.models.ctc import CTCModel
from keyscribe.models.encoders import TDSConvEncoder

# -- encoders -------------------------------------------------------------------------------------


@dataclass
class TDSConvOptions:
    """TDSConv baseline (emg2qwerty): 4 blocks of 24 channels, kernel 32 frames."""

    block_channels: list[int] = field(default_factory=lambda: [24, 24, 24, 24])
    kernel_width: int = 32


ENCODERS: dict[str, tuple[type, Callable[..., nn.Module]]] = {
    "tdsconv": (TDSConvOptions, lambda n, o: TDSConvEncoder(n, o.block_channels, o.kernel_width)),
}


def _options(kind_table: dict[str, tuple[type, Any]], section: str, spec: dict[str, Any]) -> tuple[str, Any, Any]:
    spec = dict(spec)
    kind = spec.pop("kind", None)
    if kind not in kind_table:
        raise ConfigError(None, f"{section}.kind must be one of {sorted(kind_table)}, got {kind!r}")
    schema, factory = kind_table[kind]
    try:
        options = to_dataclass(spec, schema, None)
    except ConfigError as exc:
        raise ConfigError(None, f"{section} ({kind}): {exc.problem}") from None
    return kind, options, factory


def build_encoder(spec: dict[str, Any], num_features: int) -> nn.Module:
    _, options, factory = _options(ENCODERS, "model.encoder", spec)
    return factory(num_features, options)


# -- domains --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DomainSpec:
    """What a domain provides to the shared core."""

    schema: type  # experiment dataclass with the domain's ``data`` options
    alphabet: Callable[[Any], Alphabet]  # cfg -> alphabet (may read training text)
    frontend: Callable[[Any], nn.Module]  # cfg -> front end with ``out_features``
    datasets: Callable[[Any, Alphabet], dict[str, Dataset[Sample]]]  # train/val(/test) splits
    eval_dataset: Callable[[Any, Path, Alphabet], Dataset[Sample]]  # a user path -> items to score
    test_batch_size: int = 1


def _emg_spec() -> DomainSpec:
    from keyscribe.emg import domain

    return domain.SPEC


DOMAINS: dict[str, Callable[[], DomainSpec]] = {"emg": _emg_spec}


def domain_spec(name: str) -> DomainSpec:
    if name not in DOMAINS:
        raise ConfigError(None, f"domain must be one of {sorted(DOMAINS)}, got '{name}'")
    return DOMAINS[name]()


def experiment_schema(domain: str) -> type:
    return domain_spec(domain).schema


def build_model(cfg: ExperimentConfig, alphabet: Alphabet) -> CTCModel:
    spec = domain_spec(cfg.domain)
    frontend = spec.frontend(cfg)
    encoder = build_encoder(cfg.model.encoder, frontend.out_features)
    return CTCModel(frontend, encoder, alphabet.num_classes)


def build_datamodule(cfg: ExperimentConfig, alphabet: Alphabet) -> CTCDataModule:
    spec = domain_spec(cfg.domain)
    return CTCDataModule(
        lambda: spec.datasets(cfg, alphabet),
        batch_size=cfg.data.batch_size,
        num_workers=cfg.data.num_workers,
        test_batch_size=spec.test_batch_size,
    )


def options_dict(options: Any) -> dict[str, Any]:
    return asdict(options)
