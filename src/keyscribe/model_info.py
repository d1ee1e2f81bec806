"""What a config's model costs: parameters per part, and MACs per input frame."""

from __future__ import annotations

from typing import Any

import torch

from keyscribe import builders
from keyscribe.config import ExperimentConfig
from keyscribe.domain import get_domain


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def model_info(cfg: ExperimentConfig) -> dict[str, Any]:
    """Parameter counts, and MACs per input frame when the domain gives an example input."""
    from keyscribe.models.macs import macs_per_frame

    spec = get_domain(cfg.domain)
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
