"""Model selection during fine-tuning: which epochs are scored, on which files, and the record of it."""

import json

import pytest

from ccrk.config import EvalConfig, FinetuneConfig, OptimConfig
from ccrk.data.sets import ImageRoots
from ccrk.finetune import is_eval_epoch, run_finetuning
from ccrk.models import save_checkpoint


def test_eval_epochs_follow_start_and_interval():
    few = FinetuneConfig(epochs=60, start_eval=9, eval_every=10)  # the few-shot recipe of the original
    assert [e for e in range(60) if is_eval_epoch(e, few)] == [9, 19, 29, 39, 49, 59]
    zero = FinetuneConfig(epochs=10, start_eval=7)
    assert [e for e in range(10) if is_eval_epoch(e, zero)] == [7, 8, 9]
    odd = FinetuneConfig(epochs=8, start_eval=1, eval_every=3)
    assert [e for e in range(8) if is_eval_epoch(e, odd)] == [1, 4, 7]
    assert not any(is_eval_epoch(e, FinetuneConfig(epochs=3, start_eval=5)) for e in range(3))


def test_selection_is_recorded_and_scores_sum_over_files(tmp_path, tiny_model, tiny_tokenizer, demo_dataset):
    init = tmp_path / "init.pt"
    save_checkpoint(init, tiny_model)
    tiny_tokenizer.save_pretrained(tmp_path / "tok")
    ann = demo_dataset / "iglue" / "datasets" / "flickr30k" / "annotations"
    roots = ImageRoots(
        flickr=str(demo_dataset / "images" / "flickr30k-images"),
        coco=str(demo_dataset / "images" / "val2014"),
    )
    cfg = FinetuneConfig(
        batch_size=8,
        epochs=2,
        optimizer=OptimConfig(lr=1e-4),
        max_tokens=40,
        max_words=40,
        start_eval=0,
        num_workers=0,
    )
    ev = EvalConfig(k_test=3, batch_size=16, fusion_batch_size=64, max_tokens=40, max_words=40)
    select = [str(ann / "valid_ann.jsonl"), str(ann / "test_ann.jsonl")]
    summary = run_finetuning(
        init,
        tmp_path / "tok",
        [str(ann / "train_ann.jsonl")],
        select,
        tmp_path / "m.pt",
        cfg,
        ev,
        roots=roots,
        selection="test_as_original",
        log_path=tmp_path / "summary.json",
    )
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert summary["selection"] == "test_as_original" and summary["selection_files"] == select
    history = summary["history"]
    assert [h["epoch"] for h in history] == [0, 1]
    for h in history:  # the score is the sum of r_mean over the selection files
        assert h["score"] == pytest.approx(sum(f["r_mean"] for f in h["files"].values()))
        assert list(h["files"]) == select
    best = max(history, key=lambda h: h["score"])
    assert summary["best_epoch"] == best["epoch"] and summary["best_score"] == best["score"]
    assert (tmp_path / "m.pt").is_file() and not (tmp_path / "m.pt.state").exists()
    with pytest.raises(ValueError, match="selection must be one of"):
        run_finetuning(init, tmp_path / "tok", [], [], tmp_path / "x.pt", cfg, ev, selection="on_test")


def test_fine_tuning_refuses_an_lr_mult_that_would_change_nothing(tmp_path):
    cfg = FinetuneConfig(optimizer=OptimConfig(lr_mult=2.0))
    with pytest.raises(ValueError, match="fine-tuning has no newly initialised parameters"):
        run_finetuning(tmp_path / "m.pt", tmp_path / "tok", [], [], tmp_path / "x.pt", cfg, EvalConfig())
