"""One CCRK pretraining step of the full-size model (Swin-B 224 + XLM-R-large 6+6 layers): step time, peak memory.

    python bench/gpu_full_model_step.py [--batch 8] [--k 10] [--steps 5]     # on a GPU
    python bench/gpu_full_model_step.py --tiny --device cpu --steps 2         # smoke test of the script

Random weights and a synthetic batch (B images x K captions of --tokens tokens, 12 masked positions),
the real objective (`forward_pretrain`: 1-to-K contrastive + hard-positive ITM + MLM), AdamW with the
paper's groups, gradient clipping, and AMP as in training (`ccrk.train.autocast_context`: `--precision`
bf16, or fp16 + GradScaler, the original's and pretraining's default). The first step warms up (CUDA
kernels, allocator) and is not timed. On CUDA the same steps run again without AMP, and the script
prints the fp32/AMP ratios.
"""

import argparse
import platform
import statistics
import time

import torch

from ccrk.models import CCRKConfig, CCRKModel
from ccrk.train import OptimConfig, autocast_context, build_optimizer, optimizer_step

TINY = {
    "vision": {
        "image_res": 32,
        "patch_size": 4,
        "embed_dim": 16,
        "depths": [1, 1],
        "num_heads": [2, 2],
        "window_size": 4,
        "drop_path_rate": 0.1,
    },
    "text": {
        "vocab_size": 1000,
        "hidden_size": 32,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "num_text_layers": 1,
        "num_fusion_layers": 1,
        "max_position_embeddings": 64,
    },
    "embed_dim": 16,
}


def synthetic_batch(cfg: CCRKConfig, b: int, k: int, tokens: int, device, seed: int = 0) -> dict:
    """Images [B, 3, R, R] and image-major captions [B*K, L] (<s> ... </s>, no padding) with 12 masked positions."""
    g = torch.Generator().manual_seed(seed)
    vocab, n = cfg.text.vocab_size, b * k
    ids = torch.randint(5, vocab - 1, (n, tokens), generator=g)
    ids[:, 0], ids[:, -1] = 0, 2
    pos = torch.stack([torch.randperm(tokens - 1, generator=g)[:12] + 1 for _ in range(n)])
    masked = ids.clone()
    masked.scatter_(1, pos, vocab - 1)  # XLM-R's <mask> is the last id
    batch = {
        "images": torch.randn(b, 3, cfg.vision.image_res, cfg.vision.image_res, generator=g),
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "masked_ids": masked,
        "masked_pos": pos,
        "masked_labels": ids.gather(1, pos),
    }
    return {name: t.to(device) for name, t in batch.items()}


def run_steps(model, batch, k: int, steps: int, device, precision: str) -> tuple[list[float], float, dict]:
    """Step times (s, the first excluded), peak memory (GiB, CUDA) and the last losses."""
    optimizer = build_optimizer(
        model, OptimConfig(lr=1e-4, lr_mult=2.0), model.newly_initialised_parameters()
    )
    autocast, scaler = autocast_context(device, precision)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    times, parts = [], {}
    model.train()
    for _ in range(steps):
        t0 = time.perf_counter()
        with autocast:
            parts = model.forward_pretrain(
                batch["images"],
                batch["input_ids"],
                batch["attention_mask"],
                batch["masked_ids"],
                batch["masked_pos"],
                batch["masked_labels"],
                k,
            )
        optimizer_step(sum(parts.values()), model, optimizer, scaler, grad_clip=1.0)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    del optimizer
    return times[1:], peak, {name: round(v.item(), 4) for name, v in parts.items()}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=8, help="images per step (the paper: 64 per GPU)")
    ap.add_argument("--k", type=int, default=10, help="captions per image (languages)")
    ap.add_argument("--tokens", type=int, default=40, help="tokens per caption (max_tokens of the paper)")
    ap.add_argument("--steps", type=int, default=5, help="steps per mode, the first not timed")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument(
        "--precision",
        choices=["fp16", "bf16"],
        default="bf16",
        help="the AMP mode (pretraining's default: fp16)",
    )
    ap.add_argument(
        "--tiny", action="store_true", help="a tiny model instead of the full size (CPU smoke test)"
    )
    ap.add_argument("--no-fp32", action="store_true", help="skip the fp32 comparison on CUDA")
    a = ap.parse_args(argv)
    if a.steps < 2:
        ap.error("--steps must be at least 2 (the first is a warm-up)")
    device = torch.device(a.device)
    torch.manual_seed(0)
    cfg = CCRKConfig.from_dict(TINY) if a.tiny else CCRKConfig.paper(224)
    model = CCRKModel(cfg).to(device)
    batch = synthetic_batch(cfg, a.batch, a.k, a.tokens, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(
        f"device: {name}; torch {torch.__version__}; model {'tiny' if a.tiny else 'full size (paper, 224 px)'}, "
        f"{sum(p.numel() for p in model.parameters()):,} parameters"
    )
    print(f"batch: {a.batch} images x {a.k} captions x {a.tokens} tokens")
    modes = [("amp", a.precision)] + ([("fp32", "fp32")] if device.type == "cuda" and not a.no_fp32 else [])
    results = {}
    for mode, precision in modes:
        times, peak, parts = run_steps(model, batch, a.k, a.steps, device, precision)
        results[mode] = {"step_s": statistics.median(times), "peak_gib": peak, "losses": parts}
        label = precision if device.type == "cuda" else ("off (CPU)" if precision != "fp32" else "fp32")
        print(
            f"{mode:>4}: AMP {label}; step {results[mode]['step_s'] * 1000:.0f} ms (median of {len(times)}); "
            f"peak memory {peak:.2f} GiB; losses {parts}"
        )
    if "fp32" in results:
        r = results
        print(
            f"fp32 / AMP: step time {r['fp32']['step_s'] / r['amp']['step_s']:.2f}x, "
            f"peak memory {r['fp32']['peak_gib'] / r['amp']['peak_gib']:.2f}x"
        )
    return results


if __name__ == "__main__":
    main()
