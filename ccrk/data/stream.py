"""Pretraining batches streamed from webdataset tar shards, split across DDP ranks and loader workers.

Each epoch the shards are permuted (seeded by epoch); rank r takes every W-th shard, and its loader worker v
every N-th of those, so no sample is read twice in an epoch. A worker reads its tars in order with the
webdataset library, keeps the samples of the corpus (joined by (shard, key)), mixes them in a seeded
shuffle buffer, and yields whole batches. The DataLoader takes batches from workers in turn, so batch i of
an epoch comes from worker i mod N; each worker yields exactly its share of the fixed steps per epoch.

Resume: a run that restarts at batch S of an epoch replays each worker's stream without decoding up to its
share of the first S batches, and rotates the workers so that batch S comes first. Every batch is built
with random draws seeded by (seed, epoch, rank, worker, batch), so a resumed run sees exactly the batches
(images, augmentations, captions, masks) an uninterrupted run would: nothing repeated, nothing skipped.
Loose image files in the same corpus are read as pseudo-shards of `FILES_PER_SHARD` files.
"""

from __future__ import annotations

import io
import math
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import torch
import webdataset as wds
from PIL import Image
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from webdataset.tariterators import tarfile_samples

from ccrk.data.pretrain_dataset import CorpusItem
from ccrk.data.tar_shards import image_of
from ccrk.errors import DataError
from ccrk.formats.paths import join_under

FILES_PER_SHARD = 1000  # loose files of a mixed corpus are streamed in groups of this many
FILES_PREFIX = "files:"  # pseudo-shard names: files:<first image path>


@dataclass
class ShardPlan:
    """Which shards each (epoch, rank, worker) reads, and how many batches that gives."""

    sizes: dict[str, int]  # corpus samples per shard (or pseudo-shard)
    batch_size: int  # per rank
    world: int  # DDP ranks
    workers: int  # loader workers per rank (0 counts as 1: the main process)
    seed: int

    def shards(self, epoch: int, rank: int, worker: int) -> list[str]:
        order = sorted(self.sizes)
        random.Random(self.seed * 1000003 + epoch).shuffle(order)
        return order[rank :: self.world][worker :: max(1, self.workers)]

    def max_steps(self, epochs: int) -> tuple[int, str]:
        """The most steps every epoch can run with each worker yielding its share of whole batches, and where
        the limit comes from: worker v owes the batches at positions v, v + N, ... so it needs
        ceil((S - v) / N) batches; S <= N * b_v + v for each worker's b_v full batches."""
        n, best, where = max(1, self.workers), None, ""
        for epoch in range(epochs):
            for rank in range(self.world):
                for v in range(n):
                    samples = sum(self.sizes[s] for s in self.shards(epoch, rank, v))
                    steps = n * (samples // self.batch_size) + v
                    if best is None or steps < best:
                        best = steps
                        where = f"epoch {epoch}, rank {rank}, worker {v}: {samples} samples"
        return best or 0, where


def share(steps: int, worker: int, workers: int) -> int:
    """Batches at positions worker, worker + N, ... below `steps`."""
    return max(0, math.ceil((steps - worker) / max(1, workers)))


def group_items(items: list[CorpusItem]) -> dict[str, list[CorpusItem]]:
    """Corpus items by shard; loose files in pseudo-shards of FILES_PER_SHARD, in corpus order."""
    groups: dict[str, list[CorpusItem]] = defaultdict(list)
    files = [item for item in items if item.shard is None]
    for item in items:
        if item.shard is not None:
            groups[item.shard].append(item)
    for i in range(0, len(files), FILES_PER_SHARD):
        groups[f"{FILES_PREFIX}{files[i].image_path}"] = files[i : i + FILES_PER_SHARD]
    return dict(groups)


class ShardStream(IterableDataset):
    """One epoch of one rank's batches from `start` on (see the module docstring)."""

    def __init__(
        self, groups, image_root, transform, collate, plan: ShardPlan, rank, epoch, steps, start, buffer
    ):
        self.groups, self.image_root, self.transform, self.collate = groups, image_root, transform, collate
        self.plan, self.rank, self.epoch, self.steps, self.start, self.buffer = (
            plan,
            rank,
            epoch,
            steps,
            start,
            buffer,
        )
        self.captions = {
            (shard, it.key or it.image_path): it.captions for shard, g in groups.items() for it in g
        }

    def _samples(self, shards: list[str]) -> Iterator[dict]:
        """Raw samples (undecoded) of the corpus, shard after shard, in member order."""
        for shard in shards:
            if shard.startswith(FILES_PREFIX):
                for item in self.groups[shard]:
                    path = join_under(self.image_root, item.image_path)
                    yield {"__url__": shard, "__key__": item.image_path, "jpg": Path(path).read_bytes()}
            else:
                for sample in tarfile_samples([{"url": shard}]):
                    if (sample["__url__"], sample["__key__"]) in self.captions:
                        yield sample

    def _decode(self, sample: dict) -> tuple[torch.Tensor, list[str]]:
        data = image_of(sample)
        try:
            with Image.open(io.BytesIO(data)) as im:
                image = self.transform(im.convert("RGB"))
        except Exception as e:
            raise DataError(
                sample["__url__"], None, sample["__key__"], f"image does not decode: {e}"
            ) from None
        return image, self.captions[(sample["__url__"], sample["__key__"])]

    def __iter__(self):
        info = get_worker_info()
        workers = max(1, self.plan.workers)
        v = ((info.id if info else 0) + self.start) % workers  # rotated: batch `start` comes first
        shards = self.plan.shards(self.epoch, self.rank, v)
        owed, done = share(self.steps, v, workers), share(self.start, v, workers)
        b = self.plan.batch_size
        rng = random.Random(f"shuffle {self.plan.seed} {self.epoch} {self.rank} {v}")
        samples = wds.shuffle(self.buffer, min(self.buffer, 1000), rng=rng)(self._samples(shards))
        samples = islice(samples, done * b, owed * b)  # skipped samples are read, never decoded
        for i in range(done, owed):
            batch = list(islice(samples, b))
            if len(batch) < b:
                raise RuntimeError(
                    f"rank {self.rank} worker {v} ran out of samples in epoch {self.epoch} at batch {i} of "
                    f"{owed} (shards {shards[:3]}...): the shards changed since the corpus was built"
                )
            seed = f"batch {self.plan.seed} {self.epoch} {self.rank} {v} {i}"
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(random.Random(seed).getrandbits(63))
                self.collate.rng = random.Random(seed)
                yield self.collate([self._decode(s) for s in batch])


def stream_loader(groups, image_root, transform, collate, plan: ShardPlan, rank, epoch, steps, start, buffer):
    """A DataLoader over ShardStream: batches come ready from `plan.workers` worker processes."""
    stream = ShardStream(groups, image_root, transform, collate, plan, rank, epoch, steps, start, buffer)
    return DataLoader(stream, batch_size=None, num_workers=plan.workers, persistent_workers=False)
