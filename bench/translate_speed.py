"""Translation speed: EasyNMT (as the paper ran it), plain transformers and CTranslate2, side by side in one run.

`python bench/translate_speed.py [--captions 256] [--threads 1] [--max-output-tokens 32]`

All rows translate the same English captions (the demo generator's, with its natural ~3% repeats) into
Spanish with the same locally built M2M-100 (d_model 512, 6+6 layers, ~46M parameters, random weights:
nothing is downloaded), greedy decoding, the same output length cap and the same CPU threads.
- `easynmt (paper)`: `EasyNMT.translate(captions, batch_size=16)` on the whole list, as CCRK's
  m2m_translate.py calls it (EasyNMT sorts by characters inside the call, translates every repeat).
- `pipeline <backend>`: `ccrk.translate.translate_shard`: repeats translated once, batches sorted by
  token count, batch size --batch-size, written to a shard file like the rule does.
Random weights rarely emit </s>, so every sentence decodes to the length cap in every row: equal work.
Greedy outputs are compared caption by caption with the transformers reference; int8 is reported as
the number of outputs identical to float32 and the chrF of int8 outputs against the float32 ones.
"""

import argparse
import json
import math
import os
import platform
import tempfile
import time
from pathlib import Path

from ccrk.io import write_jsonl
from ccrk.translate import build_translator, translate_shard
from ccrk.translate.m2m_build import build_random_m2m100, demo_captions
from ccrk.translate.scores import translation_scores


def n_parameters(model_dir: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(model_dir / "model.safetensors"), "pt") as f:
        return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())


def pipeline(translator, corpus: Path, out: Path, batch_size: int) -> tuple[float, dict[str, str]]:
    start = time.perf_counter()
    translate_shard(corpus, out, 0, 1, translator, "en", ["es"], batch_size=batch_size)
    seconds = time.perf_counter() - start
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    return seconds, {r["line"]: r["translations"]["es"] for r in rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--captions", type=int, default=256)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch and CTranslate2 threads (on a shared 2-core "
        "machine, 2 OpenMP threads spin on each other: 1 was 4x faster for transformers)",
    )
    ap.add_argument("--batch-size", type=int, default=64, help="the pipeline rows' batch size")
    ap.add_argument("--max-output-tokens", type=int, default=32)
    ap.add_argument("--device", default="cpu", help="cuda: the same rows on a GPU")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="ccrk-translate-bench-"))
    captions = demo_captions(args.captions, ["en"], seed=1)
    corpus = work / "given.jsonl"
    write_jsonl(corpus, ({"caption": {"en": c}} for c in captions))
    model = build_random_m2m100(
        work / "m2m", demo_captions(600), vocab_size=900, d_model=512, layers=6, heads=8, ffn_dim=2048
    )
    common = {"beam_size": 1, "max_output_tokens": args.max_output_tokens, "device": args.device}
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {args.threads} threads;"
        f" device {args.device}"
    )
    print(
        f"model: M2M-100, {n_parameters(model) / 1e6:.1f}M parameters (random weights); {len(captions)} captions, "
        f"{len(set(captions))} distinct; greedy, at most {args.max_output_tokens} output tokens; en -> es"
    )

    easynmt = build_translator("easynmt", str(model), batch_size=16, **common)
    start = time.perf_counter()
    paper = easynmt.model.translate(
        captions,
        source_lang="en",
        target_lang="es",
        batch_size=16,
        beam_size=1,
        perform_sentence_splitting=False,
        max_new_tokens=args.max_output_tokens,
    )
    rows = {"easynmt (paper, batch 16)": (time.perf_counter() - start, dict(enumerate(paper, start=1)))}
    for name, backend, extra in (
        ("pipeline transformers", "transformers", {}),
        ("pipeline ctranslate2 float32", "ctranslate2", {"compute_type": "float32"}),
        ("pipeline ctranslate2 int8", "ctranslate2", {"compute_type": "int8"}),
    ):
        translator = build_translator(
            backend,
            str(model),
            batch_size=args.batch_size,
            threads=args.threads,
            converted_dir=work / "ct2",
            **common,
            **extra,
        )
        rows[name] = pipeline(
            translator, corpus, work / f"{backend}-{extra.get('compute_type', '')}.jsonl", args.batch_size
        )

    base_s, reference = rows["easynmt (paper, batch 16)"]
    hf = rows["pipeline transformers"][1]
    print(f"\n| {'path':<30} | sentences/s | x EasyNMT | identical to transformers |")
    print(f"|{'-' * 32}|-------------|-----------|---------------------------|")
    for name, (seconds, out) in rows.items():
        same = sum(out[i] == hf[i] for i in hf)
        print(
            f"| {name:<30} | {len(captions) / seconds:11.1f} | {base_s / seconds:8.2f}x | {same:>10}/{len(hf)} |"
        )
    fp32, int8 = rows["pipeline ctranslate2 float32"][1], rows["pipeline ctranslate2 int8"][1]
    agree = translation_scores({"es": [(int8[i], fp32[i]) for i in fp32]})
    print(
        f"\nint8 vs float32 (CTranslate2): {sum(int8[i] == fp32[i] for i in fp32)}/{len(fp32)} identical, "
        f"chrF of int8 against float32 outputs {agree.get('es_chrf', 0):.1f}"
    )
    print(
        f"EasyNMT (paper) vs transformers reference: {sum(reference[i] == hf[i] for i in hf)}/{len(hf)} identical"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
