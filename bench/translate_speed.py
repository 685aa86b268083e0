"""Translation speed at beam 1 and beam 5: EasyNMT as the paper ran it, transformers and CTranslate2, by CPU time.

`python bench/translate_speed.py [--captions 64] [--rounds 2] [--beams 1,5] [--device cpu|cuda]`

Every row translates the same English demo captions into Spanish with the same locally built M2M-100
(d_model 512, 6+6 layers, 46.2M parameters, random weights: nothing is downloaded), the same beam and output
cap, one thread each (`--threads`).
- `easynmt (paper)`: `EasyNMT.translate(captions, batch_size=16, beam_size=B)` on the whole list, as CCRK's
  m2m_translate.py calls it (EasyNMT sorts by characters, translates every repeat).
- `pipeline <backend>`: `ccrk.translate.translate_shard` as the rule runs it (repeats once, batches sorted by
  token count, `--batch-size`, progress log, shard file).
Random weights never emit </s>: every sentence decodes to the cap in every row, so the work is equal.

What is measured does not depend on the machine's other jobs: the CPU time of each row (all threads of this
process), the rows interleaved over `--rounds` rounds and the fastest round counted; the load average is
printed with every round, and cpu/wall says how much of a core a row got. The shares split each row's CPU
time into tokenise (text -> ids or pieces), engine (generate / translate_batch), detokenise and other
(reading, clipping, sorting, progress log, writing; EasyNMT's own loop). On CUDA the rows are compared by
wall time (the GPU's time is not CPU time) and the CTranslate2 rows add float16 and int8_float16. On a CPU
the arithmetic follows: GFLOP per sentence in the linear layers, each row's rate per CPU second and this
core's own GEMM rate on the decoder's shapes (torch float32 and dynamic int8), i.e. how far an engine that
did nothing but GEMMs could get ahead of EasyNMT.

Then the levers, each against the shipped setting on the same sources (beam 5, int8 unless --lever-type):
tokenising with the Python tokenizer per batch vs the sentencepiece model in one call, detokenising per
sentence vs in bulk, batches by examples vs by tokens, translate_batch vs translate_iterable, inter/intra
threads (wall time counts there: more threads spend more CPU), and the whole machine (`--machine-threads`):
EasyNMT with torch on every core against the CTranslate2 pipeline with one replica per core.
"""

import argparse
import json
import math
import os
import platform
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from ccrk.io import write_jsonl
from ccrk.translate import build_translator, translate_shard
from ccrk.translate.ctranslate2_backend import convert_to_ctranslate2
from ccrk.translate.m2m_build import build_random_m2m100, demo_captions
from ccrk.translate.scores import translation_scores

STAGES = ("tokenise", "engine", "detokenise")


class Clock:
    """CPU and wall time of a row, and the CPU time of its stages; on CUDA each reading waits for the GPU."""

    def __init__(self, sync=None):
        self.sync, self.stages = sync or (lambda: None), Counter()

    def now(self) -> tuple[float, float]:
        self.sync()
        return time.process_time(), time.perf_counter()

    def timed(self, fn, stage: str):
        def run(*args, **kwargs):
            start = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.stages[stage] += time.process_time() - start

        return run


class Timed:
    """Stands for `target`; calling it or one of the named methods adds its CPU time to a stage."""

    def __init__(self, target, clock: Clock, call: str, **methods: str):
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_call", clock.timed(target, call))
        object.__setattr__(
            self, "_methods", {m: clock.timed(getattr(target, m), s) for m, s in methods.items()}
        )

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)

    def __getattr__(self, name):
        return self._methods.get(name) or getattr(self._target, name)

    def __setattr__(self, name, value):
        setattr(self._target, name, value)


def n_parameters(model_dir: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(model_dir / "model.safetensors"), "pt") as f:
        return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


class PaperRow:
    """EasyNMT.translate on the whole list, as CCRK's m2m_translate.py; shares from its tokenizer and generate."""

    def __init__(self, model: Path, captions: list[str], args, clock: Clock):
        self.captions, self.args, self.clock = captions, args, clock
        self.tr = build_translator(
            "easynmt", str(model), batch_size=16, max_output_tokens=args.max_output_tokens, device=args.device
        )
        inner = self.tr.model.translator
        inner.tokenizer = Timed(inner.tokenizer, clock, "tokenise", decode="detokenise")
        inner.model.generate = clock.timed(inner.model.generate, "engine")

    def warm(self) -> None:
        self.tr.translate(self.captions[:4], "en", "es")

    def run(self, beam: int) -> dict[int, str]:
        out = self.tr.model.translate(
            self.captions,
            source_lang="en",
            target_lang="es",
            batch_size=16,
            beam_size=beam,
            perform_sentence_splitting=False,
            max_new_tokens=self.args.max_output_tokens,
        )
        return dict(enumerate((t.strip() for t in out), start=1))


class PipelineRow:
    """translate_shard with one backend, as the rule runs it; shares from the backend's three stages."""

    def __init__(self, translator, corpus: Path, work: Path, args, clock: Clock):
        self.tr, self.corpus, self.args = translator, corpus, args
        self.out = work / f"shard-{id(self)}.jsonl"
        for method, stage in zip(("_encode", "_generate", "_decode"), STAGES):
            setattr(translator, method, clock.timed(getattr(translator, method), stage))

    def warm(self) -> None:
        self.tr.translate(["a red circle", "two blue squares at the top"], "en", "es")

    def run(self, beam: int) -> dict[int, str]:
        self.tr.beam_size = beam
        translate_shard(self.corpus, self.out, 0, 1, self.tr, "en", ["es"], batch_size=self.args.batch_size)
        rows = (json.loads(x) for x in self.out.read_text(encoding="utf-8").splitlines())
        return {r["line"]: r["translations"]["es"] for r in rows}


def measure(rows: dict, beams: list[int], rounds: int, clock: Clock, basis: str = "cpu") -> dict:
    """Every row at every beam once per round, interleaved; per (row, beam) the round of least CPU (CUDA: wall)."""
    best = {}
    for name, row in list(rows.items()):  # first calls allocate and pick kernels: not timed
        try:
            row.warm()
        except (RuntimeError, OSError) as e:  # e.g. a CUDA library the engine was built for is missing
            print(f"row '{name}' skipped: {type(e).__name__}: {e}")
            del rows[name]
    clock.stages.clear()
    for r in range(rounds):
        for beam in beams:
            for name, row in rows.items():
                clock.stages.clear()
                cpu0, wall0 = clock.now()
                out = row.run(beam)
                cpu1, wall1 = clock.now()
                m = {"cpu": cpu1 - cpu0, "wall": wall1 - wall0, "stages": dict(clock.stages), "out": out}
                key = (name, beam)
                walls = best.get(key, {}).get("walls", []) + [round(m["wall"], 1)]
                if key not in best or m[basis] < best[key][basis]:
                    best[key] = m
                best[key]["walls"] = walls
                print(f"  {name}, beam {beam}: CPU {m['cpu']:.1f} s, wall {m['wall']:.1f} s", flush=True)
        print(f"round {r + 1}/{rounds} done, load average {load()}", flush=True)
    return best


def shares(m: dict) -> list[str]:
    parts = [m["stages"].get(s, 0.0) for s in STAGES]
    return [f"{100 * p / m['cpu']:.0f}%" for p in [*parts, m["cpu"] - sum(parts)]]


def model_flops(model_dir: Path, source_tokens: float, steps: int, beam: int) -> float:
    """Multiply-adds x 2 of one sentence in the linear layers (attention scores, ~2 %, not counted): the encoder
    once over the source, the decoder `steps` times for `beam` rows, the output layer over the vocabulary."""
    c = json.loads((model_dir / "config.json").read_text())
    d, ffn, v = c["d_model"], c["decoder_ffn_dim"], c["vocab_size"]
    encoder = c["encoder_layers"] * (4 * d * d + 2 * d * c["encoder_ffn_dim"]) * source_tokens
    cross_kv = c["decoder_layers"] * 2 * d * d * source_tokens
    step = (
        c["decoder_layers"] * (6 * d * d + 2 * d * ffn) + d * v
    )  # self q/k/v/o, cross q/o, FFN; output layer
    return 2 * (encoder + cross_kv + steps * beam * step)


def gemm_rates(d: int, ffn: int, rows: list[int], rounds: int = 5) -> dict[str, float]:
    """This core's best GEMM rate (G multiply-adds x 2 per CPU second, one thread) on the decoder's shapes:
    torch float32, and torch's dynamic int8 (fbgemm; CTranslate2's int8 is oneDNN's: the same AVX2 instructions)."""
    import torch

    rates = {"float32": 0.0, "int8": 0.0}
    for m in rows:
        for k, n in ((d, ffn), (ffn, d), (d, d)):
            x, lin = torch.randn(m, k), torch.nn.Linear(k, n, bias=False)
            q = torch.ao.quantization.quantize_dynamic(
                torch.nn.Sequential(lin), {torch.nn.Linear}, torch.qint8
            )
            for name, fn in (("float32", lin), ("int8", q)):
                with torch.inference_mode():
                    best = timed_rounds({0: lambda f=fn: [f(x) for _ in range(20)]}, rounds)[0][0]
                rates[name] = max(rates[name], 2 * m * k * n * 20 / best / 1e9)
    return rates


def ceiling(best: dict, beams: list[int], model: Path, captions: list[str], args, n: int) -> None:
    """Arithmetic per sentence, each row's rate, and what a perfect engine could reach on this core."""
    import warnings

    from ccrk.translate.m2m import M2MTokens, validate_m2m_dir

    tokens = M2MTokens(validate_m2m_dir(model))
    src = sum(map(len, tokens.source_pieces(captions, "en"))) / len(captions)
    c = json.loads((model / "config.json").read_text())
    with warnings.catch_warnings():  # torch deprecates its quantized tensors; the GEMM rate is what counts
        warnings.simplefilter("ignore")
        rates = gemm_rates(
            c["d_model"], c["decoder_ffn_dim"], [16 * max(beams), args.batch_size * max(beams)]
        )
    print(
        f"\nArithmetic: {src:.1f} source tokens per caption; this core's best GEMM rate on the decoder's shapes "
        f"(CPU time, one thread): float32 {rates['float32']:.0f} GFLOP/s, int8 {rates['int8']:.0f} Gop/s"
    )
    print("| path | beam | GFLOP per sentence | GFLOP/s per CPU second | share of the GEMM rate |")
    print("|---|---:|---:|---:|---:|")
    for (name, beam), m in best.items():
        flops = model_flops(model, src, args.max_output_tokens, beam) / 1e9
        rate = flops * n / m["cpu"]
        peak = rates["int8" if "int8" in name else "float32"]
        print(f"| {name} | {beam} | {flops:.2f} | {rate:.1f} | {100 * rate / peak:.0f}% |")
    for beam in beams:
        base = (
            model_flops(model, src, args.max_output_tokens, beam)
            / 1e9
            * n
            / best[("easynmt (paper)", beam)]["cpu"]
        )
        print(
            f"beam {beam}: an engine doing nothing but GEMMs at this core's rate would be "
            f"{rates['float32'] / base:.2f}x EasyNMT in float32, {rates['int8'] / base:.2f}x in int8"
        )


def summary(best: dict, beams: list[int], n: int, basis: str) -> None:
    print(
        f"\n| path | beam | sentences/s by {basis} time | x EasyNMT | sentences/s wall (fastest) | cpu/wall |"
        " tokenise | engine | detokenise | other | = transformers |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for beam in beams:
        base = best[("easynmt (paper)", beam)][basis]
        ref = best.get(("pipeline transformers", beam), {}).get("out", {})
        for (name, b), m in best.items():
            if b != beam:
                continue
            same = f"{sum(m['out'][i] == ref[i] for i in ref)}/{len(ref)}" if ref else "-"
            print(
                f"| {name} | {beam} | {n / m[basis]:.1f} | {base / m[basis]:.2f}x | {n / m['wall']:.1f} | "
                f"{m['cpu'] / m['wall']:.2f} | {' | '.join(shares(m))} | {same} |"
            )


def agreement(best: dict, beams: list[int], compute_types: list[str]) -> None:
    for beam in beams:
        fp32 = best.get((f"pipeline ctranslate2 {compute_types[0]}", beam), {}).get("out")
        for ct in compute_types[1:]:
            other = best.get((f"pipeline ctranslate2 {ct}", beam), {}).get("out")
            if fp32 and other:
                chrf = translation_scores({"es": [(other[i], fp32[i]) for i in fp32]}).get("es_chrf", 0)
                same = sum(other[i] == fp32[i] for i in fp32)
                print(
                    f"beam {beam}: {ct} vs {compute_types[0]}: {same}/{len(fp32)} identical, chrF {chrf:.1f}"
                )


def timed_rounds(fns: dict, rounds: int, warm: bool = True) -> dict[str, tuple[float, float]]:
    """(least CPU, least wall) seconds of each function over interleaved rounds (after one untimed call each)."""
    best = {k: (math.inf, math.inf) for k in fns}
    for fn in fns.values() if warm else ():
        fn()
    for _ in range(rounds):
        for k, fn in fns.items():
            c, w = time.process_time(), time.perf_counter()
            fn()
            c, w = time.process_time() - c, time.perf_counter() - w
            best[k] = (min(best[k][0], c), min(best[k][1], w))
    return best


def levers(model: Path, ct2_dir: Path, captions: list[str], args) -> None:
    """Each lever against the shipped setting, on the distinct captions sorted by length, at beam 5 (CPU)."""
    import ctranslate2

    ref = build_translator(
        "ctranslate2",
        str(model),
        converted_dir=ct2_dir,
        compute_type=args.lever_type,
        beam_size=5,
        max_output_tokens=args.max_output_tokens,
        device=args.device,
    )
    tok, tokens = ref.tokens.tokenizer, ref.tokens
    texts = sorted(set(captions), key=lambda t: (tokens.count(t), t))
    n, bs, cores = len(texts), args.batch_size, args.machine_threads
    print(
        f"\nLevers (beam 5, {args.lever_type}, {n} distinct captions, fastest of {args.rounds} rounds; load {load()}):"
    )
    sources = tokens.source_pieces(texts, "en")
    prefix = [["__es__"]] * n
    common = {"beam_size": 5, "max_decoding_length": args.max_output_tokens, "return_scores": False}

    def engine(translator, size: int, batch_type: str = "examples", iterable: bool = False):
        if iterable:
            return lambda: list(
                translator.translate_iterable(
                    iter(sources), iter(prefix), max_batch_size=size, batch_type=batch_type, **common
                )
            )
        return lambda: translator.translate_batch(
            sources, target_prefix=prefix, max_batch_size=size, batch_type=batch_type, **common
        )

    def make(inter: int, intra: int):
        t = ctranslate2.Translator(
            str(ct2_dir),
            device=args.device,
            compute_type=args.lever_type,
            inter_threads=inter,
            intra_threads=intra,
        )
        t.translate_batch(sources[:8], target_prefix=prefix[:8], **common)  # first call: allocations, untimed
        return t

    one = make(1, 1)
    tokens_per_batch = round(bs * sum(map(len, sources)) / n)
    runs = {
        f"translate_batch, {bs} examples (shipped, 1 thread)": engine(one, bs),
        f"translate_batch, {tokens_per_batch} tokens": engine(one, tokens_per_batch, "tokens"),
        f"translate_iterable, {bs} examples": engine(one, bs, iterable=True),
    }
    if cores > 1 and args.device == "cpu":
        per = -(-n // cores)
        runs[f"inter 1 x intra {cores}"] = engine(make(1, cores), bs)
        runs[f"inter {cores} x intra 1, {min(bs, per)} examples (shipped, {cores} threads)"] = engine(
            make(cores, 1), min(bs, per)
        )
    t = timed_rounds(runs, args.rounds, warm=False)
    base_c, base_w = next(iter(t.values()))
    print(
        "| engine lever | CPU s | wall s | sentences/s by CPU | by wall | CPU vs shipped | wall vs shipped |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for k, (c, w) in t.items():
        print(
            f"| {k} | {c:.2f} | {w:.2f} | {n / c:.1f} | {n / w:.1f} | {base_c / c:.2f}x | {base_w / w:.2f}x |"
        )

    outputs = [r.hypotheses[0] for r in one.translate_batch(sources, target_prefix=prefix, **common)]

    def hf_encode():
        return [tok.convert_ids_to_tokens(x) for x in tokens.source_ids(texts, "en")]

    def hf_decode():
        return [tokens.decode(tok.convert_tokens_to_ids(o)) for o in outputs]

    assert hf_encode() == sources, "sentencepiece pieces differ from the tokenizer's"
    assert hf_decode() == tokens.decode_pieces(outputs), "bulk decoding differs from the tokenizer's"
    reps = 20
    t = timed_rounds(
        {
            ("tokenise", "tokenizer per batch (before)"): lambda: [hf_encode() for _ in range(reps)],
            ("tokenise", "sentencepiece, one call (shipped)"): lambda: [
                tokens.source_pieces(texts, "en") for _ in range(reps)
            ],
            ("detokenise", "tokenizer.decode per sentence (before)"): lambda: [
                hf_decode() for _ in range(reps)
            ],
            ("detokenise", "sentencepiece, one call (shipped)"): lambda: [
                tokens.decode_pieces(outputs) for _ in range(reps)
            ],
        },
        args.rounds,
    )
    print("\n| lever | setting | CPU µs/sentence | vs the engine's CPU time per sentence |")
    print("|---|---|---:|---:|")
    for (lever, k), (c, _) in t.items():
        us = 1e6 * c / reps / n
        print(f"| {lever} | {k} | {us:.0f} | {100 * us / (1e6 * base_c / n):.2f}% |")
    print(f"load average after the levers: {load()}")


def whole_machine(model: Path, ct2_dir: Path, captions: list[str], corpus: Path, work: Path, args) -> None:
    """Beam 5 with every core: EasyNMT (torch threads = cores) vs the CTranslate2 pipeline (a replica per core)."""
    import torch

    cores = args.machine_threads
    torch.set_num_threads(cores)
    clock = Clock()
    rows = {"easynmt (paper)": PaperRow(model, captions, args, clock)}
    for ct in ("float32", "int8"):
        tr = build_translator(
            "ctranslate2",
            str(model),
            batch_size=args.batch_size,
            max_output_tokens=args.max_output_tokens,
            device=args.device,
            threads=cores,
            converted_dir=ct2_dir,
            compute_type=ct,
        )
        rows[f"pipeline ctranslate2 {ct}"] = PipelineRow(tr, corpus, work, args, clock)
    print(
        f"\nWhole machine, beam 5, {cores} threads per row (wall time counts: only meaningful on an idle machine):"
    )
    best = measure(rows, [5], args.rounds, clock, "wall")
    base = best[("easynmt (paper)", 5)]["wall"]
    print("| path | sentences/s wall (fastest) | x EasyNMT | cpu/wall | walls of the rounds |")
    print("|---|---:|---:|---:|---|")
    for (name, _), m in best.items():
        print(
            f"| {name} | {len(captions) / m['wall']:.1f} | {base / m['wall']:.2f}x | "
            f"{m['cpu'] / m['wall']:.2f} | {m['walls']} |"
        )
    torch.set_num_threads(args.threads)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--captions", type=int, default=64, help="demo scenes; ~3%% of their captions repeat")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the fastest counts")
    ap.add_argument("--beams", default="1,5")
    ap.add_argument("--threads", type=int, default=1, help="torch and CTranslate2 threads of the main rows")
    ap.add_argument(
        "--machine-threads", type=int, default=os.cpu_count() or 1, help="threads of the whole-machine rows"
    )
    ap.add_argument("--batch-size", type=int, default=64, help="the pipeline rows' batch size")
    ap.add_argument("--max-output-tokens", type=int, default=32)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--lever-type", default="int8", help="CTranslate2 compute type of the lever runs")
    ap.add_argument("--no-levers", action="store_true")
    ap.add_argument("--no-machine", action="store_true", help="skip the whole-machine rows")
    args = ap.parse_args()
    beams = [int(b) for b in args.beams.split(",")]

    import torch

    torch.set_num_threads(args.threads)
    cuda = args.device == "cuda"
    sync = torch.cuda.synchronize if cuda else None
    work = Path(tempfile.mkdtemp(prefix="ccrk-translate-bench-"))
    captions = demo_captions(args.captions, ["en"], seed=1)
    corpus = work / "given.jsonl"
    write_jsonl(corpus, ({"caption": {"en": c}} for c in captions))
    model = build_random_m2m100(
        work / "m2m", demo_captions(600), vocab_size=900, d_model=512, layers=6, heads=8, ffn_dim=2048
    )
    ct2_dir = convert_to_ctranslate2(model, work / "ct2")
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}, torch {torch.__version__}, "
        f"{args.threads} thread(s) per row, device {args.device}"
        + (f" ({torch.cuda.get_device_name()})" if cuda else "")
    )
    print(
        f"model: M2M-100, {n_parameters(model) / 1e6:.1f}M parameters (random weights); {len(captions)} captions, "
        f"{len(set(captions))} distinct; en -> es, at most {args.max_output_tokens} output tokens; "
        f"beams {beams}; load average (1/5/15 min) at the start {load()}"
    )

    clock = Clock(sync)
    rows = {"easynmt (paper)": PaperRow(model, captions, args, clock)}
    compute_types = ["float32", "int8"] + (["float16", "int8_float16"] if cuda else [])
    specs = [("transformers", "transformers", {})] + [
        (f"ctranslate2 {ct}", "ctranslate2", {"compute_type": ct, "converted_dir": ct2_dir})
        for ct in compute_types
    ]
    for name, backend, extra in specs:
        try:
            tr = build_translator(
                backend,
                str(model),
                batch_size=args.batch_size,
                max_output_tokens=args.max_output_tokens,
                device=args.device,
                threads=args.threads,
                **extra,
            )
        except (RuntimeError, OSError, ValueError) as e:  # e.g. a CTranslate2 wheel built for another CUDA
            print(f"row 'pipeline {name}' skipped: {type(e).__name__}: {e}")
            continue
        rows[f"pipeline {name}"] = PipelineRow(tr, corpus, work, args, clock)
    basis = "wall" if cuda else "cpu"
    best = measure(rows, beams, args.rounds, clock, basis)
    summary(best, beams, len(captions), basis)
    agreement(best, beams, compute_types)
    for beam in beams:
        ref = best[("pipeline transformers", beam)]["out"]
        paper = best[("easynmt (paper)", beam)]["out"]
        print(
            f"beam {beam}: EasyNMT (paper) vs transformers: {sum(paper[i] == ref[i] for i in ref)}/{len(ref)} identical"
        )
    if 5 in beams and not cuda:
        base = best[("easynmt (paper)", 5)]["cpu"]
        f32, i8 = (base / best[(f"pipeline ctranslate2 {ct}", 5)]["cpu"] for ct in ("float32", "int8"))
        print(
            f"\nGoal at beam 5 (CPU time, one thread each): int8 {i8:.2f}x EasyNMT (goal >= 4x: "
            f"{'met' if i8 >= 4 else 'not met'}), float32 {f32:.2f}x "
            f"(goal >= 2.5x: {'met' if f32 >= 2.5 else 'not met'})"
        )
        ceiling(best, beams, model, captions, args, len(captions))
    if not args.no_levers:
        levers(model, ct2_dir, captions, args)
    if not args.no_machine and not cuda and args.machine_threads > 1:
        whole_machine(model, ct2_dir, captions, corpus, work, args)
    print(f"\nload average at the end {load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
