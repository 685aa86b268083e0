"""Download throughput against a server with 100 ms latency per request: thread pool vs a sequential loop.

Both sides run ccrk's own shard download (fetch, Pillow decode and verify, resize, atomic write, manifest
line, then the shard's webdataset tar + parquet + stats, or its folder of files) on the same kind of rows;
the sequential loop is the same code with one thread. The pool runs once per output format. The server runs in
its own process (tests/image_server.py) so that it does not share the client's interpreter lock.

    .venv/bin/python bench/download_throughput.py [--threads 128] [--rows 3000]
"""

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pandas  # noqa: E402, F401  (pyarrow's table conversion imports it once per job: not per-row work)

from ccrk.download.shards import DownloadConfig, download_shard  # noqa: E402
from ccrk.download.urls import UrlRow  # noqa: E402


def _rows(url: str, n: int, offset: int) -> list[UrlRow]:
    return [UrlRow(i, f"{i:09d}", f"{url}/good/{i % 50}.jpg?n={i}", "") for i in range(offset, offset + n)]


def _rate(rows, threads: int, out: Path, output_format: str = "webdataset") -> tuple[float, float]:
    """(images per second, client CPU milliseconds per image) of one shard download."""
    cfg = DownloadConfig(
        image_size=64,
        threads=threads,
        timeout=30,
        deadline=60,
        allow_hosts=["127.0.0.1"],
        output_format=output_format,
    )
    name = f"t{threads}-{output_format}"
    start, cpu = time.perf_counter(), time.process_time()
    stats = download_shard(rows, out / "images", name, out / f"m-{name}.jsonl", out / f"s-{name}.json", cfg)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert stats["success"] == len(rows), stats
    return len(rows) / seconds, 1000 * cpu / len(rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=128)
    p.add_argument("--rows", type=int, default=3000, help="rows for the thread pool")
    p.add_argument("--sequential-rows", type=int, default=100)
    p.add_argument("--latency", type=float, default=0.1)
    p.add_argument("--port", type=int, default=0, help="0: any free port")
    a = p.parse_args()
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from tests.image_server import serve_forever; serve_forever({a.latency}, {a.port})",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = server.stdout.readline().strip()
        load_before = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as tmp:
            # one-time costs (imports, pyarrow's first table, the first connection) land in neither side
            _rate(_rows(url, 8, 10**8), 8, Path(tmp) / "warm-up")
            sequential = _rate(_rows(url, a.sequential_rows, 0), 1, Path(tmp))
            pooled = {
                fmt: _rate(_rows(url, a.rows, a.sequential_rows), a.threads, Path(tmp), fmt)
                for fmt in ("webdataset", "files")
            }
    finally:
        server.kill()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after; server latency {a.latency * 1000:.0f} ms"
    )
    print(
        f"sequential loop : {sequential[0]:8.1f} images/s ({a.sequential_rows} rows, 1 thread, webdataset; "
        f"{sequential[1]:.2f} ms CPU per image)"
    )
    for fmt, (rate, cpu) in pooled.items():
        print(
            f"thread pool     : {rate:8.1f} images/s ({a.rows} rows, {a.threads} threads, {fmt}; "
            f"{cpu:.2f} ms CPU per image)"
        )
        print(f"speed-up        : {rate / sequential[0]:8.1f}x (goal >= 50x)")


if __name__ == "__main__":
    main()
