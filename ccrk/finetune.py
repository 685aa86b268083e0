"""Retrieval fine-tuning stage: ITC with same-image positives + ITM, best epoch on held-out data.

The objective is docs/method.md#fine-tuning-objective.

Model selection (docs/method.md#model-selection): `selection="validation"` scores each evaluated epoch on held-out
validation files; `"test_as_original"` is the original code's choice (test files), kept only to reproduce
it. Either way the score is the sum of `r_mean` over the selection files, and the summary records which.
"""

import logging
from pathlib import Path

import torch

from ccrk.config import EvalConfig, FinetuneConfig
from ccrk.data.retrieval_train import RetrievalCollator, RetrievalTrainDataset
from ccrk.data.sets import ImageRoots, load_eval, load_train
from ccrk.data.transforms import eval_transform, train_transform
from ccrk.distributed import is_main
from ccrk.io import write_json
from ccrk.models import load_model, save_checkpoint
from ccrk.retrieval import evaluate_retrieval
from ccrk.tokenizer import load_tokenizer
from ccrk.train import OptimConfig, epoch_loader, fingerprint, set_seed, steps_per_epoch, train_loop

log = logging.getLogger("ccrk.finetune")

SELECTIONS = ("validation", "test_as_original")


def is_eval_epoch(epoch: int, cfg: FinetuneConfig) -> bool:
    """From `start_eval` every `eval_every` epochs (the few-shot recipe: 9, 19, ..., 59), and always the last."""
    last = epoch == cfg.epochs - 1
    return epoch >= cfg.start_eval and ((epoch - cfg.start_eval) % cfg.eval_every == 0 or last)


def run_finetuning(
    init_checkpoint,
    tokenizer_dir,
    train_files,
    select_files,
    out_path,
    cfg: FinetuneConfig,
    eval_cfg: EvalConfig,
    *,
    fmt: str = "iglue",
    select_fmt: str | None = None,
    roots: ImageRoots = ImageRoots(),
    selection: str = "validation",
    log_path=None,
    device: str = "cpu",
) -> dict:
    """Fine-tune on `train_files` (one or several, e.g. every language); `out_path` gets the best epoch.

    Epochs are scored (see `is_eval_epoch`) by the summed `r_mean` over `select_files`, which are
    validation files, or test files under selection="test_as_original".
    """
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")
    train_files = [train_files] if isinstance(train_files, (str, Path)) else list(train_files)
    select_files = [select_files] if isinstance(select_files, (str, Path)) else list(select_files)
    set_seed(cfg.seed)
    tok = load_tokenizer(tokenizer_dir)
    model = load_model(init_checkpoint, cfg.image_res, cfg.window_size).to(
        device
    )  # Swin tables resampled if needed
    items = load_train(train_files, fmt, roots)
    valid_sets = [load_eval(f, select_fmt or fmt, roots, eval_cfg.captionless_images) for f in select_files]
    res = model.cfg.vision.image_res
    aug = cfg.augment
    dataset = RetrievalTrainDataset(
        items, train_transform(res, aug.crop_scale_min, aug.hflip, aug.randaugment)
    )
    collate = RetrievalCollator(tok, cfg.max_tokens, cfg.max_words)
    n_steps = steps_per_epoch(len(dataset), cfg.batch_size)
    best_path = Path(str(out_path) + ".best")

    def on_epoch_end(epoch, state):
        if not is_eval_epoch(epoch, cfg):
            return
        scores = {}
        transform = eval_transform(res)
        for path, valid in zip(select_files, valid_sets):
            r = evaluate_retrieval(
                model,
                tok,
                valid.image_paths,
                valid.texts,
                valid.txt2img,
                valid.img2txt,
                transform,
                k_test=eval_cfg.k_test,
                max_tokens=eval_cfg.max_tokens,
                max_words=eval_cfg.max_words,
                device=torch.device(device),
                batch_size=eval_cfg.batch_size,
                fusion_batch_size=eval_cfg.fusion_batch_size,
            )
            scores[str(path)] = {k: r.metrics[k] for k in ("ir_r1", "tr_r1", "r_mean")}
        score = sum(m["r_mean"] for m in scores.values())
        entry = {"epoch": epoch, "step": state.step, "score": score, "files": scores}
        state.extra.setdefault("history", []).append(entry)  # kept in the resumable state
        log.info("epoch %d %s score (sum of r_mean) %.2f: %s", epoch, selection, score, scores)
        if score > state.extra.get("best_score", float("-inf")):  # strict: the earliest of equal epochs wins
            state.extra.update(best_score=score, best_epoch=epoch)
            if is_main():
                save_checkpoint(best_path, model, epoch=epoch)

    def loss_fn(b):
        return model.forward_finetune(
            b["images"], b["input_ids"], b["attention_mask"], b["idx"], cfg.itm_hard_negatives
        )

    def batches(epoch, start):
        return epoch_loader(dataset, cfg.batch_size, collate, cfg.seed, epoch, start, cfg.num_workers)

    log.info(
        "fine-tuning on %d captions of %d images from %s: %d epochs x %d steps; selection %s on %s",
        len(items),
        len({i.image_idx for i in items}),
        [str(f) for f in train_files],
        cfg.epochs,
        n_steps,
        selection,
        [str(f) for f in select_files],
    )
    optim = OptimConfig(
        lr=cfg.lr, weight_decay=cfg.weight_decay, lr_mult=1.0, warmup=cfg.warmup, grad_clip=cfg.grad_clip
    )
    state_path = Path(str(out_path) + ".state")
    init_stat = Path(init_checkpoint).stat()
    run_id = fingerprint(
        cfg,
        eval_cfg,
        str(init_checkpoint),
        init_stat.st_size,
        init_stat.st_mtime_ns,
        len(items),
        [str(f) for f in train_files],
        [str(f) for f in select_files],
        selection,
    )
    state = train_loop(
        model,
        loss_fn,
        batches,
        n_steps,
        cfg.epochs,
        optim,
        state_path,
        save_every=cfg.save_every,
        on_epoch_end=on_epoch_end,
        device=torch.device(device),
        run_id=run_id,
        gather_grad_mode=cfg.gather_grad,
        precision=cfg.precision,
    )
    if is_main():  # the one process that writes
        if best_path.is_file():
            best_path.replace(out_path)
        else:  # no validation epoch configured: the last model is the result
            save_checkpoint(out_path, model, epoch=cfg.epochs - 1)
        state_path.unlink(missing_ok=True)
    summary = {
        "steps": state.step,
        "best_epoch": state.extra.get("best_epoch"),
        "best_score": state.extra.get("best_score"),
        "selection": selection,
        "init": str(init_checkpoint),
        "train_files": [str(f) for f in train_files],
        "selection_files": [str(f) for f in select_files],
        "history": state.extra.get("history", []),
    }
    if log_path and is_main():
        write_json(log_path, summary)
    return summary
