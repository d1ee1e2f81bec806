"""The HTR half of ``keyscribe demo``: a shipped sample page transcribed by a bundled model."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from keyscribe.metrics import EditCounts

SAMPLE_PAGE = "01R_P1S7P178_001.xml"


def sample_page() -> Path:
    """The shipped ALTO page (CC BY 4.0, CREMMA-MSS-20; its ATTRIBUTION.md sits beside it)."""
    return Path(str(resources.files("keyscribe.resources") / "samples" / "htr-page" / SAMPLE_PAGE))


@dataclass(frozen=True)
class PageDemo:
    """What the demo shows: the page's CER and the document written."""

    page: Path
    model: str
    lines: int
    cer: float  # % over the page's characters, greedy decoding
    out: Path  # the input document with the recognised text of each line (image copied beside)
    seconds: float  # loading the model, reading the page, recognising and writing
    texts: list[tuple[str, str]]  # (reference, recognised) per line


def transcribe_sample_page(out_dir: Path, model: str = "htr-fr") -> PageDemo:
    """Recognise every line of the sample page with ``model`` and write the page back as ALTO
    with word boxes and confidences (as ``keyscribe transcribe MODEL PAGE --format alto``)."""
    from keyscribe import api
    from keyscribe.htr.transcribe import PageOutput, transcribe_inputs

    start = time.perf_counter()
    page = sample_page()
    recognizer = api.load_model(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    results = transcribe_inputs(recognizer, [page], PageOutput("alto", out_dir), written.append)
    chars = EditCounts()
    for r in results:
        chars.add(list(r["reference_text"]), list(r["text"]))
    out = written[0]
    # the image beside the document, as ALTO viewers and read_page expect it
    shutil.copyfile(page.with_suffix(".jpg"), out_dir / page.with_suffix(".jpg").name)
    return PageDemo(
        page=page,
        model=model,
        lines=len(results),
        cer=chars.as_dict("cer")["cer"],
        out=out,
        seconds=time.perf_counter() - start,
        texts=[(r["reference_text"], r["text"]) for r in results],
    )
