"""The one place that maps config names (domains, front ends, encoders) to classes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
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
from keyscribe.models.encoders import (
    ConformerEncoder,
    ConvResNetEncoder,
    RecurrentEncoder,
    SequentialEncoder,
    TDSConvEncoder,
)

# -- encoders -------------------------------------------------------------------------------------


@dataclass
class TDSConvOptions:
    """TDSConv baseline (emg2qwerty): 4 blocks of 24 channels, kernel 32 frames."""

    block_channels: list[int] = field(default_factory=lambda: [24, 24, 24, 24])
    kernel_width: int = field(default=32, metadata={"frames": True})


@dataclass
class RecurrentOptions:
    """Stacked bidirectional LSTM / GRU (semg-long-range-dependency Tables 1-2, 8);
    ``bidirectional: false`` gives the causal variant that streams exactly (emg/streaming.py)."""

    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.0  # between layers and on the output
    bidirectional: bool = True
    output_dropout: float | None = None  # on the output only; None: same as dropout


@dataclass
class TDSConvLSTMOptions(TDSConvOptions):
    """TDSConv baseline + one bidirectional LSTM layer (Table 7); ``lstm_bidirectional: false``
    gives the causal hybrid that streams exactly (emg/streaming.py)."""

    lstm_hidden_size: int = 512
    lstm_num_layers: int = 1
    lstm_dropout: float = 0.1
    lstm_bidirectional: bool = True


@dataclass
class ConvResNetOptions:
    """ConvResNet groups (Table 5); bottleneck empty = no bottleneck blocks."""

    dimensions: list[int] = field(default_factory=lambda: [64, 128, 256])
    repetitions: list[int] = field(default_factory=lambda: [3, 2, 2])
    strides: list[int] = field(default_factory=lambda: [1, 1, 2])
    bottleneck: list[bool] = field(default_factory=list)


@dataclass
class ConvResNetGRUOptions(ConvResNetOptions):
    """ConvResNet + bidirectional GRU (Table 6)."""

    gru_hidden_size: int = 512
    gru_num_layers: int = 1
    gru_dropout: float = 0.0


@dataclass
class ConformerOptions:
    """Conformer with rotary positions; conv_kernel 0 = Transformer (beyond the paper)."""

    d_model: int = 144
    num_layers: int = 4
    num_heads: int = 4
    ff_mult: int = 4
    conv_kernel: int = field(default=15, metadata={"frames": True})
    dropout: float = 0.1
    time_reduction: int = 1


def _convresnet(n: int, o: ConvResNetOptions) -> ConvResNetEncoder:
    return ConvResNetEncoder(n, o.dimensions, o.repetitions, o.strides, o.bottleneck)


def _rnn(cell: str) -> Callable[[int, RecurrentOptions], nn.Module]:
    return lambda n, o: RecurrentEncoder(n, cell, o.hidden_size, o.num_layers, o.dropout, o.bidirectional, o.output_dropout)


def _tdsconv_lstm(n: int, o: TDSConvLSTMOptions) -> nn.Module:
    tds = TDSConvEncoder(n, o.block_channels, o.kernel_width)
    lstm = RecurrentEncoder(
        n, "lstm", o.lstm_hidden_size, o.lstm_num_layers, o.lstm_dropout, o.lstm_bidirectional
    )
    return SequentialEncoder(tds, lstm)


def _convresnet_gru(n: int, o: ConvResNetGRUOptions) -> nn.Module:
    cnn = _convresnet(n, o)
    gru = RecurrentEncoder(cnn.out_features, "gru", o.gru_hidden_size, o.gru_num_layers, o.gru_dropout)
    return SequentialEncoder(cnn, gru)


ENCODERS: dict[str, tuple[type, Callable[..., nn.Module]]] = {
    "tdsconv": (TDSConvOptions, lambda n, o: TDSConvEncoder(n, o.block_channels, o.kernel_width)),
    "lstm": (RecurrentOptions, _rnn("lstm")),
    "gru": (RecurrentOptions, _rnn("gru")),
    "tdsconv_lstm": (TDSConvLSTMOptions, _tdsconv_lstm),
    "convresnet": (ConvResNetOptions, _convresnet),
    "convresnet_gru": (ConvResNetGRUOptions, _convresnet_gru),
    "conformer": (ConformerOptions, lambda n, o: ConformerEncoder(n, **asdict(o))),
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


def scale_frames(options: Any, frame_scale: float) -> Any:
    """Options with every field marked ``metadata={"frames": True}`` (a size in frames, e.g. a
    kernel width) multiplied by ``frame_scale``, so a model keeps its span in seconds when the
    domain's frame rate changes (e.g. the sEMG hop-length study)."""
    if frame_scale == 1.0:
        return options
    scaled = {f.name: max(1, round(getattr(options, f.name) * frame_scale)) for f in fields(options) if f.metadata.get("frames")}
    return replace(options, **scaled)


def build_encoder(spec: dict[str, Any], num_features: int, frame_scale: float = 1.0) -> nn.Module:
    _, options, factory = _options(ENCODERS, "model.encoder", spec)
    return factory(num_features, scale_frames(options, frame_scale))


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
    # cfg -> factor for encoder sizes given in frames (see scale_frames); 1.0 keeps them
    frame_scale: Callable[[Any], float] = lambda cfg: 1.0
    # cfg -> one model input (1, time, ...) for counting MACs per frame; None skips the count
    example_input: Callable[[Any], Any] | None = None
    # alphabet -> decoding.charlm.LMView (how its classes look to a character LM); None: plain
    lm_view: Callable[[Alphabet], Any] | None = None


def _emg_spec() -> DomainSpec:
    from keyscribe.emg import domain

    return domain.SPEC


def _htr_spec() -> DomainSpec:
    from keyscribe.htr import domain

    return domain.SPEC


DOMAINS: dict[str, Callable[[], DomainSpec]] = {"emg": _emg_spec, "htr": _htr_spec}


def domain_spec(name: str) -> DomainSpec:
    if name not in DOMAINS:
        raise ConfigError(None, f"domain must be one of {sorted(DOMAINS)}, got '{name}'")
    return DOMAINS[name]()


def experiment_schema(domain: str) -> type:
    return domain_spec(domain).schema


def build_model(cfg: ExperimentConfig, alphabet: Alphabet) -> CTCModel:
    spec = domain_spec(cfg.domain)
    frontend = spec.frontend(cfg)
    encoder = build_encoder(cfg.model.encoder, frontend.out_features, spec.frame_scale(cfg))
    return CTCModel(frontend, encoder, alphabet.num_classes, cfg.model.shortcut.kernel)


def build_datamodule(cfg: ExperimentConfig, alphabet: Alphabet) -> CTCDataModule:
    spec = domain_spec(cfg.domain)
    return CTCDataModule(
        lambda: spec.datasets(cfg, alphabet),
        batch_size=cfg.data.batch_size,
        num_workers=cfg.data.num_workers,
        test_batch_size=spec.test_batch_size,
        seed=cfg.seed,
    )


def lm_view(domain: str, alphabet: Alphabet) -> Any:
    """The domain's view of its alphabet for a character LM (``LMView.plain`` when it has none)."""
    from keyscribe.decoding.charlm import LMView

    spec = domain_spec(domain)
    return spec.lm_view(alphabet) if spec.lm_view is not None else LMView.plain(alphabet)


def build_beam_decoder(
    domain: str, alphabet: Alphabet, lm: str | Path | None, options: Any = None
) -> Any:
    """A ``decoding.beam.BeamDecoder`` for a domain's alphabet; ``lm="default"`` is the default
    English character LM (built into the cache directory on first use)."""
    from keyscribe.decoding.beam import BeamDecoder
    from keyscribe.decoding.charlm import default_lm_path

    if lm == "default":
        lm = default_lm_path()
    return BeamDecoder(alphabet, options, lm, lm_view(domain, alphabet))


def transcriptions(path: str | Path) -> list[str]:
    """The texts of an HTR line source (a folder with .gt.txt files, PAGE/ALTO XML, a TSV, an
    IAM lines.txt): a corpus for a character LM."""
    from keyscribe.htr.lines import read_lines, texts

    return texts(read_lines(path))


def options_dict(options: Any) -> dict[str, Any]:
    return asdict(options)
