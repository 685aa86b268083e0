"""Translation stage: the demo lexicon backend, shards that cover every line, alignment, cache, kill and
resume, chrF/BLEU, errors."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from ccrk.demo.captions import lexicon_entries
from ccrk.io import write_jsonl
from ccrk.translate import build_translator, shard_bounds, translate_shard
from ccrk.translate.progress import progress_path
from ccrk.translate.scores import translation_scores
from tests.conftest import REPO, snakemake_command


@pytest.fixture
def lexicon(tmp_path):
    path = tmp_path / "lexicon.tsv"
    rows = lexicon_entries()
    path.write_text(
        "en\tid\tes\tru\ttr\n"
        + "".join("\t".join(r[c] for c in ("en", "id", "es", "ru", "tr")) + "\n" for r in rows),
        encoding="utf-8",
    )
    return path


def test_lexicon_longest_match(lexicon):
    tr = build_translator("lexicon", str(lexicon))
    assert tr.translate(["a small red circle at the top left"], "en", "es") == [
        "un pequeño rojo círculo arriba a la izquierda"
    ]
    assert tr.translate(["a red zebra"], "en", "es") == ["un rojo zebra"]  # unknown words pass through
    assert tr.unknown_words == 1
    with pytest.raises(ValueError, match="target language 'xx'"):
        tr.translate(["a"], "en", "xx")


@pytest.mark.parametrize("n,shards", [(10, 3), (7, 7), (5, 8), (0, 2)])
def test_shards_partition_the_lines(n, shards):
    covered = [i for s in range(shards) for i in range(*shard_bounds(n, s, shards))]
    assert covered == list(range(n))
    with pytest.raises(ValueError):
        shard_bounds(n, shards, shards)


def test_translate_shard_is_aligned_and_translates_each_caption_once(lexicon, tmp_path):
    captions = ["a red circle", "a red circle", "a blue square", "  ", "a green cross"]  # shard 0: lines 1-2
    corpus = tmp_path / "given.jsonl"
    write_jsonl(corpus, ({"caption": {"en": c}, "image_path": f"{i}.jpg"} for i, c in enumerate(captions)))
    translator = build_translator("lexicon", str(lexicon))
    calls = []
    original = translator.translate
    translator.translate = lambda texts, s, t: calls.append(list(texts)) or original(texts, s, t)
    outs = [tmp_path / f"shard-{s}.jsonl" for s in range(2)]
    stats = [translate_shard(corpus, out, s, 2, translator, "en", ["es", "tr"]) for s, out in enumerate(outs)]
    lines = [json.loads(x) for out in outs for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in lines] == [1, 2, 3, 4, 5]
    assert lines[0]["translations"] == {"es": "un rojo círculo", "tr": "bir kırmızı daire"}
    assert lines[1]["translations"] == lines[0]["translations"]
    assert lines[3]["translations"] == {"es": "", "tr": ""}  # empty passes through empty
    assert [s["empty"] for s in stats] == [0, 1]
    # within a shard: once per language, not once per line
    assert sorted(t for c in calls for t in c).count("a red circle") == 2


def test_unknown_backend():
    with pytest.raises(
        ValueError, match="unknown translation backend 'google'; expected one of lexicon, easynmt"
    ):
        build_translator("google", "x")


def _corpus(tmp_path, n=23):
    captions = [
        f"a {c} circle at the top left" if i % 3 else f"{i % 4} small {c} square"
        for i, c in enumerate(["red", "blue", "green", "yellow", "red"] * (n // 5 + 1))
    ][:n]
    path = tmp_path / "given.jsonl"
    write_jsonl(path, ({"caption": {"en": c}, "image_path": f"{i}.jpg"} for i, c in enumerate(captions)))
    return path


def test_interrupted_shard_resumes_from_its_progress_and_writes_the_same_output(lexicon, tmp_path):
    corpus = _corpus(tmp_path)
    kw = dict(batch_size=2, max_input_tokens=5)
    reference = tmp_path / "uninterrupted.jsonl"
    translate_shard(
        corpus, reference, 1, 2, build_translator("lexicon", str(lexicon)), "en", ["es", "tr"], **kw
    )
    out = tmp_path / "shard.jsonl"
    translator = build_translator("lexicon", str(lexicon))
    original, calls = translator.translate, []

    def dies_after_three_batches(texts, s, t):
        if len(calls) == 3:
            raise KeyboardInterrupt  # a kill between batches: nothing below catches it
        calls.append(list(texts))
        return original(texts, s, t)

    translator.translate = dies_after_three_batches
    with pytest.raises(KeyboardInterrupt):
        translate_shard(corpus, out, 1, 2, translator, "en", ["es", "tr"], **kw)
    assert not out.exists() and progress_path(out).is_file()
    with open(progress_path(out), "a", encoding="utf-8") as f:
        f.write('{"lang": "tr", "batch": 0, "out": ["half a li')  # torn by the kill mid-write
    translator.translate = lambda texts, s, t: calls.append(list(texts)) or original(texts, s, t)
    stats = translate_shard(corpus, out, 1, 2, translator, "en", ["es", "tr"], **kw)
    assert out.read_bytes() == reference.read_bytes()
    assert stats["translated_now"] == 2 * stats["unique"] - sum(
        map(len, calls[:3])
    )  # no finished batch redone
    assert not progress_path(out).exists()


def test_progress_of_other_settings_is_not_reused(lexicon, tmp_path):
    corpus, out = _corpus(tmp_path), tmp_path / "shard.jsonl"
    translator = build_translator("lexicon", str(lexicon))
    progress_path(out).write_text(
        '{"fingerprint": "other"}\n{"lang": "es", "batch": 0, "out": ["WRONG", "WRONG"]}\n'
    )
    translate_shard(corpus, out, 0, 1, translator, "en", ["es"], batch_size=2)
    assert "WRONG" not in out.read_text(encoding="utf-8")


KILLED_JOB = """
import sys, time
from ccrk.translate import build_translator, translate_shard
tr = build_translator("lexicon", sys.argv[1])
slow = tr.translate
tr.translate = lambda texts, s, t: time.sleep(0.05) or slow(texts, s, t)
translate_shard(sys.argv[2], sys.argv[3], 0, 1, tr, "en", ["es", "ru"], batch_size=1)
"""


def test_sigkill_mid_shard_then_rerun_gives_the_uninterrupted_output(lexicon, tmp_path):
    corpus, out = _corpus(tmp_path, n=60), tmp_path / "shard.jsonl"
    job = subprocess.Popen(
        [sys.executable, "-c", KILLED_JOB, str(lexicon), str(corpus), str(out)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (
        not progress_path(out).exists() or progress_path(out).read_text().count("\n") < 6
    ):
        time.sleep(0.02)
    os.kill(job.pid, signal.SIGKILL)
    job.wait()
    done = progress_path(out).read_text().count("\n") - 1
    assert job.returncode == -signal.SIGKILL and not out.exists() and done >= 5
    translator = build_translator("lexicon", str(lexicon))
    stats = translate_shard(corpus, out, 0, 1, translator, "en", ["es", "ru"], batch_size=1)
    reference = tmp_path / "reference.jsonl"
    translate_shard(corpus, reference, 0, 1, translator, "en", ["es", "ru"], batch_size=1)
    assert out.read_bytes() == reference.read_bytes()
    assert stats["translated_now"] == 2 * stats["unique"] - done


def test_chrf_and_bleu_against_hand_values():
    same = "un círculo rojo arriba a la izquierda"  # BLEU needs 4-grams: a 3-word corpus scores 0
    scores = translation_scores({"es": [(same, same)] * 2, "ru": [("abc", "xyz"), ("", "ignored")]})
    assert scores == {
        "es_n": 2,
        "es_chrf": 100.0,
        "es_bleu": 100.0,
        "ru_n": 1,
        "ru_chrf": 0.0,
        "ru_bleu": 0.0,
    }
    # chrF, hand-computed: hyp "ab", ref "abc": char 1-grams P=2/2 R=2/3, 2-grams P=1/1 R=1/2, no 3..6-grams;
    # averaged over the 2 orders present: P=1, R=7/12; F(beta=2) = 5PR/(4P+R) = 35/55
    assert translation_scores({"x": [("ab", "abc")]})["x_chrf"] == pytest.approx(100 * 35 / 55, abs=0.01)


def test_shard_writes_scores_against_references(lexicon, tmp_path):
    corpus = tmp_path / "given.jsonl"
    write_jsonl(corpus, [{"caption": {"en": "a red circle"}}, {"caption": {"en": "a blue square"}}])
    refs = tmp_path / "references.jsonl"
    write_jsonl(refs, [{"caption": {"es": "un rojo círculo"}}, {"caption": {"es": "un círculo azul"}}])
    stats = translate_shard(
        corpus,
        tmp_path / "s.jsonl",
        0,
        1,
        build_translator("lexicon", str(lexicon)),
        "en",
        ["es"],
        references=refs,
        stats_path=tmp_path / "stats.json",
    )
    expected = translation_scores(
        {"es": [("un rojo círculo", "un rojo círculo"), ("un azul cuadrado", "un círculo azul")]}
    )
    assert {k: stats[k] for k in expected} == expected and 0 < stats["es_chrf"] < 100


def test_ctranslate2_dag_converts_once_then_translates_every_shard(tmp_path):
    import yaml

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["translate"].update(
        backend="ctranslate2", model=str(tmp_path / "m2m100"), shards=3, compute_type="int8"
    )
    configfile = tmp_path / "ct2.yaml"
    configfile.write_text(yaml.safe_dump(cfg))
    cmd = snakemake_command(
        tmp_path, "--configfile", configfile, "--dry-run", "--cores", 1, "results/translate/report.json"
    )
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode != 0 and "m2m100" in out.stderr + out.stdout  # the model directory is an input
    (tmp_path / "m2m100").mkdir()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr + out.stdout
    table = (out.stdout + out.stderr).split("Job stats:")[1].split("total")[0]
    jobs = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}
    assert jobs == {"demo_dataset": 1, "translate_convert": 1, "translate": 3, "translate_report": 1}
