from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small synthetic dataset shared by the training tests (1 user, 3 sessions of 30 s)."""
    from keyscribe.emg.synth import synthesize

    return synthesize(tmp_path_factory.mktemp("synth"), users=1, sessions=3, minutes=0.5, seed=0)
