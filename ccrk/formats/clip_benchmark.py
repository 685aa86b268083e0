"""Results in LAION CLIP_benchmark's layout, so they merge with its own (`clip_benchmark build *.json`).

CLIP_benchmark writes `{"dataset", "model", "pretrained", "task", "metrics", "language"}` per evaluation,
with `metrics` = `image_retrieval_recall@k` (text -> image) and `text_retrieval_recall@k` (image -> text) as
fractions in [0, 1] (hit if any gold item is in the top k). ccrk adds keys that `build` carries along as
columns: `harness`, `protocol`, `caption_protocol`, `scoring` and, for re-ranked models, `itc_metrics`.
"""

from __future__ import annotations

KS = (1, 5, 10)


def recall_block(metrics: dict, prefix: str = "") -> dict[str, float]:
    """CLIP_benchmark's recall keys from ccrk's percent metrics (`ir_r1`, ... or `itc_ir_r1`, ...)."""
    out = {}
    for k in KS:
        out[f"image_retrieval_recall@{k}"] = round(metrics[f"{prefix}ir_r{k}"] / 100.0, 6)
        out[f"text_retrieval_recall@{k}"] = round(metrics[f"{prefix}tr_r{k}"] / 100.0, 6)
    return out


def clip_benchmark_record(dataset: str, name: str, info: dict, lang: str, metrics: dict) -> dict:
    """One JSON object per (dataset, model, language)."""
    model = info.get("model") or info.get("path") or "ccrk"
    pretrained = info.get("pretrained") or info.get("weights") or info.get("checkpoint") or ""
    record = {
        "dataset": dataset,
        "model": model,
        "pretrained": pretrained,
        "task": "zeroshot_retrieval",
        "metrics": recall_block(metrics),
        "language": lang,
        "harness": "ccrk",
        "model_name": name,
        "protocol": metrics.get("protocol"),
        "caption_protocol": metrics.get("caption_protocol"),
        "scoring": metrics.get("scoring"),
    }
    if "itc_ir_r1" in metrics and metrics.get("scoring") != "itc":
        record["itc_metrics"] = recall_block(metrics, "itc_")
    return record
