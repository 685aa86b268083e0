"""A stage of many small jobs on a finished demo, its jobs on every core against 1 thread each (side by side).

`python bench/stage_threads.py DEMO_DIR [--stage fewshot zeroshot] [--rounds 2] [--cores 2]`, where DEMO_DIR is
a finished demo (`python bench/demo_time.py --keep` prints one). Each round copies DEMO_DIR afresh, once per
variant, interleaved, and runs the stage's targets with `--set-threads` on its rules: `cores` threads per job
(Snakemake then runs one job at a time) or 1 (as many jobs at once as there are cores). Prints wall and CPU time
(the children's user + system), the load, whether the stage's table is identical, and the ratio of medians.
"""

import argparse
import filecmp
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAGES = {  # targets, the rules whose jobs the stage runs, the table compared across variants
    "fewshot": (
        ["results/xflickrco_fewshot_table.csv", "results/xflickrco_fewshot_mrv.csv"],
        ["finetune", "evaluate_per_language"],
        "results/xflickrco_fewshot_table.csv",
    ),
    "zeroshot": (
        ["results/zeroshot_leaderboard.csv"],
        ["zeroshot_xflickrco", "zeroshot_xm3600"],
        "results/zeroshot_leaderboard.csv",
    ),
}


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_stage(demo: Path, stage: str, threads: int, cores: int, scratch: Path) -> tuple[float, float, Path]:
    """(wall s, CPU s, the stage's table) of the stage on a fresh copy of the finished demo."""
    targets, rules, table = STAGES[stage]
    work = scratch / f"{stage}-{threads}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(demo, work, symlinks=True)
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", REPO / "Snakefile", "--directory", work,
           "--configfile", work / "config.yaml", "--cores", cores, "--set-threads",
           *(f"{r}={threads}" for r in rules), "--", *targets]  # fmt: skip
    cpu, t0 = children_cpu(), time.perf_counter()
    out = subprocess.run(list(map(str, cmd)), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode:
        sys.exit(f"{stage} with {threads} thread(s) failed:\n{out.stderr[-3000:]}")
    return wall, children_cpu() - cpu, work / table


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("demo", type=Path, help="a finished demo folder (its config.yaml and results/)")
    ap.add_argument("--stage", nargs="+", choices=sorted(STAGES), default=sorted(STAGES))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--cores", type=int, default=os.cpu_count())
    args = ap.parse_args()
    if args.cores < 2:
        ap.error("--cores must be at least 2: with 1 both variants are the same")
    print(f"{os.cpu_count()} CPUs, --cores {args.cores}, load before {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="ccrk-stage-threads-") as scratch:
        for stage in args.stage:
            walls: dict[int, list[float]] = {args.cores: [], 1: []}
            tables: dict[int, Path] = {}
            for rnd in range(args.rounds):
                for threads in walls:
                    wall, cpu, tables[threads] = run_stage(
                        args.demo, stage, threads, args.cores, Path(scratch)
                    )
                    walls[threads].append(wall)
                    print(f"{stage} round {rnd + 1}, {threads} thread(s) per job: {wall:.1f} s wall, {cpu:.1f} s CPU, "
                          f"load {os.getloadavg()[0]:.2f}")  # fmt: skip
            med = {t: statistics.median(w) for t, w in walls.items()}
            same = filecmp.cmp(tables[args.cores], tables[1], shallow=False)
            print(f"{stage}: median {med[args.cores]:.1f} s on {args.cores} threads per job, {med[1]:.1f} s on 1: "
                  f"{med[args.cores] / med[1]:.2f}x; table identical: {same}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
