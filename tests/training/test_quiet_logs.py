"""The run log keeps to the run: Lightning's noise about our own layout is filtered, nothing else."""

from __future__ import annotations

import logging
import warnings

from keyscribe.training.trainer import quiet_lightning_noise


def test_known_noise_is_dropped_and_other_warnings_kept() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_lightning_noise()
        warnings.warn(
            "Checkpoint directory /runs/x exists and is not empty.", UserWarning, stacklevel=1
        )
        warnings.warn(
            "`isinstance(treespec, LeafSpec)` is deprecated, use ...",
            DeprecationWarning,
            stacklevel=1,
        )
        warnings.warn("The dataloader does not have many workers", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["The dataloader does not have many workers"]


def test_cloud_logger_advert_is_dropped_and_run_info_kept(caplog) -> None:
    quiet_lightning_noise()
    quiet_lightning_noise()  # idempotent: one filter however many trainers a process builds
    log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    assert sum(type(f).__name__ == "_NoAdverts" for f in log.filters) == 1
    with caplog.at_level(logging.INFO, logger=log.name):
        log.info("💡 Tip: try installing [litlogger](https://pypi.org/project/litlogger/)")
        log.info("GPU available: False, used: False")
    assert [r.getMessage() for r in caplog.records] == ["GPU available: False, used: False"]
