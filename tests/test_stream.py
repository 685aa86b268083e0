"""Streaming pretraining batches from tar shards: split across ranks and workers, fixed steps, exact resume."""

import io

import pytest
from PIL import Image
from webdataset import TarWriter

from ccrk.data.pretrain_dataset import CorpusItem
from ccrk.data.stream import FILES_PREFIX, ShardPlan, group_items, share, stream_loader
from ccrk.data.transforms import train_transform
from ccrk.pretrain import stream_steps_per_epoch

SIZES = [7, 5, 6, 4, 7, 3]  # samples per shard; one more sample per shard is in no corpus item


class KeyCollate:
    """Batches as (caption, image sum) pairs: which samples, with which augmentation; `rng` is set per batch."""

    rng = None

    def __call__(self, batch):
        draw = self.rng.random()  # the caption sampling / masking draw of a real collator
        return [(captions[0], round(float(image.sum()), 4), draw) for image, captions in batch]


def _jpeg(i: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (12, 10), (20 * i % 256, 7 * i % 256, 90)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shards")
    items = []
    for s, n in enumerate(SIZES):
        path = str(tmp / f"{s:05d}.tar")
        with TarWriter(path) as tar:
            for i in range(n + 1):
                key = f"{s:05d}{i:04d}"
                tar.write({"__key__": key, "jpg": _jpeg(s * 10 + i), "txt": "x"})
                if i < n:
                    items.append(CorpusItem(None, [f"caption {key}"], path, key))
    (tmp / "img").mkdir()
    for i in range(5):  # loose files of a mixed corpus
        (tmp / "img" / f"{i}.jpg").write_bytes(_jpeg(100 + i))
        items.append(CorpusItem(f"img/{i}.jpg", [f"caption file {i}"]))
    return tmp, items


def _epoch(corpus, plan, rank, epoch, steps, start=0, buffer=8):
    tmp, items = corpus
    transform = train_transform(8, 0.5, True, False)
    loader = stream_loader(
        group_items(items), tmp, transform, KeyCollate(), plan, rank, epoch, steps, start, buffer
    )
    return [batch for batch in loader]


def test_worker_shares_cover_every_position_once():
    for workers in (1, 2, 3):
        positions = sorted(p for v in range(workers) for p in range(v, 10, workers))
        assert positions == list(range(10))
        assert [share(10, v, workers) for v in range(workers)] == [
            len(range(v, 10, workers)) for v in range(workers)
        ]
        assert [share(4, v, workers) for v in range(workers)] == [
            len(range(v, 4, workers)) for v in range(workers)
        ]


def test_ranks_and_workers_read_disjoint_samples_and_fixed_steps(corpus):
    tmp, items = corpus
    groups = group_items(items)
    assert sorted(len(g) for g in groups.values()) == sorted([*SIZES, 5])
    assert [s for s in groups if s.startswith(FILES_PREFIX)] == [f"{FILES_PREFIX}img/0.jpg"]
    plan = ShardPlan({s: len(g) for s, g in groups.items()}, batch_size=2, world=2, workers=2, seed=1)
    steps = stream_steps_per_epoch(plan, epochs=2)
    # the limit, by the formula: min over epochs, ranks, workers v of N * floor(samples / B) + v
    expected = min(
        2 * (sum(plan.sizes[s] for s in plan.shards(e, r, v)) // 2) + v
        for e in range(2)
        for r in range(2)
        for v in range(2)
    )
    assert steps == expected > 0
    for epoch in range(2):
        seen = []
        for rank in range(2):
            batches = _epoch(corpus, plan, rank, epoch, steps)
            assert len(batches) == steps and all(len(b) == 2 for b in batches)
            seen += [caption for b in batches for caption, _, _ in b]
        assert len(seen) == len(set(seen)) == 2 * 2 * steps  # no sample twice in an epoch, over both ranks
        assert set(seen) <= {it.captions[0] for it in items}  # the sample outside the corpus never appears
    with pytest.raises(ValueError, match="needs 8 batches of 2 per rank"):
        stream_steps_per_epoch(plan, epochs=2, epoch_size=32)
    assert stream_steps_per_epoch(plan, epochs=2, epoch_size=4) == 1  # ceil(4 / (2 x 2))


def test_resume_mid_epoch_gives_exactly_the_remaining_batches(corpus):
    tmp, items = corpus
    groups = group_items(items)
    plan = ShardPlan({s: len(g) for s, g in groups.items()}, batch_size=2, world=1, workers=2, seed=3)
    steps = stream_steps_per_epoch(plan, epochs=2)
    full = _epoch(corpus, plan, 0, 0, steps)
    assert len(full) == steps >= 6
    for start in (1, 2, 5):  # odd and even: the workers are rotated so that batch `start` comes first
        assert _epoch(corpus, plan, 0, 0, steps, start=start) == full[start:]
    # the shuffle buffer mixes shards: batches are not in member order, and epochs differ
    order = [c for b in full for c, _, _ in b]
    assert order != sorted(order)
    assert [c for b in _epoch(corpus, plan, 0, 1, steps) for c, _, _ in b] != order


def test_changed_shards_stop_with_a_clear_error(corpus, tmp_path):
    tmp, items = corpus
    extra = [CorpusItem(None, [f"ghost {i}"], str(tmp_path / "x.tar"), f"k{i}") for i in range(4)]
    with TarWriter(str(tmp_path / "x.tar")) as tar:
        tar.write({"__key__": "other", "jpg": _jpeg(1)})
    groups = group_items(items + extra)
    plan = ShardPlan({s: len(g) for s, g in groups.items()}, batch_size=2, world=1, workers=0, seed=0)
    steps = stream_steps_per_epoch(plan, epochs=1)
    loader = stream_loader(groups, tmp, train_transform(8), KeyCollate(), plan, 0, 0, steps, 0, 4)
    with pytest.raises(RuntimeError, match="ran out of samples .* the shards changed"):
        list(loader)
