"""Data-parallel sharding: each DDP rank keeps every ``world_size``-th item of one shared order.

CTCDataModule shards its own loaders (the Trainer runs with ``use_distributed_sampler=False``)
because its samplers are wrappers Lightning cannot rebuild around a ``DistributedSampler``: the
epoch-seeded shuffle and item seeds of ``data.sampling``, and batch samplers such as HTR's width
buckets. Sharding whole batches keeps each bucket's lines together on one rank.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import Any, Generic, TypeVar

from torch.utils.data import Sampler

T = TypeVar("T")


class RankShard(Sampler[T], Generic[T]):
    """The items (indices, or whole batches) of ``sampler`` that rank ``rank`` of ``world_size``
    keeps: positions ``rank, rank + world_size, ...``.

    Every rank must compute the same order, so ``sampler`` must draw from ``(seed, epoch)`` only,
    never from a rank's own random stream. The order is padded by repeating its start until every
    rank has as many items as the others, as ``DistributedSampler`` does: DDP steps in lockstep,
    so a rank with one batch less would hang the others at their gradient all-reduce.
    """

    def __init__(self, sampler: Sampler[T], rank: int, world_size: int) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside a world of {world_size}")
        self.sampler = sampler  # Lightning calls ``sampler.set_epoch`` under this name
        self.rank = rank
        self.world_size = world_size

    def set_epoch(self, epoch: int) -> None:
        set_epoch = getattr(self.sampler, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)

    def __len__(self) -> int:
        assert isinstance(self.sampler, Sized)
        return -(-len(self.sampler) // self.world_size)  # ceil

    def __iter__(self) -> Iterator[T]:
        items = list(self.sampler)
        if not items:
            return iter([])
        padded = items * (-(-len(self) * self.world_size // len(items)))
        return iter(padded[: len(self) * self.world_size][self.rank :: self.world_size])


def shard(sampler: Any, trainer: Any) -> Any:
    """``sampler`` split for this process's rank when ``trainer`` runs several, else unchanged."""
    world_size = getattr(trainer, "world_size", 1) if trainer is not None else 1
    if world_size <= 1 or sampler is None:
        return sampler
    return RankShard(sampler, trainer.global_rank, world_size)
