"""The one place that maps config names (domains, front ends, encoders) to classes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from torch import nn

from keyscribe.alphabet import Alphabet
from keyscribe.config import ExperimentConfig, to_dataclass
from keyscribe.data.module import CTCDataModule
from keyscribe.domain import DomainSpec, get_domain
from keyscribe.errors import ConfigError
from keyscribe.models.conformer import ConformerEncoder
from keyscribe.models.ctc import CTCModel
from keyscribe.models.encoders import (
    ConvResNetEncoder,
    RecurrentEncoder,
    SequentialEncoder,
    TDSConvEncoder,
)

# -- encoders -------------------------------------------------------------------------------------


@dataclass
class TDSConvOptions:
    """TDSConv baseline (emg2qwerty): 4 blocks of 24 channels, kernel 32 frames."""

    # one (1, k) conv block + FC block pair per entry, of that many channels
    block_channels: list[int] = field(default_factory=lambda: [24, 24, 24, 24])
    kernel_width: int = field(default=32, metadata={"frames": True})


@dataclass
class RecurrentOptions:
    """Stacked bidirectional LSTM / GRU (semg-long-range-dependency Tables 1-2, 8);
    ``bidirectional: false`` gives the causal variant that streams exactly (emg/streaming/)."""

    hidden_size: int = 256  # units per direction
    num_layers: int = 2  # stacked layers
    dropout: float = 0.0  # between layers and on the output
    bidirectional: bool = True  # false: causal, streams exactly
    output_dropout: float | None = None  # on the output only; None: same as dropout


@dataclass
class TDSConvLSTMOptions(TDSConvOptions):
    """TDSConv baseline + one bidirectional LSTM layer (Table 7); ``lstm_bidirectional: false``
    gives the causal hybrid that streams exactly (emg/streaming/)."""

    lstm_hidden_size: int = 512  # units per direction of the LSTM after the TDSConv blocks
    lstm_num_layers: int = 1  # stacked layers
    lstm_dropout: float = 0.1  # between LSTM layers and on their output
    lstm_bidirectional: bool = True  # false: causal, streams exactly


@dataclass
class ConvResNetOptions:
    """ConvResNet groups (Table 5); bottleneck empty = no bottleneck blocks."""

    dimensions: list[int] = field(default_factory=lambda: [64, 128, 256])  # channels per group
    repetitions: list[int] = field(default_factory=lambda: [3, 2, 2])  # residual blocks per group
    # time stride of each group's first block
    strides: list[int] = field(default_factory=lambda: [1, 1, 2])
    bottleneck: list[bool] = field(default_factory=list)  # per group: 1-3-1 bottleneck blocks


@dataclass
class ConvResNetGRUOptions(ConvResNetOptions):
    """ConvResNet + bidirectional GRU (Table 6)."""

    gru_hidden_size: int = 512  # units per direction of the GRU after the ConvResNet
    gru_num_layers: int = 1  # stacked layers
    gru_dropout: float = 0.0  # between GRU layers and on their output


@dataclass
class ConformerOptions:
    """Conformer with rotary positions; conv_kernel 0 = Transformer (beyond the paper)."""

    d_model: int = 144  # features per frame inside the blocks
    num_layers: int = 4  # Conformer blocks
    num_heads: int = 4  # attention heads (d_model must divide by it)
    ff_mult: int = 4  # feed-forward width, times d_model
    conv_kernel: int = field(default=15, metadata={"frames": True})
    dropout: float = 0.1  # in feed-forward, attention and convolution modules
    time_reduction: int = 1  # frames merged by the input projection (shorter attention)


def _convresnet(n: int, o: ConvResNetOptions) -> ConvResNetEncoder:
    return ConvResNetEncoder(n, o.dimensions, o.repetitions, o.strides, o.bottleneck)


def _rnn(cell: str) -> Callable[[int, RecurrentOptions], nn.Module]:
    return lambda n, o: RecurrentEncoder(
        n, cell, o.hidden_size, o.num_layers, o.dropout, o.bidirectional, o.output_dropout
    )


def _tdsconv_lstm(n: int, o: TDSConvLSTMOptions) -> nn.Module:
    tds = TDSConvEncoder(n, o.block_channels, o.kernel_width)
    lstm = RecurrentEncoder(
        n, "lstm", o.lstm_hidden_size, o.lstm_num_layers, o.lstm_dropout, o.lstm_bidirectional
    )
    return SequentialEncoder(tds, lstm)


def _convresnet_gru(n: int, o: ConvResNetGRUOptions) -> nn.Module:
    cnn = _convresnet(n, o)
    gru = RecurrentEncoder(
        cnn.out_features, "gru", o.gru_hidden_size, o.gru_num_layers, o.gru_dropout
    )
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


def _options(
    kind_table: dict[str, tuple[type, Any]], section: str, spec: dict[str, Any]
) -> tuple[str, Any, Any]:
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
    scaled = {
        f.name: max(1, round(getattr(options, f.name) * frame_scale))
        for f in fields(options)
        if f.metadata.get("frames")
    }
    return replace(options, **scaled)


def build_encoder(spec: dict[str, Any], num_features: int, frame_scale: float = 1.0) -> nn.Module:
    _, options, factory = _options(ENCODERS, "model.encoder", spec)
    return factory(num_features, scale_frames(options, frame_scale))


# -- models, data, decoders of a domain ----------------------------------------------------------


def check_model_options(cfg: ExperimentConfig, spec: DomainSpec) -> None:
    """Refuse a bad ``model.encoder`` or ``model.frontend`` section now (ConfigError naming the
    key): the front end is built once, which checks its options the way training will."""
    _options(ENCODERS, "model.encoder", cfg.model.encoder)
    spec.frontend(cfg)


def build_model(cfg: ExperimentConfig, alphabet: Alphabet) -> CTCModel:
    spec = get_domain(cfg.domain)
    frontend = spec.frontend(cfg)
    encoder = build_encoder(cfg.model.encoder, frontend.out_features, spec.frame_scale(cfg))
    return CTCModel(frontend, encoder, alphabet.num_classes, cfg.model.shortcut.kernel)


def build_datamodule(cfg: ExperimentConfig, alphabet: Alphabet) -> CTCDataModule:
    spec = get_domain(cfg.domain)
    return CTCDataModule(
        lambda: spec.datasets(cfg, alphabet),
        batch_size=cfg.data.batch_size,
        num_workers=cfg.data.num_workers,
        test_batch_size=spec.test_batch_size,
        seed=cfg.seed,
    )


def lm_view(spec: DomainSpec, alphabet: Alphabet) -> Any:
    """The domain's view of its alphabet for a character LM (``LMView.plain`` when it has none)."""
    from keyscribe.decoding.charlm import LMView

    return spec.lm_view(alphabet) if spec.lm_view is not None else LMView.plain(alphabet)


def build_beam_decoder(
    spec: DomainSpec, alphabet: Alphabet, lm: str | Path | None, options: Any = None
) -> Any:
    """A ``decoding.beam.BeamDecoder`` for a domain's alphabet; ``lm="default"`` is the default
    English character LM (built into the cache directory on first use)."""
    from keyscribe.decoding.beam import BeamDecoder
    from keyscribe.decoding.default_lm import default_lm_path

    if lm == "default":
        lm = default_lm_path()
    return BeamDecoder(alphabet, options, lm, lm_view(spec, alphabet))
