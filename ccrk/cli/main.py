"""`python -m ccrk`: the pipeline's operations without Snakemake, one subcommand per rule kind.

Files are arguments; settings come from `--config` (validated as Snakemake validates it, schema defaults
filled), and a flag given on the command line overrides its config key.
"""

import argparse
import logging
import os
import re
import sys

from ccrk.cli.options import add_config, add_setting, needs_config, resolve
from ccrk.configfile import subschema
from ccrk.jobs import go_offline, setup_logging
from ccrk.zeroshot_protocols import PROTOCOLS as ZERO_SHOT_PROTOCOLS

log = logging.getLogger("ccrk.cli")

DEMO_CONFIG = ["config/config.yaml"]  # the checkout's demo, as the Snakefile's configfile:


def _demo_data(a):
    from ccrk.demo.dataset import write_demo_dataset

    cfg = needs_config(a)
    demo = {k: v for k, v in cfg["demo"].items() if k not in ("enabled", "out_dir")}
    print(write_demo_dataset(a.out_dir, test_languages=tuple(cfg["languages"]["xflickrco_test"]), **demo))


def _translate(a):
    from ccrk.translate import build_translator, translate_shard

    translator = build_translator(
        a.backend,
        a.model,
        batch_size=a.batch_size,
        beam_size=a.beam_size,
        max_output_tokens=a.max_output_tokens,
        compute_type=a.compute_type,
        device=a.device,
        threads=a.threads,
        converted_dir=a.converted,
    )
    translate_shard(
        a.captions,
        a.out,
        a.shard,
        a.shards,
        translator,
        a.source,
        a.targets,
        batch_size=a.batch_size,
        max_input_tokens=a.max_input_tokens,
        references=a.references or None,
        stats_path=a.stats,
    )


def _check_translation_model(a):
    from ccrk.translate import validate_m2m_dir

    tok = validate_m2m_dir(a.model)
    print(f"{a.model}: M2M-100 directory OK ({len(tok)} tokens, 100 language tokens as special tokens)")


def _corpus(a):
    from ccrk.data.corpus import build_corpus
    from ccrk.data.tar_shards import expand_shards
    from ccrk.download.manifest import CorpusImages

    build_corpus(
        a.given,
        a.translations,
        a.out,
        a.languages,
        a.report,
        a.max_images,
        a.seed,
        CorpusImages(a.manifests, a.image_root, a.missing_images, expand_shards(a.shards)),
    )


def _tokenizer(a):
    from ccrk.tokenizer import train_tokenizer_on_corpus

    train_tokenizer_on_corpus(a.corpus, a.languages, a.out, a.vocab_size)


def _pretrain(a):
    from ccrk.config import PretrainConfig, from_dict
    from ccrk.launch import call_here
    from ccrk.pretrain import run_pretraining

    cfg = needs_config(a)
    train = {**cfg["pretrain"], "languages": cfg["languages"]["pretrain"]}
    # call_here joins the process group when started by `torchrun --nproc-per-node=N -m ccrk pretrain ...`
    call_here(
        run_pretraining,
        (
            a.corpus,
            a.image_root,
            a.tokenizer,
            a.out,
            cfg["model"],
            from_dict(PretrainConfig, train, "pretrain"),
        ),
    )


def _protocol(a):
    """(Protocols of the config, dataset, setting) of --protocol: its finetune/evaluate overrides apply."""
    from ccrk.protocols import SETTINGS, DataDirs, Protocols

    dataset, _, setting = a.protocol.partition("/")
    if setting not in SETTINGS.get(dataset, ()):
        runs = [f"{d}/{s}" for d, settings in SETTINGS.items() for s in settings]
        raise ValueError(f"--protocol {a.protocol!r}: expected one of {runs}")
    return Protocols(needs_config(a), DataDirs("", "", "", "")), dataset, setting


def _finetune(a):
    from ccrk.config import EvalConfig, FinetuneConfig, from_dict
    from ccrk.finetune import run_finetuning
    from ccrk.launch import call_here
    from ccrk.protocols import FORMAT

    protocols, dataset, setting = _protocol(a)
    call_here(
        run_finetuning,
        (
            a.init,
            a.tokenizer,
            a.train,
            a.valid,
            a.out,
            from_dict(FinetuneConfig, protocols.finetune_config(dataset, setting), "finetune"),
            from_dict(EvalConfig, protocols.evaluate_config(dataset, setting), "evaluate"),
        ),
        {
            "fmt": a.format or FORMAT[dataset],
            "roots": _roots(a),
            "selection": a.selection or protocols.selection(dataset, setting),
            "log_path": a.summary,
        },
    )


def _roots(a):
    from ccrk.data.sets import ImageRoots

    return ImageRoots(flickr=a.flickr_images, coco=a.coco_images, root=a.image_root)


def _test_files(a) -> tuple[dict, dict]:
    """{lang: test file} and {lang: (ranks, metrics)} of --test LANG=FILE ... --out-dir, or one FILE."""
    pairs = [t.split("=", 1) if re.match(r"^[a-z]{2}=", t) else ("test", t) for t in a.test]
    tests = dict(pairs)
    if len(tests) != len(pairs) or ("test" in tests and len(tests) > 1):
        raise ValueError("--test: one FILE, or LANG=FILE items with distinct languages")
    if a.out_dir:
        return tests, {k: (f"{a.out_dir}/{k}_ranks.csv", f"{a.out_dir}/{k}_metrics.json") for k in tests}
    if "test" in tests and a.ranks and a.metrics:
        return tests, {"test": (a.ranks, a.metrics)}
    raise ValueError("give --out-dir (LANG=FILE items), or --ranks and --metrics for one test FILE")


def _evaluate(a):
    from ccrk.config import EvalConfig, from_dict
    from ccrk.evaluate import evaluate_test_files
    from ccrk.io import read_json
    from ccrk.protocols import FORMAT
    from ccrk.train import default_device

    protocols, dataset, setting = _protocol(a)
    tests, outputs = _test_files(a)
    folds = {k: a.folds for k in tests} if a.folds else protocols.folds(dataset)
    summary = read_json(a.summary) if a.summary else None
    evaluate_test_files(
        a.model,
        a.tokenizer,
        tests,
        outputs,
        from_dict(EvalConfig, protocols.evaluate_config(dataset, setting), "evaluate"),
        fmt=a.format or FORMAT[dataset],
        roots=_roots(a),
        folds=folds,
        device=default_device(),
        image_res=a.image_res,
        window_size=a.window_size,
        # as the rule: how the checkpoint was chosen travels with every result into the tables
        extra=summary
        and {"model": a.model, "selection": summary["selection"], "best_epoch": summary["best_epoch"]},
    )


def _checkpoint(a):
    from ccrk.models.checkpoint import to_ccrk_file, to_original_file

    if a.direction == "to-ccrk":
        cfg = to_ccrk_file(a.src, a.dst, a.image_res, a.window_size, a.text_heads).cfg
        v, t = cfg.vision, cfg.text
        print(
            f"{a.dst}: all keys matched; Swin {v.image_res} px / window {v.window_size}, "
            f"{t.num_text_layers}+{t.num_fusion_layers} text layers of {t.hidden_size}, vocabulary {t.vocab_size}"
        )
    else:
        n = len(to_original_file(a.src, a.dst, a.finetuned, a.text_heads))
        print(f"{a.dst}: {n} tensors in the original layout")


def _table(a):
    from ccrk.tables import retrieval_table, write_table

    langs, files = zip(*(item.split("=", 1) for item in a.metrics))
    df = retrieval_table(dict(zip(langs, files)))
    write_table(df, a.out, a.markdown)
    print(df.to_string(index=False))


def _mrv(a):
    from ccrk.tables import mrv_table, write_table

    langs, files = zip(*(item.split("=", 1) for item in a.ranks))
    df = mrv_table(dict(zip(langs, files)))
    write_table(df, a.out, a.markdown)
    print(df.to_string(index=False))


def _chart(a):
    from ccrk.plots import bar_chart

    bar_chart(a.table, a.out, a.published, title=a.title)


def _zeroshot(a):
    from ccrk.data.sets import ImageRoots
    from ccrk.train import default_device
    from ccrk.zeroshot import ProtocolRun, run_zeroshot
    from ccrk.zoo.spec import RunSettings

    cfg = needs_config(a)
    models = {m["name"]: m for m in cfg["zeroshot"]["models"]}
    if a.model not in models:
        raise ValueError(
            f"{' '.join(a.config)}: no zeroshot.models entry named {a.model!r}; have {sorted(models)}"
        )
    tests = dict(item.split("=", 1) for item in a.tests)
    out = {
        lang: tuple(
            f"{a.out_dir}/{a.protocol}/{lang}_{k}"
            for k in ("ranks.csv", "metrics.json", "clip_benchmark.json")
        )
        for lang in tests
    }
    folds = {lang: a.folds for lang in tests} if a.folds > 1 else {}
    network = bool(a.network or cfg["zeroshot"]["network"])
    if network:  # hub tags and ids may download (main() set the offline switches)
        os.environ.update(HF_HUB_OFFLINE="0", TRANSFORMERS_OFFLINE="0")
    results = run_zeroshot(
        models[a.model],
        [ProtocolRun(a.protocol, tests, out, folds)],
        RunSettings(a.device or default_device(), a.batch_size, a.num_workers, a.precision),
        tokenizer_dir=cfg.get("tokenizer", {}).get("path") or "results/tokenizer",
        evaluate=cfg.get("evaluate", {}),
        network=network,
        roots=ImageRoots(a.flickr_images, a.coco_images, a.image_root),
        xm3600_images=a.xm3600_images,
    )
    for (_, lang), m in results.items():
        print(f"{lang}: IR@1 {m['ir_r1']:.2f} TR@1 {m['tr_r1']:.2f}")


def _data_args(s) -> None:
    s.add_argument(
        "--format",
        choices=["iglue", "wit", "json"],
        help="iglue: xFlickr&CO/Flickr30K jsonl; wit: WIT jsonl; json: Multi30K/MSCOCO "
        "(docs/method.md#multi30k-and-mscoco-json); default: the protocol's",
    )
    s.add_argument("--flickr-images", default="", help="iglue: Flickr30K image folder")
    s.add_argument("--coco-images", default="", help="iglue: COCO val2014 image folder")
    s.add_argument(
        "--image-root", default="", help="json/wit: what `image`/`image_path` values are relative to"
    )


def _protocol_arg(s) -> None:
    s.add_argument(
        "--protocol",
        default="xflickrco/zeroshot",
        metavar="DATASET/SETTING",
        help="whose finetune/evaluate overrides (protocols:) apply, e.g. xflickrco/fewshot, mscoco/en "
        "(default: %(default)s, the top-level sections)",
    )


def _resolution_args(s):
    s.add_argument(
        "--image-res", type=int, help="load at this image size (e.g. 384); default: the checkpoint's"
    )
    s.add_argument("--window-size", type=int, help="Swin window (e.g. 12); tables are resampled")


def _add_pipeline_commands(cmd) -> None:
    s = cmd("demo-data", _demo_data, "write the synthetic multilingual demo dataset (rule demo_dataset)")
    add_config(s, DEMO_CONFIG, "demo, languages.xflickrco_test")
    add_setting(s, "--out-dir", "demo.out_dir")
    s = cmd("translate", _translate, "translate one shard of captions (rule translate)")
    add_config(s, what="translate, languages.translated")
    s.add_argument("--captions", required=True, help="corpus lines with caption.<source>")
    s.add_argument("--out", required=True)
    s.add_argument("--shard", type=int, default=0)
    add_setting(s, "--shards", "translate.shards")
    add_setting(s, "--backend", "translate.backend", required=True)
    add_setting(s, "--model", "translate.model", "M2M-100 directory (EasyNMT: or name), or the lexicon", True)
    s.add_argument("--converted", help="ctranslate2: converted model directory (made there when missing)")
    add_setting(s, "--source", "translate.source")
    add_setting(s, "--targets", "languages.translated", "comma-separated", required=True)
    add_setting(s, "--batch-size", "translate.batch_size")
    add_setting(s, "--beam-size", "translate.beam_size", "1: greedy")
    add_setting(s, "--compute-type", "translate.compute_type", "ctranslate2 only")
    add_setting(s, "--device", "translate.device")
    s.add_argument("--threads", type=int, default=4, help="CPU threads (ctranslate2); speed only")
    add_setting(s, "--max-input-tokens", "translate.max_input_tokens")
    add_setting(s, "--max-output-tokens", "translate.max_output_tokens")
    add_setting(
        s, "--references", "translate.references", "target-language captions, line-aligned: chrF/BLEU"
    )
    s.add_argument("--stats", help="JSON file for the shard's counts and scores")
    s = cmd(
        "check-translation-model",
        _check_translation_model,
        "validate an M2M-100 directory before a long translation run",
    )
    s.add_argument("model")
    s = cmd(
        "build-corpus",
        _corpus,
        "merge given and translated captions into corpus parts (rule pretrain_corpus)",
    )
    add_config(s, what="languages.pretrain, corpus, data.missing_images")
    s.add_argument("--given", required=True)
    s.add_argument(
        "--translations", nargs="*", default=[], help="translation shards (none: every language given)"
    )
    s.add_argument("--out", nargs="+", required=True, help="corpus part files to write")
    add_setting(s, "--languages", "languages.pretrain", "comma-separated", required=True)
    s.add_argument("--report")
    add_setting(s, "--max-images", "corpus.max_images", "keep a seeded random sample of this many images")
    add_setting(s, "--seed", "corpus.seed", "seed of the --max-images sample")
    s.add_argument(
        "--manifests", nargs="*", default=[], help="download manifests resolving the `url` of given lines"
    )
    s.add_argument("--image-root", help="check that every image exists under it (data.pretrain_images)")
    s.add_argument(
        "--shards",
        nargs="*",
        default=[],
        help="webdataset tars (paths or brace patterns) whose samples given lines name by `key` or `url`",
    )
    add_setting(s, "--missing-images", "data.missing_images")
    s = cmd(
        "train-tokenizer", _tokenizer, "build an XLM-R-style unigram tokenizer on the corpus (rule tokenizer)"
    )
    add_config(s, what="tokenizer.vocab_size, languages.pretrain")
    s.add_argument("--corpus", nargs="+", required=True)
    s.add_argument("--out", required=True)
    add_setting(s, "--vocab-size", "tokenizer.vocab_size")
    add_setting(s, "--languages", "languages.pretrain", "comma-separated", required=True)
    s = cmd("pretrain", _pretrain, "CCRK pretraining (rule pretrain)")
    add_config(s, DEMO_CONFIG, "model, pretrain, languages.pretrain")
    s.add_argument("--corpus", nargs="+", required=True)
    s.add_argument("--image-root", required=True)
    s.add_argument("--tokenizer", required=True)
    s.add_argument("--out", required=True)
    s = cmd("finetune", _finetune, "retrieval fine-tuning with validation model selection (rule finetune)")
    add_config(s, DEMO_CONFIG, "finetune, evaluate, protocols")
    _protocol_arg(s)
    for name in ("init", "tokenizer", "out"):
        s.add_argument(f"--{name}", required=True)
    s.add_argument("--train", nargs="+", required=True, help="training files (several: e.g. every language)")
    s.add_argument("--valid", nargs="+", required=True, help="files whose summed r_mean picks the best epoch")
    s.add_argument(
        "--selection",
        choices=subschema("protocols.selection")["enum"],
        help="what --valid holds (recorded in the summary); default: the protocol's selection",
    )
    _data_args(s)
    s.add_argument("--summary", help="summary.json: the chosen epoch and every scored one")
    s = cmd(
        "evaluate",
        _evaluate,
        "rank test files of one model: a ranks CSV and a metrics JSON each (rule evaluate_*)",
    )
    add_config(s, DEMO_CONFIG, "evaluate, protocols")
    _protocol_arg(s)
    for name in ("model", "tokenizer"):
        s.add_argument(f"--{name}", required=True)
    s.add_argument(
        "--test",
        nargs="+",
        required=True,
        metavar="LANG=FILE",
        help="test files (images encoded once for all)",
    )
    s.add_argument("--out-dir", help="writes LANG_ranks.csv and LANG_metrics.json per --test LANG=FILE")
    s.add_argument("--ranks", help="ranks CSV of a single --test FILE")
    s.add_argument("--metrics", help="metrics JSON of a single --test FILE")
    s.add_argument(
        "--summary", help="the model's fine-tuning summary.json: its selection goes into the metrics"
    )
    s.add_argument(
        "--folds",
        type=int,
        help="contiguous folds of every test set, averaged; default: the protocol's (protocols.mscoco.folds)",
    )
    _resolution_args(s)
    _data_args(s)


def _add_result_commands(cmd) -> None:
    s = cmd("checkpoint", _checkpoint, "convert a released CCRK/CCLM checkpoint to ccrk's format, or back")
    s.add_argument("direction", choices=["to-ccrk", "to-original"])
    s.add_argument("src", help="ccrk_3m_10lan_epoch_29.th, a CCLM checkpoint, or a ccrk model.pt")
    s.add_argument("dst")
    s.add_argument(
        "--finetuned",
        action="store_true",
        help="to-original: RetrievalModel's layout (text_encoder.X, no MLM head)",
    )
    s.add_argument(
        "--text-heads",
        type=int,
        help="attention heads of the text layers, which no weight holds (default: width / 64, as XLM-R)",
    )
    _resolution_args(s)
    s = cmd("table", _table, "per-language table with the non-English average (rule retrieval_table)")
    s.add_argument("metrics", nargs="+", metavar="LANG=METRICS_JSON")
    s.add_argument("--out", required=True)
    s.add_argument("--markdown")
    s = cmd("mrv", _mrv, "mean rank variance across languages (rule mrv_table)")
    s.add_argument("ranks", nargs="+", metavar="LANG=RANKS_CSV")
    s.add_argument("--out", required=True)
    s.add_argument("--markdown")
    s = cmd("chart", _chart, "bar chart of IR/TR R@1 per language with published baselines (rule chart)")
    s.add_argument("table", help="a results table CSV")
    s.add_argument("--out", required=True, help="PNG to write")
    s.add_argument(
        "--published", default="", help="published rows to draw: xflickrco, xflickrco_fewshot or wit"
    )
    s.add_argument("--title", default="")
    s = cmd("zeroshot", _zeroshot, "score one zeroshot.models entry on one protocol (rules zeroshot_*)")
    add_config(s, DEMO_CONFIG, "zeroshot, evaluate, tokenizer.path")
    s.add_argument("--model", required=True, help="the name of a zeroshot.models entry")
    s.add_argument("--protocol", required=True, choices=list(ZERO_SHOT_PROTOCOLS))
    s.add_argument(
        "tests", nargs="+", metavar="LANG=FILE", help="test file per language (XM3600: captions.jsonl)"
    )
    s.add_argument("--out-dir", required=True, help="writes <protocol>/<lang>_{ranks.csv,metrics.json,...}")
    s.add_argument("--xm3600-images", default="", help="XM3600: the folder of <image/key>.jpg")
    s.add_argument("--folds", type=int, default=1, help="contiguous folds, averaged (mscoco_1k: 5)")
    s.add_argument("--device", default="", help="default: cuda if available, else cpu")
    add_setting(s, "--batch-size", "zeroshot.batch_size")
    add_setting(s, "--num-workers", "zeroshot.num_workers")
    add_setting(s, "--precision", "zeroshot.precision")
    s.add_argument(
        "--network",
        action="store_true",
        default=None,
        help="let hub tags and ids download (zeroshot.network)",
    )
    _data_args(s)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ccrk", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def cmd(name, fn, help_):
        s = sub.add_parser(name, help=help_, description=help_)
        s.set_defaults(fn=fn)
        return s

    _add_pipeline_commands(cmd)
    _add_result_commands(cmd)
    from ccrk.cli.data import add_data_commands

    add_data_commands(cmd)  # download, download-retry, wit-join, multi30k, mscoco
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    go_offline()
    setup_logging()
    try:
        resolve(args)  # --config loaded and validated, unset settings filled, before anything runs
        args.fn(args)
    except Exception as e:  # a clear one-line error and a non-zero exit, the traceback only in debug
        log.debug("failed", exc_info=True)
        print(f"ccrk {args.command}: error: {e}", file=sys.stderr)
        return 1
    return 0
