"""The repository stands alone: no tracked file points outside the checkout, and every docs link resolves."""

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BINARY = (".png", ".jpg", ".jpeg", ".gz", ".zip", ".tar", ".parquet", ".pt", ".th")


def tracked_text_files() -> dict[str, str]:
    """Every tracked text file (the checkout's own view: what a fresh clone has), path -> text."""
    try:
        names = subprocess.run(
            ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=60
        ).stdout.split(b"\0")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    out = {}
    for raw in names:
        name = raw.decode()
        if not name or name.endswith(BINARY) or not (REPO / name).is_file():
            continue
        try:
            out[name] = (REPO / name).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
    return out


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def test_github_slug_by_hand():
    assert github_slug("Optimiser, schedule, precision") == "optimiser-schedule-precision"
    assert github_slug("The 1-to-K contrastive loss") == "the-1-to-k-contrastive-loss"
    assert github_slug("`pre_caption` and MRV") == "precaption-and-mrv"


# the team workspace and its reference documents, spelled in pieces so that this file does not match itself
WORKSPACE = re.compile(
    "|".join(
        [re.escape("/" + "work/"), r"\bshared/(fixtures|notes)\b", r"\bSP" + r"EC\b", "ANCH" + r"ORS\.md"]
    )
)


def test_workspace_pattern_by_hand():
    for text in ("/" + "work/main/x", "../sha" + "red/fixtures/raw", "S" + "PEC §4.4", "ANCH" + "ORS.md"):
        assert WORKSPACE.search(text), text
    for text in ("docs/method.md#mrv", "specification", "shared/data", "network/"):
        assert not WORKSPACE.search(text), text


def test_no_tracked_file_points_outside_the_checkout():
    """A workspace path or document name, or a parent path (`../x`) that leaves the repository both from
    where it is written and from the root."""
    bad = []
    parent = re.compile(r"(?<![\w./])(?:\.\./)+[\w.-]+")
    for name, text in tracked_text_files().items():
        for lineno, line in enumerate(text.splitlines(), 1):
            if WORKSPACE.search(line):
                bad.append(f"{name}:{lineno}: {line.strip()[:100]}")
                continue
            for m in parent.finditer(line):
                if m.group(0).endswith("/etc"):
                    continue  # `../../etc/passwd`: the path-escape inputs that readers must refuse
                # relative to the file and to the root: outside from both means outside the checkout
                targets = ((REPO / name).parent / m.group(0), REPO / m.group(0))
                if not any(t.resolve().is_relative_to(REPO) for t in targets):
                    bad.append(f"{name}:{lineno}: {m.group(0)}")
    assert not bad, "references outside the checkout:\n" + "\n".join(bad)


def test_every_docs_link_names_an_existing_section():
    """`docs/<file>.md#<section>` anywhere in the tree: the file exists and has that heading."""
    files = tracked_text_files()
    link = re.compile(r"docs/([\w-]+\.md)(?:#([\w-]+))?")
    slugs: dict[str, set[str]] = {}
    missing = []
    for name, text in files.items():
        for lineno, line in enumerate(text.splitlines(), 1):
            for m in link.finditer(line):
                doc = REPO / "docs" / m.group(1)
                if not doc.is_file():
                    missing.append(f"{name}:{lineno}: no file docs/{m.group(1)}")
                    continue
                if m.group(2) is None:
                    continue
                if doc.name not in slugs:
                    headings = re.findall(r"^#{1,6} (.+)$", doc.read_text(encoding="utf-8"), flags=re.M)
                    slugs[doc.name] = {github_slug(h) for h in headings}
                if m.group(2) not in slugs[doc.name]:
                    missing.append(f"{name}:{lineno}: no section #{m.group(2)} in docs/{m.group(1)}")
    assert not missing, "\n".join(missing)


def test_fixtures_are_inside_the_repository_with_their_source_notes():
    fixtures = REPO / "tests" / "fixtures"
    folders = [p for p in fixtures.iterdir() if p.is_dir()]
    assert folders, "tests/fixtures is empty"
    for folder in folders:
        assert (folder / "SOURCE.md").is_file(), f"{folder} has no SOURCE.md"
