"""Retrieval fine-tuning stage: ITC with same-image positives + ITM, best epoch on held-out data.

The objective is docs/method.md#fine-tuning-objective.

Model selection (docs/method.md#model-selection): `selection="validation"` scores each evaluated epoch on held-out
validation files; `"test_as_original"` is the original code's choice (test files), kept only to reproduce
it. Either way the score is the sum of `r_mean` over the selection files, and the summary records which.
"""

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ccrk.config import EvalConfig, FinetuneConfig, result_fingerprint_fields
from ccrk.data.retrieval_train import RetrievalCollator, RetrievalTrainDataset
from ccrk.data.sets import ImageRoots, load_eval, load_train
from ccrk.data.transforms import cache_images, eval_transform, train_transform
from ccrk.distributed import is_main
from ccrk.io import write_json
from ccrk.losses import hardness_at, weighted_losses
from ccrk.models import load_model, save_checkpoint
from ccrk.resume import LoopState
from ccrk.retrieval import evaluate_retrieval
from ccrk.tokenizer import load_tokenizer
from ccrk.train import epoch_loader, fingerprint, numbered, set_seed, steps_per_epoch, train_loop

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
    if cfg.optimizer.lr_mult != 1.0:  # a setting that would change nothing must not pass silently
        raise ValueError(
            f"finetune.optimizer.lr_mult is {cfg.optimizer.lr_mult}: fine-tuning has no newly initialised "
            "parameters (as the original's RetrievalModel), so lr_mult must stay 1"
        )
    train_files, select_files = _file_list(train_files), _file_list(select_files)
    set_seed(cfg.seed)
    tok = load_tokenizer(tokenizer_dir)
    model = load_model(init_checkpoint, cfg.image_res, cfg.window_size).to(device)  # Swin tables resampled
    items = load_train(train_files, fmt, roots)
    aug = cfg.augment
    dataset = RetrievalTrainDataset(
        items,
        _train_transform(model, cfg),
        cache=cache_images(
            len({i.image_idx for i in items}),
            model.cfg.vision.image_res,
            aug.crop_scale_min,
            aug.hflip,
            aug.randaugment,
        ),
    )
    collate = RetrievalCollator(tok, cfg.max_tokens, cfg.max_words)
    n_steps = steps_per_epoch(len(dataset), cfg.batch_size)
    best_path = Path(str(out_path) + ".best")
    select = EpochSelection(
        model,
        tok,
        {str(f): load_eval(f, select_fmt or fmt, roots, eval_cfg.captionless_images) for f in select_files},
        cfg,
        eval_cfg,
        selection,
        best_path,
        torch.device(device),
    )

    total = cfg.epochs * n_steps
    hardness_at(cfg.itm_hard_negatives, 0, total, "finetune.itm_hard_negatives")  # a bad value fails here

    def loss_fn(b):
        hard = hardness_at(cfg.itm_hard_negatives, b["step"], total)
        parts = model.forward_finetune(
            b["images"], b["input_ids"], b["attention_mask"], b["idx"], hard, cfg.itm_skip_same_text
        )
        return weighted_losses(parts, asdict(cfg.loss_weights))

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
    state_path = Path(str(out_path) + ".state")
    state = train_loop(
        model,
        loss_fn,
        numbered(batches, n_steps),
        n_steps,
        cfg.epochs,
        cfg.optimizer,
        state_path,
        save_every=cfg.save_every,
        on_epoch_end=select,
        device=torch.device(device),
        run_id=_run_id(cfg, eval_cfg, init_checkpoint, len(items), train_files, select_files, selection),
        gather_grad_mode=cfg.gather_grad,
        precision=cfg.precision,
    )
    if is_main():  # the one process that writes
        _keep_best(out_path, best_path, model, cfg.epochs - 1)
        state_path.unlink(missing_ok=True)
    summary = _summary(state, selection, init_checkpoint, train_files, select_files)
    if log_path and is_main():
        write_json(log_path, summary)
    return summary


@dataclass
class EpochSelection:
    """Fine-tuning's epoch end: score the epoch on the selection files, record it, checkpoint the best."""

    model: torch.nn.Module
    tokenizer: object
    sets: dict  # selection file -> its EvalSet
    cfg: FinetuneConfig
    eval_cfg: EvalConfig
    selection: str  # what the files are, for the log: validation or test_as_original
    best_path: Path  # the best epoch's checkpoint, kept until training ends
    device: torch.device

    def __call__(self, epoch: int, state: LoopState) -> None:
        if not is_eval_epoch(epoch, self.cfg):
            return
        scores = self.scores()
        if record_epoch(state, epoch, scores, self.selection) and is_main():
            save_checkpoint(self.best_path, self.model, epoch=epoch)

    def scores(self) -> dict[str, dict]:
        """ir_r1, tr_r1 and r_mean of the model on each selection file."""
        transform = eval_transform(self.model.cfg.vision.image_res)
        ev = self.eval_cfg
        scores = {}
        for path, valid in self.sets.items():
            r = evaluate_retrieval(
                self.model,
                self.tokenizer,
                valid.image_paths,
                valid.texts,
                valid.txt2img,
                valid.img2txt,
                transform,
                k_test=ev.k_test,
                max_tokens=ev.max_tokens,
                max_words=ev.max_words,
                device=self.device,
                batch_size=ev.batch_size,
                fusion_batch_size=ev.fusion_batch_size,
            )
            scores[path] = {k: r.metrics[k] for k in ("ir_r1", "tr_r1", "r_mean")}
        return scores


def record_epoch(state: LoopState, epoch: int, scores: dict[str, dict], selection: str) -> bool:
    """Add an epoch's scores to the history in the resumable state; True if its summed r_mean is the best yet.

    Strictly better only: the earliest of equal epochs wins.
    """
    score = sum(m["r_mean"] for m in scores.values())
    entry = {"epoch": epoch, "step": state.step, "score": score, "files": scores}
    state.extra.setdefault("history", []).append(entry)  # kept in the resumable state
    log.info("epoch %d %s score (sum of r_mean) %.2f: %s", epoch, selection, score, scores)
    if score > state.extra.get("best_score", float("-inf")):
        state.extra.update(best_score=score, best_epoch=epoch)
        return True
    return False


def _summary(state: LoopState, selection: str, init_checkpoint, train_files, select_files) -> dict:
    """summary.json: the chosen epoch, how and on what it was chosen, every scored epoch."""
    return {
        "steps": state.step,
        "best_epoch": state.extra.get("best_epoch"),
        "best_score": state.extra.get("best_score"),
        "selection": selection,
        "init": str(init_checkpoint),
        "train_files": [str(f) for f in train_files],
        "selection_files": [str(f) for f in select_files],
        "history": state.extra.get("history", []),
    }


def _file_list(files) -> list:
    return [files] if isinstance(files, (str, Path)) else list(files)


def _train_transform(model, cfg: FinetuneConfig):
    aug = cfg.augment
    return train_transform(model.cfg.vision.image_res, aug.crop_scale_min, aug.hflip, aug.randaugment)


def _run_id(cfg, eval_cfg, init_checkpoint, n_items, train_files, select_files, selection) -> str:
    """What a resumable state must share with this run: settings, the initial checkpoint's file, the data."""
    init_stat = Path(init_checkpoint).stat()
    return fingerprint(
        result_fingerprint_fields("finetune", cfg),
        result_fingerprint_fields("evaluate", eval_cfg),
        str(init_checkpoint),
        init_stat.st_size,
        init_stat.st_mtime_ns,
        n_items,
        [str(f) for f in train_files],
        [str(f) for f in select_files],
        selection,
    )


def _keep_best(out_path, best_path: Path, model, last_epoch: int) -> None:
    """The best epoch's checkpoint becomes the result; with no epoch scored, the last model."""
    if best_path.is_file():
        best_path.replace(out_path)
    else:
        save_checkpoint(out_path, model, epoch=last_epoch)
