"""Load checkpoints saved by the emg2qwerty reference code (Lightning ``TDSConvCTCModule``).

The reference stores its network as ``model = Sequential(SpectrogramNorm, MultiBandRotation-
InvariantMLP, Flatten, TDSConvEncoder, Linear, LogSoftmax)``; our modules keep the same inner
names, so conversion is a prefix rename plus the hyper-parameters it saved.
"""

from __future__ import annotations

from typing import Any

from keyscribe.emg.session import CHANNELS_PER_BAND

_PREFIXES = {
    "model.0.": "frontend.norm.",
    "model.1.": "frontend.mlp.",
    "model.3.tds_conv_blocks.": "encoder.blocks.",
    "model.4.": "head.",
}


def is_reference_checkpoint(ckpt: dict[str, Any]) -> bool:
    state = ckpt.get("state_dict", {})
    return "keyscribe" not in ckpt and "model.0.batch_norm.weight" in state


def convert_state_dict(state: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in state.items():
        for old, new in _PREFIXES.items():
            if key.startswith(old):
                out[new + key[len(old) :]] = value
                break
    return out


def reference_config_tree(ckpt: dict[str, Any]) -> dict[str, Any]:
    """Our config tree for the network a reference checkpoint describes."""
    hp = dict(ckpt.get("hyper_parameters", {}))
    in_features = int(hp.get("in_features", 528))
    freq_bins = in_features // CHANNELS_PER_BAND
    return {
        "name": "emg2qwerty-reference",
        "domain": "emg",
        "data": {"n_fft": (freq_bins - 1) * 2, "hop_length": 16},
        "model": {
            "frontend": {"kind": "spectrogram_mlp", "mlp_features": list(hp.get("mlp_features", [384]))},
            "encoder": {
                "kind": "tdsconv",
                "block_channels": list(hp.get("block_channels", [24, 24, 24, 24])),
                "kernel_width": int(hp.get("kernel_width", 32)),
            },
        },
    }
