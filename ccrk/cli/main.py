"""`python -m ccrk`: the pipeline's operations without Snakemake, one subcommand per rule kind."""

import argparse
import logging
import os
import sys

import yaml

from ccrk.jobs import go_offline, setup_logging
from ccrk.zeroshot_protocols import PROTOCOLS as ZERO_SHOT_PROTOCOLS

log = logging.getLogger("ccrk.cli")


def _config(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def _demo_data(a):
    from ccrk.demo.dataset import write_demo_dataset

    demo = {k: v for k, v in _config(a.config).get("demo", {}).items() if k not in ("enabled", "out_dir")}
    print(write_demo_dataset(a.out_dir, **demo))


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
        a.targets.split(","),
        batch_size=a.batch_size,
        max_input_tokens=a.max_input_tokens,
        references=a.references,
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
        a.languages.split(","),
        a.report,
        a.max_images,
        a.seed,
        CorpusImages(a.manifests, a.image_root, a.missing_images, expand_shards(a.shards)),
    )


def _tokenizer(a):
    from ccrk.tokenizer import train_tokenizer_on_corpus

    train_tokenizer_on_corpus(a.corpus, a.languages.split(","), a.out, a.vocab_size)


def _pretrain(a):
    from ccrk.config import PretrainConfig, from_dict
    from ccrk.launch import call_here
    from ccrk.pretrain import run_pretraining

    cfg = _config(a.config)
    train = {**cfg.get("pretrain", {}), "languages": cfg["languages"]["pretrain"]}
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


def _finetune(a):
    from ccrk.config import EvalConfig, FinetuneConfig, from_dict
    from ccrk.finetune import run_finetuning
    from ccrk.launch import call_here

    cfg = _config(a.config)
    call_here(
        run_finetuning,
        (
            a.init,
            a.tokenizer,
            a.train,
            a.valid,
            a.out,
            from_dict(FinetuneConfig, cfg.get("finetune"), "finetune"),
            from_dict(EvalConfig, cfg.get("evaluate"), "evaluate"),
        ),
        {"fmt": a.format, "roots": _roots(a), "selection": a.selection, "log_path": a.summary},
    )


def _roots(a):
    from ccrk.data.sets import ImageRoots

    return ImageRoots(flickr=a.flickr_images, coco=a.coco_images, root=a.image_root)


def _evaluate(a):
    from ccrk.config import EvalConfig, from_dict
    from ccrk.evaluate import evaluate_test_files
    from ccrk.train import default_device

    evaluate_test_files(
        a.model,
        a.tokenizer,
        {"test": a.test},
        {"test": (a.ranks, a.metrics)},
        from_dict(EvalConfig, _config(a.config).get("evaluate"), "evaluate"),
        fmt=a.format,
        roots=_roots(a),
        folds={"test": a.folds},
        device=default_device(),
        image_res=a.image_res,
        window_size=a.window_size,
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
    write_table(df, a.out)
    print(df.to_string(index=False))


def _chart(a):
    from ccrk.plots import bar_chart

    bar_chart(a.table, a.out, a.published, title=a.title)


def _zeroshot(a):
    from ccrk.data.sets import ImageRoots
    from ccrk.train import default_device
    from ccrk.zeroshot import ProtocolRun, run_zeroshot
    from ccrk.zoo.spec import RunSettings

    cfg = _config(a.config)
    models = {m["name"]: m for m in cfg.get("zeroshot", {}).get("models", [])}
    if a.model not in models:
        raise ValueError(f"{a.config}: no zeroshot.models entry named {a.model!r}; have {sorted(models)}")
    tests = dict(item.split("=", 1) for item in a.tests)
    out = {
        lang: tuple(
            f"{a.out_dir}/{a.protocol}/{lang}_{k}"
            for k in ("ranks.csv", "metrics.json", "clip_benchmark.json")
        )
        for lang in tests
    }
    folds = {lang: a.folds for lang in tests} if a.folds > 1 else {}
    results = run_zeroshot(
        models[a.model],
        [ProtocolRun(a.protocol, tests, out, folds)],
        RunSettings(a.device or default_device(), a.batch_size, a.num_workers, a.precision),
        tokenizer_dir=cfg.get("tokenizer", {}).get("path") or "results/tokenizer",
        evaluate=cfg.get("evaluate", {}),
        network=a.network,
        roots=ImageRoots(a.flickr_images, a.coco_images, a.image_root),
        xm3600_images=a.xm3600_images,
    )
    for (_, lang), m in results.items():
        print(f"{lang}: IR@1 {m['ir_r1']:.2f} TR@1 {m['tr_r1']:.2f}")


def _data_args(s) -> None:
    s.add_argument(
        "--format",
        default="iglue",
        choices=["iglue", "wit", "json"],
        help="iglue: xFlickr&CO/Flickr30K jsonl; wit: WIT jsonl; json: Multi30K/MSCOCO "
        "(docs/method.md#multi30k-and-mscoco-json)",
    )
    s.add_argument("--flickr-images", default="", help="iglue: Flickr30K image folder")
    s.add_argument("--coco-images", default="", help="iglue: COCO val2014 image folder")
    s.add_argument(
        "--image-root", default="", help="json/wit: what `image`/`image_path` values are relative to"
    )


def _resolution_args(s):
    s.add_argument(
        "--image-res", type=int, help="load at this image size (e.g. 384); default: the checkpoint's"
    )
    s.add_argument("--window-size", type=int, help="Swin window (e.g. 12); tables are resampled")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ccrk", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def cmd(name, fn, help_):
        s = sub.add_parser(name, help=help_, description=help_)
        s.set_defaults(fn=fn)
        return s

    s = cmd("demo-data", _demo_data, "write the synthetic multilingual demo dataset (rule demo_dataset)")
    s.add_argument("--config", default="config/config.yaml")
    s.add_argument("--out-dir", default="resources/demo")
    s = cmd("translate", _translate, "translate one shard of captions (rule translate)")
    s.add_argument("--captions", required=True, help="corpus lines with caption.<source>")
    s.add_argument("--out", required=True)
    s.add_argument("--shard", type=int, default=0)
    s.add_argument("--shards", type=int, default=1)
    s.add_argument(
        "--backend", default="easynmt", choices=["lexicon", "easynmt", "transformers", "ctranslate2"]
    )
    s.add_argument(
        "--model", default="m2m_100_1.2B", help="M2M-100 directory (EasyNMT: or name), or the demo lexicon"
    )
    s.add_argument("--converted", help="ctranslate2: converted model directory (made there when missing)")
    s.add_argument("--source", default="en")
    s.add_argument("--targets", default="id,es,ru,tr")
    s.add_argument("--batch-size", type=int, default=16)
    s.add_argument("--beam-size", type=int, default=5, help="1: greedy")
    s.add_argument("--compute-type", default="default", help="ctranslate2: int8, float16, float32, ...")
    s.add_argument("--device", default="auto")
    s.add_argument("--threads", type=int, default=4)
    s.add_argument("--max-input-tokens", type=int, default=128)
    s.add_argument("--max-output-tokens", type=int, default=256)
    s.add_argument("--references", help="target-language captions, line-aligned: chrF/BLEU in the stats")
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
    s.add_argument("--given", required=True)
    s.add_argument(
        "--translations", nargs="*", default=[], help="translation shards (none: every language given)"
    )
    s.add_argument("--out", nargs="+", required=True, help="corpus part files to write")
    s.add_argument("--languages", default="zh,en,de,fr,ja,cs,id,es,ru,tr")
    s.add_argument("--report")
    s.add_argument(
        "--max-images", type=int, help="keep a seeded random sample of this many images (CCRK's 1M)"
    )
    s.add_argument("--seed", type=int, default=0, help="seed of the --max-images sample")
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
    s.add_argument("--missing-images", default="fail", choices=["fail", "skip"])
    s = cmd(
        "train-tokenizer", _tokenizer, "build an XLM-R-style unigram tokenizer on the corpus (rule tokenizer)"
    )
    s.add_argument("--corpus", nargs="+", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--vocab-size", type=int, default=1000)
    s.add_argument("--languages", default="zh,en,de,fr,ja,cs,id,es,ru,tr")
    s = cmd("pretrain", _pretrain, "CCRK pretraining (rule pretrain)")
    s.add_argument("--config", default="config/config.yaml", help="YAML with model, pretrain, languages")
    s.add_argument("--corpus", nargs="+", required=True)
    s.add_argument("--image-root", required=True)
    s.add_argument("--tokenizer", required=True)
    s.add_argument("--out", required=True)
    s = cmd("finetune", _finetune, "retrieval fine-tuning with validation model selection (rule finetune_*)")
    s.add_argument("--config", default="config/config.yaml", help="YAML with finetune, evaluate")
    for name in ("init", "tokenizer", "out"):
        s.add_argument(f"--{name}", required=True)
    s.add_argument("--train", nargs="+", required=True, help="training files (several: e.g. every language)")
    s.add_argument("--valid", nargs="+", required=True, help="files whose summed r_mean picks the best epoch")
    s.add_argument(
        "--selection",
        default="validation",
        choices=["validation", "test_as_original"],
        help="what --valid holds (recorded in the summary)",
    )
    _data_args(s)
    s.add_argument("--summary")
    s = cmd("evaluate", _evaluate, "rank one test file: ranks CSV and metrics JSON (rule evaluate_*)")
    s.add_argument("--config", default="config/config.yaml", help="YAML with evaluate")
    for name in ("model", "tokenizer", "test", "ranks", "metrics"):
        s.add_argument(f"--{name}", required=True)
    s.add_argument(
        "--folds", type=int, default=1, help="contiguous folds of the test set, averaged (MSCOCO: 5)"
    )
    _resolution_args(s)
    _data_args(s)
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
    s = cmd("chart", _chart, "bar chart of IR/TR R@1 per language with published baselines (rule chart)")
    s.add_argument("table", help="a results table CSV")
    s.add_argument("--out", required=True, help="PNG to write")
    s.add_argument(
        "--published", default="", help="published rows to draw: xflickrco, xflickrco_fewshot or wit"
    )
    s.add_argument("--title", default="")
    s = cmd("zeroshot", _zeroshot, "score one zeroshot.models entry on one protocol (rules zeroshot_*)")
    s.add_argument("--config", default="config/config.yaml", help="YAML with zeroshot.models (and evaluate)")
    s.add_argument("--model", required=True, help="the name of a zeroshot.models entry")
    s.add_argument("--protocol", required=True, choices=list(ZERO_SHOT_PROTOCOLS))
    s.add_argument(
        "tests", nargs="+", metavar="LANG=FILE", help="test file per language (XM3600: captions.jsonl)"
    )
    s.add_argument("--out-dir", required=True, help="writes <protocol>/<lang>_{ranks.csv,metrics.json,...}")
    s.add_argument("--xm3600-images", default="", help="XM3600: the folder of <image/key>.jpg")
    s.add_argument("--folds", type=int, default=1, help="contiguous folds, averaged (mscoco_1k: 5)")
    s.add_argument("--device", default="", help="default: cuda if available, else cpu")
    s.add_argument("--batch-size", type=int, default=64)
    s.add_argument("--num-workers", type=int, default=2)
    s.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp16", "fp32"])
    s.add_argument("--network", action="store_true", help="let hub tags and ids download (default: offline)")
    _data_args(s)
    from ccrk.cli.data import add_data_commands

    add_data_commands(cmd)  # download, download-retry, wit-join, multi30k, mscoco
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "network", False):  # zeroshot --network: hub tags and ids may download
        os.environ.update(HF_HUB_OFFLINE="0", TRANSFORMERS_OFFLINE="0")
    go_offline()
    setup_logging()
    try:
        args.fn(args)
    except Exception as e:  # a clear one-line error and a non-zero exit, the traceback only in debug
        log.debug("failed", exc_info=True)
        print(f"ccrk {args.command}: error: {e}", file=sys.stderr)
        return 1
    return 0
