import torch

from keyscribe import builders
from keyscribe.api import count_parameters, load_config
from keyscribe.emg.keys import EMG_ALPHABET


def _baseline():
    cfg = load_config("configs/emg/baseline-tdsconv.yaml")
    return builders.build_model(cfg, EMG_ALPHABET)


def test_baseline_parameter_count_matches_reference() -> None:
    assert count_parameters(_baseline()) == 5_293_315


def test_baseline_frames_and_lengths() -> None:
    model = _baseline().eval()
    x = torch.randn(2, 247, 2, 16, 33)
    log_probs, lengths = model(x, torch.tensor([247, 200]))
    assert log_probs.shape == (2, 123, 99)
    assert lengths.tolist() == [123, 76]
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(2, 123))
