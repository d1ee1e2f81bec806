"""Self-contained HTML reports, one per question: an evaluation (HTR lines or sEMG sessions), a
streamed session, a training run or a sweep. Each is ONE file with its images, script and styles
inline, opened from disk in any browser, with no server and no network.

``write_report(source, out)`` takes what keyscribe wrote: an ``evaluate --json --per-item``,
``transcribe --json`` or ``stream --json`` file, a run directory or a sweep folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from keyscribe.errors import DataError
from keyscribe.reports.page import write_page


def evaluation_page(scores: dict[str, Any], out: Path) -> Path:
    """An evaluation (``evaluate --json --per-item`` output, as a dict) -> ``out``."""
    if not isinstance(scores.get("results"), list) or not scores["results"]:
        raise DataError(
            scores.get("data"), "no per-item results to report (save it with --json --per-item)"
        )
    from keyscribe.reports import emg, htr

    # one page per domain: HTR evaluations are about lines, sEMG ones about sessions
    views = {
        "htr": ("htr", "HTR evaluation", htr.report_data),
        "emg": ("emg", "sEMG evaluation", emg.report_data),
    }
    domain = scores.get("domain") or ("htr" if "lines" in scores else "emg")
    if domain not in views:
        raise DataError(scores.get("data"), f"no report for domain {domain!r}")
    kind, title, build = views[domain]
    return write_page(out, kind, f"{title}: {scores.get('data', '')}", build(scores))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"unreadable ({exc.__class__.__name__})") from None
    except ValueError as exc:
        raise DataError(path, f"not JSON ({exc})") from None


def write_report(source: str | Path, out: str | Path) -> Path:
    """What ``source`` holds decides the report: a saved evaluation, transcription or stream
    replay (JSON), a run directory, or a sweep folder."""
    source, out = Path(source), Path(out)
    if not source.exists():
        raise DataError(source, "not found")
    if source.is_dir():
        from keyscribe.reports import runs

        data = runs.report_data(source)
        return write_page(
            out, "runs", f"{'Sweep' if data['kind'] == 'sweep' else 'Run'} {data['name']}", data
        )
    obj = _read_json(source)
    from keyscribe.reports import emg

    if isinstance(obj, dict) and "results" in obj and "cer" in obj:
        try:
            return evaluation_page(obj, out)
        except DataError as exc:
            raise DataError(source, exc.problem) from None
    if isinstance(obj, dict) and "chunks" in obj and "session" in obj:
        return write_page(out, "emg", f"sEMG stream: {obj['session']}", emg.stream_data(obj))
    items = obj if isinstance(obj, list) else [obj]
    if items and all(isinstance(i, dict) and "label_ids" in i and "text" in i for i in items):
        if any("typed_text" in i for i in items):
            return write_page(out, "emg", "sEMG transcription", emg.transcription_data(items))
        from keyscribe.reports import htr

        data = htr.report_data({"data": str(source), "results": items})
        data["title"] = "HTR transcription"
        return write_page(out, "htr", f"HTR transcription: {source.name}", data)
    raise DataError(
        source,
        "not an evaluate --json --per-item, transcribe --json or stream --json result",
    )
