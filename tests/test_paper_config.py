"""config/paper.yaml: the paper's settings, the pretraining variants, and the paper DAG planned offline."""

from dataclasses import replace

import pytest
import yaml

from ccrk import pretrain, train
from ccrk.config import EvalConfig, FinetuneConfig, PretrainConfig, from_dict
from ccrk.configfile import validate_config
from ccrk.models.config import CCRKConfig, InitConfig
from tests.conftest import REPO
from tests.paper_inputs import OVERLAYS, merged_config, paper_configfiles, plan, write_paper_inputs

LANG10 = ["zh", "en", "de", "fr", "ja", "cs", "id", "es", "ru", "tr"]
LANG6 = ["zh", "ja", "en", "de", "fr", "cs"]
# overlays -> (languages, translated, pretraining captions, corpus.max_images, pretrain.epoch_size)
VARIANTS = {
    (): (LANG10, ["id", "es", "ru", "tr"], "data/pretrain/given_3m.jsonl", None, None),
    ("2m",): (LANG10, ["id", "es", "ru", "tr"], "data/pretrain/given_cc2m.jsonl", None, 996964),
    ("1m",): (LANG10, ["id", "es", "ru", "tr"], "data/pretrain/given_3m.jsonl", 996964, None),
    ("6lang",): (LANG6, [], "data/pretrain/given_3m.jsonl", None, None),
    ("2m", "6lang"): (LANG6, [], "data/pretrain/given_cc2m.jsonl", None, 996964),
    ("fast-translate",): (LANG10, ["id", "es", "ru", "tr"], "data/pretrain/given_3m.jsonl", None, None),
}
DIR = "results/annotations/mscoco"
PRETRAIN_JOBS = {"pretrain_corpus": 1, "pretrain": 1}
XFLICKRCO_JOBS = {**PRETRAIN_JOBS, "finetune": 1, "evaluate_xflickrco": 1, "retrieval_table": 1}
# `tables`: every enabled protocol (5 tables; MRV for xFlickr&CO zero-/few-shot and Multi30K)
FINETUNE_RUNS = {
    "xflickrco/zeroshot",
    "wit/zeroshot",
    "multi30k/en",
    "multi30k/all",
    "mscoco/en",
    "mscoco/all",
    *(f"xflickrco/fewshot/{lang}" for lang in ("de", "es", "id", "ja", "ru", "tr", "zh")),
    *(f"multi30k/single/{lang}" for lang in ("de", "fr", "cs")),
    *(f"mscoco/single/{lang}" for lang in ("zh", "ja")),
}
TABLE_JOBS = {
    **PRETRAIN_JOBS,
    "translate": 64,
    "finetune": len(FINETUNE_RUNS),
    "evaluate_xflickrco": 1,
    "evaluate_wit": 1,
    "evaluate_multi30k": 2,
    "evaluate_mscoco": 2,
    "evaluate_per_language": 12,
    "retrieval_table": 5,
    "mrv_table": 3,
    "chart": 5,
    "tables": 1,
    "multi30k": 1,
    "mscoco_en": 1,
    "mscoco_ja": 1,
    "mscoco_zh": 1,
    "wit_join_test": 1,
    "wit_join_train": 1,
}


def test_every_overlay_is_a_variant_under_test():
    assert set(OVERLAYS) == {name for combo in VARIANTS for name in combo}


@pytest.mark.parametrize("overlays", list(VARIANTS), ids=lambda o: "+".join(("paper",) + o))
def test_each_variant_validates_with_its_settings(overlays):
    cfg = merged_config(paper_configfiles(*overlays))
    langs, translated, given, max_images, epoch_size = VARIANTS[overlays]
    assert cfg["languages"]["pretrain"] == langs and cfg["languages"]["translated"] == translated
    assert cfg["data"]["pretrain_given"] == given
    assert cfg["corpus"]["max_images"] == max_images and cfg["pretrain"]["epoch_size"] == epoch_size
    assert cfg["demo"]["enabled"] is False


def _leaves(d: dict, prefix=()) -> set[tuple]:
    out = set()
    for key, value in d.items():
        out |= _leaves(value, prefix + (key,)) if isinstance(value, dict) else {prefix + (key,)}
    return out


def test_paper_sets_every_key_the_demo_sets():
    # Snakemake loads config/config.yaml before --configfile: a key paper.yaml leaves out keeps the demo's value
    demo = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    missing = {k for k in _leaves(demo) - _leaves(paper) if k[0] != "demo"}
    assert not missing, f"config/paper.yaml must set {sorted(missing)}"


def test_paper_model_and_recipe_are_spec_2_5():
    cfg = merged_config(paper_configfiles())
    model = CCRKConfig.from_dict(cfg["model"])
    assert replace(model, init=InitConfig()) == CCRKConfig()  # the dataclass defaults are the paper's
    assert model.init == InitConfig("data/xlm-roberta-large", "data/swin_base_patch4_window7_224_22k.pth")
    assert (model.vision.image_res, model.vision.window_size, model.vision.width) == (224, 7, 1024)
    assert (model.text.hidden_size, model.text.num_text_layers, model.text.num_fusion_layers) == (1024, 6, 6)
    assert (model.embed_dim, model.temp, model.temp_min, model.temp_max) == (256, 0.07, 0.001, 0.5)
    pre = from_dict(
        PretrainConfig, {**cfg["pretrain"], "languages": cfg["languages"]["pretrain"]}, "pretrain"
    )
    assert pre == PretrainConfig()
    opt = pre.optimizer
    assert (pre.batch_size, pre.epochs, opt.lr, opt.lr_mult, opt.weight_decay, opt.grad_clip) == (
        64,
        30,
        1e-4,
        2.0,
        0.01,
        1.0,
    )
    assert (opt.betas, opt.eps) == ((0.9, 0.98), 1e-8)  # CCLM's optim.py
    assert (pre.max_tokens, pre.masking.mask_prob, pre.masking.max_masks, pre.masking.skipgram_prob) == (
        40,
        0.4,
        12,
        0.2,
    )
    assert (pre.caption_num, pre.sample_type, pre.divisor) == (0, 1, None)
    assert (pre.precision, cfg["finetune"]["precision"]) == ("fp16", "fp32")  # as the original trains
    assert from_dict(EvalConfig, cfg["evaluate"], "evaluate") == EvalConfig()
    ft = cfg["finetune"]  # xFlickrCO.yaml, README --bs 64 over 4 GPUs
    assert (
        ft["batch_size"] * 4,
        ft["optimizer"]["lr"],
        ft["epochs"],
        ft["optimizer"]["warmup"],
        ft["max_tokens"],
        ft["start_eval"],
    ) == (64, 3e-5, 10, 0.1, 80, 7)
    assert (ft["image_res"], ft["window_size"]) == (384, 12)
    finetune = from_dict(FinetuneConfig, ft, "finetune")
    assert finetune.optimizer == replace(pre.optimizer, lr=3e-5, lr_mult=1.0, warmup=0.1)


def test_variant_schedules_match_ccrk(monkeypatch):
    monkeypatch.setattr(train, "world_size", lambda: 2)  # 2 x A100, 64 images each
    monkeypatch.setattr(pretrain, "world_size", lambda: 2)
    cfg2m = merged_config(paper_configfiles("2m"))["pretrain"]
    steps = pretrain.pretrain_steps_per_epoch(1_863_804, 64, cfg2m["epoch_size"])
    assert (
        steps == 7789
    )  # ceil(996964 / 128): Pretrain_2m.yaml's epoch on CC2M (docs/method.md#differences-from-the-original)
    assert train.warmup_steps(cfg2m["optimizer"]["warmup"], 30 * steps) == 7024
    cfg3m = merged_config(paper_configfiles())["pretrain"]
    steps = pretrain.pretrain_steps_per_epoch(3_309_520, 64, cfg3m["epoch_size"])
    assert steps == 25855  # full batches per rank; the original's endless stream rounds up (25,856)
    assert train.warmup_steps(cfg3m["optimizer"]["warmup"], 30 * steps) == 23318
    with pytest.raises(ValueError, match="epoch_size 996964 needs 7789 batches of 64 per rank.*has 3125"):
        pretrain.pretrain_steps_per_epoch(400_000, 64, 996964)


def test_schema_rejects_bad_variant_settings():
    cfg = merged_config(paper_configfiles())
    for section, key, value in [
        ("corpus", "max_images", 0),
        ("pretrain", "epoch_size", 0),
        ("pretrain", "sample_type", 3),
        ("pretrain", "divisor", 0),
    ]:
        bad = yaml.safe_load(yaml.safe_dump(cfg))
        bad[section][key] = value
        with pytest.raises(Exception, match=rf"\b{section}\.{key}: "):
            validate_config(bad)


@pytest.fixture(scope="module")
def paper_workdir(tmp_path_factory):
    """A working directory holding empty stand-ins for the inputs of every variant."""
    workdir = tmp_path_factory.mktemp("paper")
    for overlays in VARIANTS:
        write_paper_inputs(workdir, merged_config(paper_configfiles(*overlays)))
    return workdir


def test_paper_dry_run_plans_the_xflickrco_table(paper_workdir):
    counts, jobs, seen = plan(paper_workdir, paper_configfiles(), ["results/xflickrco_table.csv"])
    assert counts == {**XFLICKRCO_JOBS, "translate": 64}  # no tokenizer job: tokenizer.path is XLM-R's
    by_rule = {job.rule.name: job for job in jobs}
    assert by_rule["pretrain"].params.model["text"]["hidden_size"] == 1024
    assert by_rule["pretrain"].params.train["batch_size"] == 64
    assert by_rule["pretrain"].input.tokenizer == "data/xlm-roberta-large"
    # the initial weights are inputs (a missing file stops the DAG); speed-only settings are resources, not params
    assert list(by_rule["pretrain"].input.init) == [
        "data/xlm-roberta-large",
        "data/swin_base_patch4_window7_224_22k.pth",
    ]
    assert {"num_workers", "save_every"}.isdisjoint(by_rule["pretrain"].params.train)
    assert (by_rule["pretrain"].resources.num_workers, by_rule["pretrain"].resources.save_every) == (4, 10000)
    finetune = by_rule["finetune"]
    assert {"batch_size", "fusion_batch_size"}.isdisjoint(finetune.params.evaluate)
    assert (finetune.resources.eval_batch_size, finetune.resources.fusion_batch_size) == (64, 256)
    assert list(by_rule["pretrain"].params.model) == sorted(by_rule["pretrain"].params.model)  # canonical
    assert by_rule["translate"].input.model == "data/m2m_100_1.2B"
    assert by_rule["pretrain_corpus"].input.given == "data/pretrain/given_3m.jsonl"
    assert (
        by_rule["finetune"].params.train["optimizer"]["lr"] == 3e-5
        and by_rule["finetune"].params.train["image_res"] == 384
    )
    assert by_rule["evaluate_xflickrco"].params.evaluate["k_test"] == 128
    # the original's precision per stage: Pretrain.py autocast + GradScaler, fine-tuning in fp32
    assert by_rule["pretrain"].params.train["precision"] == "fp16"
    assert by_rule["finetune"].params.train["precision"] == "fp32"
    expected = merged_config(paper_configfiles())
    assert {k: v for k, v in seen.items() if k != "demo"} == {
        k: v for k, v in expected.items() if k != "demo"
    }
    assert not (paper_workdir / "results").exists()  # a dry run writes nothing


def test_paper_dry_run_of_every_table(paper_workdir):
    counts, jobs, _ = plan(paper_workdir, paper_configfiles(), ["tables"])
    assert counts == TABLE_JOBS
    finetune = {job.wildcards.run: job for job in jobs if job.rule.name == "finetune"}
    assert set(finetune) == FINETUNE_RUNS
    assert {job.params.train["precision"] for job in finetune.values()} == {"fp32"}  # every protocol
    few = finetune["xflickrco/fewshot/ja"]
    assert few.input.model == "results/finetune/xflickrco/zeroshot/model.pt"  # from the English model
    assert (
        few.params.train["optimizer"]["lr"],
        few.params.train["epochs"],
        few.params.train["eval_every"],
    ) == (
        1e-6,
        60,
        10,
    )
    assert few.params.train["batch_size"] == 16  # the demo's 8 must not leak in (config.yaml loads first)
    assert (
        finetune["wit/zeroshot"].params.train["batch_size"] * 4 == 80
        and finetune["wit/zeroshot"].params.train["epochs"] == 5
    )
    assert finetune["multi30k/single/de"].input.model == "results/finetune/multi30k/en/model.pt"
    assert finetune["multi30k/all"].params.train["max_tokens"] == 40
    assert finetune["mscoco/en"].params.evaluate["k_test"] == 256
    coco = next(job for job in jobs if job.rule.name == "evaluate_mscoco")
    assert coco.params.folds == {"en": 5, "ja": 5}
    # the reformatting writes the folds that evaluation cuts: 5 for en and ja, none for zh
    for lang, n in (("en", 5), ("ja", 5), ("zh", 1)):
        job = next(job for job in jobs if job.rule.name == f"mscoco_{lang}")
        written = sorted(f for f in job.output if ".test.fold" in f)
        assert job.params.folds == n and written == [
            f"{DIR}/{lang}.test.fold{k}.json" for k in range(n) if n > 1
        ]
    assert not (paper_workdir / "results").exists()


def test_translation_as_the_paper_ran_it_and_the_fast_path(paper_workdir):
    paper = merged_config(paper_configfiles())["translate"]
    assert (paper["backend"], paper["beam_size"], paper["batch_size"], paper["device"]) == (
        "easynmt",
        5,
        16,
        "cuda",
    )
    counts, jobs, _ = plan(
        paper_workdir, paper_configfiles("fast-translate"), ["results/xflickrco_table.csv"]
    )
    assert counts == {
        **XFLICKRCO_JOBS,
        "translate": 64,
        "translate_convert": 1,
    }  # converted once for all shards
    shard = next(job for job in jobs if job.rule.name == "translate")
    assert shard.input.converted == "results/translate/ctranslate2"
    assert (shard.params.backend, shard.params.beam_size, shard.params.compute_type, shard.params.device) == (
        "ctranslate2",
        5,
        "int8_float16",
        "cuda",
    )


def test_six_languages_on_cc2m_plan_no_translation(paper_workdir):
    counts, jobs, _ = plan(paper_workdir, paper_configfiles("2m", "6lang"), ["results/xflickrco_table.csv"])
    assert counts == XFLICKRCO_JOBS
    by_rule = {job.rule.name: job for job in jobs}
    assert list(by_rule["pretrain_corpus"].input.translations) == []
    assert by_rule["pretrain"].params.languages == LANG6
    assert by_rule["pretrain"].params.train["epoch_size"] == 996964
