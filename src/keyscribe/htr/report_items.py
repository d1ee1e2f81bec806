"""What an HTR evaluation keeps of each line for its report (``evaluate --per-item`` JSON keys):
the normalised line image, where the line sits on its page, and for deformable models where each
deformable layer samples (as ``htr show-offsets`` draws it)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from keyscribe.reports.page import image_uri

GRID_CELLS = 12  # sampling grids drawn per line and layer, as show-offsets draws them
STORED_HEIGHT_PX = (
    64  # taller normalised lines are stored downscaled (reports show them 64 px tall)
)


def _heat_uri(magnitude: np.ndarray) -> str:
    """Offset magnitude ``(H_out, W_out)`` -> an RGBA inferno map, transparent where offsets are
    small, scaled to this line's largest offset."""
    from matplotlib import colormaps

    scaled = magnitude / max(float(magnitude.max()), 1e-6)
    rgba = colormaps["inferno"](scaled)
    rgba[..., 3] = 0.8 * scaled**2  # small offsets stay transparent
    return image_uri((rgba * 255).round().astype(np.uint8))


def line_image_uri(line: np.ndarray) -> str:
    """The normalised line ``(height, width)`` as a data URI, at most ``STORED_HEIGHT_PX`` tall
    (128 px lines would make a 2,000-line report ~60 MB; at 64 px it stays near 17 MB)."""
    from PIL import Image

    height, width = line.shape
    if height <= STORED_HEIGHT_PX:
        return image_uri(line)
    size = (max(1, round(width * STORED_HEIGHT_PX / height)), STORED_HEIGHT_PX)
    return image_uri(Image.fromarray(line).resize(size, Image.Resampling.LANCZOS))


def line_offsets(model: torch.nn.Module, line: np.ndarray) -> list[dict[str, Any]]:
    """One line ``(height, width)`` uint8 through ``model``; per deformable layer: the offset
    magnitude as an overlay image (covering ``size`` px of the line), its largest value, and the
    regular and deformed sampling points (line pixels, x y) of the cells that move most."""
    from keyscribe.htr.figures import (
        deformable_layers,
        offset_magnitude,
        sampling_points,
        strongest_cells,
    )
    from keyscribe.htr.transforms import to_tensor

    layers = deformable_layers(model)
    if not layers:
        return []
    inputs = to_tensor(line)[None]  # (1, width, 1, height)
    model.eval()
    with torch.inference_mode():
        model(inputs, torch.tensor([inputs.shape[1]]))
    out = []
    for index, conv, (sy, sx) in layers:
        last: torch.Tensor = conv.last_offsets  # type: ignore[assignment]
        offsets = last[0].float().cpu().numpy()  # (2K, H_out, W_out)
        magnitude = offset_magnitude(offsets)
        grids = []
        for y, x in strongest_cells(magnitude, GRID_CELLS):
            regular, deformed = sampling_points(conv, offsets, (sy, sx), y, x)
            grids.append([np.round(regular, 1).tolist(), np.round(deformed, 1).tolist()])
        out.append(
            {
                "layer": index,
                "heat": _heat_uri(magnitude),
                "size": [magnitude.shape[1] * sx, magnitude.shape[0] * sy],
                "max": round(float(magnitude.max()), 3),
                "grids": grids,
            }
        )
    return out


def add_line_details(recognizer: Any, dataset: Any, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Adds ``image``, ``width``/``height``, ``page`` (page lines) and ``offsets`` (deformable
    models) to each evaluated line (``items`` in ``dataset`` order); returns the deformable
    layers, as the evaluation's ``deformable_layers``."""
    from keyscribe.htr.figures import deformable_layers

    model = recognizer.model
    torch_model = isinstance(model, torch.nn.Module) and hasattr(model, "frontend")
    layers = [entry[0] for entry in deformable_layers(model)] if torch_model else []
    for index, item in enumerate(items):
        line, record = dataset.lines[index], dataset.records[index]
        if record.id != item["id"]:
            raise ValueError(f"line {index}: {record.id} is not the evaluated {item['id']}")
        item["image"] = line_image_uri(line)
        item["height"], item["width"] = (int(n) for n in line.shape)
        if record.polygon is not None:
            item["page"] = {
                "xml": str(record.origin),
                "image": str(record.image),
                "polygon": [[round(x, 1), round(y, 1)] for x, y in record.polygon],
            }
        if layers:
            item["offsets"] = line_offsets(model, line)
    return {"deformable_layers": layers}
