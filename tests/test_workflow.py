"""The Snakemake workflow: DAG planning, lint and format, one real demo run, reruns that follow meaning."""

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ccrk.tables import ITC_COLUMNS, TABLE_COLUMNS
from tests.conftest import REPO, snakemake_command

TARGETS = ["results/xflickrco_table.csv", "results/xflickrco_mrv.csv"]
TEST_LANGS = ["de", "en", "es", "id", "ja", "ru", "tr", "zh"]


def _config():
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def _write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    return path


def _snakemake(workdir, configfile, *args, timeout=900):
    cmd = snakemake_command(workdir, "--configfile", configfile, *args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=workdir)


def job_threads(log: str) -> dict[str, set[int]]:
    """Rule -> the thread counts its jobs ran with, read from Snakemake's job records (no `threads:` line: 1)."""
    threads: dict[str, set[int]] = {}
    for job in re.finditer(r"^(?:local)?rule (\w+):\n((?: {4}.*\n)+)", log, re.M):
        count = re.search(r"^ {4}threads: (\d+)$", job[2], re.M)
        threads.setdefault(job[1], set()).add(int(count[1]) if count else 1)
    return threads


def planned_jobs(workdir, configfile) -> dict[str, int]:
    """Rule -> job count of a dry-run, read from Snakemake's job stats table."""
    out = _snakemake(workdir, configfile, "--dry-run", "--cores", "1", *TARGETS)
    assert out.returncode == 0, out.stderr + out.stdout
    text = out.stdout + out.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


def test_dry_run_through_the_api_plans_the_whole_dag(tmp_path):
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        Quietness,
        ResourceSettings,
    )

    updated = []
    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        wf = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(configfiles=[REPO / "config" / "config.yaml"]),
            snakefile=REPO / "Snakefile",
            workdir=tmp_path,
        )
        wf.dag(DAGSettings(targets=set(TARGETS))).execute_workflow(
            pseudo_executor="dryrun", updated_files=updated
        )
    expected = {
        "results/pretrain/model.pt",
        "results/tokenizer",
        "results/finetune/xflickrco/zeroshot/model.pt",
        *TARGETS,
        "results/translate/shard-000.jsonl",
        "results/translate/shard-001.jsonl",
    }
    expected |= {f"results/eval/xflickrco/zeroshot/{lang}_ranks.csv" for lang in TEST_LANGS}
    assert expected <= set(updated)
    assert not (tmp_path / "results").exists()  # a dry run writes nothing


def test_bad_config_stops_snakemake_naming_the_key(tmp_path):
    cfg = _config()
    cfg["finetune"]["optimizer"]["lr"] = "3e-5"  # a string: YAML 1.1 reads 3e-5 without a dot as text
    out = _snakemake(tmp_path, _write_config(tmp_path / "bad.yaml", cfg), "--dry-run", "--cores", "1")
    assert out.returncode != 0
    assert "finetune.optimizer.lr: '3e-5' is not of type 'number'" in out.stderr + out.stdout


def test_missing_init_weights_stop_the_dag_before_any_job(tmp_path):
    """model.init paths are inputs of rule pretrain: a missing one is found when the DAG is built."""
    cfg = _config()
    cfg["model"]["init"] = {"text": "weights/xlm-roberta-large", "vision": "weights/swin_base.pth"}
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "swin_base.pth").touch()
    out = _snakemake(tmp_path, _write_config(tmp_path / "init.yaml", cfg), "--dry-run", "--cores", "1")
    assert out.returncode != 0
    text = out.stderr + out.stdout
    assert "MissingInputException" in text and "weights/xlm-roberta-large" in text
    assert "weights/swin_base.pth" not in text.split("MissingInputException")[1]  # only the missing one


def test_lint_is_clean():
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_snakefmt_is_clean():
    out = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "Snakefile", "rules/"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("command", [["format", "--check"], ["check"]], ids=["ruff-format", "ruff-check"])
def test_python_is_formatted_and_lint_clean(command):
    """`make lint`'s Python half: ruff's formatter and linter with pyproject.toml's settings, over the tree."""
    ruff = Path(sys.executable).with_name("ruff")
    out = subprocess.run([str(ruff), *command, "."], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The default demo, run for real once, exactly as `make demo` runs it."""
    workdir = tmp_path_factory.mktemp("demo_run")
    configfile = _write_config(workdir / "config.yaml", _config())
    out = _snakemake(workdir, configfile, "--cores", "8", *TARGETS, timeout=1200)
    assert out.returncode == 0, out.stderr[-5000:]
    return workdir, configfile


@pytest.mark.slow
def test_demo_writes_the_tables_in_their_formats(demo_run):
    workdir, _ = demo_run
    table = pd.read_csv(workdir / "results" / "xflickrco_table.csv")
    assert list(table.columns) == ["lang", *TABLE_COLUMNS, *ITC_COLUMNS, "selection"]
    assert set(table["selection"]) == {"validation"}  # how the checkpoint was chosen, recorded per row
    assert list(table["lang"]) == [*TEST_LANGS, "avg"]
    non_en = table[table["lang"].isin(set(TEST_LANGS) - {"en"})]
    assert table.iloc[-1]["ir_r1"] == pytest.approx(non_en["ir_r1"].mean(), abs=0.01)
    assert (workdir / "results" / "xflickrco_table.md").read_text().count("\n|") >= 10
    mrv = pd.read_csv(workdir / "results" / "xflickrco_mrv.csv")
    assert list(mrv.columns) == ["direction", "langs", "mrv", "items", "left_out"] and list(
        mrv["direction"]
    ) == [
        "ir",
        "tr",
    ]
    assert set(mrv["langs"]) == {"en/de/ja/zh"} and (mrv["mrv"] >= 0).all()
    ranks = pd.read_csv(workdir / "results" / "eval" / "xflickrco" / "zeroshot" / "de_ranks.csv")
    n_test = _config()["demo"]["n_test"]
    assert list(ranks.columns) == ["index", "ir_rank", "tr_rank", "image"] and len(ranks) == n_test
    assert ranks["ir_rank"].between(0, n_test - 1).all() and ranks["tr_rank"].between(0, n_test - 1).all()
    # the table's numbers (read from the metrics JSON) are those of these ranks
    de = table.set_index("lang").loc["de"]
    assert de["ir_r1"] == pytest.approx(100 * (ranks["ir_rank"] == 0).mean(), abs=0.01)
    assert de["tr_r10"] == pytest.approx(100 * (ranks["tr_rank"] < 10).mean(), abs=0.01)


def _r1_table(workdir):
    table = pd.read_csv(workdir / "results" / "xflickrco_table.csv").set_index("lang")
    return table, 100.0 / _config()["demo"]["n_test"]  # chance R@1: one gold among n_test candidates


@pytest.mark.slow
def test_demo_learns_far_above_chance(demo_run):
    """English far above chance (40x), the zero-shot average at 34x, and the checkpoint chosen on validation data.

    A demo that learns nothing lands at 1x everywhere. Measured (bench/README.md, 2026-12-06): 12 pretraining
    epochs, ITM weight 1, seeds 42, 1, 2 through bench/demo_seeds.py (1 thread) on an AMD EPYC gave a non-English
    average R@1 of 28.9-36.1 % and English 34.0-41.5 %; `make demo` 22.4 / 24.3 % and 33.0 / 28.0 %. The committed
    ITM weight 2, seeds 42, 1-4 (1 thread) on an Intel Xeon: 25.1-34.1 % and English 30.0-40.0 %; `make demo`
    25.6 / 22.5 % and 34.5 / 27.0 %; seed 42 at 2 threads run again, the weakest run: 21.1 / 22.3 % and English
    29.0 / 25.0 %. Since runs replay their seed (2026-12-07), seeds 42, 1-4 at 2 threads: 21.7-32.9 % and English
    28.5-37.5 / 29.0-37.5 %. The bounds keep a margin of about 1.25x below the lowest of them.
    """
    workdir, _ = demo_run
    table, chance = _r1_table(workdir)
    assert table.loc["en", "ir_r1"] >= 40 * chance and table.loc["en", "tr_r1"] >= 40 * chance, table.loc[
        "en"
    ]
    assert table.loc["avg", "ir_r1"] >= 34 * chance and table.loc["avg", "tr_r1"] >= 34 * chance, table.loc[
        "avg"
    ]
    summary = json.loads(
        (workdir / "results" / "finetune" / "xflickrco" / "zeroshot" / "summary.json").read_text()
    )
    assert summary["selection"] == "validation" and summary["best_epoch"] is not None


@pytest.mark.slow
def test_demo_every_language_twenty_five_times_chance(demo_run):
    """Every test language's IR and TR R@1 at least 25 times chance (12.5 %).

    Measured (chance 0.5 %): the worst language 22.5-27.5 % over pretraining seeds 42, 1-4 of the committed recipe
    at 1 thread (bench/demo_seeds.py, Intel Xeon), 23.5-25.5 % over seeds 42, 1, 2 and 4 at 2 threads and 15.5 % in
    seed 3 at 2 threads, the lowest (a margin of 1.24x); 20.0 % in a `make demo` of seed 42 and 19.0 % in another
    run of it before runs replayed their seed. With ITM weight 1, 26.5-30.5 % (AMD EPYC) and 20.0 % in `make demo`.
    With 8 pretraining epochs it was 13.0-20.5 %, with the recipe before that (8-px patches, crop 0.8) 3.5-9.5 %.
    """
    workdir, _ = demo_run
    table, chance = _r1_table(workdir)
    for lang in TEST_LANGS:
        assert table.loc[lang, "ir_r1"] >= 25 * chance, (lang, table.loc[lang].to_dict())
        assert table.loc[lang, "tr_r1"] >= 25 * chance, (lang, table.loc[lang].to_dict())


@pytest.mark.slow
def test_complete_run_has_nothing_left_to_do(demo_run):
    assert planned_jobs(*demo_run) == {}


@pytest.mark.slow
def test_finetune_lr_reruns_only_finetuning_and_downstream(demo_run, tmp_path):
    workdir, configfile = demo_run
    cfg = yaml.safe_load(configfile.read_text())
    cfg["finetune"]["optimizer"]["lr"] *= 2
    jobs = planned_jobs(workdir, _write_config(tmp_path / "lr.yaml", cfg))
    assert jobs == {"finetune": 1, "evaluate_xflickrco": 1, "retrieval_table": 1, "mrv_table": 1}


def _key_order_reversed(value):
    """The same config with every mapping's keys in the opposite order (another file's layout)."""
    if isinstance(value, dict):
        return {k: _key_order_reversed(value[k]) for k in reversed(list(value))}
    return value


@pytest.mark.slow
def test_same_values_in_another_key_order_rerun_nothing(demo_run, tmp_path):
    """Snakemake compares params by repr: dict params are written with sorted keys (rules/common.smk canonical)."""
    workdir, configfile = demo_run
    cfg = _key_order_reversed(yaml.safe_load(configfile.read_text()))
    assert list(cfg) != list(yaml.safe_load(configfile.read_text()))
    reordered = tmp_path / "reordered.yaml"
    reordered.write_text(yaml.dump(cfg, sort_keys=False, allow_unicode=True))
    assert planned_jobs(workdir, reordered) == {}


@pytest.mark.slow
def test_speed_only_settings_rerun_nothing(demo_run, tmp_path):
    """Workers, checkpoint interval and evaluation batch sizes reach the jobs as resources, threads as threads."""
    workdir, configfile = demo_run
    cfg = yaml.safe_load(configfile.read_text())
    for stage in ("pretrain", "finetune"):
        cfg[stage].update(num_workers=cfg[stage]["num_workers"] + 2, save_every=cfg[stage]["save_every"] * 3)
    cfg["evaluate"].update(batch_size=7, fusion_batch_size=33)
    cfg["protocols"]["xflickrco_zeroshot"].update(evaluate={"batch_size": 5}, threads=1)
    assert planned_jobs(workdir, _write_config(tmp_path / "speed.yaml", cfg)) == {}


@pytest.mark.slow
def test_pretraining_optimiser_reruns_pretraining_and_downstream(demo_run, tmp_path):
    workdir, configfile = demo_run
    cfg = yaml.safe_load(configfile.read_text())
    cfg["pretrain"]["optimizer"]["betas"] = [0.9, 0.99]
    jobs = planned_jobs(workdir, _write_config(tmp_path / "betas.yaml", cfg))
    assert jobs == {
        "pretrain": 1,
        "finetune": 1,
        "evaluate_xflickrco": 1,
        "retrieval_table": 1,
        "mrv_table": 1,
    }


@pytest.mark.slow
def test_translation_setting_reruns_translation_and_everything_after(demo_run, tmp_path):
    workdir, configfile = demo_run
    cfg = copy.deepcopy(yaml.safe_load(configfile.read_text()))
    cfg["translate"]["batch_size"] = cfg["translate"]["batch_size"] + 1
    jobs = planned_jobs(workdir, _write_config(tmp_path / "tr.yaml", cfg))
    shards = cfg["translate"]["shards"]
    assert jobs == {
        "translate": shards,
        "pretrain_corpus": 1,
        "tokenizer": 1,
        "pretrain": 1,
        "finetune": 1,
        "evaluate_xflickrco": 1,
        "retrieval_table": 1,
        "mrv_table": 1,
    }
    assert "demo_dataset" not in jobs


@pytest.mark.slow
def test_demo_fewshot_runs_from_the_english_model_and_lifts_the_zero_shot_languages(demo_run):
    """The few-shot protocol as configured (7 languages, 25 shots, 10 epochs), end to end on the finished demo.

    Over 13 models of the demo recipe (bench/README.md: seeds 42 and 1-4 at 2 threads, 8 more) the shots lifted the
    non-English mean recall, re-ranked (by 0.52 at least) and ITC-only (by 1.13), in every one; the R@1s in 11 and
    12 of the 13 (re-ranked, ITC-only), so those are not asserted.
    """
    workdir, configfile = demo_run
    targets = ["results/xflickrco_fewshot_table.csv", "results/xflickrco_fewshot_mrv.csv"]
    out = _snakemake(workdir, configfile, "--cores", "2", *targets)
    assert out.returncode == 0, out.stderr[-5000:]
    assert "rule pretrain:" not in out.stderr and "rule evaluate_xflickrco:" not in out.stderr  # reused
    # protocols.xflickrco_fewshot.threads: 1, so the two cores run two languages' jobs at once
    threads = job_threads(out.stderr)
    assert threads["finetune"] == {1} and threads["evaluate_per_language"] == {1}
    table = pd.read_csv(workdir / "results" / "xflickrco_fewshot_table.csv").set_index("lang")
    assert list(table.index) == [*TEST_LANGS, "avg"] and set(table["selection"]) == {"validation"}
    zero = pd.read_csv(workdir / "results" / "xflickrco_table.csv").set_index("lang")
    assert (
        table.loc["en"].drop("selection") == zero.loc["en"].drop("selection")
    ).all()  # English: the zero-shot model, as in the paper
    for col in ("r_mean", "itc_r_mean"):
        assert table.loc["avg", col] >= zero.loc["avg", col], (
            col,
            table.loc["avg", col],
            zero.loc["avg", col],
        )
    run = workdir / "results" / "finetune" / "xflickrco" / "fewshot" / "de"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["selection"] == "validation" and [h["epoch"] for h in summary["history"]] == [4, 9]
    assert summary["train_files"][0].endswith("xFlickrCO/annotations/de/train_25.jsonl")
    assert summary["init"] == "results/finetune/xflickrco/zeroshot/model.pt"  # from the English model
    assert summary["selection_files"][0].endswith(
        "flickr30k/annotations/valid_ann.jsonl"
    )  # never a test file
    mrv = pd.read_csv(workdir / "results" / "xflickrco_fewshot_mrv.csv")
    assert set(mrv["langs"]) == {"en/de/ja/zh"}


@pytest.mark.slow
def test_zeroshot_leaderboard_of_the_demo_model_and_two_tiny_dual_encoders(demo_run):
    """Issue 13: `results/zeroshot_leaderboard.csv` on the finished demo, offline, with the demo CCRK model and a
    tiny random open_clip and transformers SigLIP, on xFlickr&CO and the demo's test set in XM3600's layout."""
    workdir, configfile = demo_run
    out = _snakemake(workdir, configfile, "--cores", "8", "results/zeroshot_leaderboard.csv")
    assert out.returncode == 0, out.stderr[-5000:]
    assert "rule pretrain:" not in out.stderr and "rule finetune:" not in out.stderr  # the demo model, reused
    assert job_threads(out.stderr)["zeroshot_xflickrco"] == {1}  # zeroshot.threads: small jobs side by side
    board = pd.read_csv(workdir / "results" / "zeroshot_leaderboard.csv").set_index(["model", "scoring"])
    assert list(board.index)[:4] == [
        ("ccrk-demo", "itc+itm"),
        ("ccrk-demo", "itc"),
        ("tiny-open-clip", "itc"),
        ("tiny-siglip", "itc"),
    ]
    assert board.iloc[4]["kind"] == "published" and board.iloc[4]["xflickrco_ir_r1"] == 73.30
    for protocol in ("xflickrco", "xm3600_all", "xm3600_first"):
        assert {f"{protocol}_{c}" for c in ("ir_r1", "tr_r1", "mrv_ir", "mrv_tr")} <= set(board.columns)
    assert (
        board.iloc[:4][[c for c in board.columns if c.endswith(("_r1", "_mrv_ir", "_mrv_tr"))]]
        .notna()
        .all()
        .all()
    )
    # the zero-shot harness scores the demo's CCRK model as the evaluation stage does, re-ranked and ITC-only
    table = pd.read_csv(workdir / "results" / "xflickrco_table.csv").set_index("lang")
    mrv = pd.read_csv(workdir / "results" / "xflickrco_mrv.csv").set_index("direction")
    ccrk = board.loc["ccrk-demo"]
    assert ccrk.loc["itc+itm", "xflickrco_ir_r1"] == pytest.approx(table.loc["avg", "ir_r1"], abs=0.01)
    assert ccrk.loc["itc+itm", "xflickrco_tr_r1"] == pytest.approx(table.loc["avg", "tr_r1"], abs=0.01)
    assert ccrk.loc["itc", "xflickrco_ir_r1"] == pytest.approx(table.loc["avg", "itc_ir_r1"], abs=0.01)
    assert ccrk.loc["itc+itm", "xflickrco_mrv_tr"] == pytest.approx(mrv.loc["tr", "mrv"], abs=0.01)
    md = (workdir / "results" / "zeroshot_leaderboard.md").read_text()
    assert (
        "first caption of each image and locale only (CLIP_benchmark)" in md
        and "every caption of each locale" in md
    )
    assert (workdir / "results" / "zeroshot_leaderboard.png").stat().st_size > 0
    # one CLIP_benchmark JSON per (dataset, model, language); the two XM3600 caption protocols differ in English
    zs = workdir / "results" / "zeroshot"
    for model in ("ccrk-demo", "tiny-open-clip", "tiny-siglip"):
        for protocol in ("xflickrco", "xm3600_all", "xm3600_first"):
            for lang in TEST_LANGS:
                cb = json.loads((zs / model / protocol / f"{lang}_clip_benchmark.json").read_text())
                assert cb["task"] == "zeroshot_retrieval" and cb["language"] == lang
                assert set(cb["metrics"]) == {
                    f"{d}_retrieval_recall@{k}" for d in ("image", "text") for k in (1, 5, 10)
                }
    first = json.loads((zs / "tiny-siglip" / "xm3600_first" / "en_metrics.json").read_text())
    every = json.loads((zs / "tiny-siglip" / "xm3600_all" / "en_metrics.json").read_text())
    assert first["n_texts"] == _config()["demo"]["n_test"] < every["n_texts"]
    assert every["model_info"]["tokenizer"].endswith("padding max_length, max 48 tokens")


# The demo through `python -m ccrk` alone, demo-data to chart (README, Without Snakemake), on a smaller demo.
CLI_DEMO = {  # fewer images and epochs than config/config.yaml: the whole chain in about two minutes idle
    "demo": {"n_pretrain": 640, "n_train": 300, "n_valid": 40, "n_test": 100, "fewshot_sizes": [10]},
    "pretrain": {"epochs": 3},
    "finetune": {"epochs": 4, "start_eval": 2},
}


def _cli(workdir, *args):
    out = subprocess.run(
        [sys.executable, "-m", "ccrk", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=900,
    )
    assert out.returncode == 0, f"ccrk {args[0]}: {out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def cli_demo(tmp_path_factory):
    """Every step of the demo as its subcommand, settings from --config (the demo + CLI_DEMO over it)."""
    w = tmp_path_factory.mktemp("cli_demo")
    _write_config(w / "small.yaml", CLI_DEMO)
    config = ["--config", REPO / "config" / "config.yaml", w / "small.yaml"]
    d, t = Path("resources/demo"), Path("cli")
    ann, xf = d / "iglue/datasets/flickr30k/annotations", d / "iglue/datasets/xFlickrCO/annotations"
    roots = ["--flickr-images", d / "images/flickr30k-images", "--coco-images", d / "images/val2014"]
    corpus = [t / f"corpus-{i}.jsonl" for i in range(4)]
    _cli(w, "demo-data", *config)
    _cli(
        w,
        "translate",
        *config,
        "--captions",
        d / "pretrain/given.jsonl",
        "--out",
        t / "tr.jsonl",
        "--shards",
        1,
    )
    _cli(w, "build-corpus", *config, "--given", d / "pretrain/given.jsonl", "--translations", t / "tr.jsonl",
         "--out", *corpus)  # fmt: skip
    _cli(w, "train-tokenizer", *config, "--corpus", *corpus, "--out", t / "tokenizer")
    _cli(w, "pretrain", *config, "--corpus", *corpus, "--image-root", d / "images", "--tokenizer", t / "tokenizer",
         "--out", t / "pretrain.pt")  # fmt: skip
    _cli(w, "finetune", *config, "--init", t / "pretrain.pt", "--tokenizer", t / "tokenizer", "--train",
         ann / "train_ann.jsonl", "--valid", ann / "valid_ann.jsonl", "--out", t / "model.pt", "--summary",
         t / "summary.json", *roots)  # fmt: skip
    _cli(w, "evaluate", *config, "--model", t / "model.pt", "--tokenizer", t / "tokenizer", "--summary",
         t / "summary.json", *roots, "--test", *(f"{x}={xf / x / 'test.jsonl'}" for x in TEST_LANGS),
         "--out-dir", t / "eval")  # fmt: skip
    _cli(w, "table", *(f"{x}={t / 'eval' / f'{x}_metrics.json'}" for x in TEST_LANGS), "--out", t / "table.csv",
         "--markdown", t / "table.md")  # fmt: skip
    _cli(w, "mrv", *(f"{x}={t / 'eval' / f'{x}_ranks.csv'}" for x in ("en", "de", "ja", "zh")), "--out",
         t / "mrv.csv", "--markdown", t / "mrv.md")  # fmt: skip
    _cli(w, "chart", t / "table.csv", "--out", t / "chart.png", "--published", "xflickrco")
    return w / t


@pytest.mark.slow
def test_cli_demo_writes_the_files_and_columns_snakemake_writes(cli_demo, demo_run):
    workdir, _ = demo_run
    results = workdir / "results"
    rule_eval = results / "eval" / "xflickrco" / "zeroshot"
    assert sorted(p.name for p in (cli_demo / "eval").iterdir()) == sorted(
        p.name for p in rule_eval.iterdir()
    )
    for name in ("de_metrics.json", "en_metrics.json"):  # the rule's extras too: model, selection, best epoch
        assert set(json.loads((cli_demo / "eval" / name).read_text())) == set(
            json.loads((rule_eval / name).read_text())
        )
    for ours, theirs in (("table.csv", "xflickrco_table.csv"), ("mrv.csv", "xflickrco_mrv.csv")):
        cli_table, rule_table = pd.read_csv(cli_demo / ours), pd.read_csv(results / theirs)
        assert list(cli_table.columns) == list(rule_table.columns)
        first = rule_table.columns[0]  # lang / direction: the same rows in the same order
        assert list(cli_table[first]) == list(rule_table[first])
    assert pd.read_csv(cli_demo / "mrv.csv")["langs"].tolist() == ["en/de/ja/zh"] * 2
    assert set(pd.read_csv(cli_demo / "table.csv")["selection"]) == {"validation"}
    ranks = pd.read_csv(cli_demo / "eval" / "de_ranks.csv")
    assert (
        list(ranks.columns) == ["index", "ir_rank", "tr_rank", "image"]
        and len(ranks) == CLI_DEMO["demo"]["n_test"]
    )
    assert (cli_demo / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (cli_demo / "table.md").read_text().count("\n|") >= 10


@pytest.mark.slow
def test_cli_demo_learns(cli_demo):
    """English, fine-tuned on, far above chance; the zero-shot average above it too (after 60 pretraining steps).

    Mean recall (R@1, R@5, R@10 in both directions): chance is 5.33 at 100 test images. Measured, this recipe
    (2026-12-04, 2 cores): English 39.2 and 29.8 (R@10 IR/TR 67/69 and 57/48), zero-shot average 10.95 and
    10.55; with 200 fine-tuning images x 3 epochs, 23.2 and 10.4. Runs on CPU differ: hence 3x and 1.5x.
    """
    table = pd.read_csv(cli_demo / "table.csv").set_index("lang")
    chance = sum(100.0 * k / CLI_DEMO["demo"]["n_test"] for k in (1, 5, 10)) / 3
    assert table.loc["en", "r_mean"] >= 3 * chance, table.loc["en"].to_dict()
    assert table.loc["avg", "r_mean"] >= 1.5 * chance, table.loc["avg"].to_dict()
    summary = json.loads((cli_demo / "summary.json").read_text())
    assert summary["selection"] == "validation" and [h["epoch"] for h in summary["history"]] == [2, 3]
