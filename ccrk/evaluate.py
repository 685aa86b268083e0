"""Evaluation stage: the test files of one model (one per language) -> gold ranks CSV + metrics JSON each."""

import logging

import numpy as np
import pandas as pd
import torch

from ccrk.config import EvalConfig
from ccrk.data.sets import ImageRoots, load_eval
from ccrk.data.transforms import eval_transform
from ccrk.io import atomic_path, write_json
from ccrk.metrics import fold_slices, mean_metrics
from ccrk.models import load_model
from ccrk.retrieval import RetrievalResult, encode_images, encode_texts, rank_features, subset
from ccrk.tokenizer import load_tokenizer

log = logging.getLogger("ccrk.evaluate")


def evaluate_test_files(
    model_path,
    tokenizer_dir,
    test_files: dict[str, str],
    outputs: dict[str, tuple[str, str]],
    cfg: EvalConfig,
    *,
    fmt: str = "iglue",
    roots: ImageRoots = ImageRoots(),
    folds: dict[str, int] | None = None,
    device: str = "cpu",
    extra: dict | None = None,
    image_res: int | None = None,
    window_size: int | None = None,
) -> dict[str, dict]:
    """Rank each language's test file; images are encoded once per distinct image list, texts once per file.

    Writes, per language, `index,ir_rank,tr_rank` (0-based, one row per image; `fold` added for k-fold
    sets, ranks then within the fold; `image`, the image key) to outputs[lang][0] and the metrics to
    outputs[lang][1]. `folds[lang]` > 1 splits that test set into contiguous folds by image
    (`ccrk.metrics.fold_slices`, docs/method.md#multi30k-and-mscoco-json) and reports the fold mean. Empty
    captions are not queries (policy of `ccrk.formats.eval_set`): their `ir_rank` is blank, and so is the
    `tr_rank` of an image left without captions, unless `cfg.captionless_images` is "drop" (the original's
    gallery: such an image is left out); the metrics JSON lists them by line.
    """
    # another resolution resamples the Swin tables here too (the original skips it under --evaluate)
    model = load_model(model_path, image_res, window_size).to(device).eval()
    tok = load_tokenizer(tokenizer_dir)
    transform = eval_transform(model.cfg.vision.image_res)
    dev = torch.device(device)
    image_cache = {}
    results = {}
    for lang, test_file in test_files.items():
        data = load_eval(test_file, fmt, roots, cfg.captionless_images)
        key = tuple(p if isinstance(p, str) else hash(p) for p in data.image_paths)
        if key not in image_cache:  # the languages of xFlickr&CO / Multi30K share one image list
            image_cache[key] = cached_subset(image_cache, key) or encode_images(
                model, data.image_paths, transform, cfg.batch_size, dev
            )
        txt = encode_texts(model, tok, data.texts, cfg.batch_size, cfg.max_tokens, cfg.max_words, dev)
        n_folds = (folds or {}).get(lang, 1)
        ir, tr, metrics, fold_of = rank_in_folds(
            model, image_cache[key], txt, data.txt2img, data.img2txt, n_folds, cfg
        )
        ranks_out, metrics_out = outputs[lang]
        write_ranks(ranks_out, ir, tr, data.img2txt, fold_of, data.image_keys)
        results[lang] = {
            **(extra or {}),
            "lang": lang,
            **metrics,
            "test_file": str(test_file),
            "dropped": [{"line": line, "reason": reason} for line, reason in data.dropped],
        }
        write_json(metrics_out, results[lang])
        log.info(
            "%s: IR@1 %.2f TR@1 %.2f r_mean %.2f (ITC only: IR@1 %.2f TR@1 %.2f)",
            test_file,
            metrics["ir_r1"],
            metrics["tr_r1"],
            metrics["r_mean"],
            metrics["itc_ir_r1"],
            metrics["itc_tr_r1"],
        )
    return results


def rank_in_folds(model, images, texts, txt2img, img2txt, n_folds: int, cfg: EvalConfig):
    """(ir_ranks per text, tr_ranks per image, metrics, fold of each image or None): one fold = the whole set."""

    def rank(img, txt, t2i, i2t):
        return rank_features(model, img, txt, t2i, i2t, cfg.k_test, cfg.fusion_batch_size)

    result, fold_of = rank_folds(rank, images, texts, txt2img, img2txt, n_folds)
    if n_folds > 1:
        result.metrics["k_test"] = cfg.k_test
    return result.ir_ranks, result.tr_ranks, result.metrics, fold_of


def rank_folds(
    rank, images, texts, txt2img, img2txt, n_folds: int
) -> tuple[RetrievalResult, np.ndarray | None]:
    """`rank(images, texts, txt2img, img2txt)` over the whole set, or per contiguous fold of images.

    Fold ranks are within the fold; the metrics are the fold mean (`folds` lists each fold's) and the
    result's rank arrays cover the whole set. Returns the result and each image's fold (None: one fold).
    """
    if n_folds <= 1:
        return rank(images, texts, txt2img, img2txt), None
    ir = np.full(len(txt2img), -1, dtype=np.int64)
    tr = np.full(len(img2txt), -1, dtype=np.int64)
    itc_ir, itc_tr = ir.copy(), tr.copy()
    fold_of = np.zeros(len(img2txt), dtype=np.int64)
    per_fold, has_itc = [], True
    for f, rows in enumerate(fold_slices(len(img2txt), n_folds)):
        text_ids = [t for i in rows for t in img2txt[i]]
        local = {t: j for j, t in enumerate(text_ids)}
        r = rank(
            subset(images, list(rows)),
            subset(texts, text_ids),
            [txt2img[t] - rows.start for t in text_ids],
            [[local[t] for t in img2txt[i]] for i in rows],
        )
        ir[text_ids], tr[list(rows)], fold_of[list(rows)] = r.ir_ranks, r.tr_ranks, f
        has_itc = has_itc and r.itc_ir_ranks is not None
        if has_itc:
            itc_ir[text_ids], itc_tr[list(rows)] = r.itc_ir_ranks, r.itc_tr_ranks
        per_fold.append(r.metrics)
    metrics = {
        **mean_metrics(per_fold),
        "n_images": len(img2txt),
        "n_texts": len(txt2img),
        "folds": per_fold,
    }
    return RetrievalResult(ir, tr, metrics, *((itc_ir, itc_tr) if has_itc else ())), fold_of


def cached_subset(cache: dict, key: tuple):
    """Features of the images `key` taken from an already encoded list holding them all (a gallery without its
    captionless images), else None."""
    for other, features in cache.items():
        row = {k: i for i, k in enumerate(other)}
        if all(k in row for k in key):
            return subset(features, [row[k] for k in key])
    return None


def image_key_text(key) -> str:
    """An image key as the ranks CSV writes it: ("coco", "391895") -> "coco:391895"."""
    return ":".join(map(str, key)) if isinstance(key, tuple) else str(key)


def write_ranks(path, ir_ranks, tr_ranks, img2txt, fold_of=None, image_keys=None, itc_ranks=None) -> None:
    """One row per image: its caption's rank of the image (the best, if several) and its own TR rank.

    `image` is the image's key, by which MRV aligns languages whose galleries differ; `itc_ranks` = (ir, tr)
    of the ITC scores alone adds `itc_ir_rank`, `itc_tr_rank` (a re-ranked model's dual-encoder ranking).
    """
    columns = {"ir_rank": ir_ranks, "tr_rank": tr_ranks}
    if itc_ranks is not None:
        columns.update(itc_ir_rank=itc_ranks[0], itc_tr_rank=itc_ranks[1])
    ranks = pd.DataFrame({"index": range(len(img2txt))})
    for name, values in columns.items():
        if name.endswith("ir_rank"):
            best = [min((int(values[t]) for t in texts), default=None) for texts in img2txt]
        else:
            best = [None if x < 0 else int(x) for x in values]
        ranks[name] = pd.array(best, dtype="Int64")
    if fold_of is not None:
        ranks["fold"] = fold_of
    if image_keys is not None:
        ranks["image"] = [image_key_text(k) for k in image_keys]
    with atomic_path(path) as tmp:
        ranks.to_csv(tmp, index=False)
