"""`python -m ccrk`: the rules' operations without Snakemake, with clear errors and exit codes."""

import json
import subprocess
import sys

from tests.conftest import REPO

OPERATIONS = [
    "demo-data",
    "translate",
    "build-corpus",
    "train-tokenizer",
    "pretrain",
    "finetune",
    "evaluate",
    "table",
    "mrv",
    "chart",
]


def _ccrk(*args, cwd=REPO):
    return subprocess.run(
        [sys.executable, "-m", "ccrk", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_help_lists_every_operation():
    out = _ccrk("--help")
    assert out.returncode == 0
    for op in OPERATIONS:
        assert op in out.stdout


def test_table_from_metric_files(tmp_path):
    files = []
    for lang, r1 in (("en", 50.0), ("de", 20.0), ("ja", 10.0)):
        path = tmp_path / f"{lang}.json"
        path.write_text(
            json.dumps({k: r1 for k in ("ir_r1", "ir_r5", "ir_r10", "tr_r1", "tr_r5", "tr_r10", "r_mean")})
        )
        files.append(f"{lang}={path}")
    out = _ccrk("table", *files, "--out", str(tmp_path / "t.csv"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "t.csv").read_text().splitlines()[-1].startswith("avg,15.00")


def test_bad_input_exits_non_zero_naming_the_file(tmp_path):
    bad = tmp_path / "given.jsonl"
    bad.write_text('{"caption": {"en": "a red circle"}, "image_path": "0.jpg"}\n{"caption": \n')
    lexicon = tmp_path / "lexicon.tsv"
    lexicon.write_text("en\tes\nred\trojo\n")
    out = _ccrk(
        "translate",
        "--captions",
        str(bad),
        "--out",
        str(tmp_path / "out.jsonl"),
        "--backend",
        "lexicon",
        "--model",
        str(lexicon),
        "--targets",
        "es",
    )
    assert out.returncode == 1
    assert f"{bad}:2" in out.stderr and "invalid JSON" in out.stderr
    assert not (tmp_path / "out.jsonl").exists()  # no half-written output
