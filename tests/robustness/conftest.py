"""Fixtures of the fuzz suite: tiny untrained checkpoints and sessions (helpers/checkpoints.py,
helpers/cli.py hold the functions)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers.checkpoints import EMG_TINY, HTR_TINY, LINES, REPO, save_untrained
from helpers.sessions import key, write_session
from keyscribe import api


@pytest.fixture(scope="session")
def emg_config() -> Path:
    return REPO / "configs" / "emg" / "quickstart.yaml"


@pytest.fixture(scope="session")
def emg_ckpt(tmp_path_factory: pytest.TempPathFactory, emg_config: Path) -> Path:
    root = tmp_path_factory.mktemp("emg_ckpt")
    cfg = api.load_config(emg_config, [*EMG_TINY, f"out_dir={root}"])
    return save_untrained(cfg, root / "emg.ckpt")


@pytest.fixture(scope="session")
def htr_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("htr_cfg") / "tiny.yaml"
    path.write_text(yaml.safe_dump(HTR_TINY), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def htr_ckpt(tmp_path_factory: pytest.TempPathFactory, htr_config: Path) -> Path:
    root = tmp_path_factory.mktemp("htr_ckpt")
    cfg = api.load_config(
        htr_config, [f"data.train={LINES}", f"data.val={LINES}", f"out_dir={root}"]
    )
    return save_untrained(cfg, root / "htr.ckpt")


@pytest.fixture(scope="session")
def good_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("good")
    return write_session(
        root / "good.hdf5", 4000, [key("a", 100), key("Key.space", 900), key("b", 2500)]
    )
