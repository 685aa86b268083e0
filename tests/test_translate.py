"""Translation stage: the demo lexicon backend, shards that cover every line, alignment, cache, errors."""

import json

import pytest

from ccrk.demo.captions import lexicon_entries
from ccrk.io import write_jsonl
from ccrk.translate import build_translator, shard_bounds, translate_shard


@pytest.fixture
def lexicon(tmp_path):
    path = tmp_path / "lexicon.tsv"
    rows = lexicon_entries()
    path.write_text("en\tid\tes\tru\ttr\n" + "".join(
        "\t".join(r[c] for c in ("en", "id", "es", "ru", "tr")) + "\n" for r in rows), encoding="utf-8")
    return path


def test_lexicon_longest_match(lexicon):
    tr = build_translator("lexicon", str(lexicon))
    assert tr.translate(["a small red circle at the top left"], "en", "es") == [
        "un pequeño rojo círculo arriba a la izquierda"]
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
    assert sorted(t for c in calls for t in c).count("a red circle") == 2  # within a shard: once per language, not per line


def test_unknown_backend_and_missing_easynmt():
    with pytest.raises(ValueError, match="unknown translation backend"):
        build_translator("google", "x")
    try:
        import easynmt  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install --no-deps easynmt"):
            build_translator("easynmt", "m2m_100_1.2B")
