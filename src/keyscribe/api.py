"""The Python API that the CLI, bench/ and users call: train, evaluate, transcribe, model info."""

from __future__ import annotations

import glob
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from keyscribe import builders
from keyscribe.alphabet import Alphabet
from keyscribe.bundled import bundled_lm
from keyscribe.config import (
    ExperimentConfig,
    apply_overrides,
    read_config_tree,
    to_dataclass,
    to_plain,
    to_yaml,
)
from keyscribe.data.batch import Sample, collate
from keyscribe.decoding.confidence import best_path_confidences, label_confidences, word_confidences
from keyscribe.decoding.greedy import decode_greedy
from keyscribe.errors import CheckpointError, ConfigError, DataError
from keyscribe.metrics import EditCounts, hypothesis_tokens, reference_tokens, words
from keyscribe.models.ctc import CTCModel, InputTooShortError
from keyscribe.training.checkpoint_io import atomic_write_text, remove_stale_temporaries

log = logging.getLogger(__name__)

# -- configs --------------------------------------------------------------------------------------


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Read a config file (with its bases), apply ``key=value`` overrides, validate."""
    tree = apply_overrides(read_config_tree(path), overrides)
    return config_from_tree(tree, path)


def config_from_tree(tree: dict[str, Any], source: str | Path | None = None) -> ExperimentConfig:
    domain = tree.get("domain", "emg")
    try:
        schema = builders.experiment_schema(domain)
    except ConfigError as exc:
        raise ConfigError(source, exc.problem) from None
    return to_dataclass(tree, schema, source)


# -- models ---------------------------------------------------------------------------------------


@dataclass
class Recognizer:
    """A trained model with its alphabet and config: what a checkpoint holds."""

    model: CTCModel
    alphabet: Alphabet
    config: ExperimentConfig
    path: Path | None = None
    beam: Any = None  # a decoding.beam.BeamDecoder (see use_decoder); None decodes greedily
    precision: str = "fp32"  # see use_precision
    fp32_model: CTCModel | None = None  # the model as loaded, while another precision runs

    @property
    def domain(self) -> str:
        return self.config.domain

    @torch.inference_mode()
    def log_probs(self, sample: Sample) -> tuple[Tensor, int]:
        """One item -> log-probs ``(time', classes)`` and its length."""
        return self.batch_log_probs([sample])[0]

    @torch.inference_mode()
    def batch_log_probs(self, samples: Sequence[Sample]) -> list[tuple[Tensor, int]]:
        """Items padded into one batch -> per item log-probs ``(time', classes)`` and length."""
        self.model.eval()
        batch = collate(samples)
        try:
            out, lengths = self.model(batch.inputs, batch.input_lengths)
        except InputTooShortError as exc:
            item = samples[exc.indices[0]]
            raise DataError(
                item.id,
                f"too short for this model ({exc.frames[0]} input frames give no output frame)",
            ) from None
        return [(out[i], int(lengths[i])) for i in range(len(samples))]

    def use_decoder(
        self, decoder: str = "greedy", lm: str | Path | None = None, options: Any = None
    ) -> Recognizer:
        """Decode with ``"greedy"`` (best path) or ``"beam"`` search. ``lm``: an ARPA character LM,
        ``"default"`` (the default English LM), ``"auto"`` (default for sEMG; for HTR the LM shipped
        with a bundled model, else none) or
        None; ``options``: a ``BeamOptions`` or a dict of its fields (the insertion bonus then
        defaults to 2 with an LM and 0 without)."""
        from keyscribe.decoding.beam import BeamOptions

        if decoder not in ("greedy", "beam"):
            raise ConfigError(None, f"decoder must be 'greedy' or 'beam', got {decoder!r}")
        if decoder == "greedy":
            self.beam = None
            return self
        if str(lm) == "auto":  # sEMG: the default LM; a bundled model: the LM shipped with it
            lm = "default" if self.domain == "emg" else bundled_lm(self.path)
        lm = None if str(lm) == "none" else lm
        if lm is not None and lm != "default" and not Path(lm).is_file():
            raise DataError(lm, "language model not found")
        try:
            if not isinstance(options, BeamOptions):
                options = BeamOptions(**{"insertion_bonus": 2.0 if lm else 0.0, **(options or {})})
        except ValueError as exc:
            raise ConfigError(None, f"beam options: {exc}") from None
        try:
            self.beam = builders.build_beam_decoder(self.domain, self.alphabet, lm, options)
        except ValueError as exc:  # an unreadable ARPA file
            raise DataError(lm, str(exc)) from None
        return self

    def use_precision(self, precision: str = "fp32") -> Recognizer:
        """Run the network in ``"fp32"``, ``"bf16"`` (CPU autocast) or ``"int8"`` (dynamically
        quantised Linear layers); log-probs stay fp32 (see keyscribe.precision)."""
        from keyscribe.precision import check_precision, with_precision

        check_precision(precision)
        if not isinstance(self.fp32_model or self.model, CTCModel):
            raise ConfigError(None, "--precision applies to the torch runtime, not to ONNX Runtime")
        self.fp32_model = self.fp32_model or self.model
        self.model = with_precision(self.fp32_model, precision)  # type: ignore[assignment]
        self.precision = precision
        return self

    def use_runtime(self, runtime: str = "torch", onnx: str | Path | None = None) -> Recognizer:
        """Run the network with ``"torch"`` or ``"onnx"`` (ONNX Runtime on ``onnx``, by default
        the checkpoint's name with ``.onnx``, as ``keyscribe export`` writes it)."""
        if runtime not in ("torch", "onnx"):
            raise ConfigError(None, f"runtime must be 'torch' or 'onnx', got {runtime!r}")
        if runtime == "onnx":
            from keyscribe.export import OnnxCTCModel

            if self.precision != "fp32":
                raise ConfigError(
                    None,
                    "--precision applies to the torch runtime; ONNX Runtime runs the exported "
                    "graph as written (export with --precision int8 for an int8 graph)",
                )
            if onnx is None and self.path is None:
                raise ConfigError(None, "runtime 'onnx' needs the path of an exported model")
            self.model = OnnxCTCModel(onnx if onnx is not None else self.path.with_suffix(".onnx"))  # type: ignore[assignment]
        return self

    def decode(self, log_probs: Tensor, length: int) -> list[int]:
        if self.beam is not None:
            return list(self.beam.decode(log_probs[:length])[0].label_ids)
        return decode_greedy(log_probs[None], torch.tensor([length]), self.alphabet.blank)[0]

    def decode_item(self, log_probs: Tensor, length: int) -> dict[str, Any]:
        """One item's log-probs -> label ids, confidence per character and per word (CTC-aligned
        posteriors), decoding time, and with beam search the scores (n-best when asked)."""
        start = time.perf_counter()
        out: dict[str, Any] = {"decoder": "greedy" if self.beam is None else "beam"}
        if self.beam is None:
            ids = self.decode(log_probs, length)
        else:
            hyps = self.beam.decode(log_probs[:length])
            ids = list(hyps[0].label_ids)
            out.update(score=round(hyps[0].score, 4), lm_score=round(hyps[0].lm_score, 4))
            if len(hyps) > 1:
                out["nbest"] = [{"text": h.text, "score": round(h.score, 4)} for h in hyps]
        out["decode_seconds"] = round(time.perf_counter() - start, 4)
        if self.beam is None:  # the best path aligns itself (O(time), not O(time x labels))
            conf = best_path_confidences(log_probs[:length], self.alphabet.blank)
        else:
            conf = label_confidences(log_probs[:length], ids, self.alphabet.blank)
        view = builders.lm_view(self.domain, self.alphabet)
        boundaries = {
            self.alphabet.symbol(i) for i, t in enumerate(view.tokens) if t in ("<sp>", "</s>")
        }
        out["label_ids"] = ids
        out["confidences"] = [round(c, 4) for c in conf]
        out["words"] = word_confidences([self.alphabet.symbol(i) for i in ids], conf, boundaries)
        return out

    def dataset(self, path: str | Path) -> Any:
        """The items this model would read at ``path`` (sessions, or lines with the model's
        preprocessing)."""
        return builders.domain_spec(self.domain).eval_dataset(
            self.config, Path(path), self.alphabet
        )

    def transcribe(self, path: str | Path, batch_size: int = 16) -> list[dict[str, Any]]:
        """Every item found at ``path`` -> text, label ids, reference and per-char confidence."""
        return self.results(self.dataset(path), batch_size)

    def results(self, dataset: Any, batch_size: int = 16) -> list[dict[str, Any]]:
        """Results for every item, in dataset order. Items with ``widths`` (HTR lines) are decoded
        in width-sorted batches; others (whole sEMG sessions) one by one."""
        n = len(dataset)
        widths = getattr(dataset, "widths", None)
        streamed = (
            self._streamed_results(dataset) if widths is None and self.domain == "emg" else None
        )
        if streamed is not None:
            return streamed
        if widths is None:
            batches = [[i] for i in range(n)]
        else:
            order = sorted(range(n), key=widths.__getitem__)
            batches = [order[j : j + batch_size] for j in range(0, n, batch_size)]
        results: list[dict[str, Any]] = [{} for _ in range(n)]
        for batch in batches:
            for i, result in zip(batch, self._results([dataset[i] for i in batch]), strict=True):
                results[i] = result
        return results

    def _streamed_results(self, dataset: Any) -> list[dict[str, Any]] | None:
        """Whole sEMG sessions decoded in bounded memory where the model allows it (see
        emg/stream.py): TDSConv in chunks, causal recurrent encoders with carried state, others in
        windows when a session is longer than ``stream.LONG_SESSION_S``; the rest read whole.
        None when the items are not whole sessions."""
        from torch.utils.data import ConcatDataset

        from keyscribe.emg.dataset import WindowedSessionDataset
        from keyscribe.emg.stream import (
            can_stream,
            carried_state_log_probs,
            streamed_log_probs,
            whole_session_label,
        )

        parts: list[Any] = (
            list(dataset.datasets) if isinstance(dataset, ConcatDataset) else [dataset]
        )
        whole = [
            isinstance(p, WindowedSessionDataset) and p.window_length == p.num_samples
            for p in parts
        ]
        if not all(whole) or not isinstance(getattr(self.model, "frontend", None), torch.nn.Module):
            return None  # windows of sessions, or the ONNX runtime
        results = []
        for part in parts:
            start = time.perf_counter()
            data = self.config.data
            if can_stream(self.model, part):
                out = streamed_log_probs(self.model, part, data.n_fft, data.hop_length)
            else:
                out = carried_state_log_probs(self, part)
            if out is None:
                results += self._results([part[0]])
            else:
                results.append(
                    self._describe(whole_session_label(part), *out, time.perf_counter() - start)
                )
        return results

    def _result(self, sample: Sample) -> dict[str, Any]:
        return self._results([sample])[0]

    def _results(self, samples: Sequence[Sample]) -> list[dict[str, Any]]:
        """Decode items as one padded batch (HTR lines of similar width batch well)."""
        start = time.perf_counter()
        outputs = self.batch_log_probs(samples)
        elapsed = (time.perf_counter() - start) / len(samples)
        return [
            self._describe(s, lp, n, elapsed) for s, (lp, n) in zip(samples, outputs, strict=True)
        ]

    def _describe(
        self, sample: Sample, log_probs: Tensor, length: int, elapsed: float
    ) -> dict[str, Any]:
        decoded = self.decode_item(log_probs, length)
        ids = decoded.pop("label_ids")
        reference = sample.targets.tolist()
        result: dict[str, Any] = {
            "id": sample.id,
            "text": self.alphabet.decode(ids),
            "label_ids": ids,
            # the exact transcription when the domain keeps one (HTR: it may hold characters
            # outside the charset, which then count as errors)
            "reference_text": sample.text
            if sample.text is not None
            else self.alphabet.decode(reference),
            "reference_ids": reference,
            **decoded,  # decoder, confidences, words, decode_seconds (beam: scores, n-best)
            "seconds": round(elapsed, 4),
        }
        if self.domain == "emg":
            from keyscribe.emg.keys import typed_result

            result["typed_text"] = typed_result(result["text"])
            result["reference_typed_text"] = typed_result(result["reference_text"])
        return result


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


def load_model(path: str | Path) -> Recognizer:
    """Rebuild a model from a keyscribe checkpoint (``.ckpt``: a pickle, so trusted files only),
    a keyscribe ``.safetensors`` file (no pickle), a bundled model's name (``keyscribe models``),
    or an emg2qwerty reference checkpoint."""
    from keyscribe.bundled import resolve
    from keyscribe.model_file import is_model_file

    path = resolve(path)
    if is_model_file(path):
        from keyscribe.sharing import load_model_file

        return load_model_file(path)
    ckpt = _torch_load(path)
    from keyscribe.emg import reference

    if "keyscribe" in ckpt:
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
        state = {
            k[len("model.") :]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")
        }
    elif reference.is_reference_checkpoint(ckpt):
        cfg = config_from_tree(reference.reference_config_tree(ckpt), path)
        alphabet = builders.domain_spec("emg").alphabet(cfg)
        state = reference.convert_state_dict(ckpt["state_dict"])
    else:
        raise CheckpointError(path, "not a keyscribe or emg2qwerty checkpoint")
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


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def model_info(cfg: ExperimentConfig) -> dict[str, Any]:
    """Parameter counts, and MACs per input frame when the domain gives an example input."""
    from keyscribe.models.macs import macs_per_frame

    spec = builders.domain_spec(cfg.domain)
    alphabet = spec.alphabet(cfg)
    model = builders.build_model(cfg, alphabet)
    macs = macs_per_frame(model, spec.example_input(cfg)) if spec.example_input else {}
    return {
        "name": cfg.name,
        "domain": cfg.domain,
        "encoder": cfg.model.encoder.get("kind"),
        "parameters": count_parameters(model),
        "parameters_frontend": count_parameters(model.frontend),
        "parameters_encoder": count_parameters(model.encoder),
        "parameters_head": count_parameters(model.head),
        # the CTC shortcut head trains beside the model; inference and export leave it out
        "parameters_shortcut": count_parameters(model.shortcut) if model.shortcut else 0,
        **macs,
        "classes": alphabet.num_classes,
    }


# -- training -------------------------------------------------------------------------------------


def train(cfg: ExperimentConfig, resume: bool = False) -> dict[str, Any]:
    """Train per ``cfg`` in ``cfg.run_dir``; returns best validation and test metrics.

    With ``resume``, continues from ``<run_dir>/last.ckpt`` when it exists.
    """
    import lightning as L
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    from keyscribe.data.sampling import EpochSeeds
    from keyscribe.training.schedule_clock import ScheduleClock
    from keyscribe.training.system import CTCSystem
    from keyscribe.training.trainer import build_trainer

    run_dir = cfg.run_dir
    threads = cfg.trainer.num_threads
    workers = getattr(cfg.data, "num_workers", 0)
    if threads == 0 and workers > 0:
        # Loader processes need cores too: with more compute threads than free cores, OpenMP's
        # spin-waiting made quick-start steps ~5x slower on 2 cores.
        threads = max(1, (os.cpu_count() or 1) - workers)
    if threads > 0:
        torch.set_num_threads(threads)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    spec = builders.domain_spec(cfg.domain)
    alphabet = spec.alphabet(cfg)
    model = builders.build_model(cfg, alphabet)
    init = initialise_from(model, alphabet, cfg.init_from) if cfg.init_from else None
    datamodule = builders.build_datamodule(cfg, alphabet)
    datamodule.setup()
    run_dir.mkdir(parents=True, exist_ok=True)
    # under torchrun or srun every rank starts here at once: only rank 0 may take another
    # writer's temporary file for a stale one
    rank = getattr(
        rank_zero_only, "rank", 0
    )  # Lightning sets it from RANK / LOCAL_RANK / SLURM_PROCID
    stale_files = remove_stale_temporaries(run_dir) if rank == 0 else []
    for stale in stale_files:  # left by a writer killed mid-write
        log.info("removed %s (a write interrupted by a killed run)", stale)
    earlier = [name for name in ("best.ckpt", "last.ckpt") if (run_dir / name).exists()]
    if earlier and not resume and rank == 0:
        log.warning(
            "%s: holds %s of an earlier run; this run starts over and replaces them"
            " (--resume continues that run instead)",
            run_dir,
            " and ".join(earlier),
        )
    atomic_write_text(run_dir / "config.yaml", to_yaml(cfg))
    system = CTCSystem(
        model,
        alphabet,
        cfg.optim,
        ScheduleClock.from_config(cfg.trainer),
        checkpoint_meta={"config": to_plain(cfg), "domain": cfg.domain, "format": 1},
        shortcut_weight=cfg.model.shortcut.weight,  # unused when the model has no shortcut
    )
    trainer = build_trainer(cfg.trainer, run_dir, [EpochSeeds(cfg.seed)])
    last = run_dir / "last.ckpt"
    ckpt_path = str(last) if resume and last.exists() else None
    start = time.perf_counter()
    trainer.fit(system, datamodule=datamodule, ckpt_path=ckpt_path)
    wall = time.perf_counter() - start
    best = run_dir / "best.ckpt"
    results: dict[str, Any] = {
        "run_dir": str(run_dir),
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "train_seconds": round(wall, 1),
        "parameters": count_parameters(model),
        "best_checkpoint": str(best) if best.exists() else None,
    }
    if init is not None:
        results["init_from"] = {"checkpoint": cfg.init_from, **init}
    train_cer = trainer.callback_metrics.get("train/CER")
    results["train_cer"] = round(float(train_cer), 4) if train_cer is not None else None
    if not trainer.is_global_zero:  # DDP: rank 0 alone scores the run and writes results.json
        return {**results, "global_rank": trainer.global_rank}
    # A run stopped by its time budget before its first validation has no best.ckpt: score the
    # last weights instead, and say so.
    scored = best if best.exists() else run_dir / "last.ckpt"
    if scored.exists():
        results["scored_checkpoint"] = str(scored)
        recognizer = load_model(scored)
        for split in ("val", "test"):
            if split in datamodule.datasets:
                scores = evaluate_dataset(recognizer, datamodule.datasets[split], split)
                results[f"{split}_cer"] = scores["cer"]
                results[f"{split}_wer"] = scores["wer"]
    atomic_write_text(run_dir / "results.json", json.dumps(results, indent=2))
    return results


# -- evaluation -----------------------------------------------------------------------------------


def evaluate_dataset(recognizer: Recognizer, dataset: Any, name: str = "data") -> dict[str, Any]:
    chars, wrds = EditCounts(), EditCounts()
    items = []
    start = time.perf_counter()
    htr = recognizer.domain == "htr"
    decode_seconds = 0.0
    for result in recognizer.results(dataset):
        decode_seconds += result["decode_seconds"]
        if htr:  # characters of the exact text: ones outside the charset count as errors
            chars.add(list(result["reference_text"]), list(result["text"]))
        else:
            chars.add(result["reference_ids"], result["label_ids"])
        wrds.add(words(result["reference_text"]), words(result["text"]))
        items.append({k: result[k] for k in ("id", "text", "reference_text")})
    out: dict[str, Any] = {"data": name, "items": len(items)}
    if htr:
        out["lines"] = len(items)
    out.update(chars.as_dict("cer"))
    out.update(wrds.as_dict("wer"))
    out["seconds"] = round(time.perf_counter() - start, 3)
    out["decoder"] = "greedy" if recognizer.beam is None else "beam"
    out["decode_seconds"] = round(decode_seconds, 3)  # of which decoding (search, confidences)
    out["results"] = items
    return out


def evaluate(
    checkpoint: str | Path,
    data: str | Path,
    decoder: str = "greedy",
    lm: str | Path | None = None,
    beam_options: Any = None,
    precision: str = "fp32",
) -> dict[str, Any]:
    """Score a checkpoint on a session file / folder (sEMG) or a lines folder (HTR), decoding with
    ``decoder`` ("greedy" or "beam", optionally with the character LM ``lm``); the network runs
    in ``precision`` (fp32, bf16 or int8)."""
    data = Path(data)
    # before loading the model and LM: a wrong path should fail fast (a glob is read later)
    if not data.exists() and not glob.has_magic(str(data)):
        raise DataError(data, "not found")
    recognizer = load_model(checkpoint).use_decoder(decoder, lm, beam_options)
    recognizer.use_precision(precision)
    spec = builders.domain_spec(recognizer.domain)
    # HTR lines to score need their transcription: a line without one is skipped by name, not
    # scored against an empty reference
    need_text = {"need_text": True} if recognizer.domain == "htr" else {}
    dataset = spec.eval_dataset(recognizer.config, data, recognizer.alphabet, **need_text)
    return {**evaluate_dataset(recognizer, dataset, str(data)), "precision": precision}


def transcribe(
    checkpoint: str | Path,
    path: str | Path,
    decoder: str = "greedy",
    lm: str | Path | None = None,
    beam_options: Any = None,
    precision: str = "fp32",
) -> list[dict[str, Any]]:
    recognizer = load_model(checkpoint).use_decoder(decoder, lm, beam_options)
    return recognizer.use_precision(precision).transcribe(path)


def stream(
    checkpoint: str | Path,
    session: str | Path,
    chunk_ms: float = 40.0,
    options: Any = None,
    realtime: bool = False,
    on_text: Any = None,
    precision: str = "fp32",
) -> dict[str, Any]:
    """Replay an sEMG session in chunks of ``chunk_ms`` through a streaming recognizer (carried
    state, see emg/streaming.py): per-chunk compute time, latency, CER vs the reference and vs
    offline decoding. ``options``: a ``StreamingOptions``; ``on_text`` gets each new piece of text."""
    session = Path(session)
    if not session.exists():  # before loading the model: a wrong path should fail fast
        raise DataError(session, "file not found")
    from keyscribe.emg.streaming import StreamingOptions, replay_session

    recognizer = load_model(checkpoint).use_precision(precision)
    return replay_session(
        recognizer, session, chunk_ms, options or StreamingOptions(), realtime, on_text
    )


def export(
    checkpoint: str | Path,
    out: str | Path,
    format: str = "onnx",
    tolerance: float | None = None,
    card: str | Path | None = None,
    precision: str = "fp32",
) -> dict[str, Any]:
    """Export a checkpoint's network to ONNX (dynamic batch and time/width axes), checked
    against torch with ONNX Runtime on two random batches of different lengths (``precision``
    "int8" quantises the graph's MatMul/Gemm weights, checked against fp32 torch, default
    tolerance 0.5); or its weights, config, charset and model card (``card``, a markdown file)
    to ``.safetensors``."""
    from keyscribe.export import EXPORT_TOLERANCE, export_onnx, parity_batches

    if format == "safetensors":
        from keyscribe.sharing import export_safetensors

        return export_safetensors(checkpoint, out, card)
    if format != "onnx":
        raise ConfigError(None, f"export format must be 'onnx' or 'safetensors', got {format!r}")
    if precision not in EXPORT_TOLERANCE:
        raise ConfigError(
            None,
            f"export precision must be fp32 or int8, got {precision!r}"
            + (" (ONNX Runtime's CPU provider has no bf16 kernels)" if precision == "bf16" else ""),
        )
    tolerance = EXPORT_TOLERANCE[precision] if tolerance is None else tolerance
    recognizer = load_model(checkpoint)
    spec = builders.domain_spec(recognizer.domain)
    example = spec.example_input(recognizer.config) if spec.example_input else None
    if example is None:
        raise CheckpointError(
            checkpoint, f"domain {recognizer.domain!r} gives no example input to export with"
        )
    try:
        metadata = {
            "keyscribe.alphabet": json.dumps(recognizer.alphabet.to_dict(), ensure_ascii=False),
            "keyscribe.config": json.dumps(to_plain(recognizer.config), ensure_ascii=False),
        }
        result = export_onnx(
            recognizer.model, parity_batches(example), out, tolerance, precision == "int8", metadata
        )
    except ValueError as exc:
        raise CheckpointError(checkpoint, f"ONNX export failed its parity check: {exc}") from None
    return {
        "checkpoint": str(checkpoint),
        "out": str(result.path),
        "format": format,
        "precision": precision,
        "max_abs_diff": result.max_abs_diff,
        "tolerance": tolerance,
        "parity_shapes": [list(s) for s in result.parity_shapes],
    }


def tune_decoder(
    checkpoint: str | Path,
    data: str | Path,
    lm: str | Path | None = "auto",
    lm_weights: Sequence[float] = (0.5, 1.0, 2.0, 3.0),
    insertion_bonuses: Sequence[float] = (0.0, 1.0, 2.0, 3.0),
    beam_options: Any = None,
) -> dict[str, Any]:
    """Grid-search beam search's LM weight and insertion bonus on the validation split of
    ``data`` (the checkpoint's data config with ``data.root`` = data); the network runs once."""
    from dataclasses import replace

    recognizer = load_model(checkpoint).use_decoder("beam", lm, beam_options)
    cfg = config_from_tree(
        apply_overrides(to_plain(recognizer.config), [f"data.root={data}"]), data
    )
    splits = builders.domain_spec(recognizer.domain).datasets(cfg, recognizer.alphabet)
    if "val" not in splits:
        raise DataError(data, "no validation split to tune on")
    dataset = splits["val"]
    htr = recognizer.domain == "htr"
    items = []
    for i in range(len(dataset)):
        sample = dataset[i]
        log_probs, length = recognizer.log_probs(sample)
        reference = reference_tokens(sample.text if htr else None, sample.targets.tolist())
        items.append((log_probs[:length], length, reference))

    def cer(decode: Any) -> float:
        counts = EditCounts()
        for log_probs, length, reference in items:
            ids = decode(log_probs, length)
            counts.add(reference, hypothesis_tokens(ids, recognizer.alphabet, htr))
        return round(counts.rate, 4)

    beam = recognizer.beam
    base = beam.options  # beam_options as use_decoder resolved them
    start = time.perf_counter()
    greedy = cer(
        lambda lp, n: decode_greedy(lp[None], torch.tensor([n]), recognizer.alphabet.blank)[0]
    )
    grid = []
    for weight in lm_weights:
        for bonus in insertion_bonuses:
            beam.options = replace(base, lm_weight=weight, insertion_bonus=bonus, nbest=1)
            grid.append(
                {"lm_weight": weight, "insertion_bonus": bonus, "cer": cer(recognizer.decode)}
            )
    best = min(grid, key=lambda g: g["cer"])
    return {
        "checkpoint": str(checkpoint),
        "data": str(data),
        "lm": None if beam.lm_path is None else str(beam.lm_path),
        "items": len(items),
        "greedy_cer": greedy,
        "best": best,
        "grid": grid,
        "beam_size": base.beam_size,
        "seconds": round(time.perf_counter() - start, 1),
    }
