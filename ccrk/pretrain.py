"""Pretraining stage: CCRK (1-to-K contrastive + hard-positive ITM + MLM) on a multilingual corpus."""

import logging
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ccrk.config import PretrainConfig, result_fingerprint_fields
from ccrk.data.lookalike import caption_features, lookalike_order, same_text_ids
from ccrk.data.pretrain_dataset import PretrainCollator, PretrainDataset, read_corpus
from ccrk.data.stream import ShardPlan, group_items, stream_loader
from ccrk.data.transforms import cache_images, train_transform
from ccrk.distributed import is_main, rank, world_size
from ccrk.losses import hardness_at, weighted_losses
from ccrk.models import CCRKConfig, CCRKModel, load_init_weights, save_checkpoint
from ccrk.tokenizer import load_tokenizer
from ccrk.train import epoch_loader, fingerprint, numbered, set_seed, steps_per_epoch, train_loop

log = logging.getLogger("ccrk.pretrain")


def model_config_for(tokenizer, model_cfg: dict) -> CCRKConfig:
    """The model config with the vocabulary and padding id of the tokenizer it will read."""
    cfg = CCRKConfig.from_dict(model_cfg)
    cfg.text.vocab_size, cfg.text.pad_token_id = len(tokenizer), tokenizer.pad_token_id
    return cfg


def lookalike_permutation(items, group: int, batch_size: int):
    """seed -> look-alike order of `items` (`ccrk.data.lookalike`), or None for random batches (group 0 or 1)."""
    if group <= 1:
        return None
    if batch_size % group:
        raise ValueError(f"pretrain.lookalike_group {group} must divide pretrain.batch_size {batch_size}")
    captions = [item.captions for item in items]
    features, ids = caption_features(captions), same_text_ids(captions)
    return lambda seed: lookalike_order(features, group, np.random.default_rng(seed), ids)


def initial_model(tokenizer, model_cfg: dict) -> CCRKModel:
    """Random init, then XLM-R-large / Swin-B ImageNet weights where `model.init` names them.

    How they load: docs/method.md#vision-encoder, docs/method.md#text-and-fusion-encoder.
    """
    model = CCRKModel(model_config_for(tokenizer, model_cfg))
    load_init_weights(model, model.cfg.init.text, model.cfg.init.vision)
    return model


def pretrain_steps_per_epoch(corpus_size: int, batch_size: int, epoch_size: int | None = None) -> int:
    """Steps per epoch: full batches over the corpus, or CCRK's ceil(train_dataset_size / global batch).

    `epoch_size` reproduces a config whose "epoch" is not the corpus (Pretrain_2m.yaml,
    docs/method.md#differences-from-the-original); each
    epoch then takes the first batches of a fresh permutation.
    """
    full = steps_per_epoch(corpus_size, batch_size)
    if epoch_size is None:
        return full
    steps = math.ceil(epoch_size / (batch_size * world_size()))
    if steps > full:
        raise ValueError(
            f"pretrain.epoch_size {epoch_size} needs {steps} batches of {batch_size} per rank; "
            f"the corpus ({corpus_size} images) has {full}"
        )
    return steps


def stream_steps_per_epoch(plan: ShardPlan, epochs: int, epoch_size: int | None = None) -> int:
    """Steps per epoch when streaming from shards: what every (epoch, rank, worker) can fill with whole batches,
    or ceil(epoch_size / global batch) if that fits (ccrk.data.stream)."""
    limit, where = plan.max_steps(epochs)
    steps = limit if epoch_size is None else math.ceil(epoch_size / (plan.batch_size * plan.world))
    if steps < 1 or steps > limit:
        raise ValueError(
            f"pretraining needs {max(steps, 1)} batches of {plan.batch_size} per rank and epoch; the shards give "
            f"at most {limit} ({where}; {len(plan.sizes)} shards over {plan.world} rank(s) x "
            f"{max(1, plan.workers)} worker(s): fewer workers, more shards or a smaller pretrain.epoch_size)"
        )
    return steps


def run_pretraining(
    corpus_paths,
    image_root,
    tokenizer_dir,
    out_path,
    model_cfg: dict,
    cfg: PretrainConfig,
    device: str = "cpu",
) -> dict:
    """Pretrain from scratch (or resume `<out>.state`) and write the model checkpoint to `out_path`."""
    set_seed(cfg.seed)
    tok = load_tokenizer(tokenizer_dir)
    model = initial_model(tok, model_cfg).to(device)
    items = read_corpus(corpus_paths, list(cfg.languages))
    aug, res = cfg.augment, model.cfg.vision.image_res
    transform = train_transform(res, aug.crop_scale_min, aug.hflip, aug.randaugment)
    collate = PretrainCollator(tok, cfg.max_tokens, cfg.max_words, cfg.masking, cfg.caption_num, cfg.seed)
    k = cfg.caption_num or len(cfg.languages)
    if any(item.shard is not None for item in items):  # webdataset tar shards: streamed
        if cfg.lookalike_group > 1:
            raise ValueError(
                "pretrain.lookalike_group needs the corpus in memory: set it to 0 with tar shards"
            )
        groups = group_items(items)
        plan = ShardPlan(
            {s: len(g) for s, g in groups.items()}, cfg.batch_size, world_size(), cfg.num_workers, cfg.seed
        )
        n_steps = stream_steps_per_epoch(plan, cfg.epochs, cfg.epoch_size)
        source = f"{len(groups)} shards"
        order = {"num_workers": cfg.num_workers}  # workers split the shards: here they set the sample order

        def batches(epoch, start):
            args = (
                groups,
                image_root,
                transform,
                collate,
                plan,
                rank(),
                epoch,
                n_steps,
                start,
                cfg.shuffle_buffer,
            )
            return stream_loader(*args)

    else:
        cache = cache_images(len(items), res, aug.crop_scale_min, aug.hflip, aug.randaugment)
        dataset = PretrainDataset(items, image_root, transform, cache=cache)
        n_steps = pretrain_steps_per_epoch(len(dataset), cfg.batch_size, cfg.epoch_size)
        source = "image files"
        order = {}

        permutation = lookalike_permutation(items, cfg.lookalike_group, cfg.batch_size)

        def batches(epoch, start):
            args = (dataset, cfg.batch_size, collate, cfg.seed, epoch, start, cfg.num_workers, permutation)
            return epoch_loader(*args)

    log.info(
        "pretraining on %d images (%s) x %d languages: %d epochs x %d steps, %.2fM parameters",
        len(items),
        source,
        k,
        cfg.epochs,
        n_steps,
        sum(p.numel() for p in model.parameters()) / 1e6,
    )

    total = cfg.epochs * n_steps
    hardness_at(cfg.itm_hard_negatives, 0, total, "pretrain.itm_hard_negatives")  # a bad value fails here

    def loss_fn(b):
        parts = model.forward_pretrain(
            b["images"],
            b["input_ids"],
            b["attention_mask"],
            b["masked_ids"],
            b["masked_pos"],
            b["masked_labels"],
            k,
            cfg.sample_type,
            cfg.divisor,
            hardness_at(cfg.itm_hard_negatives, b["step"], total),
            cfg.itm_skip_same_text,
        )
        return weighted_losses(parts, asdict(cfg.loss_weights))

    state_path = Path(str(out_path) + ".state")
    state = train_loop(
        model,
        loss_fn,
        numbered(batches, n_steps),
        n_steps,
        cfg.epochs,
        cfg.optimizer,
        state_path,
        new_params=model.newly_initialised_parameters(),
        save_every=cfg.save_every,
        device=torch.device(device),
        gather_grad_mode=cfg.gather_grad,
        precision=cfg.precision,
        find_unused_parameters=False,  # every parameter gets a gradient (tests/test_model.py)
        run_id=fingerprint(
            model.cfg.to_dict(),
            {**result_fingerprint_fields("pretrain", cfg), **order},
            [str(p) for p in corpus_paths],
            len(items),
        ),
    )
    if is_main():
        save_checkpoint(out_path, model, step=state.step)
        state_path.unlink(missing_ok=True)
    return {"steps": state.step, "images": len(items), "languages": k}
