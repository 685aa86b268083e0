"""Time the dry-run of the full paper DAG: `python bench/paper_dryrun.py [--repeats 3] [target ...]`.

In a temporary folder holding empty stand-ins for every input config/paper.yaml names (tests/paper_inputs.py),
plans `all` and `tables` (every protocol's tables and charts) with config/paper.yaml, and with the demo
config for comparison:
  - in one process, imports done: Snakefile parsing, config validation, DAG building and the dry-run itself;
  - as a user runs it, `snakemake -n` in a fresh process, next to `snakemake --version` (interpreter,
    imports and plugin discovery: the fixed cost of any snakemake command on this machine), in wall
    and CPU time (user + sys; on a busy host the wall time also counts the waits for a core).
Prints medians, the job counts, and the ratios; the target is under 5 s for the paper DAG.
"""

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.paper_inputs import merged_config, paper_configfiles, plan, write_paper_inputs  # noqa: E402


def _cli(args: list[str], workdir: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of `snakemake ARGS` in a fresh process; CPU = user + sys of the process and its children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", *args], cwd=workdir, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode:
        sys.exit(out.stderr[-3000:])
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _median_cli(args, workdir, repeats) -> tuple[float, float]:
    runs = [_cli(args, workdir) for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "targets",
        nargs="*",
        default=["all", "tables"],
        help="default: all (the default target) and tables (every enabled protocol's table)",
    )
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ccrk-paper-dryrun-"))
    paper = paper_configfiles()
    demo = [REPO / "config" / "config.yaml"]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )

    rows = {}
    write_paper_inputs(work, merged_config(paper))
    for name, files in (("paper", paper), ("demo", demo)):
        plan(work, files, args.targets)  # first call pays the imports
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            counts, _, _ = plan(work, files, args.targets)
            times.append(time.perf_counter() - t0)
        rows[name] = (statistics.median(times), sum(counts.values()), counts)
    for name, (t, n, counts) in rows.items():
        print(f"in process, {name}: {t:.3f} s for {n} jobs {dict(sorted(counts.items()))}")
    print(f"in process, paper / demo: {rows['paper'][0] / rows['demo'][0]:.2f}x")

    common = [*args.targets, "--snakefile", str(REPO / "Snakefile"), "--cores", "1", "--dry-run"]
    version = _median_cli(["--version"], work, args.repeats)
    paper_cli = _median_cli([*common, "--configfile", *map(str, paper)], work, args.repeats)
    demo_cli = _median_cli([*common, "--configfile", *map(str, demo)], work, args.repeats)
    for name, (wall, cpu) in (
        ("snakemake --version", version),
        ("dry-run, paper", paper_cli),
        ("dry-run, demo", demo_cli),
    ):
        print(f"fresh process, {name}: wall {wall:.2f} s, CPU {cpu:.2f} s")
    verdict = "under" if paper_cli[0] < 5 else "OVER"
    print(
        f"paper DAG dry-run as a user runs it: {paper_cli[0]:.2f} s wall ({paper_cli[1]:.2f} s CPU), {verdict} "
        f"the 5 s target; a wall time far above the CPU time means a busy host"
    )


if __name__ == "__main__":
    main()
