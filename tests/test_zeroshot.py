"""Zero-shot harness: tiny random open_clip and transformers SigLIP models against an independent computation.

Each model is built here (an open_clip config registered in the test, a SigLIP saved to a local directory);
the reference embeds with the library's own calls, takes one matrix product and ranks by argsort.
"""

import json
import random

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ccrk.config import EvalConfig
from ccrk.data.sets import ImageRoots
from ccrk.evaluate import evaluate_test_files
from ccrk.io import read_json
from ccrk.zeroshot import ProtocolRun, score_dataset
from ccrk.zoo import RunSettings, load_encoder, model_spec
from tests.conftest import REPO as REPO_ROOT

LOCALES = ["en", "de", "ja"]
WORDS = {
    "en": "red blue dog cat car tree house small big river road the a on in".split(),
    "de": "rot blau Hund Katze Auto Baum Haus klein groß Fluss Straße der die auf im".split(),
    "ja": list("赤青犬猫車木家小大川道の上に"),
}
N_IMAGES = 24
SETTINGS = RunSettings(device="cpu", batch_size=5, num_workers=2)


@pytest.fixture(scope="module")
def xm3600(tmp_path_factory):
    """An XM3600-layout set: 24 random images, 1-3 captions per locale, image 5 without German."""
    root = tmp_path_factory.mktemp("xm3600")
    (root / "images").mkdir()
    rng = random.Random(0)
    lines = []
    for i in range(N_IMAGES):
        key = f"{i:016x}"
        pixels = bytes(rng.randrange(256) for _ in range(32 * 32 * 3))
        Image.frombytes("RGB", (32, 32), pixels).save(root / "images" / f"{key}.jpg", quality=90)
        line = {"image/key": key}
        for loc in LOCALES:
            if (i, loc) == (5, "de"):
                continue
            sep = "" if loc == "ja" else " "
            caps = [sep.join(rng.choices(WORDS[loc], k=rng.randint(2, 7))) for _ in range(rng.randint(1, 3))]
            line[loc] = {"caption": caps}
        lines.append(line)
    (root / "captions.jsonl").write_text(
        "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8"
    )
    return root, lines


@pytest.fixture(scope="module")
def tiny_open_clip(tmp_path_factory):
    import open_clip

    d = tmp_path_factory.mktemp("open_clip")
    config = {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    }
    (d / "ccrk-test-tiny-clip.json").write_text(json.dumps(config))
    open_clip.add_model_config(d / "ccrk-test-tiny-clip.json")
    torch.manual_seed(1)
    model = open_clip.create_model("ccrk-test-tiny-clip")
    torch.save(model.state_dict(), d / "weights.pt")
    return {
        "name": "tiny-open-clip",
        "kind": "open_clip",
        "model": "ccrk-test-tiny-clip",
        "model_config": str(d / "ccrk-test-tiny-clip.json"),
        "weights": str(d / "weights.pt"),
    }


@pytest.fixture(scope="module")
def tiny_siglip(tmp_path_factory):
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel

    from ccrk.tokenizer import train_tokenizer

    d = tmp_path_factory.mktemp("siglip") / "tiny-siglip"
    tok = train_tokenizer([" ".join(w) for w in WORDS.values()], d, vocab_size=80)
    ids = {
        "pad_token_id": tok.pad_token_id,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
    }
    config = SiglipConfig(
        text_config={
            "vocab_size": len(tok),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 16,
            **ids,
        },
        vision_config={
            "image_size": 32,
            "patch_size": 8,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
        },
    )
    torch.manual_seed(2)
    SiglipModel(config).save_pretrained(d)
    SiglipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(d)
    return {
        "name": "tiny-siglip",
        "kind": "transformers",
        "path": str(d),
        "padding": "max_length",
        "max_length": 16,
        "text_normalise": "lower",
    }


def _gold(lines, loc, protocol):
    """(texts, txt2img, img2txt) straight from the JSON lines: the reference reads no ccrk code."""
    texts, txt2img, img2txt = [], [], [[] for _ in lines]
    for i, line in enumerate(lines):
        caps = line.get(loc, {"caption": []})["caption"]
        for c in caps[:1] if protocol == "first" else caps:
            img2txt[i].append(len(texts))
            txt2img.append(i)
            texts.append(c)
    return texts, txt2img, img2txt


def _reference_ranks(img, txt, txt2img, img2txt):
    """0-based ranks by argsort of one similarity matrix; an image is found at its best caption."""
    sim = F.normalize(img, dim=-1) @ F.normalize(txt, dim=-1).t()
    by_image = sim.t().argsort(dim=1, descending=True, stable=True)  # [texts, images]
    by_text = sim.argsort(dim=1, descending=True, stable=True)  # [images, texts]
    ir = [int((by_image[t] == txt2img[t]).nonzero()) for t in range(len(txt2img))]
    tr = [min(int((by_text[i] == t).nonzero()) for t in g) if g else None for i, g in enumerate(img2txt)]
    return ir, tr


def _recall(ranks, k):
    ranks = [r for r in ranks if r is not None]
    return 100.0 * sum(r < k for r in ranks) / len(ranks)


@torch.no_grad()
def _open_clip_reference(spec, paths, texts_by_loc):
    import open_clip

    model, _, preprocess = open_clip.create_model_and_transforms(spec["model"], pretrained=spec["weights"])
    model.eval()
    tokenizer = open_clip.get_tokenizer(spec["model"])
    img = model.encode_image(torch.stack([preprocess(Image.open(p).convert("RGB")) for p in paths]))
    return img, {loc: model.encode_text(tokenizer(texts)) for loc, texts in texts_by_loc.items()}


@torch.no_grad()
def _siglip_reference(spec, paths, texts_by_loc):
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(spec["path"]).eval()
    processor = AutoImageProcessor.from_pretrained(spec["path"])
    tokenizer = AutoTokenizer.from_pretrained(spec["path"])
    pixels = processor(images=[Image.open(p).convert("RGB") for p in paths], return_tensors="pt")
    img = model.get_image_features(**pixels).pooler_output
    txt = {}
    for loc, texts in texts_by_loc.items():
        enc = tokenizer(
            [t.lower() for t in texts],
            padding="max_length",
            max_length=16,
            truncation=True,
            return_tensors="pt",
        )
        txt[loc] = model.get_text_features(**enc).pooler_output
    return img, txt


def _run_harness(spec, root, out):
    encoder = load_encoder(model_spec(spec), SETTINGS)
    runs = [
        ProtocolRun(
            protocol,
            {loc: str(root / "captions.jsonl") for loc in LOCALES},
            {
                loc: tuple(str(out / f"{protocol}/{loc}_{k}") for k in ("ranks.csv", "m.json", "cb.json"))
                for loc in LOCALES
            },
        )
        for protocol in ("xm3600_all", "xm3600_first")
    ]
    return score_dataset(encoder, runs, SETTINGS, model_name=spec["name"], xm3600_images=str(root / "images"))


@pytest.mark.parametrize("which", ["open_clip", "siglip"])
def test_harness_recalls_equal_an_independent_computation(
    which, xm3600, tiny_open_clip, tiny_siglip, tmp_path
):
    root, lines = xm3600
    spec = tiny_open_clip if which == "open_clip" else tiny_siglip
    results = _run_harness(spec, root, tmp_path)
    paths = [root / "images" / f"{line['image/key']}.jpg" for line in lines]
    for protocol in ("all", "first"):
        golds = {loc: _gold(lines, loc, protocol) for loc in LOCALES}
        reference = _open_clip_reference if which == "open_clip" else _siglip_reference
        img, txt = reference(spec, paths, {loc: g[0] for loc, g in golds.items()})
        for loc, (texts, txt2img, img2txt) in golds.items():
            ir, tr = _reference_ranks(img, txt[loc], txt2img, img2txt)
            got = results[(f"xm3600_{protocol}", loc)]
            assert got["n_texts"] == len(texts) and got["n_images"] == N_IMAGES
            for k in (1, 5, 10):
                assert got[f"ir_r{k}"] == pytest.approx(_recall(ir, k)), (protocol, loc, k)
                assert got[f"tr_r{k}"] == pytest.approx(_recall(tr, k)), (protocol, loc, k)
            ranks = pd.read_csv(
                tmp_path / f"xm3600_{protocol}" / f"{loc}_ranks.csv",
                dtype={"ir_rank": "Int64", "tr_rank": "Int64"},
            )
            best_ir = [min((ir[t] for t in g), default=None) for g in img2txt]
            assert ranks["ir_rank"].tolist() == [pd.NA if r is None else r for r in best_ir]
            assert ranks["tr_rank"].tolist() == [pd.NA if r is None else r for r in tr]
    # the two protocols are different tasks: "all" has more queries wherever a locale has 2-3 captions
    assert results[("xm3600_all", "en")]["n_texts"] > results[("xm3600_first", "en")]["n_texts"] == N_IMAGES


def test_results_name_protocol_and_model_choices_and_clip_benchmark_layout(xm3600, tiny_siglip, tmp_path):
    root, _ = xm3600
    results = _run_harness(tiny_siglip, root, tmp_path)
    metrics = read_json(tmp_path / "xm3600_first" / "de_m.json")
    assert metrics["protocol"] == "xm3600_first" and metrics["caption_protocol"] == "first"
    info = metrics["model_info"]
    assert info["text_normalise"] == "lower" and "padding max_length" in info["tokenizer"]
    assert "SiglipImageProcessor" in info["image_transform"]
    assert any("no de caption" in d["reason"] for d in metrics["dropped"])  # image 5
    cb = read_json(tmp_path / "xm3600_first" / "de_cb.json")
    assert {"dataset", "model", "pretrained", "task", "language", "metrics"} <= set(cb)
    assert (cb["dataset"], cb["task"], cb["language"]) == ("crossmodal3600", "zeroshot_retrieval", "de")
    expected = {f"{d}_retrieval_recall@{k}" for d in ("image", "text") for k in (1, 5, 10)}
    assert set(cb["metrics"]) == expected
    assert cb["metrics"]["image_retrieval_recall@5"] == pytest.approx(
        results[("xm3600_first", "de")]["ir_r5"] / 100
    )
    assert read_json(tmp_path / "xm3600_all" / "de_cb.json")["dataset"] == "crossmodal3600_all_captions"


def test_ccrk_kind_matches_the_evaluation_stage(tiny_model, tiny_tokenizer, demo_dataset, tmp_path):
    """A ccrk checkpoint scored by the zero-shot harness gives the evaluate stage's numbers (ITC and ITM)."""
    from ccrk.models import save_checkpoint

    save_checkpoint(tmp_path / "model.pt", tiny_model)
    tokenizer_dir = tmp_path / "tok"
    tiny_tokenizer.save_pretrained(tokenizer_dir)
    ann = demo_dataset / "iglue" / "datasets" / "xFlickrCO" / "annotations"
    tests = {lang: str(ann / lang / "test.jsonl") for lang in ("de", "ja")}
    roots = ImageRoots(
        str(demo_dataset / "images" / "flickr30k-images"), str(demo_dataset / "images" / "val2014")
    )
    cfg = {"k_test": 4, "batch_size": 5, "max_tokens": 40, "max_words": 40}
    reference = evaluate_test_files(
        tmp_path / "model.pt",
        tokenizer_dir,
        tests,
        {lang: (str(tmp_path / f"ref_{lang}.csv"), str(tmp_path / f"ref_{lang}.json")) for lang in tests},
        EvalConfig(**cfg),
        roots=roots,
    )
    spec = model_spec({"name": "tiny-ccrk", "kind": "ccrk", "checkpoint": str(tmp_path / "model.pt")})
    encoder = load_encoder(spec, SETTINGS, tokenizer_dir=str(tokenizer_dir), evaluate=cfg)
    outputs = {
        lang: tuple(str(tmp_path / f"zs_{lang}.{k}") for k in ("csv", "json", "cb.json")) for lang in tests
    }
    got = score_dataset(
        encoder, [ProtocolRun("xflickrco", tests, outputs)], SETTINGS, model_name="tiny-ccrk", roots=roots
    )
    for lang in tests:
        for key in ("ir_r1", "ir_r5", "tr_r1", "tr_r10", "itc_ir_r1", "itc_tr_r5", "r_mean"):
            assert got[("xflickrco", lang)][key] == pytest.approx(reference[lang][key], abs=1e-6), (lang, key)
        zs = pd.read_csv(tmp_path / f"zs_{lang}.csv")
        ref = pd.read_csv(tmp_path / f"ref_{lang}.csv")
        assert zs[["ir_rank", "tr_rank"]].equals(ref[["ir_rank", "tr_rank"]])
        assert {"itc_ir_rank", "itc_tr_rank"} <= set(zs.columns)  # for the ITC-only row's MRV
        itc_r1 = 100 * np.mean(zs["itc_ir_rank"] == 0)
        assert itc_r1 == pytest.approx(reference[lang]["itc_ir_r1"])
        cb = read_json(tmp_path / f"zs_{lang}.cb.json")
        assert cb["scoring"] == "itc+itm" and "itc_metrics" in cb


def test_unknown_kinds_keys_and_both_weights_are_refused():
    with pytest.raises(ValueError, match="kind 'clip'"):
        model_spec({"name": "m", "kind": "clip"})
    with pytest.raises(ValueError, match=r"zeroshot.models\[m\]: unknown key\(s\) \['weight'\]"):
        model_spec({"name": "m", "kind": "open_clip", "weight": "w.pt"})
    with pytest.raises(ValueError, match="not both"):
        model_spec({"name": "m", "kind": "open_clip", "model": "x", "weights": "w.pt", "pretrained": "tag"})
    with pytest.raises(ValueError, match="text_normalise"):
        model_spec({"name": "m", "kind": "transformers", "path": "p", "text_normalise": "upper"})


def test_schema_of_each_kind_mirrors_its_dataclass():
    from dataclasses import fields

    import yaml

    from ccrk.zoo.spec import SPEC_OF_KIND

    schema = yaml.safe_load((REPO_ROOT / "ccrk" / "schema.yaml").read_text())
    for branch in schema["$defs"]["zeroshot_model"]["allOf"]:
        kind = branch["if"]["properties"]["kind"]["const"]
        assert set(branch["then"]["properties"]) == {f.name for f in fields(SPEC_OF_KIND[kind])}, kind


def test_open_dual_encoders_overlay_plans_offline(tmp_path):
    """config/zeroshot.yaml over config/paper.yaml: the README's command plans every job from local files."""
    from tests.paper_inputs import merged_config, paper_configfiles, plan, write_paper_inputs

    configfiles = [*paper_configfiles(), REPO_ROOT / "config" / "zeroshot.yaml"]
    cfg = merged_config(configfiles)
    write_paper_inputs(tmp_path, cfg)
    (tmp_path / "data" / "xm3600" / "images").mkdir(parents=True)
    (tmp_path / "data" / "xm3600" / "captions.jsonl").touch()
    (tmp_path / "data" / "models" / "metaclip-2-worldwide-huge-quickgelu").mkdir(parents=True)
    counts, jobs, _ = plan(tmp_path, configfiles, ["results/zeroshot_leaderboard.csv"])
    models, protocols = 4, 4  # xflickrco, multi30k, xm3600_all, xm3600_first: each with MRV
    assert counts == {
        "multi30k": 1,
        "zeroshot_xflickrco": models,
        "zeroshot_multi30k": models,
        "zeroshot_xm3600": models,
        "zeroshot_table": models * protocols,
        "zeroshot_mrv": models * protocols,
        "zeroshot_leaderboard": 1,
    }
    xm = {job.wildcards.model: job for job in jobs if job.rule.name == "zeroshot_xm3600"}
    assert (
        len(xm["msiglip-so400m"].params.langs) == 36 and xm["msiglip-so400m"].input.model == []
    )  # a cached tag
    assert xm["metaclip2-worldwide-h14"].input.model == ["data/models/metaclip-2-worldwide-huge-quickgelu"]
    assert xm["nllb-siglip-mrl-large"].params.model["set_language"] is True
    assert xm["nllb-siglip-mrl-large"].params.network is False
    assert len(xm["msiglip-so400m"].output.clip_benchmark) == 2 * 36


def test_cli_scores_a_configured_model_on_the_xm3600_fixture(tiny_open_clip, tmp_path):
    """`python -m ccrk zeroshot`: the rule's operation without Snakemake, on tests/fixtures/xm3600."""
    import yaml

    from ccrk.cli.main import main

    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"zeroshot": {"models": [tiny_open_clip]}}))
    fixture = REPO_ROOT / "tests" / "fixtures" / "xm3600"
    demo = str(
        REPO_ROOT / "config" / "config.yaml"
    )  # the models laid over the demo config, validated as a whole
    args = ["zeroshot", "--config", demo, str(tmp_path / "c.yaml"), "--model", "tiny-open-clip"]
    args += ["--protocol", "xm3600_first", "--out-dir", str(tmp_path / "out"), "--num-workers", "0"]
    args += ["--xm3600-images", str(fixture / "images"), "--device", "cpu"]
    assert main([*args, *(f"{x}={fixture / 'captions.jsonl'}" for x in ("ar", "th", "quz"))]) == 0
    quz = read_json(tmp_path / "out" / "xm3600_first" / "quz_metrics.json")
    assert quz["n_images"] == 4 and quz["n_texts"] == 3  # the fourth image has no quz caption
    assert read_json(tmp_path / "out" / "xm3600_first" / "th_clip_benchmark.json")["language"] == "th"
    assert main([*args, "xx=nothing.jsonl"]) == 1  # an unknown locale: a one-line error, exit 1
