"""Figures of a trained HTR model: where deformable kernels sample (the paper's Figures 1 and 3)
and a qualitative grid of lines with ground truth and prediction (its Figures 6 and 7).

matplotlib is imported inside the functions (the Agg backend; no display needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from keyscribe.errors import CheckpointError
from keyscribe.htr.transforms import prepare_line, to_tensor


def deformable_layers(model: torch.nn.Module) -> list[tuple[int, torch.nn.Module, tuple[int, int]]]:
    """Deformable convolutions of a line front end in order: (conv index, module, (sy, sx)),
    where (sy, sx) is the input-pixel size of one cell of the map that conv reads."""
    from keyscribe.models.deformable import DeformConv2d

    frontend: Any = model.frontend
    found: list[tuple[int, torch.nn.Module, tuple[int, int]]] = []
    sy = sx = 1
    for index, (layer, block) in enumerate(zip(frontend.layers, frontend.blocks, strict=True)):
        conv = block[0]
        if isinstance(conv, DeformConv2d):
            found.append((index, conv, (sy, sx)))
        if layer.pool is not None:
            stride = layer.pool_stride or layer.pool
            sy, sx = sy * stride[0], sx * stride[1]
    return found


def sampling_points(
    conv: Any, offsets: np.ndarray, scale: tuple[int, int], y: int, x: int
) -> tuple[np.ndarray, np.ndarray]:
    """Regular and deformed sampling points of output cell (y, x), in input-image pixels.

    offsets: ``(2 * kh * kw, H_out, W_out)`` with (dy, dx) per kernel cell k = i * kw + j."""
    kh, kw = conv.kernel_size if isinstance(conv.kernel_size, tuple) else (conv.kernel_size,) * 2
    pad = conv.padding if isinstance(conv.padding, tuple) else (conv.padding,) * 2
    ii, jj = np.meshgrid(np.arange(kh), np.arange(kw), indexing="ij")
    base_y = y - pad[0] + ii.ravel()
    base_x = x - pad[1] + jj.ravel()
    dy = offsets[0::2, y, x]
    dx = offsets[1::2, y, x]
    sy, sx = scale

    def to_image(py: np.ndarray, px: np.ndarray) -> np.ndarray:
        return np.stack([(px + 0.5) * sx - 0.5, (py + 0.5) * sy - 0.5], axis=1)  # (K, 2) as (x, y)

    return to_image(base_y, base_x), to_image(base_y + dy, base_x + dx)


def offset_magnitude(offsets: np.ndarray) -> np.ndarray:
    """Offsets ``(2K, H_out, W_out)`` -> the summed length of each cell's K offsets ``(H_out, W_out)``."""
    return np.sqrt(offsets[0::2] ** 2 + offsets[1::2] ** 2).sum(axis=0)


def strongest_cells(magnitude: np.ndarray, points: int) -> list[tuple[int, int]]:
    """The ``points`` output cells (y, x) with the largest offsets, spread along the line (at most
    one per 1/points of its width); cells on the map border deform to dodge the zero padding, so
    only inner ones are chosen."""
    inner = np.zeros_like(magnitude)
    inner[1:-1, 1:-1] = magnitude[1:-1, 1:-1]
    taken: list[tuple[int, int]] = []
    min_gap = max(1, magnitude.shape[1] // (2 * points))
    for f in np.argsort(inner.ravel())[::-1]:
        y, x = divmod(int(f), magnitude.shape[1])
        if all(abs(x - tx) >= min_gap for _, tx in taken):
            taken.append((y, x))
        if len(taken) == points:
            break
    return taken


def show_offsets(
    recognizer: Any, image_path: Path, out: Path, layer: int | None = None, points: int = 12
) -> dict[str, Any]:
    """Draw a line with the regular (blue) and deformed (red) sampling grids of one deformable
    layer at the ``points`` output cells whose offsets are largest, plus (below) the summed offset
    magnitude of every cell (paper Figures 1 and 3). Returns what was drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from keyscribe.htr.images import open_image

    layers = deformable_layers(recognizer.model)
    if not layers:
        raise CheckpointError(
            recognizer.path, "this model has no deformable convolution (train a DefConv config)"
        )
    chosen = (
        layers[0] if layer is None else next((entry for entry in layers if entry[0] == layer), None)
    )
    if chosen is None:
        raise CheckpointError(
            recognizer.path,
            f"conv {layer} is not deformable; deformable convs: {[e[0] for e in layers]}",
        )
    index, conv, scale = chosen
    data = recognizer.config.data
    line = prepare_line(open_image(image_path), data.height, data.normalize)
    inputs = to_tensor(line)[None]  # (1, width, 1, height)
    recognizer.model.eval()
    with torch.inference_mode():
        log_probs, lengths = recognizer.model(inputs, torch.tensor([inputs.shape[1]]))
    ids = recognizer.decode(log_probs[0], int(lengths[0]))
    last: torch.Tensor = conv.last_offsets  # type: ignore[assignment]
    offsets = last[0].detach().float().cpu().numpy()  # (2K, H_out, W_out)
    magnitude = offset_magnitude(offsets)
    taken = strongest_cells(magnitude, points)
    h, w = line.shape
    fig, axes = plt.subplots(
        2, 1, figsize=(min(24, max(6, w / 40)), 2 * max(1.6, h / 40) + 0.6), squeeze=False
    )
    ax = axes[0, 0]
    ax.imshow(line, cmap="gray", vmin=0, vmax=255)
    for y, x in taken:
        regular, deformed = sampling_points(conv, offsets, scale, y, x)
        ax.scatter(
            regular[:, 0],
            regular[:, 1],
            s=6,
            c="tab:blue",
            label="standard" if (y, x) == taken[0] else None,
        )
        ax.scatter(
            deformed[:, 0],
            deformed[:, 1],
            s=6,
            c="tab:red",
            label="deformable" if (y, x) == taken[0] else None,
        )
    ax.set_title(
        f"conv {index} sampling grids (blue: standard, red: deformable); prediction: {recognizer.alphabet.decode(ids)}",
        fontsize=8,
    )
    ax.set_axis_off()
    ax2 = axes[1, 0]
    ax2.imshow(line, cmap="gray", vmin=0, vmax=255)
    ax2.imshow(
        magnitude,
        cmap="inferno",
        alpha=0.6,
        extent=(
            -0.5,
            magnitude.shape[1] * scale[1] - 0.5,
            magnitude.shape[0] * scale[0] - 0.5,
            -0.5,
        ),
    )
    ax2.set_title(
        f"summed offset magnitude per cell (max {magnitude.max():.2f} px of the conv's input map)",
        fontsize=8,
    )
    ax2.set_axis_off()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=150)
    plt.close(fig)
    return {
        "out": str(out),
        "layer": index,
        "deformable_layers": [e[0] for e in layers],
        "cells": len(taken),
        "max_offset_magnitude": float(magnitude.max()),
        "mean_offset_magnitude": float(magnitude.mean()),
        "text": recognizer.alphabet.decode(ids),
    }


def line_grid(
    results: list[dict[str, Any]], images: list[np.ndarray], out: Path, title: str = ""
) -> Path:
    """One row per line: the image, then ``GT:`` and ``Pred:`` with the line's CER."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rapidfuzz.distance import Levenshtein

    n = len(results)
    fig, axes = plt.subplots(n, 1, figsize=(12, 1.35 * n + 0.4), squeeze=False)
    for ax, result, image in zip(axes[:, 0], results, images, strict=True):
        ref, hyp = result["reference_text"] or "", result["text"]
        cer = 100.0 * Levenshtein.distance(ref, hyp) / max(1, len(ref))
        ax.imshow(image, cmap="gray", vmin=0, vmax=255, aspect="equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(
            f"GT:   {ref}\nPred: {hyp}   (CER {cer:.1f} %)",
            fontsize=8,
            loc="left",
            family="DejaVu Sans",
        )
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
