"""Print the `uv pip install` flags that give uv the package sources pip is configured with.

    uv pip install $(python tools/uv_index_flags.py) -c constraints.txt -e ".[test]"    # as the Makefile does

pip reads pip.conf files and PIP_* variables (`pip config list` shows both); uv reads neither. A mirror
(index-url), extra indexes and local wheel folders (find-links) set up for pip are passed on, and where extra
indexes are configured, so is pip's rule of taking the best version over all indexes (uv's own default is the
first index that has the package, which would stop at a partial mirror). Without pip configuration it prints
nothing and uv uses PyPI. Needs only the standard library: it runs before the virtual environment exists.
"""

import shlex
import subprocess
import sys

FLAGS = {"index-url": "--index-url", "extra-index-url": "--extra-index-url", "find-links": "--find-links"}
# pip's precedence: PIP_* variables over the config files' [install] section over their [global] one
SOURCES = (":env:", "install", "global")


def uv_flags(pip_config_list: str) -> list[str]:
    """uv flags for the output of `pip config list` (lines like `global.find-links='/opt/wheels'`)."""
    chosen: dict[str, tuple[int, list[str]]] = {}
    for line in pip_config_list.splitlines():
        key, sep, value = line.partition("=")
        source, _, name = key.strip().rpartition(".")
        if not sep or name not in FLAGS or source not in SOURCES:
            continue
        rank = SOURCES.index(source)
        if name not in chosen or rank <= chosen[name][0]:  # the same rank: the later line wins, as in pip
            chosen[name] = (rank, " ".join(shlex.split(value)).split())  # quoted, whitespace-separated list
    flags = [f"{FLAGS[name]}={v}" for name in FLAGS if name in chosen for v in chosen[name][1]]
    if chosen.get("extra-index-url", (0, []))[1]:
        flags.append("--index-strategy=unsafe-best-match")
    return flags


def main() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
    )
    print(" ".join(shlex.quote(f) for f in uv_flags(out.stdout if out.returncode == 0 else "")))


if __name__ == "__main__":
    main()
