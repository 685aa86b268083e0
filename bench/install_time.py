"""The set-up's install, pip against uv, side by side: wall time of each into a new venv with an empty cache.

    python bench/install_time.py              # one round of each, pip first
    python bench/install_time.py --rounds 2   # interleaved: pip, uv, pip, uv

Both install what `make` installs (constraints.txt's pins, ccrk[test] editable, EasyNMT without its declared
dependencies), from the package sources pip is configured with. pip runs the commands the Makefile ran before
it moved to uv; uv is the Makefile's install target itself (`make VENV=DIR DIR/bin/.ccrk-installed`). Each run
gets a fresh venv and a fresh cache folder (PIP_CACHE_DIR / UV_CACHE_DIR), as on a new machine; the user's
caches are not touched. Prints each run's seconds, the load average around it and the ratio of the medians.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def commands(installer: str, venv: Path) -> list[list[str]]:
    """uv: the Makefile's own install target, into `venv`; pip: the commands that target ran before uv."""
    if installer == "uv":
        return [["make", "-s", "-C", str(REPO), f"VENV={venv}", f"{venv}/bin/.ccrk-installed"]]
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    return [
        [sys.executable, "-m", "venv", str(venv)],
        [*pip, "--upgrade", "pip"],
        [*pip, "-c", "constraints.txt", "-e", ".[test]"],
        [*pip, "--no-deps", "-c", "constraints.txt", "easynmt"],
    ]


def timed_install(installer: str) -> float:
    with tempfile.TemporaryDirectory(prefix=f"ccrk-{installer}-") as tmp:
        venv, cache = Path(tmp) / "venv", Path(tmp) / "cache"
        env = {**os.environ, "PIP_CACHE_DIR": str(cache), "UV_CACHE_DIR": str(cache)}
        start = time.perf_counter()
        for cmd in commands(installer, venv):
            subprocess.run(cmd, check=True, cwd=REPO, env=env)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"pip": [], "uv": []}
    for r in range(args.rounds):
        for installer in times:
            before = os.getloadavg()[0]
            seconds = timed_install(installer)
            times[installer].append(seconds)
            print(
                f"round {r + 1} {installer:3s} {seconds:6.1f} s  (load {before:.2f} -> {os.getloadavg()[0]:.2f})"
            )
    pip, uv = statistics.median(times["pip"]), statistics.median(times["uv"])
    print(f"median: pip {pip:.1f} s, uv {uv:.1f} s: uv {pip / uv:.2f}x faster")


if __name__ == "__main__":
    main()
