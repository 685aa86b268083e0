"""Evaluation stage: the test files of one test set (one per language) -> gold ranks CSV + metrics JSON each."""

import logging

import pandas as pd
import torch

from ccrk.config import EvalConfig
from ccrk.data.iglue import load_eval_set
from ccrk.data.transforms import eval_transform
from ccrk.io import atomic_path, write_json
from ccrk.models import load_model
from ccrk.retrieval import encode_images, evaluate_retrieval
from ccrk.tokenizer import load_tokenizer

log = logging.getLogger("ccrk.evaluate")


def evaluate_test_files(model_path, tokenizer_dir, test_files: dict[str, str], flickr_root, coco_root,
                        outputs: dict[str, tuple[str, str]], cfg: EvalConfig, device: str = "cpu",
                        extra: dict | None = None, image_res: int | None = None,
                        window_size: int | None = None) -> dict[str, dict]:
    """Rank each language's test file; images are encoded once per distinct image list and shared.

    Writes, per language, `index,ir_rank,tr_rank` (0-based, one row per image line) to outputs[lang][0]
    and the metrics to outputs[lang][1]. Empty captions are not queries (policy of `load_eval_set`):
    their `ir_rank` is blank, and so is the `tr_rank` of an image left without captions; the metrics
    JSON lists them by line.
    """
    # another resolution resamples the Swin tables here too (the original skips it under --evaluate)
    model = load_model(model_path, image_res, window_size).to(device).eval()
    tok = load_tokenizer(tokenizer_dir)
    transform = eval_transform(model.cfg.vision.image_res)
    image_cache = {}
    results = {}
    for lang, test_file in test_files.items():
        data = load_eval_set(test_file, flickr_root, coco_root)
        for line, reason in data.dropped:
            log.warning("%s:%d: %s", test_file, line, reason)
        key = tuple(data.image_paths)
        if key not in image_cache:
            image_cache[key] = encode_images(model, data.image_paths, transform, cfg.batch_size, torch.device(device))
        r = evaluate_retrieval(model, tok, data.image_paths, data.texts, data.txt2img, data.img2txt, transform,
                               k_test=cfg.k_test, max_tokens=cfg.max_tokens, max_words=cfg.max_words,
                               device=torch.device(device), batch_size=cfg.batch_size,
                               fusion_batch_size=cfg.fusion_batch_size, image_features=image_cache[key])
        ranks_out, metrics_out = outputs[lang]
        write_ranks(ranks_out, r.ir_ranks, r.tr_ranks, data.img2txt)
        results[lang] = {**(extra or {}), "lang": lang, **r.metrics, "test_file": str(test_file),
                         "dropped": [{"line": line, "reason": reason} for line, reason in data.dropped]}
        write_json(metrics_out, results[lang])
        log.info("%s: IR@1 %.2f TR@1 %.2f r_mean %.2f", test_file, r.metrics["ir_r1"], r.metrics["tr_r1"],
                 r.metrics["r_mean"])
    return results


def write_ranks(path, ir_ranks, tr_ranks, img2txt) -> None:
    """One row per image: its caption's rank of the image (the best, if several) and its own TR rank."""
    ir_by_image = [min((int(ir_ranks[t]) for t in texts), default=None) for texts in img2txt]
    ranks = pd.DataFrame({"index": range(len(img2txt)), "ir_rank": pd.array(ir_by_image, dtype="Int64"),
                          "tr_rank": pd.array([None if x < 0 else int(x) for x in tr_ranks], dtype="Int64")})
    with atomic_path(path) as tmp:
        ranks.to_csv(tmp, index=False)
