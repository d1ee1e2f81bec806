"""Training order and item randomness depend on (seed, epoch, item) only: the same epoch repeats
exactly, another epoch shuffles anew, and an item's augmentation ignores the caller's stream."""

import torch

from keyscribe.data.sampling import EpochShuffle, SeededItems
from keyscribe.htr.dataset import WidthBucketSampler


def _orders(sampler, epochs):  # type: ignore[no-untyped-def]
    out = []
    for epoch in epochs:
        sampler.set_epoch(epoch)
        out.append(list(sampler))
    return out


def test_epoch_shuffle_repeats_per_epoch_and_changes_across_epochs() -> None:
    a0, a1, b0 = _orders(EpochShuffle(50, seed=3), [0, 1, 0])
    assert a0 == b0 and a0 != a1 and sorted(a0) == list(range(50))
    assert list(EpochShuffle(50, seed=4)) != a0


def test_width_buckets_shuffle_anew_each_epoch() -> None:
    widths = [
        int(w) for w in torch.randint(50, 500, (64,), generator=torch.Generator().manual_seed(0))
    ]
    e0, e1, again = _orders(
        WidthBucketSampler(widths, 8, shuffle=True, pool_batches=2, seed=1), [0, 1, 0]
    )
    assert e0 == again and e0 != e1
    assert sorted(i for b in e0 for i in b) == list(range(64))


class _Noisy(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.rand(3)


def test_items_follow_their_seed_not_the_callers_stream() -> None:
    items = SeededItems(_Noisy(), seed=5)
    torch.manual_seed(0)
    first = items[2]
    state = torch.random.get_rng_state()
    torch.manual_seed(123)
    assert torch.equal(items[2], first)  # the caller's stream does not matter
    torch.manual_seed(0)
    items[2]
    assert torch.equal(torch.random.get_rng_state(), state)  # and is left untouched
    items.set_epoch(1)
    assert not torch.equal(items[2], first)
