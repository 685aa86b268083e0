"""`python -m ccrk`: the rules' operations without Snakemake, with clear errors and exit codes."""

import json
import subprocess
import sys

import pytest
import yaml

from ccrk.configfile import ConfigError
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


def _parsed(*argv):
    from ccrk.cli import build_parser
    from ccrk.cli.options import resolve

    args = build_parser().parse_args([str(a) for a in argv])
    resolve(args)
    return args


DOWNLOAD_ARGS = ["--urls", "u.tsv", "--images-root", "r", "--subdir", "s", "--manifest", "m", "--stats", "st"]
RETRY_ARGS = ["--manifest", "m", "--stats", "st", "--images-root", "r"]


@pytest.mark.parametrize(
    "flag,value,reason",
    [
        ("--threads", "0", "0 is less than the minimum of 1"),
        ("--timeout", "0", "0.0 is less than or equal to the minimum of 0"),
        ("--retries", "-1", "-1 is less than the minimum of 0"),
        ("--image-size", "0", "0 is less than the minimum of 1"),
        ("--quality", "101", "101 is greater than the maximum of 100"),
        ("--threads", "two", "invalid integer value: 'two'"),
    ],
)
@pytest.mark.parametrize("command", ["download", "download-retry"])
def test_download_settings_out_of_the_schema_range_are_refused(command, flag, value, reason, capsys):
    from ccrk.cli import main

    base = DOWNLOAD_ARGS if command == "download" else RETRY_ARGS
    with pytest.raises(SystemExit) as stop:
        main([command, *base, flag, value])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: " in err and reason in err, err
    if "integer value" not in reason:
        assert f"data.download.{flag[2:].replace('-', '_')} in schema.yaml" in err


def test_settings_come_from_the_config_else_the_schema_never_from_argparse(tmp_path):
    from ccrk.cli import build_parser

    for parser in build_parser()._subparsers._group_actions[0].choices.values():
        keys = parser.get_default("setting_keys") or {}
        for action in parser._actions:
            if action.dest in keys:  # a flag that stands for a config key has no default of its own
                assert action.default is None, (parser.prog, action.dest)
    wit = ["wit-join", "--annotations", "a", "--pixels", "p", "--out", "o", "--report", "r"]
    assert _parsed(*wit).missing_images == "fail"  # the schema's default (argparse said skip)
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["data"] = {"missing_images": "skip"}  # a data: section must name its folders
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match=r"data: 'iglue_root' is a required property"):
        _parsed(*wit, "--config", tmp_path / "bad.yaml")
    folders = ("iglue_root", "flickr_images", "coco_images", "pretrain_given", "pretrain_images")
    cfg["data"].update({k: "x" for k in folders})
    (tmp_path / "skip.yaml").write_text(yaml.safe_dump(cfg))
    assert _parsed(*wit, "--config", tmp_path / "skip.yaml").missing_images == "skip"
    assert (
        _parsed(*wit, "--config", tmp_path / "skip.yaml", "--missing-images", "fail").missing_images == "fail"
    )
    tok = _parsed(
        "train-tokenizer", "--corpus", "c", "--out", "t", "--config", REPO / "config" / "config.yaml"
    )
    assert (tok.vocab_size, tok.languages) == (1000, cfg["languages"]["pretrain"])
    with pytest.raises(
        ConfigError, match="--languages is needed: give it, or a --config that sets languages.pretrain"
    ):
        _parsed("train-tokenizer", "--corpus", "c", "--out", "t")
    assert _parsed("train-tokenizer", "--corpus", "c", "--out", "t", "--languages", "en,de").languages == [
        "en",
        "de",
    ]


def test_translate_reads_the_config_and_its_layers(tmp_path):
    over = tmp_path / "over.yaml"
    over.write_text("translate: {beam_size: 1}\nlanguages: {translated: [es]}\n")
    args = _parsed(
        "translate", "--captions", "c", "--out", "o", "--config", REPO / "config" / "config.yaml", over
    )
    assert (args.backend, args.beam_size, args.batch_size, args.targets, args.shards) == (
        "lexicon",
        1,
        64,
        ["es"],
        2,
    )
    with pytest.raises(ConfigError, match="missing.yaml: no such config file"):
        _parsed("translate", "--captions", "c", "--out", "o", "--config", tmp_path / "missing.yaml")
