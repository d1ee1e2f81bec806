"""Where a model runs at inference: ``--device cpu|cuda|auto`` (training uses Lightning's
``trainer.accelerator`` / ``devices`` instead)."""

from __future__ import annotations

import torch

from keyscribe.errors import ConfigError

DEVICES = ("cpu", "cuda", "auto")


def resolve_device(name: str) -> torch.device:
    """``"auto"``: the first CUDA GPU when torch sees one, else the CPU; ``"cuda"`` (or
    ``"cuda:N"``) must exist; ``"cpu"`` always does."""
    base = name.split(":", 1)[0]
    if base not in DEVICES or (base != "cuda" and ":" in name):
        raise ConfigError(None, f"--device must be cpu, cuda[:N] or auto, got {name!r}")
    if base == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if base == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(None, "--device cuda: torch sees no CUDA GPU here (try --device auto)")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                None, f"--device {name}: torch sees {torch.cuda.device_count()} CUDA GPU(s)"
            )
        return device
    return torch.device("cpu")


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (the CPU for one without any)."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")
