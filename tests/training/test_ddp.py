"""DDP on 2 CPU processes (gloo): replicas stay identical, ranks train on disjoint windows, only
rank 0 scores and writes; and the rank sharding itself."""

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from keyscribe.data.sharding import RankShard
from keyscribe.htr.dataset import WidthBucketSampler

REPO = Path(__file__).resolve().parents[2]

# Run as a script: Lightning's ``ddp`` launcher starts rank 1 by re-running this same command,
# so the probe callback is patched in on both ranks.
DRIVER = textwrap.dedent(
    """
    import hashlib, json, sys
    from pathlib import Path

    import lightning as L

    from keyscribe import api
    from keyscribe.training import trainer as trainer_module

    probe_dir = Path(sys.argv[1])


    def weights_hash(state):
        h = hashlib.sha256()
        for key in sorted(state):
            h.update(key.encode() + state[key].detach().contiguous().numpy().tobytes())
        return h.hexdigest()


    class Probe(L.Callback):
        def __init__(self):
            self.ids = []

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.current_epoch == 0:
                self.ids += list(batch.ids)

        def on_train_end(self, trainer, pl_module):
            out = {"world_size": trainer.world_size, "ids": self.ids,
                   "hash": weights_hash(pl_module.model.state_dict())}
            (probe_dir / f"rank{trainer.global_rank}.json").write_text(json.dumps(out))


    build = trainer_module.build_trainer
    trainer_module.build_trainer = lambda cfg, run_dir, extra=None: build(cfg, run_dir, [*(extra or []), Probe()])
    results = api.train(api.load_config(sys.argv[2], sys.argv[3:]))
    print("RESULTS", json.dumps(results))
    """
)

TINY = [
    "model.frontend.mlp_features=[16]",
    "model.encoder.block_channels=[4]",
    "model.encoder.kernel_width=4",
    "data.batch_size=4",
    "data.window_length=2000",
    "data.padding=[0,0]",
    "data.num_workers=0",
    "trainer.progress_bar=false",
    "trainer.max_time_minutes=null",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=3",
    "trainer.num_threads=1",
    "trainer.accelerator=cpu",
    "trainer.devices=2",
    "trainer.strategy=ddp",
]


def _weights_hash(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(key.encode() + state[key].detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def test_two_cpu_replicas_stay_identical(synth_dir: Path, tmp_path: Path) -> None:
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    run = tmp_path / "run"
    overrides = [*TINY, f"data.root={synth_dir}", f"out_dir={run}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name in ("MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "RANK"):
        env.pop(name, None)
    proc = subprocess.run(
        [
            sys.executable,
            str(driver),
            str(tmp_path),
            str(REPO / "configs/emg/quickstart.yaml"),
            *overrides,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert ranks[0]["hash"] == ranks[1]["hash"]  # gradients were averaged: one model
    ids = [r["ids"] for r in ranks]
    assert len(ids[0]) == len(ids[1]) == 3 * 4 and not set(ids[0]) & set(ids[1])  # disjoint shards

    last = torch.load(run / "last.ckpt", map_location="cpu", weights_only=False)
    model_state = {
        k[len("model.") :]: v for k, v in last["state_dict"].items() if k.startswith("model.")
    }
    assert _weights_hash(model_state) == ranks[0]["hash"]
    assert last["global_step"] == 2 * 3
    # rank 0 alone scored the run; rank 1 returned its training figures only
    results = json.loads((run / "results.json").read_text())
    assert results["val_cer"] is not None and results["steps"] == 6
    printed = [
        json.loads(line[len("RESULTS ") :])
        for line in proc.stdout.splitlines()
        if line.startswith("RESULTS ")
    ]
    by_rank = {r.get("global_rank", 0): r for r in printed}
    assert sorted(by_rank) == [0, 1] and "val_cer" in by_rank[0] and "val_cer" not in by_rank[1]
    assert not list(run.glob(".*.tmp"))


def test_rank_shards_partition_one_order() -> None:
    batches = [[0, 1], [2, 3], [4, 5], [6, 7], [8]]
    shards = [list(RankShard(batches, rank, 2)) for rank in (0, 1)]  # type: ignore[arg-type]
    assert shards == [[[0, 1], [4, 5], [8]], [[2, 3], [6, 7], [0, 1]]]  # padded from the start
    assert len(RankShard(batches, 1, 2)) == 3  # type: ignore[arg-type]
    items = list(range(10))
    shards = [list(RankShard(items, rank, 3)) for rank in range(3)]  # type: ignore[arg-type]
    assert {i for s in shards for i in s} == set(items) and {len(s) for s in shards} == {4}


def test_width_buckets_are_sharded_whole() -> None:
    """HTR: every rank buckets the same (seed, epoch) order and keeps whole batches of it."""
    widths = [
        int(w) for w in torch.randint(50, 900, (37,), generator=torch.Generator().manual_seed(0))
    ]

    def batches(rank: int, world_size: int) -> list[list[int]]:
        sampler = WidthBucketSampler(widths, 4, shuffle=True, pool_batches=3, seed=5)
        shard = RankShard(sampler, rank, world_size)
        shard.set_epoch(2)
        return list(shard)

    whole = batches(0, 1)
    ranks = [batches(r, 2) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 5  # 10 batches, one each per step
    assert ranks[0] + ranks[1] == whole[0::2] + whole[1::2]
    assert sorted(i for b in ranks[0] + ranks[1] for i in b) == list(range(37))
