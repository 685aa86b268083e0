"""Download into webdataset shards (img2dataset's layout): kill and resume, retry, read back two ways."""

import io
import json
import subprocess
import tarfile
from collections import Counter
from functools import partial

import pyarrow.parquet as pq
import pytest
import webdataset as wds
from PIL import Image

from ccrk.cli import main
from ccrk.io import iter_jsonl
from tests.conftest import REPO
from tests.image_server import ImageServer
from tests.test_download import _cli_download, _url_list, clean_killed_resumed

# img2dataset's parquet columns (reader + downloader: caption, url, key, status, ...) and _stats.json fields
IMG2DATASET_COLUMNS = [
    "caption",
    "url",
    "key",
    "status",
    "error_message",
    "width",
    "height",
    "original_width",
    "original_height",
    "exif",
    "sha256",
]
IMG2DATASET_STATS = [
    "count",
    "successes",
    "failed_to_download",
    "failed_to_resize",
    "duration",
    "start_time",
    "end_time",
    "status_dict",
]
TIMING = ("duration", "start_time", "end_time")


@pytest.fixture(scope="module")
def server():
    with ImageServer(slow_seconds=1.5) as s:
        yield s


def _webdataset(tmp_path, urls_path, out):
    return [*_cli_download(tmp_path, urls_path, out), "--output-format", "webdataset"]


def _stem(tmp_path, out):
    return tmp_path / out / "web" / "000"


def test_killed_webdataset_shard_resumes_to_the_same_bytes(tmp_path, server):
    paths = [f"/good/{i}.jpg" for i in range(20, 44)] + ["/missing", "/page.html", "/corrupt.jpg"]
    urls = _url_list(tmp_path / "urls.tsv", server, paths)
    stem = _stem(tmp_path, "killed")

    def nothing_looks_finished():  # no tar, parquet or stats yet, only the staging folder
        assert not any(stem.with_name(stem.name + s).exists() for s in (".tar", ".parquet", "_stats.json"))
        assert stem.with_name("000.partial").is_dir()

    command = partial(_webdataset, tmp_path, tmp_path / "urls.tsv")
    done_before = clean_killed_resumed(tmp_path, server, command, nothing_looks_finished)
    for url in done_before:  # rows finished before the kill were not fetched again
        assert server.counts[url.removeprefix(server.url)] == 1, url
    clean, killed = _stem(tmp_path, "clean"), _stem(tmp_path, "killed")
    # the same tar, byte for byte; the same parquet rows; the same stats but for the timing fields
    assert (killed.parent / "000.tar").read_bytes() == (clean.parent / "000.tar").read_bytes()
    assert pq.read_table(killed.parent / "000.parquet").equals(pq.read_table(clean.parent / "000.parquet"))
    stats = [json.loads((d.parent / "000_stats.json").read_text()) for d in (clean, killed)]
    assert [{k: v for k, v in s.items() if k not in TIMING} for s in stats][0] == {
        k: v for k, v in stats[1].items() if k not in TIMING
    }
    assert sorted(p.name for p in killed.parent.iterdir()) == ["000.parquet", "000.tar", "000_stats.json"]
    manifest = [rec for _, rec in iter_jsonl(tmp_path / "killed" / "manifest.jsonl")]
    assert manifest == [rec for _, rec in iter_jsonl(tmp_path / "clean" / "manifest.jsonl")]
    ok = [r for r in manifest if r["status"] == "success"]
    assert len(ok) == 24 and all(r["tar"] == "web/000.tar" and r["path"] is None for r in ok)
    run = json.loads((tmp_path / "killed" / "stats.json").read_text())
    assert run["resumed"] >= 8 and run["fetched"] + run["resumed"] == len(paths)
    _check_shard(killed.parent, manifest, urls)


def _check_shard(folder, manifest, urls):
    """The shard reads back with Python's tarfile and with the webdataset library, in img2dataset's layout."""
    ok = [r for r in manifest if r["status"] == "success"]
    with tarfile.open(folder / "000.tar") as tar:
        names = tar.getnames()
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    assert names == [f"{r['key']}.{ext}" for r in ok for ext in ("jpg", "json", "txt")]
    samples = list(wds.WebDataset(str(folder / "000.tar"), shardshuffle=False))
    assert [s["__key__"] for s in samples] == [r["key"] for r in ok]
    for sample, rec in zip(samples, ok):
        assert sample["jpg"] == members[f"{rec['key']}.jpg"]
        with Image.open(io.BytesIO(sample["jpg"])) as im:
            assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (rec["width"], rec["height"]))
        assert sample["txt"].decode() == rec["caption"]
        meta = json.loads(sample["json"])
        assert list(meta)[: len(IMG2DATASET_COLUMNS)] == IMG2DATASET_COLUMNS
        assert (meta["url"], meta["key"], meta["status"], meta["sha256"]) == (
            rec["url"],
            rec["key"],
            "success",
            rec["sha256"],
        )
        assert sample["json"].decode() == json.dumps(
            meta, indent=4, ensure_ascii=False
        )  # img2dataset's indent
    table = pq.read_table(folder / "000.parquet")
    assert table.column_names[: len(IMG2DATASET_COLUMNS)] == IMG2DATASET_COLUMNS
    rows = table.to_pylist()
    assert [r["url"] for r in rows] == urls and [r["key"] for r in rows] == [r["key"] for r in manifest]
    by_url = {r["url"].rsplit("/", 1)[-1]: r["status"] for r in rows}
    assert (by_url["missing"], by_url["page.html"], by_url["corrupt.jpg"]) == (
        "failed_to_download",
        "failed_to_resize",
        "failed_to_resize",
    )
    stats = json.loads((folder / "000_stats.json").read_text())
    assert list(stats) == IMG2DATASET_STATS
    assert (stats["count"], stats["successes"], stats["failed_to_download"], stats["failed_to_resize"]) == (
        len(urls),
        len(ok),
        1,
        2,
    )
    assert stats["status_dict"]["success"] == len(ok) and sum(stats["status_dict"].values()) == len(urls)


def test_retry_rebuilds_the_webdataset_shard(tmp_path, server):
    _url_list(tmp_path / "urls.tsv", server, ["/good/11.jpg", "/missing", "/error", "/page.html"])
    subprocess.run(_webdataset(tmp_path, tmp_path / "urls.tsv", "out"), check=True, cwd=REPO, timeout=60)
    folder = _stem(tmp_path, "out").parent
    with tarfile.open(folder / "000.tar") as tar:
        assert tar.getnames() == ["000000000.jpg", "000000000.json", "000000000.txt"]
        first = tar.extractfile("000000000.jpg").read()
    before = Counter(server.counts)
    server.heal()
    try:
        argv = ["download-retry", "--manifest", str(tmp_path / "out" / "manifest.jsonl")]
        argv += ["--stats", str(tmp_path / "out" / "stats.json"), "--images-root", str(tmp_path / "out")]
        assert main(argv) == 0
    finally:
        server.healed = False
    assert Counter(server.counts) - before == Counter({"/missing": 1, "/error": 1, "/page.html": 1})
    with tarfile.open(folder / "000.tar") as tar:
        assert tar.getnames() == [f"00000000{i}.{e}" for i in range(3) for e in ("jpg", "json", "txt")]
        assert tar.extractfile("000000000.jpg").read() == first  # the stored image kept as it was
    rows = pq.read_table(folder / "000.parquet").to_pylist()
    assert [r["status"] for r in rows] == ["success", "success", "success", "failed_to_resize"]
    assert json.loads((folder / "000_stats.json").read_text())["successes"] == 3
    assert sorted(p.name for p in folder.iterdir()) == ["000.parquet", "000.tar", "000_stats.json"]
