"""The downloader against servers and files that try to hang it or blow it up: each case reproduced locally."""

import io
import json
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from PIL import EpsImagePlugin, Image

from ccrk.cli import main
from ccrk.download.fetch import Fetcher, FetchError, HostPolicy, blocked_reason
from ccrk.download.shards import (
    ERROR_KINDS,
    DownloadConfig,
    DownloadStalled,
    download_shard,
    retry_failed,
)
from ccrk.download.urls import UrlRow
from ccrk.download.verify import DecodeBudget, ImageRejected, verify_and_resize
from ccrk.errors import CCRKError
from ccrk.io import iter_jsonl
from tests.conftest import REPO
from tests.image_server import ImageServer, high_bit_depth, hostile_bodies

LOCAL = ["127.0.0.1"]


@pytest.fixture(scope="module")
def server():
    with ImageServer(drip_seconds=0.5) as s:
        yield s


def _rows(server, paths):
    return [UrlRow(i, f"{i:09d}", p if "://" in p else server.url + p, "") for i, p in enumerate(paths)]


def _shard(tmp_path, rows, name="s", **settings):
    cfg = DownloadConfig(**{"image_size": 32, "timeout": 2.0, "threads": 4, "allow_hosts": LOCAL, **settings})
    download_shard(
        rows, tmp_path / "images", name, tmp_path / f"{name}.jsonl", tmp_path / f"{name}.json", cfg
    )
    return [rec for _, rec in iter_jsonl(tmp_path / f"{name}.jsonl")]


def _kinds(records):
    return {r["url"].rsplit("/", 1)[-1]: r["error_kind"] for r in records}


def test_a_drip_ends_as_timeout_within_the_deadline(tmp_path, server):
    # a byte every 0.5 s keeps every read under the 2 s read timeout: only the 1.5 s deadline can end it
    paths = ["/drip.jpg", "/drip-headers", "/drip-redirect", "/endless-redirect"]
    start = time.monotonic()
    # loose files: the shard's tar and parquet writing (webdataset) is not part of the URLs' time
    records = _shard(tmp_path, _rows(server, paths), deadline=1.5, output_format="files")
    assert time.monotonic() - start < 1.5 + 1.0
    assert _kinds(records) == {
        "drip.jpg": "timeout",
        "drip-headers": "timeout",
        "drip-redirect": "timeout",  # a short redirect body is read, within the deadline
        "endless-redirect": None,  # an endless redirect body is not read: the redirect is followed at once
    }
    assert all("deadline of 1.5 s" in r["error"] for r in records if r["error_kind"])


def test_retry_after_is_honoured_up_to_a_bound(tmp_path, server):
    records = _shard(tmp_path, _rows(server, ["/busy?a", "/busy-long?a"]), retries=2, max_retry_after=5)
    assert [r["error_kind"] for r in records] == [None, "http_5xx"]
    first, second = server.times["/busy?a"]
    assert second - first >= 1.0  # the server asked for 1 s; the backoff alone would wait 0.5 s
    assert len(server.times["/busy-long?a"]) == 1  # an hour is over the bound: no waiting, no retry
    assert "Retry-After 3600 s is over download.max_retry_after" in records[1]["error"]


def test_redirects_without_location_and_bodiless_statuses_are_http_errors(tmp_path, server):
    records = _shard(tmp_path, _rows(server, ["/no-location", "/no-content", "/not-modified"]))
    assert _kinds(records) == {"no-location": "http", "no-content": "http", "not-modified": "http"}
    assert [r["error"] for r in records] == [
        "HTTP 302 Found: no Location to follow",
        "HTTP 204 No Content: no image body",
        "HTTP 304 Not Modified: no image body",
    ]


def test_no_manifest_keeps_bytes_of_a_reply(tmp_path, server):
    records = _shard(tmp_path, _rows(server, ["/secret.html", "/secret-404", "/garbage"]))
    assert _kinds(records) == {"secret.html": "not_image", "secret-404": "http", "garbage": "connection"}
    for r in records:
        assert "SECRET" not in json.dumps(r), r


def test_the_host_policy_refuses_internal_addresses_at_every_hop(tmp_path, server):
    before = Counter(server.counts)
    port = server.url.rsplit(":", 1)[1]
    direct = [f"http://127.0.0.1:{port}/good/1.jpg", f"http://localhost:{port}/good/1.jpg"]
    direct.append("https://10.0.0.1/x.jpg")  # the TLS connection is guarded the same way
    records = _shard(tmp_path, _rows(server, direct), name="default", allow_hosts=[])
    assert [r["error_kind"] for r in records] == ["blocked_host"] * 3
    assert "a loopback address: refused (download.allow_hosts" in records[0]["error"]
    assert server.counts == before  # refused before connecting
    hops = ["/to-metadata", "/to-loopback2", "/to-ipv6-loopback", "/to-private", "/redirect.jpg"]
    records = _shard(tmp_path, _rows(server, hops), name="allowed")  # 127.0.0.1 allowed, nothing else
    assert _kinds(records) == {
        "to-metadata": "blocked_host",
        "to-loopback2": "blocked_host",
        "to-ipv6-loopback": "blocked_host",
        "to-private": "blocked_host",
        "redirect.jpg": None,
    }
    assert "169.254.169.254, a cloud-metadata address" in records[0]["error"]
    assert "10.0.0.1, a private address" in records[3]["error"]


def test_blocked_addresses_and_the_allow_list():
    assert {a: blocked_reason(a) for a in ("127.0.0.1", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1")} == {
        "127.0.0.1": "loopback",
        "::1": "loopback",
        "10.1.2.3": "private",
        "172.16.0.1": "private",
        "192.168.1.1": "private",
    }
    assert blocked_reason("169.254.169.254") == "cloud-metadata" and blocked_reason("fd00:ec2::254") == (
        "cloud-metadata"
    )
    assert blocked_reason("169.254.1.1") == "link-local" and blocked_reason("fe80::1") == "link-local"
    assert blocked_reason("224.0.0.1") == "multicast" and blocked_reason("ff02::1") == "multicast"
    assert blocked_reason("0.0.0.0") == "unspecified" or blocked_reason("0.0.0.0") == "private"
    assert blocked_reason("100.64.0.1") == "non-global"  # carrier-grade NAT
    assert blocked_reason("::ffff:127.0.0.1") == "loopback"  # IPv4-mapped
    assert blocked_reason("8.8.8.8") is None and blocked_reason("2606:4700::1111") is None
    policy = HostPolicy(["10.0.0.0/8", "Mirror.Internal"])
    policy.check("a.example", ["10.9.9.9"])
    policy.check("mirror.internal.", ["192.168.0.5"])
    with pytest.raises(FetchError, match="192.168.0.5, a private address"):
        policy.check("a.example", ["8.8.8.8", "192.168.0.5"])  # one internal address is enough to refuse


def test_fetcher_deadline_covers_retries():
    fetcher = Fetcher(timeout=5, max_bytes=1000, retries=5, deadline=0.6, allow_hosts=LOCAL)
    start = time.monotonic()
    with pytest.raises(FetchError) as e:  # a closed port fails at once; the backoff would pass the deadline
        fetcher.fetch("http://127.0.0.1:9/x.jpg")
    fetcher.close()
    assert e.value.kind == "connection" and "no time for another try" in str(e.value)
    assert time.monotonic() - start < 1.5  # five retries with their backoff would take 11.5 s


@pytest.mark.parametrize("name", sorted(high_bit_depth()))
def test_high_bit_depth_and_float_images_keep_their_brightness(name):
    data, shown = high_bit_depth()[name]
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode in ("I;16", "I", "F", "RGB") and im.format in ("PNG", "TIFF")
    stored = verify_and_resize(data, "", 384, "keep_ratio", 10**6)
    with Image.open(io.BytesIO(stored.jpeg)) as im:
        assert im.mode == "RGB"
        got = im.getpixel((16, 12))
    assert all(abs(g - s) <= 2 for g, s in zip(got, shown)), (name, got, shown)


def test_eps_is_rejected_without_reaching_ghostscript(tmp_path, server, monkeypatch):
    eps = hostile_bodies()["/eps"][1]
    with Image.open(io.BytesIO(eps)) as im:
        assert im.format == "EPS"  # unrestricted Pillow would take it, and load() would run Ghostscript
    calls = []
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: calls.append("gs"))
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", lambda self: calls.append("open"))
    records = _shard(tmp_path, _rows(server, ["/eps"]))
    assert records[0]["error_kind"] == "decode" and calls == []
    assert "not a readable image in JPEG, PNG, WEBP, GIF, BMP, TIFF, AVIF" in records[0]["error"]
    with pytest.raises(ImageRejected, match="not a readable image"):
        verify_and_resize(eps, "application/postscript", 32, "keep_ratio", 10**6)


def test_decode_budget_admits_in_order_and_lets_a_lone_image_through():
    budget = DecodeBudget(10)
    with budget.hold(30):  # over the budget alone: it goes ahead
        pass
    admitted = {"big": threading.Event(), "small": threading.Event()}

    def hold(name, pixels):
        with budget.hold(pixels):
            admitted[name].set()
            time.sleep(0.1)

    with budget.hold(6):
        big = threading.Thread(target=hold, args=("big", 6))
        big.start()
        while budget.tickets < 2:
            time.sleep(0.01)
        small = threading.Thread(target=hold, args=("small", 2))  # would fit, but comes after the waiting one
        small.start()
        assert not admitted["big"].wait(0.3) and not admitted["small"].is_set()
    assert admitted["big"].wait(5) and admitted["small"].wait(5)
    big.join()
    small.join()
    assert budget.used == 0
    with pytest.raises(ValueError, match="max_pixels 60 is over download.decode_pixels 50"):
        DownloadConfig(max_pixels=60, decode_pixels=50)  # an image at the cap could never be decoded


_MEASURE = """
import json, sys
from ccrk.download.shards import DownloadConfig, download_shard
from ccrk.download.urls import UrlRow

def status(key):  # kB in /proc/self/status; getrusage's ru_maxrss would start at the parent's size at fork
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(key))

url, out, budget = sys.argv[1], sys.argv[2], int(sys.argv[3])
cfg = DownloadConfig(image_size=64, threads=4, max_pixels=6_000_000, decode_pixels=budget, allow_hosts=["127.0.0.1"])
download_shard([UrlRow(0, "w", url + "/good/1.jpg", "")], out, "warm", out + "/w.jsonl", out + "/w.json", cfg)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak (VmHWM) starts again from the present size
before = status("VmRSS:")
rows = [UrlRow(i, "%09d" % i, url + "/huge.png?n=%d" % i, "") for i in range(4)]
stats = download_shard(rows, out, "huge", out + "/m.jsonl", out + "/s.json", cfg)
print(json.dumps({"growth": status("VmHWM:") - before, "success": stats["success"]}))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")
def test_peak_memory_of_a_shard_is_bounded_by_the_decode_budget(tmp_path, server):
    """Four 6-megapixel PNGs (24 MB decoded each, a few kB on the wire) fetched by four threads at once."""
    growth = {}
    for images_at_once in (1, 4):
        out = tmp_path / str(images_at_once)
        out.mkdir()
        proc = subprocess.run(
            [sys.executable, "-c", _MEASURE, server.url, str(out), str(images_at_once * 6_000_000)],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
        )
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        assert result["success"] == 4, proc.stderr[-2000:]
        growth[images_at_once] = result["growth"]
    assert growth[1] < 6_000_000 * 10  # the documented bound: ~10 bytes per budget pixel
    # with room for four, several decode together (how many overlap depends on the load: at least two)
    assert growth[4] > growth[1] + 24_000_000


def test_watchdog_stops_a_shard_whose_first_rows_all_fail(tmp_path, server):
    dead = [f"http://127.0.0.1:9/{i}.jpg" for i in range(12)]  # nothing listens: DNS or network down
    rows = _rows(server, ["/good/1.jpg", *dead])
    with pytest.raises(
        DownloadStalled, match=r"1 of the first 10 rows succeeded.*'connection': 9.*network down"
    ):
        _shard(tmp_path, rows, threads=1, watchdog_rows=10, watchdog_min_success=0.5)
    assert not (tmp_path / "s.jsonl").exists()
    progress = [json.loads(line) for line in (tmp_path / "s.jsonl.partial").read_text().splitlines()]
    assert [r["status"] for r in progress] == ["success"]  # the failures are fetched again by a rerun
    records = _shard(tmp_path, rows, threads=1, watchdog_rows=0)
    assert Counter(r["status"] for r in records) == {"failed": 12, "success": 1}
    mixed = _rows(server, ["/good/2.jpg", "/missing", "/good/3.jpg", "/missing"])
    assert len(_shard(tmp_path, mixed, name="ok", watchdog_rows=4, watchdog_min_success=0.5)) == 4


def test_download_retry_refuses_other_image_settings_and_unknown_kinds(tmp_path, server, capsys):
    _shard(tmp_path, _rows(server, ["/good/1.jpg", "/missing"]))
    args = ["--manifest", str(tmp_path / "s.jsonl"), "--stats", str(tmp_path / "s.json")]
    args += ["--images-root", str(tmp_path / "images")]
    assert main(["download-retry", *args, "--image-size", "64"]) == 1
    err = capsys.readouterr().err
    assert "stored with image_size 32; retrying with image_size 64 would leave a shard of mixed images" in err
    assert main(["download-retry", *args, "--kinds", "timeout,htpp"]) == 1
    assert "unknown error kind(s) ['htpp']" in capsys.readouterr().err
    assert (
        main(["download-retry", *args, "--kinds", "http", "--timeout", "3"]) == 0
    )  # fetch settings may change
    with pytest.raises(CCRKError, match="resize_mode"):
        retry_failed(
            tmp_path / "s.jsonl",
            tmp_path / "s.json",
            tmp_path / "images",
            DownloadConfig(image_size=32, resize_mode="center_crop"),
        )
    assert "blocked_host" in ERROR_KINDS and "other" in ERROR_KINDS
