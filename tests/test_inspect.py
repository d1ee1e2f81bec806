import json
import sys
from pathlib import Path

from helpers.sessions import key, write_session
from keyscribe.cli import main


def test_inspect_json_contract(tmp_path: Path, monkeypatch, capsys) -> None:
    keys = [key("Key.shift", 5), key("H", 20), key("i", 8100), key("Key.backspace", 8200), key("Key.enter", 16100)]
    path = write_session(tmp_path / "s.hdf5", 17000, keys, compression="gzip")
    monkeypatch.setattr(sys, "argv", ["keyscribe", "data", "inspect", str(path), "--json", "--window-length", "8000", "--padding", "1800,200"])
    try:
        main()
    except SystemExit as exc:
        assert not exc.code
    info = json.loads(capsys.readouterr().out)
    assert info["num_samples"] == 17000 and info["channels"] == 32 and info["sample_rate"] == 2000
    assert info["duration_s"] == 8.5
    assert info["label_ids"] == [97, 33, 8, 94, 95]
    assert info["label_text"] == "⇧Hi⌫⏎"
    assert info["windows"] == [[97, 33], [8, 94]]  # 2 windows: max(17000 - 8000, 0) // 8000 + 1
