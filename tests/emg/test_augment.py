"""Down-Up noise injection, its cached boosted copies, and the study options of the data pipeline."""

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.sessions import key, write_session
from keyscribe import api
from keyscribe.emg.augment import down_up_session
from keyscribe.emg.channels import fit_pca, selected_electrodes
from keyscribe.emg.dataset import split_datasets
from keyscribe.emg.session import EmgSession
from keyscribe.emg.transforms import DownUp, down_up

RATE = 2000


def _tone(hz: float, n: int = 8000) -> np.ndarray:
    return np.sin(2 * np.pi * hz * np.arange(n) / RATE)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x[400:-400] ** 2)))  # away from the filter's edges


@pytest.mark.parametrize("factor", [2, 4])
def test_down_up_keeps_a_low_tone_and_removes_one_above_the_new_nyquist(factor: int) -> None:
    nyquist = RATE / factor / 2  # 500 Hz for 2, 250 Hz for 4
    low, high = _tone(40), _tone(1.4 * nyquist)
    out = down_up(np.stack([low, high], axis=1), factor)
    assert out.shape == (8000, 2) and out.dtype == np.float32
    assert np.allclose(out[400:-400, 0], low[400:-400], atol=0.05)
    assert _rms(out[:, 1]) < 0.02 * _rms(high)


def test_down_up_on_the_fly_keeps_shape() -> None:
    emg = torch.randn(4000, 2, 16)
    assert torch.equal(DownUp((2,), probability=0.0)(emg), emg)
    out = DownUp((4,), probability=1.0)(emg)
    assert out.shape == emg.shape and not torch.equal(out, emg)


def _dataset(root: Path) -> Path:
    keys = [key("a", 1000), key("b", 9000), key("c", 17000)]
    for name, seed in (("t1", 0), ("t2", 1), ("v", 2), ("x", 3)):
        write_session(root / f"{name}.hdf5", 24000, keys, seed=seed)
    (root / "metadata.csv").write_text(
        "session,user,split\nt1,u,train\nt2,u,train\nv,u,val\nx,u,test\n"
    )
    return root


def _cfg(root: Path, *overrides: str):
    return api.load_config(
        "configs/emg/base.yaml", [f"data.root={root}", "data.padding=[0,0]", *overrides]
    ).data


def test_boosted_copies_are_cached_sessions_with_the_same_labels(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    copy = down_up_session(root / "t1.hdf5", 4, tmp_path / "cache")
    assert down_up_session(root / "t1.hdf5", 4, tmp_path / "cache") == copy  # reused, not rewritten
    with EmgSession(root / "t1.hdf5") as a, EmgSession(copy) as b:
        assert len(a) == len(b) and a.keystrokes == b.keystrokes and np.array_equal(a.time, b.time)
        np.testing.assert_allclose(b.read()[0], down_up(a.read()[0], 4), atol=1e-5)
    datasets = split_datasets(
        _cfg(root, "data.down_up.factors=[2,4]", f"data.cache_dir={tmp_path / 'cache'}")
    )
    assert len(datasets["train"]) == 3 * 6  # originals + one copy per factor, 3 windows per session
    assert len(datasets["val"]) == 3
    assert len(list((tmp_path / "cache").glob("downup*/*.hdf5"))) == 4


def test_fraction_channels_and_hop_change_shapes(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    base = split_datasets(_cfg(root))
    assert base["train"][0].inputs.shape[1:] == (2, 16, 33)
    half = split_datasets(_cfg(root, "data.train_fraction=0.5"))
    assert len(half["train"]) == 3 and len(base["train"]) == 6
    again = split_datasets(_cfg(root, "data.train_fraction=0.5"))
    assert [half["train"][i].id for i in range(3)] == [
        again["train"][i].id for i in range(3)
    ]  # seeded
    first = split_datasets(_cfg(root, "data.channels.count=5"))
    assert (
        first["train"][0].inputs.shape[1:] == (2, 5, 33) and first["test"][0].inputs.shape[2] == 5
    )
    hop32 = split_datasets(_cfg(root, "data.hop_length=32", "data.jitter_max_offset=0"))
    assert hop32["val"][0].inputs.shape[0] == (8000 - 64) // 32 + 1
    assert _cfg(root, "data.hop_length=32").frames(25) == 12  # masks and crops keep their duration


def test_channel_selection_and_pca(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    assert selected_electrodes(_cfg(root, "data.channels.count=4")) == [0, 1, 2, 3]
    random = selected_electrodes(
        _cfg(root, "data.channels.count=4", "data.channels.selection=random")
    )
    assert len(set(random)) == 4 and random != [0, 1, 2, 3]
    axes = fit_pca([root / "t1.hdf5"], 3)
    assert axes.shape == (2, 3, 16)
    np.testing.assert_allclose(axes[0] @ axes[0].T, np.eye(3), atol=1e-4)  # orthonormal axes
    pca = split_datasets(_cfg(root, "data.channels.count=3", "data.channels.selection=pca"))
    assert pca["train"][0].inputs.shape[1:] == (2, 3, 33)
    assert list((root / ".keyscribe-cache").glob("pca-3-*.npy"))


def test_model_adapts_to_channels_and_hop(tmp_path: Path) -> None:
    cfg = api.load_config("configs/emg/base.yaml", ["data.channels.count=6", "data.hop_length=32"])
    info = api.model_info(cfg)
    base = api.model_info(api.load_config("configs/emg/base.yaml"))
    assert info["parameters_frontend"] < base["parameters_frontend"]  # 6 x 33 inputs per band
    assert info["parameters_encoder"] < base["parameters_encoder"]  # kernel 32 -> 16 frames
