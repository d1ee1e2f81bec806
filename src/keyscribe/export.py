"""ONNX export of a CTCModel (front end + encoder + head) and an ONNX Runtime model for inference.

The graph maps ``inputs`` (sEMG: ``(batch, frames, band, channel, freq)`` spectrograms; HTR:
``(batch, width, 1, height)`` lines) and ``lengths (batch,)`` to ``log_probs (batch, frames',
classes)`` and ``output_lengths (batch,)``, with batch and time/width axes dynamic. It is traced
(``torch.onnx.export(dynamo=False)``, opset 17): the TorchScript exporter handles packed RNNs,
and opset 16+ has GridSample for deformable convolutions.

Deformable convolutions are exported through :class:`TraceableDeformConv2d`, the ``grid_sample``
formulation of ``models.deformable`` with its sampling grid computed from the input's shape inside
the graph (the eager code caches it per shape as constants, which would freeze the width).

Limits of the traced graph: checks in eager code are not in it. An HTR batch narrower than the
stack's minimum width (which torch pads with paper) fails in ONNX Runtime instead, and an input
too short to give one output frame is not named (torch raises ``InputTooShortError``).
"""

from __future__ import annotations

import copy
import io
import logging
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from keyscribe.atomic import atomic_write_bytes
from keyscribe.errors import CheckpointError
from keyscribe.models.ctc import CTCModel
from keyscribe.models.deformable import DeformConv2d

OPSET = 17
# default ONNX Runtime vs fp32 torch tolerance on log-probs, per export precision
EXPORT_TOLERANCE = {"fp32": 1e-3, "int8": 0.5}
INPUT_NAMES = ["inputs", "lengths"]
OUTPUT_NAMES = ["log_probs", "output_lengths"]


@dataclass(frozen=True)
class ExportResult:
    path: Path
    max_abs_diff: float  # ONNX Runtime vs torch log-probs over the parity batches (valid frames)
    parity_shapes: tuple[tuple[int, ...], ...]  # input shapes checked (two time/width lengths)


class TraceableDeformConv2d(nn.Module):
    """Same computation as ``DeformConv2d`` (grid_sample path), traceable with dynamic shapes.

    x: (batch, channels, height, width) -> (batch, out_channels, height', width')."""

    def __init__(self, conv: DeformConv2d) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: Tensor) -> Tensor:
        c = self.conv
        offset = c.offset_conv(x)  # (batch, 2 * K, H_out, W_out), K = kh * kw cells as (dy, dx)
        n, ch, h, w = x.shape
        o, _, kh, kw = c.weight.shape
        ho, wo, k = offset.shape[2], offset.shape[3], kh * kw
        ky = (torch.arange(kh) * c.dilation[0]).repeat_interleave(kw).to(x.dtype)  # (K,)
        kx = (torch.arange(kw) * c.dilation[1]).repeat(kh).to(x.dtype)
        py = torch.arange(ho).to(x.dtype) * c.stride[0] - c.padding[0]  # (H_out,)
        px = torch.arange(wo).to(x.dtype) * c.stride[1] - c.padding[1]  # (W_out,)
        off = offset.reshape(n, k, 2, ho, wo)
        y = ky[:, None, None] + py[None, :, None] + off[:, :, 0]  # (batch, K, H_out, W_out)
        xs = kx[:, None, None] + px[None, None, :] + off[:, :, 1]
        # align_corners=False: pixel p sits at (2p + 1) / size - 1
        grid = torch.stack(((2 * xs + 1) / w - 1, (2 * y + 1) / h - 1), dim=-1)
        grid = grid.reshape(n, k * ho, wo, 2)
        cols = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        cols = cols.reshape(n, ch * k, ho * wo)  # (batch, C*K, L), the order of weight.view(O, C*K)
        out = torch.matmul(c.weight.reshape(o, ch * k), cols)
        if c.bias is not None:
            out = out + c.bias.view(1, o, 1)
        return out.reshape(n, o, ho, wo)


def exportable(model: CTCModel) -> CTCModel:
    """An eval-mode copy of ``model`` with deformable convolutions in their traceable form."""
    model = copy.deepcopy(model).eval()
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, DeformConv2d):
                setattr(module, child_name, TraceableDeformConv2d(child))
    return model


def onnx_bytes(model: CTCModel, inputs: Tensor, lengths: Tensor) -> bytes:
    """Trace ``model`` on one example batch -> the ONNX model, batch and axis 1 dynamic."""
    buffer = io.BytesIO()
    axes = {
        "inputs": {0: "batch", 1: "time"},
        "lengths": {0: "batch"},
        "log_probs": {0: "batch", 1: "frames"},
        "output_lengths": {0: "batch"},
    }
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on shape checks that hold for any length
        torch.onnx.export(
            exportable(model),
            (inputs, lengths),
            buffer,  # type: ignore[arg-type]  # the TorchScript exporter writes file objects too
            input_names=INPUT_NAMES,
            output_names=OUTPUT_NAMES,
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    return buffer.getvalue()


def _ort_session(source: str | Path | bytes):  # -> onnxruntime.InferenceSession
    try:
        import onnxruntime as ort
    except ImportError:
        where = source if not isinstance(source, bytes) else None
        raise CheckpointError(
            where, "onnxruntime is not installed (pip install 'keyscribe[onnx]')"
        ) from None
    options = ort.SessionOptions()
    options.log_severity_level = 3  # no warnings about unused initialisers
    # as many threads as torch (``--threads``): ONNX Runtime's own default is every core
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    if isinstance(source, Path | str):
        if not Path(source).is_file():
            raise CheckpointError(source, "ONNX model not found")
        source = str(source)
    try:
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph classes
        where = source if isinstance(source, str) else None
        raise CheckpointError(
            where, f"not a loadable ONNX model ({exc.__class__.__name__})"
        ) from None


def parity(model: CTCModel, session, batches: list[tuple[Tensor, Tensor]]) -> float:
    """Max abs difference of ONNX Runtime vs torch log-probs on valid frames; lengths must match."""
    worst = 0.0
    model = model.eval()
    for inputs, lengths in batches:
        with torch.no_grad():
            expected, expected_lengths = model(inputs, lengths)
        got, got_lengths = session.run(None, {"inputs": inputs.numpy(), "lengths": lengths.numpy()})
        if got.shape != tuple(expected.shape) or got_lengths.tolist() != expected_lengths.tolist():
            raise RuntimeError(
                f"ONNX output shape {got.shape} / lengths {got_lengths.tolist()} differ from torch "
                f"{tuple(expected.shape)} / {expected_lengths.tolist()} for input {tuple(inputs.shape)}"
            )
        for i, n in enumerate(expected_lengths.tolist()):
            diff = (torch.from_numpy(got[i, :n]) - expected[i, :n]).abs().max().item() if n else 0.0
            worst = max(worst, diff)
    return worst


def quantized_onnx(data: bytes) -> bytes:
    """ONNX Runtime's dynamic quantisation of a graph: MatMul and Gemm weights in int8,
    activations quantised at run time (int8 dot products where the CPU has VNNI)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="keyscribe-int8-") as tmp:
        source, target = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        source.write_bytes(data)
        logging.disable(logging.WARNING)  # its advice to pre-process the graph, on the root logger
        try:
            quantize_dynamic(
                source, target, op_types_to_quantize=["MatMul", "Gemm"], weight_type=QuantType.QInt8
            )
        finally:
            logging.disable(logging.NOTSET)
        return target.read_bytes()


def export_onnx(
    model: CTCModel,
    batches: list[tuple[Tensor, Tensor]],
    out: str | Path,
    tolerance: float = 1e-3,
    int8: bool = False,
    metadata: dict[str, str] | None = None,
) -> ExportResult:
    """Export on ``batches[0]`` (``int8``: then quantise it, see :func:`quantized_onnx`), check
    ONNX Runtime against torch on every batch (use two time lengths to prove the dynamic axes),
    then write ``out`` atomically. ``metadata`` goes into the model's ``metadata_props`` (the
    charset, so the graph's classes can be read back as text). Raises ``ValueError`` when the
    difference exceeds ``tolerance`` (nothing is written then)."""
    data = onnx_bytes(model, *batches[0])
    if int8:
        data = quantized_onnx(data)
    if metadata:
        import onnx

        proto = onnx.load_from_string(data)
        onnx.helper.set_model_props(proto, metadata)
        data = proto.SerializeToString()
    worst = parity(model, _ort_session(data), batches)
    if not worst <= tolerance:
        raise ValueError(
            f"ONNX Runtime differs from torch by {worst:.3g} > tolerance {tolerance:g}"
        )
    atomic_write_bytes(out, data)
    return ExportResult(Path(out), worst, tuple(tuple(b[0].shape) for b in batches))


class OnnxCTCModel(nn.Module):
    """A CTCModel's ONNX graph run by ONNX Runtime, called like the CTCModel:
    inputs, lengths (batch,) -> log-probs (batch, frames', classes), lengths (batch,)."""

    # no torch front end or encoder to inspect: code that looks at them (emg/stream.can_stream)
    # takes the whole-item path
    frontend = None
    encoder = None

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.session = _ort_session(self.path)

    def forward(self, inputs: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        feeds = {"inputs": inputs.float().numpy(), "lengths": lengths.long().numpy()}
        log_probs, out_lengths = self.session.run(None, feeds)
        return torch.from_numpy(log_probs), torch.from_numpy(out_lengths)


def parity_batches(example: Tensor, seed: int = 0) -> list[tuple[Tensor, Tensor]]:
    """Two random batches shaped like ``example`` (1, time, ...): (2, time) with one shorter item,
    and (3, about 2/3 time), so a graph with a frozen time/width axis fails the check."""
    gen = torch.Generator().manual_seed(seed)
    t = example.shape[1]
    t2 = max(2 * t // 3, 1)
    batches = []
    for n, length, lengths in ((2, t, [t, max(3 * t // 4, 1)]), (3, t2, [t2, t2, max(t2 - 5, 1)])):
        inputs = torch.rand((n, length, *example.shape[2:]), generator=gen)
        batches.append((inputs, torch.tensor(lengths, dtype=torch.long)))
    return batches
