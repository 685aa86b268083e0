"""One CCRK pretraining step of the full-size model (Swin-B 224 + XLM-R-large 6+6 layers), with each speed lever.

    python bench/gpu_full_model_step.py [--batch 8] [--k 10] [--steps 5]     # on a GPU: every lever, one command
    python bench/gpu_full_model_step.py --tiny --device cpu --steps 2         # smoke test of the script

Random weights and a synthetic batch (B images x K captions of --tokens//3 to --tokens tokens, padded to the
longest as the collator does, the paper's MLM masking), the real objective (`forward_pretrain`: 1-to-K
contrastive + hard-positive ITM + MLM), AdamW with the paper's groups, gradient clipping, and AMP as in
training (`ccrk.train.autocast_context`: `--precision` bf16, or fp16 + GradScaler, the original's and
pretraining's default). The first step
of each variant warms up (CUDA kernels, allocator, compilation) and is not timed; its time is printed.

Variants, each from the same initial weights and batch (the GPU side of bench/train_step.py's levers):
- `today`: every pair of the ITM and each masked text padded to the longest, torch's default AdamW;
- `+lean_fusion` (`CCRKModel.lean_fusion`): shared per-image keys/values and per-text first fusion layers
  in the ITM, ITM and MLM in length buckets;
- `+fused_adamw`: torch's fused AdamW kernel;
- `faster`: ccrk's default (fused AdamW; lean fusion measured slower, so off), then `faster+channels_last`
  and `faster+compile` (torch.compile of the forward and losses); on CUDA also `faster fp32` (no AMP) for
  the fp32/AMP ratios of time and memory.
"""

import argparse
import platform
import statistics
import time

import torch

from ccrk.data.masking import MaskingConfig, mask_batch
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
    """Images [B, 3, R, R] and image-major captions [B*K, L] of tokens//3..tokens tokens, right-padded, masked."""
    import random

    g = torch.Generator().manual_seed(seed)
    vocab, n = cfg.text.vocab_size, b * k
    lengths = torch.randint(max(3, tokens // 3), tokens + 1, (n,), generator=g)
    width = int(lengths.max())
    ids = torch.randint(5, vocab - 1, (n, width), generator=g)
    mask = (torch.arange(width)[None] < lengths[:, None]).long()
    ids[:, 0], ids[torch.arange(n), lengths - 1] = 0, 2  # <s> ... </s>
    ids[mask == 0] = 1  # <pad>
    masked, pos, labels = mask_batch(ids, mask, random.Random(seed), vocab - 1, vocab, MaskingConfig())
    batch = {
        "images": torch.randn(b, 3, cfg.vision.image_res, cfg.vision.image_res, generator=g),
        "input_ids": ids,
        "attention_mask": mask,
        "masked_ids": masked,
        "masked_pos": pos,
        "masked_labels": labels,
    }
    return {name: t.to(device) for name, t in batch.items()}


def run_steps(model, batch, k: int, steps: int, device, precision: str, levers=frozenset()) -> dict:
    """Step times (s, the first excluded), peak memory (GiB, CUDA) and the losses of every step."""
    model.lean_fusion = "lean_fusion" in levers
    optimizer = build_optimizer(
        model,
        OptimConfig(lr=1e-4, lr_mult=2.0),
        model.newly_initialised_parameters(),
        "fused_adamw" in levers,
    )
    autocast, scaler = autocast_context(device, precision)
    if "channels_last" in levers:
        batch = {**batch, "images": batch["images"].contiguous(memory_format=torch.channels_last)}

    def forward(bt):
        return model.forward_pretrain(
            bt["images"],
            bt["input_ids"],
            bt["attention_mask"],
            bt["masked_ids"],
            bt["masked_pos"],
            bt["masked_labels"],
            k,
        )

    step_forward = torch.compile(forward) if "compile" in levers else forward
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    times, losses = [], []
    model.train()
    for i in range(steps):
        torch.manual_seed(1000 + i)  # the ITM samplers draw the same in every variant
        t0 = time.perf_counter()
        with autocast:
            parts = step_forward(batch)
        optimizer_step(sum(parts.values()), model, optimizer, scaler, grad_clip=1.0)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
        losses.append({name: round(v.item(), 4) for name, v in parts.items()})
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    del optimizer
    return {"warmup_s": times[0], "step_s": statistics.median(times[1:]), "peak_gib": peak, "losses": losses}


VARIANTS = {
    "today": (True, frozenset()),
    "+lean_fusion": (True, frozenset({"lean_fusion"})),
    "+fused_adamw": (True, frozenset({"fused_adamw"})),
    "faster": (True, frozenset({"fused_adamw"})),
    "faster+channels_last": (True, frozenset({"fused_adamw", "channels_last"})),
    "faster+compile": (True, frozenset({"fused_adamw", "compile"})),
    "faster fp32": (False, frozenset({"fused_adamw"})),
}


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
        help="the AMP mode of every variant but `faster fp32` (pretraining's default: fp16)",
    )
    ap.add_argument(
        "--tiny", action="store_true", help="a tiny model instead of the full size (CPU smoke test)"
    )
    ap.add_argument("--no-fp32", action="store_true", help="skip the fp32 comparison on CUDA")
    ap.add_argument(
        "--variants",
        default="",
        help=f"comma-separated subset of {', '.join(VARIANTS)} (default: all; on CPU without the fp32 one)",
    )
    a = ap.parse_args(argv)
    if a.steps < 2:
        ap.error("--steps must be at least 2 (the first is a warm-up)")
    device = torch.device(a.device)
    torch.manual_seed(0)
    cfg = CCRKConfig.from_dict(TINY) if a.tiny else CCRKConfig.paper(224)
    model = CCRKModel(cfg).to(device)
    initial = {name: t.detach().clone() for name, t in model.state_dict().items()}
    batch = synthetic_batch(cfg, a.batch, a.k, a.tokens, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(
        f"device: {name}; torch {torch.__version__}; model {'tiny' if a.tiny else 'full size (paper, 224 px)'}, "
        f"{sum(p.numel() for p in model.parameters()):,} parameters"
    )
    print(
        f"batch: {a.batch} images x {a.k} captions x {a.tokens} tokens at most "
        f"(mean {batch['attention_mask'].sum(1).float().mean():.1f})"
    )
    chosen = [v for v in a.variants.split(",") if v] or [
        v for v in VARIANTS if not (v.endswith("fp32") and (device.type != "cuda" or a.no_fp32))
    ]
    unknown = set(chosen) - set(VARIANTS)
    if unknown:
        ap.error(f"unknown variants {sorted(unknown)}; choose from {list(VARIANTS)}")
    amp_label = a.precision if device.type == "cuda" else "off"
    results = {}
    for variant in chosen:
        amp, levers = VARIANTS[variant]
        model.load_state_dict(initial)
        try:
            r = run_steps(model, batch, a.k, a.steps, device, a.precision if amp else "fp32", levers)
        except (
            Exception
        ) as e:  # one lever failing (e.g. no compiler for torch.compile) must not hide the others
            print(f"{variant:>22}: failed: {type(e).__name__}: {str(e)[:300]}")
            continue
        results[variant] = r
        base = results.get("today", r)["step_s"]
        print(
            f"{variant:>22}: AMP {amp_label if amp else 'off'}; step {r['step_s'] * 1000:.1f} ms "
            f"(median of {a.steps - 1}; {base / r['step_s']:.2f}x today; warm-up {r['warmup_s']:.1f} s); "
            f"peak memory {r['peak_gib']:.2f} GiB; losses {r['losses'][-1]}"
        )
    if "faster fp32" in results and "faster" in results:
        r = results
        print(
            f"fp32 / AMP: step time {r['faster fp32']['step_s'] / r['faster']['step_s']:.2f}x, "
            f"peak memory {r['faster fp32']['peak_gib'] / r['faster']['peak_gib']:.2f}x"
        )
    return results


if __name__ == "__main__":
    main()
