"""Time the whole default demo DAG from a clean folder: `python bench/demo_time.py [--cores 8]`.

Runs `snakemake --cores N results/xflickrco_table.csv results/xflickrco_mrv.csv` in a fresh temporary
working directory (nothing reused), then prints the machine, the resulting table and the total wall
time. Snakemake's own log (`--keep` keeps the folder) has the per-job timestamps.
"""

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cores", type=int, default=8)
    ap.add_argument("--keep", action="store_true", help="keep the working directory and print its path")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ccrk-demo-bench-"))
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(work),
        "--configfile",
        str(REPO / "config" / "config.yaml"),
        "--cores",
        str(args.cores),
        "results/xflickrco_table.csv",
        "results/xflickrco_mrv.csv",
    ]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    total = time.perf_counter() - t0
    if out.returncode:
        print(out.stderr[-3000:], file=sys.stderr)
        return out.returncode
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}, {platform.platform()}"
    )
    print(f"jobs finished: {out.stderr.count('Finished jobid')}")
    print((work / "results" / "xflickrco_table.md").read_text())
    print(
        f"demo wall time from a clean folder: {total:.1f} s ({total / 60:.2f} min) with --cores {args.cores}"
    )
    if args.keep:
        print(f"kept: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
