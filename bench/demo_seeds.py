"""The demo recipe over pretraining seeds: zero-shot and fine-tuned R@1 per seed, ITM re-ranked against ITC-only.

    python bench/demo_seeds.py                                  # config/config.yaml, seeds 42 1 2, one at a time
    python bench/demo_seeds.py --seeds 42 1 --jobs 2 --set model.vision.patch_size=8
    python bench/demo_seeds.py --device cuda --jobs 12 ...      # a sweep on a GPU machine (fp32: no AMP, no TF32)

Builds the demo's inputs once with Snakemake (dataset, translation, corpus, tokenizer: `--data DIR` reuses a
folder), then for each seed runs in its own process what the DAG runs: `run_pretraining` (pretrain.seed =
the seed), the test languages' evaluation of the pretrained model (`--zero-shot`), `run_finetuning` on English
with selection on validation data, and the evaluation of the fine-tuned model. `--set key=value` (YAML value)
changes the config as a recipe to try; `--pretrained DIR` reuses the pretrained models of an earlier `--out DIR`
(for fine-tuning-only recipes: the pretraining settings must be the same), `--fine-tuned DIR` its pretrained and
English fine-tuned ones; `--few-shot` adds the few-shot protocol (per non-English language, the fine-tuned model
trained on that language's shots, as `protocols.xflickrco_fewshot` sets, and evaluated on its test set).
Prints one row per seed and model: non-English average R@1 (IR/TR) re-ranked by the ITM and ITC-only, the worst
language, English, non-English mean recall, and the CPU time of each stage; `--out` keeps the models, logs and a
JSON summary per seed.
"""

import argparse
import copy
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
LANGS = ["de", "en", "es", "id", "ja", "ru", "tr", "zh"]
METRICS = ("ir_r1", "tr_r1", "itc_ir_r1", "itc_tr_r1", "r_mean", "itc_r_mean")
INPUTS = ["results/tokenizer", *(f"results/corpus/part-{i:05d}.jsonl" for i in range(4))]


def apply_sets(cfg: dict, sets: list[str]) -> dict:
    """cfg with each dotted `key=value` set (value read as YAML)."""
    cfg = copy.deepcopy(cfg)
    for item in sets:
        key, _, value = item.partition("=")
        node = cfg
        *path, last = key.split(".")
        for part in path:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load(value)
    return cfg


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_seed(
    cfg: dict,
    data: Path,
    out: Path,
    device: str,
    zero_shot: bool,
    pretrained: Path | None = None,
    few_shot: bool = False,
    finetuned: Path | None = None,
) -> dict:
    """One seed end to end in this process; returns per-language R@1 of each evaluated model and CPU times.

    pretrained: this seed's pretrained model from an earlier run, used instead of pretraining.
    finetuned: an earlier run's folder of this seed: its pretrained and English fine-tuned models are used.
    few_shot: also the few-shot protocol, as the DAG runs it: per non-English language, the fine-tuned model
    trained further on that language's few shots (`protocols.xflickrco_fewshot`), evaluated on its test set.
    """
    import torch

    from ccrk.config import EvalConfig, FinetuneConfig, PretrainConfig, from_dict
    from ccrk.data.sets import ImageRoots
    from ccrk.evaluate import evaluate_test_files
    from ccrk.finetune import run_finetuning
    from ccrk.jobs import setup_logging
    from ccrk.pretrain import run_pretraining
    from ccrk.protocols import DataDirs, Protocols

    if device == "cuda":  # fp32, as on CPU
        import ccrk.train

        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        ccrk.train.autocast_context = lambda dev, precision: (torch.autocast("cuda", enabled=False), None)
    out.mkdir(parents=True, exist_ok=True)
    setup_logging(str(out / "log.txt"))
    demo = data / cfg["demo"]["out_dir"]
    roots = ImageRoots(flickr=str(demo / "images/flickr30k-images"), coco=str(demo / "images/val2014"))
    tok = str(data / "results/tokenizer")
    tests = {lang: str(demo / f"iglue/datasets/xFlickrCO/annotations/{lang}/test.jsonl") for lang in LANGS}
    ecfg = from_dict(EvalConfig, cfg["evaluate"], "evaluate")
    result, times = {}, {}

    def evaluate(model, tag, langs=LANGS):
        outs = {
            lang: (str(out / f"{tag}_{lang}_ranks.csv"), str(out / f"{tag}_{lang}_metrics.json"))
            for lang in langs
        }
        res = evaluate_test_files(
            model, tok, {x: tests[x] for x in langs}, outs, ecfg, fmt="iglue", roots=roots, device=device
        )
        return {key: {lang: res[lang][key] for lang in langs} for key in METRICS}

    if finetuned is not None:  # this seed's pretrained and English fine-tuned models from an earlier run
        for name in ("pretrain.pt", "finetune.pt"):
            shutil.copyfile(finetuned / name, out / name)
    elif pretrained is not None:
        shutil.copyfile(pretrained, out / "pretrain.pt")
    else:
        t = cpu_seconds()
        pc = from_dict(
            PretrainConfig, {**cfg["pretrain"], "languages": cfg["languages"]["pretrain"]}, "pretrain"
        )
        corpus = sorted(str(p) for p in (data / "results/corpus").glob("part-*.jsonl"))
        run_pretraining(
            corpus, str(demo / "images"), tok, str(out / "pretrain.pt"), cfg["model"], pc, device=device
        )
        times["pretrain"] = cpu_seconds() - t
    if zero_shot:
        result["pretrained"] = evaluate(str(out / "pretrain.pt"), "pretrained")
    if finetuned is None:
        t = cpu_seconds()
        flickr = demo / "iglue/datasets/flickr30k/annotations"
        run_finetuning(
            str(out / "pretrain.pt"),
            tok,
            [str(flickr / "train_ann.jsonl")],
            [str(flickr / "valid_ann.jsonl")],
            str(out / "finetune.pt"),
            from_dict(FinetuneConfig, cfg["finetune"], "finetune"),
            ecfg,
            roots=roots,
            device=device,
        )
        times["finetune"] = cpu_seconds() - t
    t = cpu_seconds()
    result["fine-tuned"] = evaluate(str(out / "finetune.pt"), "finetuned")
    times["evaluate"] = cpu_seconds() - t
    if few_shot:
        t = cpu_seconds()
        result["few-shot"] = {key: {"en": result["fine-tuned"][key]["en"]} for key in METRICS}
        protocols = Protocols(cfg, DataDirs(str(demo / "iglue/datasets"), "", "", ""))
        fcfg = from_dict(FinetuneConfig, protocols.finetune_config("xflickrco", "fewshot"), "finetune")
        for lang in protocols.languages("xflickrco", "fewshot"):
            run_finetuning(
                str(out / "finetune.pt"),
                tok,
                protocols.train_files("xflickrco", "fewshot", lang),
                protocols.selection_files("xflickrco", "fewshot", lang),
                str(out / f"fewshot_{lang}.pt"),
                fcfg,
                ecfg,
                roots=roots,
                device=device,
            )
            for key, value in evaluate(str(out / f"fewshot_{lang}.pt"), f"fewshot_{lang}", [lang]).items():
                result["few-shot"][key].update(value)
        times["few-shot"] = cpu_seconds() - t
    return {"r1": result, "cpu_s": times}


def summary_row(seed, tag: str, r1: dict) -> str:
    def avg(key):
        return sum(r1[key][lang] for lang in LANGS if lang != "en") / (len(LANGS) - 1)

    worst = min(min(r1["ir_r1"][lang], r1["tr_r1"][lang]) for lang in LANGS if lang != "en")
    helps = avg("ir_r1") >= avg("itc_ir_r1") and avg("tr_r1") >= avg("itc_tr_r1")
    recall = f"{avg('r_mean'):.2f} / {avg('itc_r_mean'):.2f}" if "r_mean" in r1 else "-"
    return (
        f"| {seed} | {tag} | {avg('ir_r1'):.2f} / {avg('tr_r1'):.2f} | "
        f"{avg('itc_ir_r1'):.2f} / {avg('itc_tr_r1'):.2f} | "
        f"{'yes' if helps else 'no'} | {worst:.1f} | {r1['ir_r1']['en']:.1f} / {r1['tr_r1']['en']:.1f} | {recall} |"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="e.g. pretrain.lr=3e-4")
    ap.add_argument("--data", help="a folder with the demo inputs already built (else a temporary one)")
    ap.add_argument("--out", help="keep each seed's models, logs and summary.json here")
    ap.add_argument(
        "--pretrained", help="an earlier --out folder: its seed*/pretrain.pt are used instead of pretraining"
    )
    ap.add_argument(
        "--fine-tuned",
        help="an earlier --out folder: its seed*/pretrain.pt and finetune.pt are used (e.g. with --few-shot)",
    )
    ap.add_argument("--few-shot", action="store_true", help="also the few-shot protocol, per language")
    ap.add_argument("--jobs", type=int, default=1, help="seeds run at the same time, one process each")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--zero-shot", action="store_true", help="also evaluate each pretrained model")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)  # seed, output folder
    a = ap.parse_args(argv)
    from ccrk.configfile import read_config_file, validate_config

    # the recipe as the DAG reads it: validated, the schema's defaults filled
    cfg = validate_config(apply_sets(read_config_file(a.config), a.set), f"{a.config} with --set")
    if a.worker:
        import torch

        torch.set_num_threads(a.threads)
        cfg["pretrain"]["seed"] = int(a.worker[0])
        out = Path(a.worker[1])
        pretrained = Path(a.pretrained) / f"seed{a.worker[0]}" / "pretrain.pt" if a.pretrained else None
        finetuned = Path(a.fine_tuned) / f"seed{a.worker[0]}" if a.fine_tuned else None
        result = run_seed(cfg, Path(a.data), out, a.device, a.zero_shot, pretrained, a.few_shot, finetuned)
        (out / "summary.json").write_text(json.dumps({"seed": int(a.worker[0]), "set": a.set, **result}))
        return 0
    data = Path(a.data or tempfile.mkdtemp(prefix="ccrk-demo-seeds-"))
    if not (data / "results" / "tokenizer").is_dir():
        build = [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(data),
        ]
        subprocess.run(
            [*build, "--configfile", a.config, "--cores", "2", *INPUTS], check=True, capture_output=True
        )
    out = Path(a.out or tempfile.mkdtemp(prefix="ccrk-demo-seeds-out-"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    procs, t0, load0 = {}, time.time(), os.getloadavg()[0]
    pending = list(a.seeds)
    while pending or procs:
        while pending and len(procs) < a.jobs:
            seed = pending.pop(0)
            cmd = [sys.executable, __file__, "--config", a.config, "--data", str(data), "--device", a.device]
            cmd += ["--threads", str(a.threads), "--worker", str(seed), str(out / f"seed{seed}")]
            cmd += [f"--set={s}" for s in a.set] + (["--zero-shot"] if a.zero_shot else [])
            cmd += ["--pretrained", a.pretrained] if a.pretrained else []
            cmd += ["--fine-tuned", a.fine_tuned] if a.fine_tuned else []
            cmd += ["--few-shot"] if a.few_shot else []
            procs[seed] = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for seed, p in list(procs.items()):
            if p.poll() is not None:
                del procs[seed]
                if p.returncode:
                    print(f"seed {seed} failed:\n{p.stderr.read().decode()[-3000:]}", file=sys.stderr)
        time.sleep(1)
    print(
        f"recipe: {a.config} {' '.join(a.set)}"
        f"{f'; pretrained models of {a.pretrained}' if a.pretrained else ''}; "
        f"device {a.device}, {a.threads} thread(s) x {a.jobs} job(s); "
        f"load average {load0:.1f} before, {os.getloadavg()[0]:.1f} after; {time.time() - t0:.0f} s"
    )
    print(
        "| seed | model | ITM-re-ranked non-en avg R@1 IR / TR | ITC-only IR / TR | re-ranking helps "
        "| worst non-en R@1 | en IR / TR | non-en mean recall, re-ranked / ITC-only |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for seed in a.seeds:
        f = out / f"seed{seed}" / "summary.json"
        if f.is_file():
            s = json.loads(f.read_text())
            for tag, r1 in s["r1"].items():
                print(summary_row(seed, tag, r1))
            print(f"|   | CPU s | {', '.join(f'{k} {v:.0f}' for k, v in s['cpu_s'].items())} | | | | | |")
    print(f"outputs: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
