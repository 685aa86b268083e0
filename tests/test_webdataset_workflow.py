"""Snakemake pretrains from tar shards end to end: a URL list downloaded into ccrk's webdataset shards (from a
local server), and shards written here in img2dataset's exact layout, joined with the captions by URL and key."""

import copy
import hashlib
import io
import json
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from webdataset import TarWriter

from ccrk.data.stream import ShardPlan
from ccrk.io import iter_jsonl, write_jsonl
from ccrk.pretrain import stream_steps_per_epoch
from tests.conftest import FIXTURES, TINY_MODEL
from tests.image_server import ImageServer
from tests.test_workflow import _config, _snakemake, _write_config

CC3M = FIXTURES / "cc3m" / "Validation_GCC-1.1.0-Validation.tsv"
CAPTIONS = [line.split("\t")[0] for line in CC3M.read_text(encoding="utf-8").splitlines()]
I2D_PER_SHARD = 10


def _i2d_key(i: int, shard_id: int) -> str:
    """img2dataset's compute_key with number_sample_per_shard=10000 and oom_shard_count=5: 9 digits."""
    return f"{10**4 * shard_id + i:09d}"


def write_img2dataset_shard(folder, shard_id: int, rows: list[tuple[str, str, bytes | None]]) -> None:
    """One shard exactly as img2dataset 1.4x writes it (output_format webdataset, the default columns):
    `{shard:05d}.tar` of its successes ({key}.jpg/.txt/.json, json indented by 4), `{shard:05d}.parquet` of
    every row, `{shard:05d}_stats.json`."""
    text, int32 = pa.string(), pa.int32()
    names = "caption url key status error_message width height original_width original_height exif sha256"
    schema = pa.schema([(n, int32 if "width" in n or "height" in n else text) for n in names.split()])
    metas, start = [], time.time()
    with TarWriter(str(folder / f"{shard_id:05d}.tar")) as tar:
        for i, (caption, url, jpeg) in enumerate(rows):
            meta = {"caption": caption, "url": url, "key": _i2d_key(i, shard_id), "status": "success"}
            meta |= {"error_message": None, "width": None, "height": None}
            meta |= {"original_width": None, "original_height": None, "exif": None, "sha256": None}
            if jpeg is None:
                meta |= {"status": "failed_to_download", "error_message": "HTTP Error 404: Not Found"}
            else:
                with Image.open(io.BytesIO(jpeg)) as im:
                    meta |= {"width": im.width, "height": im.height}
                    meta |= {"original_width": im.width, "original_height": im.height}
                meta |= {"exif": "{}", "sha256": hashlib.sha256(jpeg).hexdigest()}
                sample = {"__key__": meta["key"], "jpg": jpeg, "txt": caption}
                tar.write({**sample, "json": json.dumps(meta, indent=4)})
            metas.append(meta)
    pq.write_table(pa.Table.from_pylist(metas, schema=schema), folder / f"{shard_id:05d}.parquet")
    ok = sum(m["status"] == "success" for m in metas)
    stats = {
        "count": len(rows),
        "successes": ok,
        "failed_to_download": len(rows) - ok,
        "failed_to_resize": 0,
        "duration": time.time() - start,
        "start_time": start,
        "end_time": time.time(),
        "status_dict": {"success": ok, "HTTP Error 404: Not Found": len(rows) - ok},
    }
    (folder / f"{shard_id:05d}_stats.json").write_text(json.dumps(stats, indent=4))


def _jpeg(i: int) -> bytes:
    im = Image.new("RGB", (48, 40), (37 * i % 256, 90, 200 - 9 * i % 200))
    im.paste((255, 255, 255), (0, 0, 8 + i, 20))
    out = io.BytesIO()
    im.save(out, "JPEG")
    return out.getvalue()


def _line(caption: str, **where) -> dict:
    return {"caption": {"en": caption, "de": f"das bild zeigt {caption}"}, **where}


@pytest.mark.slow
def test_snakemake_pretrains_from_downloaded_and_img2dataset_shards(tmp_path):
    with ImageServer() as server:
        n_web = 24
        web_urls = [f"{server.url}/good/{i}.jpg" for i in range(n_web)] + [f"{server.url}/missing"]
        (tmp_path / "urls.tsv").write_text("".join(f"{c}\t{u}\n" for c, u in zip(CAPTIONS, web_urls)))
        (tmp_path / "i2d").mkdir()
        given = [_line(c, url=u) for c, u in zip(CAPTIONS, web_urls)]
        for shard_id in range(2):
            rows = []
            for i in range(I2D_PER_SHARD + 1):  # the last row failed to download: in the parquet, not the tar
                n = shard_id * 100 + i
                url = f"http://images.example.org/{n}.jpg"
                rows.append((CAPTIONS[30 + n % 60], url, _jpeg(n) if i < I2D_PER_SHARD else None))
                if i < I2D_PER_SHARD:  # shard 0 joined by the url in each .json, shard 1 by key
                    where = {"url": url} if shard_id == 0 else {"key": _i2d_key(i, shard_id)}
                    given.append(_line(rows[-1][0], **where))
            write_img2dataset_shard(tmp_path / "i2d", shard_id, rows)
        given.append(_line("a key no shard holds", key="000099999"))
        write_jsonl(tmp_path / "given.jsonl", given)
        for folder in ("iglue/datasets", "flickr30k-images", "coco/val2014", "images"):
            (tmp_path / folder).mkdir(parents=True)
        cfg = copy.deepcopy(_config())
        cfg["demo"] = {"enabled": False}
        cfg["data"] = {
            "iglue_root": str(tmp_path / "iglue"),
            "flickr_images": str(tmp_path / "flickr30k-images"),
            "coco_images": str(tmp_path / "coco/val2014"),
            "pretrain_given": str(tmp_path / "given.jsonl"),
            "pretrain_images": str(tmp_path / "images"),
            "pretrain_shards": str(tmp_path / "i2d" / "{00000..00001}.tar"),
            "missing_images": "skip",
            "downloads": {"web": {"urls": str(tmp_path / "urls.tsv"), "format": "tsv", "shards": 2}},
            "download": {
                "image_size": 32,
                "timeout": 5,
                "threads": 4,
                "allow_hosts": ["127.0.0.1"],  # the test server, refused by the default host policy
            },  # output_format: webdataset by default
        }
        cfg["languages"] = {"pretrain": ["en", "de"], "translated": [], "xflickrco_test": ["en", "de"]}
        cfg["languages"]["mrv"] = ["en", "de"]
        cfg["corpus"] = {"parts": 2}
        cfg["tokenizer"] = {"path": "", "vocab_size": 300}
        cfg["model"] = copy.deepcopy(TINY_MODEL)
        cfg["pretrain"] |= {"batch_size": 4, "epochs": 1, "num_workers": 2, "shuffle_buffer": 16}
        cfg["pretrain"] |= {"max_tokens": 24, "save_every": 0}
        out = _snakemake(
            tmp_path,
            _write_config(tmp_path / "config.yaml", cfg),
            "--cores",
            "2",
            "results/pretrain/model.pt",
            timeout=600,
        )
    assert out.returncode == 0, out.stderr[-4000:]
    for shard in ("000", "001"):  # ccrk's own shards, img2dataset's layout
        assert sorted(p.name for p in (tmp_path / "images" / "web").glob(f"00{shard}*")) == [
            f"00{shard}.parquet",
            f"00{shard}.tar",
            f"00{shard}_stats.json",
        ]
    report = json.loads((tmp_path / "results/corpus/report.json").read_text())
    expected = {"kept": n_web + 2 * I2D_PER_SHARD, "image_download_failed": 1, "image_key_missing": 1}
    assert {k: report[k] for k in expected} == expected
    items = [
        obj for p in sorted((tmp_path / "results/corpus").glob("part-*.jsonl")) for _, obj in iter_jsonl(p)
    ]
    by_shard = {}
    for item in items:
        by_shard.setdefault(item["shard"].rsplit("/", 2)[-2:][0], []).append(item["key"])
    assert sorted(len(v) for v in by_shard.values()) == [2 * I2D_PER_SHARD, n_web]
    assert sorted(by_shard["i2d"]) == sorted(_i2d_key(i, s) for s in range(2) for i in range(I2D_PER_SHARD))
    log = (tmp_path / "logs/pretrain.log").read_text()
    assert f"pretraining on {len(items)} images (4 shards) x 2 languages" in log, log[-2000:]
    sizes = {}
    for item in items:
        sizes[item["shard"]] = sizes.get(item["shard"], 0) + 1
    plan = ShardPlan(sizes, batch_size=4, world=1, workers=2, seed=cfg["pretrain"].get("seed", 42))
    steps = stream_steps_per_epoch(plan, epochs=1)
    assert f"trained steps 1-{steps} of {steps}" in log and steps >= 8
    assert (tmp_path / "results/pretrain/model.pt").stat().st_size > 0
