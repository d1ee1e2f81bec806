"""bench/train_throughput.py in quick mode: it runs and produces figures (no timing asserted)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "train_throughput.py"


def test_quick_run_produces_figures(tmp_path: Path, capsys) -> None:
    spec = importlib.util.spec_from_file_location("train_throughput", SCRIPT)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "figures.json"
    bench.main(["--quick", "--steps", "1", "--encoders", "tdsconv,gru", "--json", str(out)])
    result = json.loads(out.read_text())
    assert [r["model"] for r in result["rows"]] == ["tdsconv", "tdsconv (reference 2-D)", "gru"]
    assert all(r["frames_per_s"] > 0 for r in result["rows"])
    assert result["tdsconv_vs_reference"]["max_abs_diff"] < 1e-4
    assert "load average" in capsys.readouterr().out
