"""tools/uv_index_flags.py: pip's configured package sources as `uv pip install` flags."""

import importlib.util
import shlex
import subprocess
import sys

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("uv_index_flags", REPO / "tools" / "uv_index_flags.py")
uv_index_flags = importlib.util.module_from_spec(spec)
spec.loader.exec_module(uv_index_flags)

# `pip config list` as pip 23-26 print it on a machine with local mirrors (values quoted, lists space-separated)
PIP_CONFIG_LIST = """\
:env:.cert='/etc/ssl/certs/ca-certificates.crt'
:env:.find-links='/opt/wheels'
global.constraint='/etc/xdg/pip/constraints.txt'
global.extra-index-url='file:///opt/pypi/simple file:///opt/pypi-more/simple'
global.find-links='/srv/other-wheels'
"""


def test_extra_indexes_and_wheel_folders_pass_on_with_pips_best_match_rule():
    assert uv_index_flags.uv_flags(PIP_CONFIG_LIST) == [
        "--extra-index-url=file:///opt/pypi/simple",
        "--extra-index-url=file:///opt/pypi-more/simple",
        "--find-links=/opt/wheels",  # PIP_FIND_LINKS overrides the config file's folder, as in pip
        "--index-strategy=unsafe-best-match",
    ]


def test_a_mirror_alone_replaces_the_index_and_keeps_uvs_first_index_rule():
    listing = (
        "global.index-url='https://mirror.example/simple'\ninstall.index-url='https://inner.example/simple'\n"
    )
    assert uv_index_flags.uv_flags(listing) == ["--index-url=https://inner.example/simple"]


def test_no_pip_configuration_gives_no_flags():
    assert uv_index_flags.uv_flags("") == []
    assert uv_index_flags.uv_flags("global.timeout='60'\nsomething without an equals sign\n") == []


def test_the_script_prints_this_machines_flags_quoted_for_the_shell():
    out = subprocess.run(
        [sys.executable, str(REPO / "tools" / "uv_index_flags.py")],
        capture_output=True,
        text=True,
        check=True,
    )
    listing = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    assert shlex.split(out.stdout) == uv_index_flags.uv_flags(
        listing.stdout if listing.returncode == 0 else ""
    )
