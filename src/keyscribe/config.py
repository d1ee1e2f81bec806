"""Experiment configs: typed dataclasses filled from YAML files.

A config file may name one or more ``base:`` files (paths relative to itself), merged first;
``--set key.path=value`` overrides come last. Unknown keys and wrong types stop the run with the
file, the key and the expected type. Domain-specific data options are their own dataclasses,
chosen by the ``domain`` key (each domain's spec names its schema: keyscribe/domain.py); the
whole tree is validated in experiment.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from keyscribe.errors import ConfigError


@dataclass
class OptimConfig:
    lr: float = 1e-3  # Adam's peak learning rate
    weight_decay: float = 0.0  # AdamW-style decoupled weight decay; 0: plain Adam
    # warmup_cosine: linear warm-up then cosine to min_lr (emg2qwerty); plateau: ReduceLROnPlateau
    # on validation CER (HTR papers); constant.
    scheduler: str = "warmup_cosine"
    warmup_epochs: int = 10  # warmup_cosine: epochs of linear warm-up from warmup_start_lr
    warmup_start_lr: float = 1e-8  # warmup_cosine: the learning rate at the first step
    min_lr: float = 1e-6  # warmup_cosine: where the cosine ends; plateau: the lowest rate
    plateau_factor: float = 0.5  # plateau: the rate is multiplied by this on a plateau
    plateau_patience: int = 5  # plateau: validations without improvement before that
    # learning-rate multiplier of deformable layers' offset convolutions (DefConv); < 1 keeps the
    # sampling grid from drifting while the weights are still learning
    offset_lr_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.scheduler not in ("warmup_cosine", "plateau", "constant"):
            raise ConfigError(None, f"optim.scheduler must be warmup_cosine, plateau or constant, got '{self.scheduler}'")
        if self.offset_lr_scale < 0:
            raise ConfigError(None, f"optim.offset_lr_scale must be >= 0, got {self.offset_lr_scale}")


TRAINER_PRECISIONS = ("32-true", "bf16-mixed", "16-mixed", "bf16-true", "64-true")


@dataclass
class TrainerConfig:
    max_epochs: int = 150  # passes over the training data (the schedules' unit); stops the run
    max_steps: int = -1  # -1: no step limit
    max_time_minutes: float | None = None  # wall-clock budget; stops cleanly, best.ckpt kept
    accelerator: str = "auto"  # Lightning's: cpu, gpu (cuda), auto
    devices: str = "auto"  # Lightning's: how many (or which) devices; auto: all of the accelerator's
    strategy: str = "auto"  # Lightning's: auto, ddp, ... (several devices: docs/scale.md)
    num_nodes: int = 1  # machines of a multi-node DDP run (each runs `devices` processes)
    # Lightning's precision: "32-true", or "bf16-mixed" (autocast: matmuls and convolutions in
    # bf16, the log-softmax and the CTC loss in fp32; fast on CPUs with bf16 instructions, see
    # docs/benchmarks.md), "16-mixed" (GPU), "bf16-true", "64-true"
    precision: str = "32-true"
    gradient_clip_val: float | None = None  # clip the gradient norm to this; None: no clipping
    log_every_n_steps: int = 10  # rows of logs/metrics.csv: one per this many updates
    check_val_every_n_epoch: int = 1  # validate (and keep best.ckpt) every this many epochs
    early_stopping_patience: int = 0  # epochs without val CER improvement; 0 disables
    limit_train_batches: float = 1.0  # share of the training batches that makes an epoch
    num_threads: int = 0  # torch intra-op threads; 0: all cores minus data.num_workers
    progress_bar: bool = True  # Lightning's progress bar on a terminal
    # Exponential moving average of the weights, updated every step; validation, best.ckpt and the
    # final model use the average (0 disables). 0.998 averages over the last ~500 updates.
    ema_decay: float = 0.0
    # Dropout rates and the training augmentation's probability rise linearly from 0 at the first
    # epoch to their configured values at this epoch (training/regularization.py); 0: full from
    # the start.
    regularization_warmup_epochs: int = 0
    # What the schedules above (learning rate, regularisation warm-up) count: "epochs", or "wall":
    # the share of max_time_minutes spent, scaled to max_epochs (which still stops a run: set it
    # above what the budget holds; training/schedule_clock.py).
    schedule_clock: str = "epochs"

    def __post_init__(self) -> None:
        if self.schedule_clock not in ("epochs", "wall"):
            raise ConfigError(
                None, f"trainer.schedule_clock must be epochs or wall, got {self.schedule_clock!r}"
            )
        if self.schedule_clock == "wall" and not self.max_time_minutes:
            raise ConfigError(None, "trainer.schedule_clock: wall needs trainer.max_time_minutes")
        if self.precision not in TRAINER_PRECISIONS:
            raise ConfigError(
                None,
                f"trainer.precision must be one of {', '.join(TRAINER_PRECISIONS)}, "
                f"got {self.precision!r}",
            )
        if not 0 <= self.ema_decay < 1:
            raise ConfigError(None, f"trainer.ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.regularization_warmup_epochs < 0:
            raise ConfigError(
                None,
                "trainer.regularization_warmup_epochs must be >= 0, got "
                f"{self.regularization_warmup_epochs}",
            )


@dataclass
class ShortcutConfig:
    """CTC shortcut (Retsinas et al. 2022, "Best practices for a handwritten text recognition
    system"): a second CTC head, one convolution over the front end's frames, trained beside the
    main head with its loss scaled by ``weight``. It hands the convolutions a gradient that
    bypasses the encoder, so they learn from the first updates on; inference and export ignore it.
    """

    kernel: int = 0  # frames (odd); 0: no shortcut
    weight: float = 0.1  # the shortcut's CTC loss is multiplied by this and added

    def __post_init__(self) -> None:
        if self.kernel < 0 or (self.kernel and self.kernel % 2 == 0):
            raise ConfigError(None, f"model.shortcut.kernel must be 0 or odd, got {self.kernel}")
        if self.weight < 0:
            raise ConfigError(None, f"model.shortcut.weight must be >= 0, got {self.weight}")


@dataclass
class ModelConfig:
    # ``kind`` plus that front end's options; empty means the domain's default front end.
    frontend: dict[str, Any] = field(default_factory=dict)
    # ``kind`` plus that encoder's options (see builders.ENCODERS).
    encoder: dict[str, Any] = field(default_factory=lambda: {"kind": "tdsconv"})
    shortcut: ShortcutConfig = field(default_factory=ShortcutConfig)


@dataclass
class DecoderConfig:
    """How ``evaluate`` and ``transcribe`` decode a checkpoint when not told otherwise."""

    kind: str = "greedy"  # greedy | beam
    lm: str = "auto"  # beam: an ARPA file, "default", "auto" (the domain's default LM) or "none"

    def __post_init__(self) -> None:
        if self.kind not in ("greedy", "beam"):
            raise ConfigError(None, f"decoder.kind must be greedy or beam, got {self.kind!r}")


@dataclass
class ExperimentConfig:
    name: str = "experiment"  # names the run (runs/<name>) and its row in result tables
    description: str = ""  # one line for result tables, e.g. the paper row a config reproduces
    domain: str = "emg"  # emg | htr: which domain's data options and model parts apply
    seed: int = 1501  # seeds initialisation, sampling and augmentation (runs repeat to the bit)
    out_dir: str = ""  # run directory; empty means runs/<name>
    data: Any = None  # domain dataclass (EmgDataConfig, ...)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    # checkpoint whose weights initialise the model before training (fine-tuning); tensors are
    # matched by name and shape, output-layer rows by symbol; empty trains from scratch
    init_from: str = ""

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir or f"runs/{self.name}")


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(path, "config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(path, f"not valid YAML ({exc.__class__.__name__})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(path, "top level must be a mapping")
    return data


_KINDED = ("encoder", "frontend")  # sections whose options depend on their ``kind``


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict) and key not in _KINDED:
            out[key] = _deep_merge(out[key], value)
        elif isinstance(value, Mapping) and isinstance(out.get(key), dict):
            # a new encoder (front end) kind replaces the old options; the same kind refines them
            same = value.get("kind", out[key].get("kind")) == out[key].get("kind")
            out[key] = _deep_merge(out[key], value) if same else dict(value)
        else:
            out[key] = value
    return out


def read_config_tree(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The file's mapping with its ``base:`` files merged underneath (bases first)."""
    path = Path(path).resolve()
    if path in _seen:
        raise ConfigError(path, "circular base: reference")
    raw = _read_yaml(path)
    bases = raw.pop("base", None) or []
    if isinstance(bases, str):
        bases = [bases]
    merged: dict[str, Any] = {}
    for base in bases:
        merged = _deep_merge(merged, read_config_tree(path.parent / base, (*_seen, path)))
    return _deep_merge(merged, raw)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a", "b", "c"], YAML-parsed value)."""
    if "=" not in text:
        raise ConfigError(None, f"override '{text}' must look like key.path=value")
    key, value = text.split("=", 1)
    try:
        parsed = yaml.safe_load(value) if value != "" else ""
    except yaml.YAMLError:
        parsed = value
    return key.strip().split("."), parsed


def apply_overrides(tree: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    for text in overrides:
        keys, value = parse_override(text)
        node = tree
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(None, f"override '{text}': '{key}' is not a section")
        node[keys[-1]] = value
    return tree


def to_dataclass(tree: Mapping[str, Any], schema: type, source: str | Path | None) -> Any:
    """Validate ``tree`` against a dataclass schema; unknown keys and wrong types are refused."""
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), tree)
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None)
        msg = str(exc).splitlines()[0]
        if "Key" in type(exc).__name__ and key:
            msg = f"unknown config key '{key}'"
        elif key:
            msg = f"config key '{key}': {msg}"
        raise ConfigError(source, msg) from None


def to_options(tree: Mapping[str, Any], schema: type, section: str) -> Any:
    """A config section's options (``model.frontend``, ...) as ``schema``; errors name the
    section, and the caller's loader adds the file."""
    try:
        return to_dataclass(tree, schema, None)
    except ConfigError as exc:
        raise ConfigError(None, f"{section}: {exc.problem}") from None


def to_yaml(cfg: Any) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def to_plain(cfg: Any) -> dict[str, Any]:
    return OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)  # type: ignore[return-value]
