"""Retrieval fine-tuning stage (SPEC §3.8): ITC with same-image positives + ITM, best epoch on validation."""

import logging
from pathlib import Path

import torch

from ccrk.config import EvalConfig, FinetuneConfig
from ccrk.data.finetune import RetrievalCollator, RetrievalTrainDataset
from ccrk.data.iglue import load_eval_set, load_train_set
from ccrk.data.transforms import eval_transform, train_transform
from ccrk.io import write_json
from ccrk.models import load_model, save_checkpoint
from ccrk.retrieval import evaluate_retrieval
from ccrk.tokenizer import load_tokenizer
from ccrk.train import OptimConfig, epoch_loader, fingerprint, set_seed, steps_per_epoch, train_loop

log = logging.getLogger("ccrk.finetune")


def run_finetuning(init_checkpoint, tokenizer_dir, train_file, valid_file, flickr_root, coco_root, out_path,
                   cfg: FinetuneConfig, eval_cfg: EvalConfig, log_path=None, device: str = "cpu") -> dict:
    """Fine-tune, evaluating on `valid_file` from epoch `start_eval`; `out_path` gets the best-on-validation model."""
    set_seed(cfg.seed)
    tok = load_tokenizer(tokenizer_dir)
    model = load_model(init_checkpoint, cfg.image_res, cfg.window_size).to(device)  # Swin tables resampled if needed
    items, dropped = load_train_set(train_file, flickr_root, coco_root)
    if dropped:
        log.warning("%s: %d empty captions skipped (lines %s)", train_file, len(dropped), [d[0] for d in dropped][:10])
    valid = load_eval_set(valid_file, flickr_root, coco_root)
    res = model.cfg.vision.image_res
    aug = cfg.augment
    dataset = RetrievalTrainDataset(items, train_transform(res, aug.crop_scale_min, aug.hflip, aug.randaugment))
    collate = RetrievalCollator(tok, cfg.max_tokens, cfg.max_words)
    n_steps = steps_per_epoch(len(dataset), cfg.batch_size)
    best_path = Path(str(out_path) + ".best")

    def on_epoch_end(epoch, state):
        if epoch < cfg.start_eval:
            return
        r = evaluate_retrieval(model, tok, valid.image_paths, valid.texts, valid.txt2img, valid.img2txt,
                               eval_transform(res), k_test=eval_cfg.k_test, max_tokens=eval_cfg.max_tokens,
                               max_words=eval_cfg.max_words, device=torch.device(device),
                               batch_size=eval_cfg.batch_size, fusion_batch_size=eval_cfg.fusion_batch_size)
        score = r.metrics["r_mean"]
        entry = {"epoch": epoch, "step": state.step, **{k: r.metrics[k] for k in ("ir_r1", "tr_r1", "r_mean")}}
        state.extra.setdefault("history", []).append(entry)  # kept in the resumable state
        log.info("epoch %d validation: %s", epoch, entry)
        if score > state.extra.get("best_r_mean", -1.0):  # strict: the earliest of equal epochs wins
            state.extra.update(best_r_mean=score, best_epoch=epoch)
            save_checkpoint(best_path, model, epoch=epoch)

    def loss_fn(b):
        return model.forward_finetune(b["images"], b["input_ids"], b["attention_mask"], b["idx"])

    def batches(epoch, start):
        return epoch_loader(dataset, cfg.batch_size, collate, cfg.seed, epoch, start, cfg.num_workers)

    log.info("fine-tuning on %d captions of %d images: %d epochs x %d steps", len(items),
             len({i.image_idx for i in items}), cfg.epochs, n_steps)
    optim = OptimConfig(lr=cfg.lr, weight_decay=cfg.weight_decay, lr_mult=1.0, warmup=cfg.warmup,
                        grad_clip=cfg.grad_clip)
    state_path = Path(str(out_path) + ".state")
    init_stat = Path(init_checkpoint).stat()
    run_id = fingerprint(cfg, eval_cfg, str(init_checkpoint), init_stat.st_size, init_stat.st_mtime_ns, len(items))
    state = train_loop(model, loss_fn, batches, n_steps, cfg.epochs, optim, state_path, save_every=cfg.save_every,
                       on_epoch_end=on_epoch_end, device=torch.device(device), run_id=run_id)
    if best_path.is_file():
        best_path.replace(out_path)
    else:  # no validation epoch configured: the last model is the result
        save_checkpoint(out_path, model, epoch=cfg.epochs - 1)
    state_path.unlink(missing_ok=True)
    summary = {"steps": state.step, "best_epoch": state.extra.get("best_epoch"),
               "best_val_r_mean": state.extra.get("best_r_mean"), "selection": "validation", "history": state.extra.get("history", [])}
    if log_path:
        write_json(log_path, summary)
    return summary
