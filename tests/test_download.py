"""Image download against a local server that injects every failure a real URL list has."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from functools import partial

import pytest
from PIL import Image

from ccrk.cli import main
from ccrk.download.shards import DownloadConfig, download_list_shard, retry_failed, shard_rows
from ccrk.download.urls import UrlRow, read_url_list
from ccrk.download.verify import target_size
from ccrk.errors import DataError
from ccrk.io import iter_jsonl
from tests.conftest import FIXTURES, REPO
from tests.image_server import ImageServer, good_jpeg

CC3M = FIXTURES / "cc3m" / "Validation_GCC-1.1.0-Validation.tsv"
GOOD = ["/good/0.jpg", "/good/3.jpg", "/good/6.jpg", "/good/9.jpg", "/alpha.png", "/redirect.jpg"]
FAULTS = {  # path -> the error kind its manifest row must carry
    "/missing": "http",
    "/error": "http_5xx",
    "/slow.jpg": "timeout",
    "/truncated.jpg": "truncated",
    "/corrupt.jpg": "decode",
    "/page.html": "not_image",
    "/big.jpg": "too_large",
    "/big-stream.jpg": "too_large",
    "/loop": "redirects",
    "/to-file": "scheme",
    "/bomb.png": "too_many_pixels",
}
LOCAL = ["127.0.0.1"]  # the test server's host, refused by the default host policy
SETTINGS = DownloadConfig(
    image_size=48,
    timeout=0.4,
    max_bytes=100_000,
    max_pixels=4_000_000,
    threads=8,
    allow_hosts=LOCAL,
    output_format="files",
)


@pytest.fixture(scope="module")
def server():
    with ImageServer(slow_seconds=1.5) as s:
        yield s


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _url_list(path, server, paths, extra=()):
    """A CC3M-style TSV: the real fixture's captions, the local server's URLs."""
    captions = [line.split("\t")[0] for line in CC3M.read_text(encoding="utf-8").splitlines()]
    urls = [server.url + p for p in paths] + list(extra)
    path.write_text("".join(f"{c}\t{u}\n" for c, u in zip(captions, urls)), encoding="utf-8")
    return urls


def _run(tmp_path, urls_path, shards=2, cfg=SETTINGS):
    for shard in range(shards):
        download_list_shard(
            urls_path,
            "tsv",
            shard,
            shards,
            tmp_path / "images",
            f"web/{shard:03d}",
            tmp_path / f"manifest-{shard:03d}.jsonl",
            tmp_path / f"stats-{shard:03d}.json",
            cfg,
        )
    return [rec for shard in range(shards) for _, rec in iter_jsonl(tmp_path / f"manifest-{shard:03d}.jsonl")]


def _stored(tmp_path):
    return sorted(
        str(p.relative_to(tmp_path / "images")) for p in (tmp_path / "images").rglob("*") if p.is_file()
    )


@pytest.fixture(scope="module")
def faults_run(tmp_path_factory, server):
    tmp_path = tmp_path_factory.mktemp("download")
    paths = GOOD + list(FAULTS)
    extra = [
        "ftp://127.0.0.1/photo.jpg",
        f"http://127.0.0.1:{_closed_port()}/photo.jpg",
        "http://[bad/photo.jpg",
    ]
    urls = _url_list(tmp_path / "urls.tsv", server, paths, extra)
    return tmp_path, urls, _run(tmp_path, tmp_path / "urls.tsv")


def test_manifest_counts_every_case_and_stores_exactly_the_good_images(faults_run):
    tmp_path, urls, records = faults_run
    assert [r["url"] for r in records] == urls and [r["row"] for r in records] == list(range(len(urls)))
    expected = Counter(FAULTS.values()) + Counter({"scheme": 1, "connection": 1, "invalid_url": 1})
    assert Counter(r["error_kind"] for r in records if r["status"] == "failed") == expected
    good = [r for r in records if r["status"] == "success"]
    assert [r["url"] for r in good] == urls[: len(GOOD)]
    assert all(r["error_kind"] is None and r["error"] is None for r in good)
    assert all(
        r["error"] and r["path"] is None and r["width"] is None for r in records if r["status"] == "failed"
    )
    # every good image stored, nothing else (no temp file, no partial folder, no progress file)
    assert _stored(tmp_path) == sorted(r["path"] for r in good)
    assert not list(tmp_path.rglob("*.partial")) and not list(tmp_path.rglob(".*"))
    for r in good:
        with Image.open(tmp_path / "images" / r["path"]) as im:
            im.load()
            assert (im.width, im.height, im.mode, im.format) == (r["width"], r["height"], "RGB", "JPEG")
        assert min(r["width"], r["height"]) == min(48, r["original_width"], r["original_height"])
    alpha = next(r for r in good if r["url"].endswith("/alpha.png"))
    assert (alpha["original_width"], alpha["original_height"], alpha["width"], alpha["height"]) == (
        50,
        40,
        50,
        40,
    )
    big = next(r for r in good if r["url"].endswith("/good/6.jpg"))  # 40 + 37*6 = 262 x 30 + 23 = 53
    assert (big["original_width"], big["original_height"], big["width"], big["height"]) == (262, 53, 237, 48)
    # a verified RGB JPEG that needs no change is stored byte for byte; a resized one is re-encoded
    assert (tmp_path / "images" / good[0]["path"]).read_bytes() == good_jpeg(0)
    assert (tmp_path / "images" / big["path"]).read_bytes() != good_jpeg(6)
    with Image.open(tmp_path / "images" / alpha["path"]) as im:
        assert im.getpixel((5, 5)) > (240, 240, 240)  # transparent pixels became white, not black


def test_stats_per_shard_add_up(faults_run):
    tmp_path, urls, records = faults_run
    stats = [json.loads((tmp_path / f"stats-{s:03d}.json").read_text()) for s in range(2)]
    assert sum(s["count"] for s in stats) == len(urls)
    assert sum(s["success"] for s in stats) == len(GOOD)
    assert sum((Counter(s["failed_by_kind"]) for s in stats), Counter()) == Counter(
        r["error_kind"] for r in records if r["error_kind"]
    )
    assert stats[0]["settings"]["max_bytes"] == 100_000 and stats[1]["subdir"] == "web/001"


def test_retry_fetches_only_the_failed_rows(tmp_path, server):
    _url_list(tmp_path / "urls.tsv", server, ["/good/11.jpg", "/missing", "/error", "/page.html"])
    records = _run(tmp_path, tmp_path / "urls.tsv", shards=1)
    assert [r["status"] for r in records] == ["success", "failed", "failed", "failed"]
    before = Counter(server.counts)
    server.heal()  # /missing and /error now serve an image
    try:  # the command, with the settings the shard was downloaded with (kept in its stats)
        assert (
            main(
                [
                    "download-retry",
                    "--manifest",
                    str(tmp_path / "manifest-000.jsonl"),
                    "--stats",
                    str(tmp_path / "stats-000.json"),
                    "--images-root",
                    str(tmp_path / "images"),
                ]
            )
            == 0
        )
    finally:
        server.healed = False
    stats = json.loads((tmp_path / "stats-000.json").read_text())
    after = [rec for _, rec in iter_jsonl(tmp_path / "manifest-000.jsonl")]
    assert [r["status"] for r in after] == ["success", "success", "success", "failed"]
    assert after[0] == records[0] and after[3]["error_kind"] == "not_image"
    assert (stats["retried"], stats["recovered"], stats["success"]) == (3, 2, 3)
    fetched = Counter(server.counts) - before
    assert fetched == Counter(
        {"/missing": 1, "/error": 1, "/page.html": 1}
    )  # the good row was not fetched again
    assert _stored(tmp_path) == sorted(r["path"] for r in after if r["status"] == "success")
    before = Counter(server.counts)
    again = retry_failed(
        tmp_path / "manifest-000.jsonl", tmp_path / "stats-000.json", tmp_path / "images", kinds=["timeout"]
    )  # the one failure left is not_image: nothing to retry
    assert again["retried"] == 0 and Counter(server.counts) == before


def _cli_download(tmp_path, urls_path, out):
    return [
        sys.executable,
        "-m",
        "ccrk",
        "download",
        "--urls",
        str(urls_path),
        "--shard",
        "0",
        "--shards",
        "1",
        "--images-root",
        str(tmp_path / out),
        "--subdir",
        "web/000",
        "--manifest",
        str(tmp_path / out / "manifest.jsonl"),
        "--stats",
        str(tmp_path / out / "stats.json"),
        "--threads",
        "2",
        "--timeout",
        "0.4",
        "--image-size",
        "48",
        "--allow-hosts",
        "127.0.0.1",
        "--output-format",
        "files",
    ]


def clean_killed_resumed(tmp_path, server, command, check_killed) -> list[str]:
    """Run `command(out)` into `clean`; into `killed`, SIGKILL it once 8 rows are recorded, `check_killed()`,
    then run it again (the resume). The URLs recorded before the kill; server counts restart after `clean`."""
    server.latency = 0.08  # ~1 s for the whole list on 2 threads: the kill lands in the middle
    try:
        subprocess.run(command("clean"), check=True, cwd=REPO, timeout=60)
        server.counts.clear()
        proc = subprocess.Popen(command("killed"), cwd=REPO)
        progress = tmp_path / "killed" / "manifest.jsonl.partial"
        deadline = time.monotonic() + 120  # a loaded machine is slow to start Python
        while time.monotonic() < deadline and (
            not progress.exists() or len(progress.read_text().splitlines()) < 8
        ):
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        done = [json.loads(line)["url"] for line in progress.read_text().splitlines()[:8]]
        check_killed()
        subprocess.run(command("killed"), check=True, cwd=REPO, timeout=60)
    finally:
        server.latency = 0.0
    return done


def test_killed_run_resumes_to_the_same_result_without_refetching(tmp_path, server):
    paths = [f"/good/{i}.jpg" for i in range(20, 44)] + ["/missing", "/page.html", "/truncated.jpg"]
    _url_list(tmp_path / "urls.tsv", server, paths)

    def nothing_looks_finished():
        assert not (tmp_path / "killed" / "manifest.jsonl").exists()

    command = partial(_cli_download, tmp_path, tmp_path / "urls.tsv")
    done_before = clean_killed_resumed(tmp_path, server, command, nothing_looks_finished)
    clean = [rec for _, rec in iter_jsonl(tmp_path / "clean" / "manifest.jsonl")]
    resumed = [rec for _, rec in iter_jsonl(tmp_path / "killed" / "manifest.jsonl")]
    assert resumed == clean and sum(r["status"] == "success" for r in clean) == 24
    for url in done_before:  # rows finished before the kill were not fetched again
        assert server.counts[url.removeprefix(server.url)] == 1, url
    stats = json.loads((tmp_path / "killed" / "stats.json").read_text())
    assert (
        stats["resumed"] >= 8 and stats["fetched"] >= 1 and stats["fetched"] + stats["resumed"] == len(paths)
    )
    for r in clean:
        if r["path"]:
            assert (tmp_path / "killed" / r["path"]).read_bytes() == (
                tmp_path / "clean" / r["path"]
            ).read_bytes()
    assert sorted(p.name for p in (tmp_path / "killed" / "web").iterdir()) == ["000"]


def test_real_cc3m_list_reads_and_shards_exactly():
    rows = read_url_list(CC3M, "tsv")
    assert len(rows) == 100 and rows[0].key == "000000000" and rows[99].key == "000000099"
    assert rows[0].caption == "author : a life in photography -- in pictures"
    assert "£" in rows[58].caption and all(r.url.startswith(("http://", "https://")) for r in rows)
    shards = [shard_rows(rows, s, 7) for s in range(7)]
    assert [r for shard in shards for r in shard] == rows and {len(s) for s in shards} == {14, 15}


def test_bad_url_lists_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("a caption\thttp://x/1.jpg\na caption without url\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.tsv:2: field 'url'"):
        read_url_list(bad, "tsv")
    urls = tmp_path / "sbu.txt"
    urls.write_text("http://x/1.jpg\nhttp://x/2.jpg\n")
    (tmp_path / "captions.txt").write_text("only one\n")
    with pytest.raises(DataError, match="1 captions for the 2 lines"):
        read_url_list(urls, "urls", tmp_path / "captions.txt")
    (tmp_path / "captions.txt").write_text("one\ntwo\n")
    assert [(r.key, r.caption) for r in read_url_list(urls, "urls", tmp_path / "captions.txt")] == [
        ("000000000", "one"),
        ("000000001", "two"),
    ]


def test_coco_url_list_keys_are_file_names(tmp_path):
    coco = tmp_path / "captions.json"
    coco.write_text(
        json.dumps(
            {
                "images": [
                    {
                        "id": 9,
                        "file_name": "COCO_val2014_000000000009.jpg",
                        "coco_url": "http://images.cocodataset.org/val2014/x.jpg",
                    }
                ],
                "annotations": [{"image_id": 9, "id": 1, "caption": "a cat"}],
            }
        )
    )
    (row,) = read_url_list(coco, "coco")
    assert (row.key, row.caption) == ("COCO_val2014_000000000009", "a cat")


def test_target_sizes():
    assert target_size(640, 480, 384, "keep_ratio") == (512, 384)
    assert target_size(300, 200, 384, "keep_ratio") == (300, 200)  # never enlarged
    assert target_size(300, 200, 384, "center_crop") == (576, 384)  # then cropped to 384 x 384
    assert target_size(640, 480, 384, "none") == (640, 480)
    with pytest.raises(ValueError, match="resize_mode"):
        DownloadConfig(resize_mode="stretch")


def test_corpus_takes_images_from_the_manifests_and_counts_what_it_drops(faults_run):
    from ccrk.data.corpus import build_corpus
    from ccrk.data.pretrain_dataset import read_corpus
    from ccrk.download.manifest import CorpusImages
    from ccrk.io import write_jsonl

    tmp_path, urls, records = faults_run
    (tmp_path / "images" / "local").mkdir(exist_ok=True)
    (tmp_path / "images" / "local" / "a.jpg").write_bytes(b"")
    given = tmp_path / "given.jsonl"
    write_jsonl(
        given,
        [
            {"caption": {"en": "one", "de": "eins"}, "url": urls[0]},  # stored
            {"caption": {"en": "two", "de": "zwei"}, "url": urls[len(GOOD)]},  # its download failed (404)
            {"caption": {"en": "three", "de": "drei"}, "url": "http://never.listed/x.jpg"},  # in no manifest
            {"caption": {"en": "four", "de": "vier"}, "image_path": "local/a.jpg"},  # a file under the root
            {"caption": {"en": "five", "de": "fünf"}, "image_path": "local/absent.jpg"},  # no such file
            {"caption": {"en": "six"}, "url": urls[1]},  # no German caption
        ],
    )
    manifests = [tmp_path / f"manifest-{s:03d}.jsonl" for s in range(2)]
    parts = [tmp_path / "corpus" / f"part-{i}.jsonl" for i in range(2)]
    images = CorpusImages(manifests, tmp_path / "images", "skip")
    report = build_corpus(given, [], parts, ["en", "de"], tmp_path / "corpus" / "report.json", images=images)
    assert (report["kept"], report["dropped"], report["dropped_missing_language"]) == (
        2,
        4,
        {"en": 0, "de": 1},
    )
    assert (
        report["image_download_failed"],
        report["image_not_downloaded"],
        report["missing_images_skipped"],
    ) == (1, 1, 1)
    kept = read_corpus(parts, ["en", "de"])
    assert sorted((i.image_path, i.captions[0]) for i in kept) == [
        ("local/a.jpg", "four"),
        (records[0]["path"], "one"),
    ]
    with pytest.raises(
        DataError, match=r"given.jsonl:3: field 'url': http://never.listed/x.jpg is in no download"
    ):
        build_corpus(
            given, [], parts, ["en", "de"], images=CorpusImages(manifests, tmp_path / "images", "fail")
        )
    write_jsonl(given, [{"caption": {"en": "x", "de": "y"}, "image_path": "../../etc/passwd"}])
    with pytest.raises(DataError, match=r"given.jsonl:1: field 'image_path': .* escapes the image root"):
        build_corpus(
            given, [], parts, ["en", "de"], images=CorpusImages(manifests, tmp_path / "images", "skip")
        )


def test_build_corpus_command_reads_the_manifests(faults_run, tmp_path):
    from ccrk.io import write_jsonl

    run_dir, urls, records = faults_run
    write_jsonl(tmp_path / "given.jsonl", [{"caption": {"en": "a"}, "url": u} for u in urls])
    argv = [
        "build-corpus",
        "--given",
        str(tmp_path / "given.jsonl"),
        "--out",
        str(tmp_path / "part.jsonl"),
        "--languages",
        "en",
        "--report",
        str(tmp_path / "report.json"),
        "--image-root",
        str(run_dir / "images"),
        "--manifests",
        *[str(run_dir / f"manifest-{s:03d}.jsonl") for s in range(2)],
    ]
    assert main(argv) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert (report["kept"], report["image_download_failed"]) == (len(GOOD), len(urls) - len(GOOD))
    assert [r["image_path"] for _, r in iter_jsonl(tmp_path / "part.jsonl")] == [
        r["path"] for r in records[: len(GOOD)]
    ]


def test_resume_keeps_progress_only_for_the_same_settings(tmp_path, server, monkeypatch):
    import ccrk.download.shards as download

    rows = [UrlRow(i, f"{i:09d}", f"{server.url}/good/{60 + i}.jpg", "") for i in range(5)]
    real = download._fetch_all

    def killed_after_two(*args):
        for n, rec in enumerate(real(*args)):
            if n == 2:
                raise KeyboardInterrupt  # stands for the kill: two rows recorded
            yield rec

    def run(cfg, kill):
        monkeypatch.setattr(download, "_fetch_all", killed_after_two if kill else real)
        args = (rows, tmp_path / "images", "web/000", tmp_path / "m.jsonl", tmp_path / "s.json", cfg)
        if kill:
            with pytest.raises(KeyboardInterrupt):
                download.download_shard(*args)
        else:
            return download.download_shard(*args)

    one = DownloadConfig(image_size=48, threads=1, timeout=2, allow_hosts=LOCAL, output_format="files")
    run(one, kill=True)
    assert run(one, kill=False)["resumed"] == 2
    run(one, kill=True)
    other = DownloadConfig(image_size=32, threads=1, timeout=2, allow_hosts=LOCAL, output_format="files")
    assert run(other, kill=False)["resumed"] == 0  # stored at another size: nothing reused
    with Image.open(tmp_path / "images" / "web" / "000" / "000000004.jpg") as im:
        assert min(im.size) == 32
