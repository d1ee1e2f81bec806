"""Numeric precision of inference (fp32, bf16, int8) and what this CPU does natively.

- ``fp32``: the model as trained.
- ``bf16``: the network runs under CPU autocast in bfloat16 (matmuls and convolutions in bf16,
  reductions such as LayerNorm and the log-softmax in fp32). Fast only where the CPU has bf16
  instructions (x86 ``avx512_bf16`` or AMX, Arm ``bf16``); elsewhere oneDNN emulates them and
  bf16 is usually slower than fp32 (:func:`cpu_support` says which).
- ``int8``: dynamic quantisation of the encoder's and the head's ``nn.Linear`` layers (int8
  weights, activations quantised per batch): fp32 everywhere else.

The log-probabilities a model returns stay fp32 in every precision (``CTCModel`` computes its
log-softmax in fp32), so decoding and scoring never see bf16 values.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from keyscribe.errors import ConfigError

PRECISIONS = ("fp32", "bf16", "int8")

# /proc/cpuinfo flags of CPUs that compute in bf16 natively (x86: AVX-512 BF16, AMX; Arm: BF16)
BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


@dataclass(frozen=True)
class CpuSupport:
    """What this CPU offers the precisions: torch's SIMD level, native bf16, int8 dot products."""

    capability: str  # torch.backends.cpu.get_cpu_capability(): "AVX512", "AVX2", "DEFAULT", ...
    bf16_flags: tuple[str, ...]  # the native-bf16 flags present
    vnni: bool  # avx512_vnni / avx_vnni: int8 dot products (fast int8 matmuls)

    @property
    def bf16_native(self) -> bool:
        return bool(self.bf16_flags)

    def bf16_note(self) -> str:
        """One line for bench output and logs: what bf16 gets on this CPU."""
        if self.bf16_native:
            return (
                f"bf16: native on this CPU ({', '.join(self.bf16_flags)}; torch {self.capability})"
            )
        return (
            f"bf16: NOT native on this CPU (no {' / '.join(BF16_FLAGS[:2])}; torch "
            f"{self.capability}): bf16 is emulated through fp32 and usually slower than fp32 here; "
            "use fp32 (or int8) on this machine"
        )


@functools.lru_cache(maxsize=1)
def cpu_support() -> CpuSupport:
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags.update(line.split(":", 1)[1].split())
                break
    except OSError:  # not Linux: no flags to read, so bf16 counts as not native
        pass
    return CpuSupport(
        capability=torch.backends.cpu.get_cpu_capability(),
        bf16_flags=tuple(f for f in BF16_FLAGS if f in flags),
        vnni=bool({"avx512_vnni", "avx_vnni"} & flags),
    )


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ConfigError(
            None, f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"
        )
    return precision


def quantized(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose encoder and head ``nn.Linear`` layers are int8 (dynamic
    quantisation). The front end keeps fp32: its first layer's weights are used directly (the
    rotation-invariant MLP rolls them), not through the module."""
    names = {
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and (name == "head" or name.startswith("encoder."))
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's notes that the quantised tensor API is aging
        return torch.ao.quantization.quantize_dynamic(model, names, dtype=torch.qint8)


CAST_ONCE = (nn.Linear, nn.Conv1d, nn.Conv2d)
"""Modules whose weights a bf16 copy holds in bf16: exactly these types, not subclasses such as
attention's output projection, whose callers may mix it with fp32 weights."""


def autocast_bf16(model: nn.Module) -> list[RemovableHandle]:
    """Make every call of ``model`` and of each of its modules (the streaming code calls the front
    end, encoder blocks and head one by one) run under bf16 autocast on the device of its first
    tensor argument (CPU or CUDA). Returns the hook handles (``handle.remove()`` undoes it)."""
    handles: list[RemovableHandle] = []
    for module in model.modules():
        contexts: list[contextlib.AbstractContextManager[None]] = []

        def enter(_module: nn.Module, args: tuple[object, ...], contexts=contexts) -> None:
            device = next((a.device.type for a in args if isinstance(a, torch.Tensor)), "cpu")
            context = torch.autocast(device, dtype=torch.bfloat16)
            context.__enter__()
            contexts.append(context)

        def leave(_module: nn.Module, _args: object, _out: object, contexts=contexts) -> None:
            contexts.pop().__exit__(None, None, None)

        handles.append(module.register_forward_pre_hook(enter))
        handles.append(module.register_forward_hook(leave, always_call=True))
    return handles


def bf16_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` for bf16 inference: the weights of its linear and convolution layers
    cast to bf16 once (autocast would cast them again on every call: as much work as the network
    itself on a streaming chunk of a few frames), everything under :func:`autocast_bf16`. Norm
    layers keep fp32 parameters and the model's log-softmax stays fp32."""
    model = copy.deepcopy(model)
    for module in model.modules():
        if type(module) in CAST_ONCE:
            module.to(torch.bfloat16)
    autocast_bf16(model)
    return model


def with_precision(model: nn.Module, precision: str) -> nn.Module:
    """``model`` ready to run in ``precision``: itself (fp32), or a copy that runs in bf16
    (:func:`bf16_copy`) or has int8 Linear layers (int8); ``model`` itself is never changed."""
    check_precision(precision)
    if precision == "int8":
        return quantized(model)
    if precision == "bf16":
        return bf16_copy(model)
    return model
