"""Evaluation stage: one test file (one language) -> gold ranks CSV + metrics JSON."""

import logging

import pandas as pd
import torch

from ccrk.config import EvalConfig
from ccrk.data.iglue import load_eval_set
from ccrk.data.transforms import eval_transform
from ccrk.io import atomic_path, write_json
from ccrk.models import load_model
from ccrk.retrieval import evaluate_retrieval
from ccrk.tokenizer import load_tokenizer

log = logging.getLogger("ccrk.evaluate")


def evaluate_test_file(model_path, tokenizer_dir, test_file, flickr_root, coco_root, ranks_out, metrics_out,
                       cfg: EvalConfig, device: str = "cpu", extra: dict | None = None) -> dict:
    """Rank a test file and write `index,ir_rank,tr_rank` (0-based, one row per image line) and metrics.

    Empty captions are not queries (policy of `load_eval_set`): their `ir_rank` is blank, and so is the
    `tr_rank` of an image left without captions; the metrics JSON lists them by line.
    """
    model = load_model(model_path).to(device).eval()
    tok = load_tokenizer(tokenizer_dir)
    data = load_eval_set(test_file, flickr_root, coco_root)
    for line, reason in data.dropped:
        log.warning("%s:%d: %s", test_file, line, reason)
    r = evaluate_retrieval(model, tok, data.image_paths, data.texts, data.txt2img, data.img2txt,
                           eval_transform(model.cfg.vision.image_res), k_test=cfg.k_test, max_tokens=cfg.max_tokens,
                           max_words=cfg.max_words, device=torch.device(device), batch_size=cfg.batch_size,
                           fusion_batch_size=cfg.fusion_batch_size)
    ir_by_image = [min((int(r.ir_ranks[t]) for t in texts), default=None) for texts in data.img2txt]
    ranks = pd.DataFrame({"index": range(len(data.img2txt)), "ir_rank": pd.array(ir_by_image, dtype="Int64"),
                          "tr_rank": pd.array([None if x < 0 else int(x) for x in r.tr_ranks], dtype="Int64")})
    with atomic_path(ranks_out) as tmp:
        ranks.to_csv(tmp, index=False)
    metrics = {**(extra or {}), **r.metrics, "test_file": str(test_file),
               "dropped": [{"line": line, "reason": reason} for line, reason in data.dropped]}
    write_json(metrics_out, metrics)
    log.info("%s: IR@1 %.2f TR@1 %.2f r_mean %.2f", test_file, r.metrics["ir_r1"], r.metrics["tr_r1"],
             r.metrics["r_mean"])
    return metrics
