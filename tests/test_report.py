"""Every protocol plans on placeholder inputs; `snakemake --report` bundles every table, MRV and chart."""

import json
import subprocess

import pandas as pd
import pytest
import yaml

from ccrk.plots import bar_chart
from ccrk.protocols import MRV_TABLES, TABLES
from ccrk.tables import ITC_COLUMNS, TABLE_COLUMNS, mrv_table, retrieval_table, write_table
from tests.conftest import REPO, snakemake_command


def _placeholders(workdir, cfg) -> None:
    """Empty stand-ins for the reformatted WIT / Multi30K / MSCOCO annotations (rules/annotations.smk)."""
    p = cfg["protocols"]
    files = [f"wit/{name}.jsonl" for name in ("train_en", "val_en")]
    files += [
        f"wit/test_{lang}.jsonl"
        for lang in p["wit_zeroshot"].get(
            "languages", ["ar", "bg", "da", "el", "en", "et", "id", "ja", "ko", "tr", "vi"]
        )
    ]
    for lang in ("en", "de", "fr", "cs"):
        files += [
            f"multi30k/train.{lang}.json",
            f"multi30k/val.{lang}.json",
            f"multi30k/test_2016_flickr.{lang}.json",
        ]
    for lang in ("en", "zh", "ja"):
        files += [f"mscoco/{lang}.{split}.json" for split in ("train", "val", "test")]
    for f in files:
        path = workdir / "results" / "annotations" / f
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")


@pytest.fixture(scope="module")
def every_protocol(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("protocols")
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for name in ("wit_zeroshot", "multi30k", "mscoco"):
        cfg["protocols"][name] = {"enabled": True}
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(cfg))
    _placeholders(workdir, cfg)
    return workdir, configfile


def _run(workdir, configfile, *args):
    return subprocess.run(
        snakemake_command(workdir, "--configfile", configfile, *args),
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=600,
    )


def test_every_protocol_plans_its_jobs(every_protocol):
    out = _run(*every_protocol, "--dry-run", "--cores", "1", "tables")
    assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-3000:]
    table = (out.stdout + out.stderr).split("Job stats:")[1].split("total")[0]
    jobs = {
        line.split()[0]: int(line.split()[1])
        for line in table.splitlines()
        if line.strip()[:1].isalpha() and line.split()[-1].isdigit()
    }
    # fine-tuning runs: xFlickr&CO zero-shot 1 + few-shot 7; WIT 1; Multi30K en, all + single de fr cs;
    # MSCOCO en, all + single zh ja
    assert jobs["finetune"] == 1 + 7 + 1 + 5 + 4
    assert jobs["evaluate_xflickrco"] == 1 and jobs["evaluate_wit"] == 1
    assert jobs["evaluate_multi30k"] == 2 and jobs["evaluate_mscoco"] == 2  # en and all: one job per model
    assert jobs["evaluate_per_language"] == 7 + 3 + 2
    assert jobs["retrieval_table"] == 5 and jobs["chart"] == 5 and jobs["mrv_table"] == 3


def _fake_results(workdir):
    """A tiny results set in the real formats, made by the same table and chart code as the rules."""
    res = workdir / "results"
    for table in TABLES:
        keys = [("en", "en"), ("en", "de")] if table in ("multi30k", "mscoco") else ["en", "de"]
        files = {}
        for i, key in enumerate(keys):
            path = res / "fake" / f"{table}_{i}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(
                json.dumps({**{c: 10.0 + i for c in TABLE_COLUMNS + ITC_COLUMNS}, "selection": "validation"})
            )
            files[key] = str(path)
        write_table(
            retrieval_table(files), res / f"{table}_table.csv", res / f"{table}_table.md", title=table
        )
        bar_chart(res / f"{table}_table.csv", res / f"{table}_chart.png", table, title=table)
        if table in MRV_TABLES:
            ranks = {}
            for key in keys:
                path = res / "fake" / f"{table}_{'_'.join(key)}_ranks.csv"
                pd.DataFrame({"index": [0, 1], "ir_rank": [0, 1], "tr_rank": [1, 0]}).to_csv(
                    path, index=False
                )
                ranks[key] = str(path)
            write_table(mrv_table(ranks), res / f"{table}_mrv.csv", res / f"{table}_mrv.md")


def test_report_bundles_every_table_with_captions(every_protocol):
    workdir, configfile = every_protocol
    _fake_results(workdir)
    out = _run(workdir, configfile, "--report", "report.html", "tables")
    assert out.returncode == 0, out.stderr[-3000:]
    html = (workdir / "report.html").read_text()
    for table in TABLES:
        assert f"{table}_table.csv" in html and f"{table}_chart.png" in html
    for table in MRV_TABLES:
        assert f"{table}_mrv.csv" in html
    assert "image-to-text ranks, one per image" in html  # the Multi30K MRV assumption, from its caption
    assert "xFlickr&amp;CO few-shot" in html or "xFlickr&CO few-shot" in html
