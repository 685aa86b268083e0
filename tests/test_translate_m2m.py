"""M2M-100 backends on a tiny locally built model: forced target language, identical greedy and beam-5
outputs, sentencepiece tokenising / detokenising identical to the tokenizer's, no `__xx__` left in any
output, model-directory validation, and a whole shard through a neural backend."""

import json
import logging
import re
from collections import Counter

import pytest

from ccrk.io import write_jsonl
from ccrk.translate import ModelDirError, build_translator, translate_shard, validate_m2m_dir
from ccrk.translate.languages import M2M100_LANGUAGES
from ccrk.translate.m2m_build import demo_captions

LANG_TOKEN = re.compile(r"__[a-z]{2,3}__")
SETTINGS = {"batch_size": 8, "beam_size": 1, "max_output_tokens": 12, "device": "cpu"}
CAPTIONS = [
    "a red circle at the top left",
    "a big blue square",
    "a",
    "two small green crosses and a red circle in the middle of the picture",
    "a small yellow triangle at the bottom right and a blue star",
]


@pytest.fixture(scope="session")
def tiny_m2m(tmp_path_factory):
    from ccrk.translate.m2m_build import build_random_m2m100

    # init_std 0.3: outputs depend on the input and the target (at 0.02 this tiny model ignores both)
    return build_random_m2m100(
        tmp_path_factory.mktemp("m2m") / "model", demo_captions(120), vocab_size=200, init_std=0.3
    )


@pytest.fixture(scope="session")
def translators(tiny_m2m, tmp_path_factory):
    ct2_dir = tmp_path_factory.mktemp("ct2") / "float32"
    return {
        name: build_translator(name, str(tiny_m2m), converted_dir=ct2_dir, compute_type="float32", **SETTINGS)
        for name in ("transformers", "ctranslate2", "easynmt")
    }


@pytest.fixture(scope="session")
def ending_m2m(tiny_m2m, translators, tmp_path_factory):
    """The tiny model with </s> scoring 1.05 x a token it predicts often: its outputs end at varied lengths, so
    beam search has finished hypotheses to rank and stop on. The token is one that is never among the 5 best
    right after the language token, where the engines differ by design (CTranslate2 lets no secondary beam end
    there; README, Translation at scale)."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    hf = translators["transformers"]
    batch = hf._encode(BEAM_CAPTIONS, "en")
    start = [[hf.tokens.tokenizer.eos_token_id, hf.tokens.target_id("tr")]] * len(BEAM_CAPTIONS)
    with torch.inference_mode():
        first = hf.model(**batch, decoder_input_ids=torch.tensor(start)).logits[:, -1].topk(5).indices
    later = Counter(t for row in hf._generate(batch, "tr") for t in row[3:])
    token = next(t for t, _ in later.most_common() if t not in set(first.flatten().tolist()))
    out = tmp_path_factory.mktemp("ending") / "model"
    shutil.copytree(tiny_m2m, out)
    weights = load_file(out / "model.safetensors")
    weights["lm_head.weight"][hf.tokens.tokenizer.eos_token_id] = 1.05 * weights["lm_head.weight"][token]
    save_file(weights, out / "model.safetensors", metadata={"format": "pt"})
    return out


def with_generation_config(model, tmp_path, **settings):
    import shutil

    out = tmp_path / "model"
    shutil.copytree(model, out)
    config = json.loads((out / "generation_config.json").read_text())
    (out / "generation_config.json").write_text(json.dumps({**config, **settings}))
    return out


BEAM_CAPTIONS = demo_captions(12, ["en", "es", "ru"], seed=5)


def test_language_map_is_the_m2m100_one():
    from transformers.models.m2m_100.tokenization_m2m_100 import FAIRSEQ_LANGUAGE_CODES

    assert list(M2M100_LANGUAGES) == FAIRSEQ_LANGUAGE_CODES["m2m100"]  # same order: token ids follow it


def test_tiny_model_has_language_tokens_where_the_real_one_has_them(tiny_m2m):
    tok = validate_m2m_dir(tiny_m2m)
    config = json.loads((tiny_m2m / "config.json").read_text())
    base = len(json.loads((tiny_m2m / "vocab.json").read_text()))
    assert tok.convert_tokens_to_ids("__af__") == base and tok.convert_tokens_to_ids("__zu__") == base + 99
    assert config["vocab_size"] == base + 100 + 8  # 8 madeupword slots, as in m2m100_1.2B (128004 + 100 + 8)
    assert "__es__" in tok.all_special_tokens


def test_validation_accepts_the_released_tokenizer_file_layout(tiny_m2m, tmp_path):
    import shutil

    hub = (
        tmp_path / "hub"
    )  # facebook/m2m100_*: the language tokens listed in both files, no added_tokens.json
    shutil.copytree(tiny_m2m, hub)
    (hub / "added_tokens.json").unlink()
    tokens = [f"__{c}__" for c in M2M100_LANGUAGES]
    (hub / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "M2M100Tokenizer",
                "additional_special_tokens": tokens,
                "language_codes": "m2m100",
                "num_madeup_words": 8,
                "model_max_length": 1024,
                "src_lang": None,
                "tgt_lang": None,
            }
        )
    )
    (hub / "special_tokens_map.json").write_text(
        json.dumps(
            {
                "bos_token": "<s>",
                "eos_token": "</s>",
                "unk_token": "<unk>",
                "sep_token": "</s>",
                "pad_token": "<pad>",
                "additional_special_tokens": tokens,
            }
        )
    )
    tok = validate_m2m_dir(hub)
    assert tok.decode([tok.convert_tokens_to_ids("__es__"), 5, 2], skip_special_tokens=True) == tok.decode(
        [5]
    )


def test_validation_rejects_a_tokenizer_without_special_language_tokens(tiny_m2m, tmp_path):
    import shutil

    from transformers import M2M100Tokenizer

    bad = tmp_path / "bad"
    shutil.copytree(tiny_m2m, bad)
    for f in ("tokenizer_config.json", "added_tokens.json"):
        (bad / f).unlink(missing_ok=True)
    M2M100Tokenizer(str(bad / "vocab.json"), str(bad / "sentencepiece.bpe.model")).save_pretrained(str(bad))
    with pytest.raises(
        ModelDirError, match=r"language tokens are not special tokens.*additional_special_tokens"
    ):
        validate_m2m_dir(bad)
    with pytest.raises(ModelDirError, match="no such model directory"):
        build_translator("transformers", str(tmp_path / "missing"))
    (bad / "config.json").write_text(json.dumps({"model_type": "bart", "vocab_size": 10}))
    with pytest.raises(ModelDirError, match=r"config.json: model_type 'bart', expected 'm2m_100'"):
        validate_m2m_dir(bad)


def test_every_backend_forces_the_target_language(translators):
    import torch

    hf = translators["transformers"]
    es_id = hf.tokens.target_id("es")
    batch = hf.tokens.tokenizer(CAPTIONS, padding=True, return_tensors="pt")
    with torch.inference_mode():
        ids = hf.model.generate(
            **batch, forced_bos_token_id=es_id, num_beams=1, do_sample=False, max_new_tokens=12
        )
    assert ids[:, 1].tolist() == [es_id] * len(CAPTIONS)  # after the </s> start token: __es__
    sources = [hf.tokens.tokenizer.convert_ids_to_tokens(x) for x in hf.tokens.source_ids(CAPTIONS, "en")]
    raw = translators["ctranslate2"].translator.translate_batch(
        sources, target_prefix=[["__es__"]] * len(sources), beam_size=1, max_decoding_length=12
    )
    assert [r.hypotheses[0][0] for r in raw] == ["__es__"] * len(CAPTIONS)
    seen = []
    engine = translators["easynmt"].model.translator.model
    original = engine.generate
    engine.generate = lambda *a, **kw: seen.append(kw["forced_bos_token_id"]) or original(*a, **kw)
    try:
        translators["easynmt"].translate(CAPTIONS, "en", "ru")
    finally:
        engine.generate = original
    assert seen == [hf.tokens.target_id("ru")]
    for name, tr in translators.items():  # the forced token conditions the whole output
        es, ru = tr.translate(CAPTIONS, "en", "es"), tr.translate(CAPTIONS, "en", "ru")
        assert all(a != b for a, b in zip(es, ru)), name


def test_greedy_outputs_are_identical_across_backends_and_keep_no_language_token(translators):
    hf = translators["transformers"]
    outputs = {name: tr.translate(CAPTIONS, "en", "tr") for name, tr in translators.items()}
    assert outputs["ctranslate2"] == outputs["transformers"] == outputs["easynmt"]
    assert all(o.strip() for o in outputs["transformers"]) and len(set(outputs["transformers"])) == len(
        CAPTIONS
    )
    # the random model does emit language tokens mid-sentence; decoding must drop every one of them
    raw = hf.model.generate(
        **hf.tokens.tokenizer(CAPTIONS, padding=True, return_tensors="pt"),
        forced_bos_token_id=hf.tokens.target_id("tr"),
        num_beams=1,
        max_new_tokens=12,
    )
    assert LANG_TOKEN.search(hf.tokens.tokenizer.decode(raw[0][2:]))
    for name, outs in outputs.items():
        assert not any(LANG_TOKEN.search(o) for o in outs), name


def test_sentencepiece_pieces_and_bulk_decoding_are_the_tokenizers(translators):
    tokens = translators["ctranslate2"].tokens
    tok = tokens.tokenizer
    texts = [
        *CAPTIONS,
        *demo_captions(6),
        "  two  spaces\tand a tab ",
        "ünïcödé ßtraße 东京 😀",  # pieces outside the tiny vocabulary: <unk>
        "a </s> b <s> c __es__ d <unk>",  # spelled special tokens: the tokenizer reads them as tokens
        "__en__",
        "",
    ]
    assert tokens.source_pieces(texts, "ru") == [
        tok.convert_ids_to_tokens(x) for x in tokens.source_ids(texts, "ru")
    ]
    assert [tokens.count(t) for t in texts] == [len(tok.tokenize(t)) for t in texts]
    assert tokens.clip(texts[3], 4) == (tok.convert_tokens_to_string(tok.tokenize(texts[3])[:4]), True)
    hf = translators["transformers"]
    rows = hf._generate(hf._encode(texts, "en"), "es")  # padded rows, language tokens mid-sentence too
    assert tokens.decode_pieces([tok.convert_ids_to_tokens(r) for r in rows]) == [
        tokens.decode(r) for r in rows
    ]


def test_beam_search_is_the_same_in_every_backend_where_the_algorithm_is(ending_m2m, tmp_path, caplog):
    """CTranslate2's beam search is transformers' with early_stopping=True: outputs identical at beam 5, also
    with another length penalty (same length counted); with early_stopping false only the two
    transformers-based backends must agree, and CTranslate2 says so."""
    settings = {**SETTINGS, "max_output_tokens": 16}
    ct2 = tmp_path / "ct2"
    greedy = build_translator("transformers", str(ending_m2m), **settings).translate(
        BEAM_CAPTIONS, "en", "tr"
    )
    for name, config in (
        ("early", {"early_stopping": True}),
        ("penalty", {"early_stopping": True, "length_penalty": 2.0}),
    ):
        model = with_generation_config(ending_m2m, tmp_path / name, **config)
        out = {
            backend: build_translator(
                backend, str(model), converted_dir=ct2, compute_type="float32", **{**settings, "beam_size": 5}
            ).translate(BEAM_CAPTIONS, "en", "tr")
            for backend in ("transformers", "ctranslate2", "easynmt")
        }
        assert out["ctranslate2"] == out["transformers"] == out["easynmt"], name
        assert (
            sum(a != b for a, b in zip(out["transformers"], greedy)) >= len(greedy) // 2
        )  # beam search did work
    model = with_generation_config(ending_m2m, tmp_path / "default", early_stopping=False)
    with caplog.at_level(logging.WARNING, logger="ccrk.translate"):
        build_translator("ctranslate2", str(model), converted_dir=ct2, **{**settings, "beam_size": 5})
    assert "early_stopping False (transformers searches on" in caplog.text
    caplog.clear()
    from ccrk.translate.ctranslate2_backend import generation_options

    model = with_generation_config(
        ending_m2m, tmp_path / "other", early_stopping=True, length_penalty=0.6, no_repeat_ngram_size=3
    )
    with caplog.at_level(logging.WARNING, logger="ccrk.translate"):
        assert generation_options(model, 5) == {"length_penalty": 0.6}  # what CTranslate2 applies too
    assert "no_repeat_ngram_size" in caplog.text and "early_stopping" not in caplog.text
    hf, easynmt = (
        build_translator(b, str(model), **{**settings, "beam_size": 5}).translate(BEAM_CAPTIONS, "en", "tr")
        for b in ("transformers", "easynmt")
    )
    assert hf == easynmt


def test_ctranslate2_beam_search_and_int8(translators, tiny_m2m):
    ct2 = translators["ctranslate2"]
    int8 = build_translator(
        "ctranslate2",
        str(tiny_m2m),
        converted_dir=ct2.converted_dir,
        compute_type="int8",
        **{**SETTINGS, "beam_size": 3},
    )
    for out in (int8.translate(CAPTIONS, "en", "id"), ct2.translate(CAPTIONS[:2], "en", "id")):
        assert all(isinstance(o, str) and o and not LANG_TOKEN.search(o) for o in out)
    assert int8.settings["compute_type"] == "int8" and int8.settings["beam_size"] == 3


def test_unknown_language_is_rejected_before_any_work(translators, tmp_path):
    corpus = tmp_path / "given.jsonl"
    write_jsonl(corpus, [{"caption": {"en": "a red circle"}, "image_path": "0.jpg"}])
    out = tmp_path / "shard.jsonl"
    with pytest.raises(ValueError, match=r"language 'xx' is not one of the 100 M2M-100 languages"):
        translate_shard(corpus, out, 0, 1, translators["ctranslate2"], "en", ["es", "xx"])
    with pytest.raises(ValueError, match=r"'EN' is not one of"):
        translators["transformers"].translate(["a"], "EN", "es")
    assert list(tmp_path.iterdir()) == [corpus]  # no output, no progress log


def test_shard_through_a_neural_backend_is_aligned_counted_and_cached(translators, tmp_path):
    ct2 = translators["ctranslate2"]
    long_caption = " ".join(["a red circle and a blue square"] * 4)
    captions = [
        "a red circle",
        "  a big blue square ",
        "",
        "a red circle",
        long_caption,
        "   ",
        "a big blue square",
    ]
    corpus = tmp_path / "given.jsonl"
    write_jsonl(
        corpus, ({"caption": {"en": c}, "image_path": f"img/{i}.jpg"} for i, c in enumerate(captions))
    )
    calls = []
    original = ct2.translate
    ct2.translate = lambda texts, s, t: calls.append(list(texts)) or original(texts, s, t)
    try:
        stats = translate_shard(
            corpus,
            tmp_path / "shard.jsonl",
            0,
            1,
            ct2,
            "en",
            ["es", "ru"],
            batch_size=2,
            max_input_tokens=10,
            stats_path=tmp_path / "stats.json",
        )
    finally:
        del ct2.translate
    rows = [json.loads(x) for x in (tmp_path / "shard.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["line"], r["image_path"]) for r in rows] == [
        (i + 1, f"img/{i}.jpg") for i in range(len(captions))
    ]
    assert all(set(r["translations"]) == {"es", "ru"} for r in rows)
    assert rows[2]["translations"] == rows[5]["translations"] == {"es": "", "ru": ""}
    assert (
        rows[0]["translations"] == rows[3]["translations"]
        and rows[1]["translations"] == rows[6]["translations"]
    )
    assert stats == json.loads((tmp_path / "stats.json").read_text()) | {
        "sentences_per_s": stats["sentences_per_s"]
    }
    assert (stats["lines"], stats["empty"], stats["truncated"], stats["unique"]) == (7, 2, 1, 3)
    sent = [t for c in calls for t in c]
    assert len(sent) == 2 * 3 and sent.count("a red circle") == 2  # each unique caption once per language
    clipped = ct2.clip(long_caption, 10)[0]
    assert ct2.count_tokens(clipped) == 10 and clipped in sent and long_caption not in sent
    assert rows[4]["translations"]["es"] == original([clipped], "en", "es")[0]
    assert [len(b) for b in calls[:2]] == [2, 1]  # length-sorted fixed batches
    assert ct2.count_tokens(calls[0][0]) <= ct2.count_tokens(calls[0][1]) <= ct2.count_tokens(calls[1][0])


def test_interrupted_neural_shard_resumes_to_the_uninterrupted_output(translators, tmp_path):
    from ccrk.translate.progress import progress_path

    ct2 = translators["ctranslate2"]
    corpus = tmp_path / "given.jsonl"
    write_jsonl(corpus, ({"caption": {"en": c}} for c in demo_captions(4, ["en"]) + CAPTIONS))
    translate_shard(corpus, tmp_path / "reference.jsonl", 0, 1, ct2, "en", ["es"], batch_size=3)
    out, calls = tmp_path / "shard.jsonl", []
    original = ct2.translate

    def killed_after_two_batches(texts, s, t):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(texts)
        return original(texts, s, t)

    ct2.translate = killed_after_two_batches
    try:
        with pytest.raises(KeyboardInterrupt):
            translate_shard(corpus, out, 0, 1, ct2, "en", ["es"], batch_size=3)
    finally:
        del ct2.translate
    assert not out.exists() and progress_path(out).read_text().count("\n") == 3
    stats = translate_shard(corpus, out, 0, 1, ct2, "en", ["es"], batch_size=3)
    assert out.read_bytes() == (tmp_path / "reference.jsonl").read_bytes()
    assert stats["translated_now"] == stats["unique"] - 6


def test_cli_checks_a_model_directory_and_translates_a_shard(tiny_m2m, translators, tmp_path, capsys):
    from ccrk.cli import main

    assert main(["check-translation-model", str(tiny_m2m)]) == 0
    assert main(["check-translation-model", str(tmp_path)]) == 1
    assert f"{tmp_path}: no config.json" in capsys.readouterr().err
    corpus, out = tmp_path / "given.jsonl", tmp_path / "shard.jsonl"
    write_jsonl(corpus, ({"caption": {"en": c}} for c in CAPTIONS[:2]))
    assert (
        main(
            [
                "translate",
                "--captions",
                str(corpus),
                "--out",
                str(out),
                "--backend",
                "ctranslate2",
                "--model",
                str(tiny_m2m),
                "--converted",
                str(tmp_path / "ct2"),
                "--compute-type",
                "float32",
                "--targets",
                "es",
                "--beam-size",
                "1",
                "--max-output-tokens",
                "12",
                "--stats",
                str(tmp_path / "stats.json"),
            ]
        )
        == 0
    )
    rows = [json.loads(x)["translations"]["es"] for x in out.read_text(encoding="utf-8").splitlines()]
    assert rows == translators["transformers"].translate(CAPTIONS[:2], "en", "es")
    assert json.loads((tmp_path / "stats.json").read_text())["lines"] == 2
