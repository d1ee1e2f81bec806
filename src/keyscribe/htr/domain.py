"""The HTR domain as the core sees it: charset, conv front end, line datasets."""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from keyscribe.alphabet import Alphabet
from keyscribe.config import to_options
from keyscribe.data.batch import Sample
from keyscribe.domain import DomainSpec
from keyscribe.errors import ConfigError, DataError
from keyscribe.htr.config import HtrDataConfig, HtrExperimentConfig
from keyscribe.htr.dataset import LineDataset, apply_char_map, subset_records
from keyscribe.htr.frontend import LineConvFrontend, crnn_layers, puigcerver_layers
from keyscribe.htr.images import IMAGE_SUFFIXES
from keyscribe.htr.lines import LineRecord, read_lines, texts
from keyscribe.htr.pagesets import is_manifest
from keyscribe.htr.report_items import add_line_details

SPLITS = ("train", "val", "test")
log = logging.getLogger(__name__)


@dataclass
class FrontendOptions:
    """``model.frontend`` of HTR configs: which table, and which convolutions are deformable."""

    kind: str = "crnn"  # crnn (Table 1) | puigcerver (Table 2, the 1D-LSTM model)
    conv: str = "std"  # std | deformable: every convolution of the stack
    deformable_layers: list[int] = field(
        default_factory=list
    )  # 0-based conv indices; overrides conv
    channels: list[int] = field(default_factory=list)  # empty: the table's
    dropout: float = 0.2  # after the convolution blocks that the table gives dropout
    pool_heights: list[int] = field(default_factory=list)  # puigcerver only; empty: the table's
    pool_widths: list[int] = field(default_factory=list)  # puigcerver only; empty: the table's


def frontend_options(cfg: HtrExperimentConfig) -> FrontendOptions:
    options: FrontendOptions = to_options(
        cfg.model.frontend or {}, FrontendOptions, "model.frontend"
    )
    if options.kind not in ("crnn", "puigcerver"):
        raise ConfigError(
            None, f"model.frontend.kind must be crnn or puigcerver for htr, got '{options.kind}'"
        )
    if options.conv not in ("std", "deformable"):
        raise ConfigError(
            None, f"model.frontend.conv must be std or deformable, got '{options.conv}'"
        )
    return options


def build_frontend(cfg: HtrExperimentConfig) -> LineConvFrontend:
    o = frontend_options(cfg)
    default = (64, 128, 256, 256, 512, 512, 512) if o.kind == "crnn" else (16, 32, 48, 64, 80)
    channels = list(o.channels) or list(default)
    n = len(channels)
    deformable = [o.conv == "deformable"] * n
    if o.deformable_layers:
        if any(not 0 <= i < n for i in o.deformable_layers):
            raise ConfigError(
                None,
                f"model.frontend.deformable_layers must be in 0..{n - 1}, got {o.deformable_layers}",
            )
        deformable = [i in o.deformable_layers for i in range(n)]
    try:
        if o.kind == "crnn":
            layers = crnn_layers(channels, o.dropout, deformable)
        else:
            pool_h = list(o.pool_heights) or [2, 2, 2] + [1] * (n - 3)
            pool_w = list(o.pool_widths) or [2, 2, 2] + [1] * (n - 3)
            layers = puigcerver_layers(channels, o.dropout, deformable, pool_h, pool_w)
        return LineConvFrontend(layers, cfg.data.height)
    except ValueError as exc:
        raise ConfigError(None, f"model.frontend ({o.kind}): {exc}") from None


def split_sources(data: HtrDataConfig, split: str) -> list[Path]:
    """Where a split's lines come from: ``data.<split>`` (one or several), else
    ``data.root/<split>`` (a folder of lines or of PAGE/ALTO pages), else a page manifest
    ``data.root/<split>.txt`` or ``.lst``."""
    explicit = getattr(data, split)
    if explicit:
        return [Path(p) for p in ([explicit] if isinstance(explicit, str) else explicit)]
    if data.root:
        root = Path(data.root)
        for candidate in (root / split, root / f"{split}.txt", root / f"{split}.lst"):
            if candidate.is_dir() or (candidate.is_file() and is_manifest(candidate)):
                return [candidate]
    return []


def split_records(data: HtrDataConfig, split: str) -> list[LineRecord]:
    """The lines of every source of ``split``, in the order given (empty: no source)."""
    records: list[LineRecord] = []
    for source in split_sources(data, split):
        records.extend(read_lines(source, data.on_error))
    return records


def _excluded(record: LineRecord, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(record.id, p) for p in patterns)


def _train_records(data: HtrDataConfig) -> list[LineRecord]:
    records = split_records(data, "train")
    if not records:
        raise DataError(
            data.root or None, "no training lines: set data.root (with train/) or data.train"
        )
    if data.train_exclude:
        kept = [r for r in records if not _excluded(r, data.train_exclude)]
        log.info("data.train_exclude: %d training lines left out", len(records) - len(kept))
        if not kept:
            raise DataError(None, "data.train_exclude leaves no training lines")
        records = kept
    return subset_records(records, data.train_fraction, data.subset_seed)


def build_alphabet(cfg: HtrExperimentConfig) -> Alphabet:
    """Every character of the (mapped) training transcriptions plus ``charset_extra``; blank = 0."""
    data = cfg.data
    corpus = [apply_char_map(t, data.char_map) for t in texts(_train_records(data))]
    return Alphabet.from_texts([*corpus, data.charset_extra], name="htr")


def _dataset(
    cfg: HtrExperimentConfig, records: list[LineRecord], alphabet: Alphabet, name: str, train: bool
) -> LineDataset:
    data = cfg.data
    return LineDataset(
        records,
        alphabet,
        data.height,
        augment=data.augment if train else None,
        on_error=data.on_error,
        unknown_chars="error" if train else data.unknown_chars,
        char_map=data.char_map,
        name=name,
        bucket_pool_batches=data.bucket_pool_batches if data.width_buckets else 0,
        normalize=data.normalize,
    )


def build_datasets(cfg: HtrExperimentConfig, alphabet: Alphabet) -> dict[str, Dataset[Sample]]:
    out: dict[str, Dataset[Sample]] = {
        "train": _dataset(cfg, _train_records(cfg.data), alphabet, "train", True)
    }
    for split in ("val", "test"):
        records = split_records(cfg.data, split)
        if records:
            name = " + ".join(str(p) for p in split_sources(cfg.data, split))
            out[split] = _dataset(cfg, records, alphabet, name, False)
    if "val" not in out:
        raise DataError(
            cfg.data.root or None, "no validation lines: set data.root (with val/) or data.val"
        )
    return out


def eval_dataset(
    cfg: HtrExperimentConfig, path: Path, alphabet: Alphabet, need_text: bool = False
) -> LineDataset:
    """Lines to score or transcribe at ``path``; a set folder (train/ val/ test/) means its test/."""
    if (
        path.is_dir()
        and (path / "test").is_dir()
        and not any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir())
    ):
        path = path / "test"
    records = read_lines(path, cfg.data.on_error, need_text=need_text)
    return _dataset(cfg, records, alphabet, str(path), False)


def example_input(cfg: HtrExperimentConfig) -> Any:
    """One 1024-px-wide line ``(1, width, 1, height)``, for MACs per input column."""
    return torch.zeros(1, 1024, 1, cfg.data.height)


def transcribe_files(
    recognizer: Any,
    inputs: list[Path],
    options: dict[str, Any],
    wrote: Callable[[Path], None],
) -> list[dict[str, Any]]:
    """Line images and PAGE/ALTO pages; a page is written back per ``options`` (format, out,
    xml_out, glyphs, batch_size: as ``keyscribe transcribe`` takes them)."""
    from keyscribe.htr.transcribe import PageOutput, transcribe_inputs

    out = options.get("out")
    pages = PageOutput(
        options.get("format"),
        out or options.get("xml_out"),
        out is None,
        bool(options.get("glyphs")),
    )
    return transcribe_inputs(recognizer, inputs, pages, wrote, options.get("batch_size"))


SPEC = DomainSpec(
    name="htr",
    schema=HtrExperimentConfig,
    alphabet=build_alphabet,
    frontend=build_frontend,
    datasets=build_datasets,
    eval_dataset=eval_dataset,
    example_input=example_input,
    exact_text=True,
    item_noun="lines",
    transcribe_files=transcribe_files,
    item_details=add_line_details,
)
