"""Pretraining input pipeline throughput: webdataset tar shards vs loose image files, per loader worker.

Both sides run ccrk's own pretraining input path on the same images and captions: read, JPEG decode, the
paper's augmentation (RandomResizedCrop 224 at scale 0.2-1, flip, RandAugment(2, 7), CLIP normalisation),
and collation with K captions per image (tokenise B*K captions, mask them). Files: `PretrainDataset` with
the epoch sampler (ccrk.train.epoch_loader); tars: `ccrk.data.stream` (webdataset reading, shuffle buffer).
Images are stored as a download stores them (shorter side 384, JPEG quality 95). Rounds alternate between
the two sources; CPU time (this process and its loader workers) is counted beside wall time, and the
figure per core is images per CPU second. Files are in the page cache: this measures CPU cost, not a
shared filesystem's latency, which favours loose files.

    .venv/bin/python bench/loader_throughput.py [--images 512] [--rounds 3] [--workers 0]
"""

import argparse
import io
import os
import platform
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from webdataset import TarWriter  # noqa: E402

from ccrk.config import PretrainConfig  # noqa: E402
from ccrk.data.pretrain_dataset import CorpusItem, PretrainCollator, PretrainDataset  # noqa: E402
from ccrk.data.stream import ShardPlan, group_items, stream_loader  # noqa: E402
from ccrk.data.transforms import train_transform  # noqa: E402
from ccrk.tokenizer import train_tokenizer  # noqa: E402
from ccrk.train import epoch_loader  # noqa: E402

WORDS = (
    "a man woman dog cat red blue small large street car tree house water sky near with on in the of".split()
)


def _photo(rng: np.random.Generator, width=512, height=384) -> bytes:
    """A photo-like JPEG: smooth colour fields plus grain, so it compresses like a real image."""
    low = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    im = Image.fromarray(low).resize((width, height), Image.Resampling.BICUBIC)
    grain = rng.normal(0, 12, (height, width, 3))
    arr = np.clip(np.asarray(im, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(arr).save(out, "JPEG", quality=95)
    return out.getvalue()


def _captions(rng: random.Random, k: int) -> list[str]:
    return [" ".join(rng.choices(WORDS, k=rng.randint(8, 16))) + f" lang{j}" for j in range(k)]


def build(root: Path, n: int, k: int, shards: int):
    """The same images as loose files and as tar shards (ccrk's layout), with K captions each."""
    rng, crng = np.random.default_rng(0), random.Random(0)
    (root / "img").mkdir()
    files, tars, per = [], [], -(-n // shards)
    writers = [TarWriter(str(root / f"{s:05d}.tar")) for s in range(shards)]
    for i in range(n):
        data, caps, key = _photo(rng), _captions(crng, k), f"{i:09d}"
        (root / "img" / f"{key}.jpg").write_bytes(data)
        files.append(CorpusItem(f"img/{key}.jpg", caps))
        shard = str(root / f"{i // per:05d}.tar")
        writers[i // per].write({"__key__": key, "jpg": data, "txt": caps[0], "json": "{}"})
        tars.append(CorpusItem(None, caps, shard, key))
    for w in writers:
        w.close()
    return files, tars


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def measure(batches, n_images: int) -> tuple[float, float]:
    """(images per wall second, images per CPU second) of one pass over `batches`."""
    wall, cpu = time.perf_counter(), _cpu()
    seen = sum(b["images"].shape[0] for b in batches)
    assert seen == n_images, (seen, n_images)
    return seen / (time.perf_counter() - wall), seen / (_cpu() - cpu)


def read_only(source, files, groups, root) -> tuple[float, float]:
    """(images per wall second, per CPU second) of reading the encoded images alone: the part that differs."""
    from ccrk.data.stream import ShardStream

    wall, cpu = time.perf_counter(), _cpu()
    if source == "files":
        n = sum(len((root / it.image_path).read_bytes()) > 0 for it in files)
    else:
        stream = ShardStream(groups, root, None, None, None, 0, 0, 0, 0, 1)
        n = sum(1 for _ in stream._samples(sorted(groups)))
    return n / (time.perf_counter() - wall), n / (_cpu() - cpu)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=512)
    p.add_argument("--batch", type=int, default=64, help="images per batch (the paper: 64 per GPU)")
    p.add_argument("--k", type=int, default=10, help="captions per image")
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds per source")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers (0: in this process)")
    a = p.parse_args()
    torch.set_num_threads(1)  # a DataLoader worker's setting: the figure is per core
    cfg = PretrainConfig()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files, tars = build(root, a.images, a.k, a.shards)
        tok = train_tokenizer([c for it in files for c in it.captions], root / "tok", vocab_size=200)
        aug = cfg.augment
        transform = train_transform(224, aug.crop_scale_min, aug.hflip, aug.randaugment)
        collate = PretrainCollator(tok, cfg.max_tokens, cfg.max_words, cfg.masking, 0, 0)
        steps = a.images // a.batch
        groups = group_items(tars)
        plan = ShardPlan({s: len(g) for s, g in groups.items()}, a.batch, 1, a.workers, 0)
        dataset = PretrainDataset(files, root, transform)
        sources = {
            "files": lambda: epoch_loader(dataset, a.batch, collate, 0, 0, 0, a.workers),
            "tar shards": lambda: stream_loader(groups, root, transform, collate, plan, 0, 0, steps, 0, 1000),
        }
        results = {name: [] for name in sources}
        reads = {name: [] for name in sources}
        for _ in range(a.rounds):
            for name, loader in sources.items():
                results[name].append(measure(loader(), steps * a.batch))
                reads[name].append(read_only(name, files, groups, root))
        size = sum(f.stat().st_size for f in (root / "img").iterdir()) / a.images
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"torch {torch.__version__}, load average {os.getloadavg()[0]:.1f} (at the end)"
    )
    print(
        f"{a.images} images of 512x384 ({size / 1000:.0f} kB), batch {a.batch} x K={a.k} captions, "
        f"{a.workers or 'no'} loader worker(s), 1 torch thread, median of {a.rounds} alternating rounds"
    )
    med = {
        name: (float(np.median([r[0] for r in rs])), float(np.median([r[1] for r in rs])))
        for name, rs in results.items()
    }
    for name, (wall, cpu) in med.items():
        print(f"{name:11s}: {wall:7.1f} images/s wall, {cpu:7.1f} images per CPU second")
    for name, rs in reads.items():
        wall, cpu = (float(np.median([r[i] for r in rs])) for i in (0, 1))
        print(f"{name:11s}: read only (no decode): {wall:8.0f} images/s wall, {cpu:8.0f} per CPU second")
    cpu, wall = (med["tar shards"][i] / med["files"][i] for i in (1, 0))
    print(f"tar / files: {cpu:.2f}x per CPU second, {wall:.2f}x wall")


if __name__ == "__main__":
    main()
