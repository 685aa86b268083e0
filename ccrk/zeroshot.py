"""Zero-shot scoring of any model of `zeroshot.models` on the paper's test sets and XM3600 (docs/method.md#zero-shot).

One call scores one model on one dataset: every protocol of the dataset (MSCOCO 5k and 1k folds, XM3600's two
caption protocols) and every language. Images are encoded once and shared by all protocols and languages;
each language's captions are encoded once (the union over protocols). Per (protocol, language) it writes the
ranks CSV and metrics JSON the tables read (as `ccrk.evaluate` does) and a CLIP_benchmark-style JSON.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ccrk.data.sets import ImageRoots, load_eval
from ccrk.evaluate import rank_folds, write_ranks
from ccrk.formats.clip_benchmark import clip_benchmark_record
from ccrk.formats.xm3600 import xm3600_eval_sets
from ccrk.io import write_json
from ccrk.retrieval import subset
from ccrk.zeroshot_protocols import PROTOCOLS
from ccrk.zoo.base import encode_images, encode_texts
from ccrk.zoo.spec import RunSettings

log = logging.getLogger("ccrk.zeroshot")


@dataclass
class ProtocolRun:
    """One protocol of a dataset: its test files or XM3600 source, and where each language's results go."""

    protocol: str  # a key of PROTOCOLS
    tests: dict[str, str]  # language -> test file (XM3600: every language -> captions.jsonl)
    outputs: dict[str, tuple[str, str, str]]  # language -> (ranks CSV, metrics JSON, CLIP_benchmark JSON)
    folds: dict[str, int] = field(default_factory=dict)  # language -> folds (protocols with `folds`)


def load_protocol_sets(run: ProtocolRun, roots: ImageRoots, xm3600_images: str = "", missing_images="fail"):
    """{language: eval set} of one protocol, and a report of what the reader left out (XM3600)."""
    spec = PROTOCOLS[run.protocol]
    if spec.fmt != "xm3600":
        return {lang: load_eval(path, spec.fmt, roots) for lang, path in run.tests.items()}, {}
    sources = set(run.tests.values())
    if len(sources) != 1:
        raise ValueError(f"{run.protocol}: every locale reads one captions.jsonl, got {sorted(sources)}")
    return xm3600_eval_sets(
        sources.pop(), xm3600_images, list(run.tests), spec.caption_protocol, missing_images
    )


def _image_key(paths) -> tuple:
    return tuple(p if isinstance(p, str) else hash(p) for p in paths)


def score_dataset(
    encoder,
    runs: list[ProtocolRun],
    settings: RunSettings,
    *,
    model_name: str,
    roots: ImageRoots = ImageRoots(),
    xm3600_images: str = "",
    missing_images: str = "fail",
    extra: dict | None = None,
) -> dict[tuple[str, str], dict]:
    """Score `encoder` on every (protocol, language) of one dataset; returns their metrics."""
    loaded = [(run, *load_protocol_sets(run, roots, xm3600_images, missing_images)) for run in runs]
    images: dict[tuple, object] = {}
    for _, sets, _ in loaded:
        for data in sets.values():
            key = _image_key(data.image_paths)
            if key not in images:  # the languages (and protocols) of a dataset share one image list
                log.info("%s: encoding %d images", model_name, len(data.image_paths))
                images[key] = encode_images(encoder, data.image_paths, settings)
    info = encoder.info()
    results = {}
    for lang in dict.fromkeys(lang for run, _, _ in loaded for lang in run.tests):
        # the union of this language's captions over the protocols, each encoded once
        texts = list(dict.fromkeys(t for _, sets, _ in loaded if lang in sets for t in sets[lang].texts))
        row = {t: i for i, t in enumerate(texts)}
        features = encode_texts(encoder, texts, lang, settings)
        for run, sets, report in loaded:
            if lang not in sets:
                continue
            data = sets[lang]
            result, fold_of = rank_folds(
                encoder.rank,
                images[_image_key(data.image_paths)],
                subset(features, [row[t] for t in data.texts]),
                data.txt2img,
                data.img2txt,
                run.folds.get(lang, 1),
            )
            ranks_out, metrics_out, cb_out = run.outputs[lang]
            itc = None if result.itc_ir_ranks is None else (result.itc_ir_ranks, result.itc_tr_ranks)
            write_ranks(
                ranks_out,
                result.ir_ranks,
                result.tr_ranks,
                data.img2txt,
                fold_of,
                data.image_keys,
                itc_ranks=itc,
            )
            spec = PROTOCOLS[run.protocol]
            metrics = {
                **(extra or {}),
                "model": model_name,
                "protocol": run.protocol,
                "protocol_description": spec.description,
                "caption_protocol": spec.caption_protocol,
                "lang": lang,
                **result.metrics,
                "selection": "as given (zero-shot harness)",
                "scoring": encoder.scorings()[0],
                "model_info": info,
                "precision": settings.precision if str(settings.device).startswith("cuda") else "fp32",
                "test_file": str(run.tests[lang]),
                "dropped": [{"line": line, "reason": reason} for line, reason in data.dropped],
                **({"reader": report} if report else {}),
            }
            write_json(metrics_out, metrics)
            write_json(
                cb_out, clip_benchmark_record(spec.clip_benchmark_name, model_name, info, lang, metrics)
            )
            results[(run.protocol, lang)] = metrics
            log.info(
                "%s %s %s: IR@1 %.2f TR@1 %.2f",
                model_name,
                run.protocol,
                lang,
                metrics["ir_r1"],
                metrics["tr_r1"],
            )
    return results


def run_zeroshot(
    model: dict,
    runs: list[ProtocolRun],
    settings: RunSettings,
    *,
    tokenizer_dir: str = "",
    evaluate: dict | None = None,
    network: bool = False,
    **kwargs,
) -> dict[tuple[str, str], dict]:
    """The zeroshot_<dataset> rules: load one `zeroshot.models` entry and score it on one dataset."""
    from ccrk.zoo import load_encoder, model_spec

    spec = model_spec(model)
    encoder = load_encoder(spec, settings, tokenizer_dir=tokenizer_dir, evaluate=evaluate, network=network)
    return score_dataset(
        encoder,
        runs,
        settings,
        model_name=spec.name,
        extra={"kind": spec.kind, "description": spec.description},
        **kwargs,
    )
