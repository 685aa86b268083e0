"""One CCRK pretraining step on CPU: today's path against the faster one, side by side, same losses.

    python bench/train_step.py                       # the mid-size model, 1 thread, 5 interleaved rounds
    python bench/train_step.py --each                # also every lever alone on top of today's path
    python bench/train_step.py --config demo         # the demo's model and batch shape
    python bench/train_step.py --compile             # adds torch.compile of the step (compile time shown)
    python bench/train_step.py --bf16                # adds bfloat16 autocast (a CPU with native bf16: AMX, AVX512-BF16)

The step is what `ccrk.train.train_loop` does for pretraining: `forward_pretrain` (1-to-K contrastive,
hard-positive ITM, MLM), the weighted sum, backward, global-norm clipping, AdamW with the paper's four
parameter groups. The mid-size model: Swin in 3 stages at 112 px (4-px patches, widths 96/192/384, 2 blocks
each, window 7), text width 384 (6 heads, FFN 1536), 3 text + 3 fusion layers, a 32k vocabulary; a batch of
8 images x 10 captions of 15-45 tokens (mean about 30, padded to the longest, as the collator does) with
the paper's MLM masking (`gpu_full_model_step.synthetic_batch`). Dropout is off so that both paths consume
the random generator alike.

Levers (each a switch of the library):
- taken (ccrk's default): `fused_adamw` (`ccrk.train.build_optimizer(fused=...)`: torch's fused AdamW instead
  of its multi-tensor loop) and `thp` (`THP_MEM_ALLOC_ENABLE=1`, set in `ccrk/__init__.py`: torch puts its large
  CPU buffers on transparent huge pages, so that fresh gradients and activations take far fewer page faults);
- measured, not taken (`--measured`, `--compile`): `lean_fusion` (`CCRKModel.lean_fusion`: ITM pairs share
  each image's keys/values and each text's first fusion layer, ITM and MLM in length buckets), `sdpa` (SDPA
  attention in the text and fusion layers on CPU), `channels_last` (images in channels-last for the Swin
  patch embedding), `flush_denormal`, `bf16` (the stage's `precision: bf16`: bfloat16 autocast of the forward,
  on a CPU with native bfloat16 only, `ccrk.train.cpu_has_native_bf16`; its losses differ at bfloat16's
  rounding, not float32's), `compile` (torch.compile of the forward and losses).

Every variant runs in its own process (THP is read when torch starts), in rounds whose order alternates,
and counts CPU time (`resource.getrusage`: user + system) per step after a warm-up step; the machine's load
average is printed with the figures. Losses of every step are compared with today's path from the same
initial weights and batch: the levers change the order of float operations, not the objective.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]

MID = {
    "vision": {
        "image_res": 112,
        "patch_size": 4,
        "embed_dim": 96,
        "depths": [2, 2, 2],
        "num_heads": [3, 6, 12],
        "window_size": 7,
        "drop_path_rate": 0.0,
    },
    "text": {
        "vocab_size": 32000,
        "hidden_size": 384,
        "num_attention_heads": 6,
        "intermediate_size": 1536,
        "num_text_layers": 3,
        "num_fusion_layers": 3,
        "max_position_embeddings": 64,
        "dropout": 0.0,
    },
    "embed_dim": 256,
}
# the demo's model as config/config.yaml sets it (the vocabulary: the demo tokenizer's size)
_DEMO_CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
DEMO = {**_DEMO_CONFIG["model"], "text": {**_DEMO_CONFIG["model"]["text"], "vocab_size": 1000}}
CONFIGS = {"mid": (MID, 8, 45), "demo": (DEMO, 32, 45)}  # model, images per step, longest caption (tokens)
K = 10
TAKEN = ("fused_adamw", "thp")  # the faster path: what ccrk does by default
LEVERS = (*TAKEN, "lean_fusion", "sdpa", "channels_last", "flush_denormal", "bf16", "compile")


def worker(config: str, levers: set[str], steps: int) -> dict:
    """Build the model and batch from fixed seeds, run 1 + steps steps, return CPU times and losses."""
    import torch

    from ccrk.losses import weighted_losses
    from ccrk.models import CCRKConfig, CCRKModel
    from ccrk.models.fusion import MultiHeadAttention
    from ccrk.train import OptimConfig, autocast_context, build_optimizer, optimizer_step

    torch.set_num_threads(1)
    if "flush_denormal" in levers:
        torch.set_flush_denormal(True)
    from gpu_full_model_step import synthetic_batch  # the same batch maker as the GPU bench, beside this file

    model_dict, b, tokens = CONFIGS[config]
    torch.manual_seed(0)
    cfg = CCRKConfig.from_dict(model_dict)
    model = CCRKModel(cfg)
    model.lean_fusion = "lean_fusion" in levers
    if "sdpa" in levers:
        model.text_encoder.set_attn_implementation("sdpa")
        MultiHeadAttention.sdpa_on_cpu = True
    batch = synthetic_batch(cfg, b, K, tokens, "cpu")
    if "channels_last" in levers:
        batch["images"] = batch["images"].contiguous(memory_format=torch.channels_last)
    optimizer = build_optimizer(
        model,
        OptimConfig(lr=1e-4, lr_mult=2.0),
        model.newly_initialised_parameters(),
        "fused_adamw" in levers,
    )
    weights = {"itc": 1.0, "itm": 1.0, "mlm": 1.0}

    def forward(bt):
        return weighted_losses(
            model.forward_pretrain(
                bt["images"],
                bt["input_ids"],
                bt["attention_mask"],
                bt["masked_ids"],
                bt["masked_pos"],
                bt["masked_labels"],
                K,
            ),
            weights,
        )

    step_forward = torch.compile(forward) if "compile" in levers else forward
    autocast, _ = autocast_context(torch.device("cpu"), "bf16" if "bf16" in levers else "fp32")
    model.train()
    times, losses = [], []
    for i in range(steps + 1):
        torch.manual_seed(1000 + i)  # the ITM samplers draw the same in every variant
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        with autocast:
            parts = step_forward(batch)
        optimizer_step(sum(parts.values()), model, optimizer, None, 1.0)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        times.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
        losses.append({k: v.item() for k, v in parts.items()})
    return {"warmup_s": times[0], "step_s": times[1:], "losses": losses}


def cpu_name() -> str:
    """The CPU's model name (Linux), for the machine line: the levers' ratios depend on it."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or "unknown CPU"
    return next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown CPU"
    )


def run_variant(config: str, levers: set[str], steps: int) -> dict:
    env = {**os.environ, "THP_MEM_ALLOC_ENABLE": "1" if "thp" in levers else "0"}
    here = Path(__file__).resolve()
    env["PYTHONPATH"] = os.pathsep.join([str(here.parents[1]), str(here.parent), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, __file__, "--worker", ",".join(sorted(levers)) or "-", "--config", config]
    out = subprocess.run([*cmd, "--steps", str(steps)], capture_output=True, text=True, env=env, timeout=3600)
    if out.returncode:
        raise RuntimeError(f"worker {levers or 'baseline'} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def max_loss_gap(a: list[dict], b: list[dict]) -> float:
    """Largest relative difference of any loss at any step between two runs."""
    return max(abs(x[k] - y[k]) / max(1e-12, abs(x[k])) for x, y in zip(a, b) for k in x)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=sorted(CONFIGS), default="mid")
    ap.add_argument(
        "--rounds", type=int, default=5, help="interleaved rounds; each variant runs once per round"
    )
    ap.add_argument("--steps", type=int, default=3, help="timed steps per run, after one warm-up step")
    ap.add_argument("--each", action="store_true", help="also each lever alone on top of today's path")
    ap.add_argument("--compile", action="store_true", help="also the faster path under torch.compile")
    ap.add_argument("--measured", action="store_true", help="also the measured-only levers one by one")
    ap.add_argument("--bf16", action="store_true", help="also the faster path under bfloat16 autocast")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker is not None:
        levers = set() if a.worker == "-" else set(a.worker.split(","))
        print(json.dumps(worker(a.config, levers, a.steps)))
        return {}
    variants = {"today": set(), "faster": set(TAKEN)}
    if a.each:
        variants.update({f"+{name}": {name} for name in TAKEN})
    if a.measured:
        variants.update(
            {f"faster+{name}": {*TAKEN, name} for name in ("sdpa", "channels_last", "flush_denormal", "bf16")}
        )
    if a.bf16:  # the same variant as --measured's
        variants["faster+bf16"] = {*TAKEN, "bf16"}
    if a.compile:
        variants["faster+compile"] = {*TAKEN, "compile"}
    from ccrk.train import cpu_has_native_bf16

    native_bf16 = cpu_has_native_bf16()
    load0 = os.getloadavg()
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    t0 = time.time()
    for r in range(a.rounds):
        names = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in names:
            runs[name].append(run_variant(a.config, variants[name], a.steps))
    load1 = os.getloadavg()
    base = statistics.median(t for run in runs["today"] for t in run["step_s"])
    print(
        f"machine: {platform.machine()} {cpu_name()}, {os.cpu_count()} cores, native bf16 {native_bf16}, "
        f"Python {platform.python_version()}; "
        f"1 torch thread; config {a.config} ({CONFIGS[a.config][1]} images x {K} captions); "
        f"{a.rounds} rounds x {a.steps} steps per variant; load average {load0[0]:.1f} before, "
        f"{load1[0]:.1f} after ({time.time() - t0:.0f} s)"
    )
    results = {}
    for name, rs in runs.items():
        cpu = statistics.median(t for run in rs for t in run["step_s"])
        gap = max(max_loss_gap(runs["today"][0]["losses"], run["losses"]) for run in rs)
        results[name] = {"step_s": cpu, "speedup": base / cpu, "loss_gap": gap}
        extra = (
            f"; warm-up step {statistics.median(run['warmup_s'] for run in rs):.1f} s"
            if "compile" in name
            else ""
        )
        print(
            f"{name:>24}: {cpu * 1000:7.0f} ms CPU per step  {base / cpu:5.2f}x today  "
            f"largest relative loss difference {gap:.1e}{extra}"
        )
    print(
        "losses of today's path, per step:",
        [{k: round(v, 5) for k, v in s.items()} for s in runs["today"][0]["losses"]],
    )
    return results


if __name__ == "__main__":
    main()
