"""The evaluation protocols: files per run, the selection flag, config merging, table rows."""

import copy

import pytest
import yaml

from ccrk.configfile import validate_config
from ccrk.protocols import DataDirs, Protocols
from tests.conftest import REPO

DIRS = DataDirs(iglue="I", wit="W", multi30k="M", mscoco="C")


def _protocols(**sections) -> Protocols:
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["protocols"] = copy.deepcopy({**cfg.get("protocols", {}), **sections})
    validate_config(cfg)  # fills the schema defaults, as the Snakefile does
    return Protocols(cfg, DIRS, pretrained="P.pt")


def test_demo_enables_the_xflickrco_protocols_only():
    assert _protocols().enabled_tables() == ["xflickrco", "xflickrco_fewshot"]


def test_xflickrco_fewshot_files_and_the_selection_flag():
    p = _protocols()
    assert p.train_files("xflickrco", "fewshot", "de") == ["I/xFlickrCO/annotations/de/train_25.jsonl"]
    assert p.init_model("xflickrco", "fewshot", "de") == "results/finetune/xflickrco/zeroshot/model.pt"
    # honest: the held-out English Flickr30K validation set, never a test set
    assert p.selection_files("xflickrco", "fewshot", "de") == ["I/flickr30k/annotations/valid_ann.jsonl"]
    original = _protocols(selection="test_as_original")
    assert original.selection_files("xflickrco", "fewshot", "de") == ["I/xFlickrCO/annotations/de/test.jsonl"]
    # zero-shot selected on validation data in the original too
    assert original.selection_files("xflickrco", "zeroshot") == ["I/flickr30k/annotations/valid_ann.jsonl"]
    assert p.finetune_config("xflickrco", "fewshot")["optimizer"] == {
        "lr": 3e-6
    }  # the demo's few-shot override
    assert p.finetune_config("xflickrco", "zeroshot")["optimizer"] == {
        "lr": 3e-4
    }  # the top-level finetune section


def test_fewshot_table_takes_english_from_the_zero_shot_model():
    p = _protocols(xflickrco_fewshot={"enabled": True, "languages": ["de", "ja"], "shots": 10})
    rows = p.table_rows("xflickrco_fewshot")
    assert list(rows) == ["de", "en", "ja"]  # in the order of languages.xflickrco_test
    assert rows["en"] == "results/eval/xflickrco/zeroshot/en_metrics.json"
    assert rows["de"] == "results/eval/xflickrco/fewshot/de_metrics.json"
    assert list(p.mrv_rows("xflickrco_fewshot")) == ["en", "de", "ja"]  # zh has no few-shot run here
    assert p.train_files("xflickrco", "fewshot", "ja") == ["I/xFlickrCO/annotations/ja/train_10.jsonl"]
    assert (
        p.finetune_config("xflickrco", "fewshot")["optimizer"]["lr"] == 1e-6
    )  # the protocol's default: the paper's


def test_multi30k_settings_and_selection():
    p = _protocols(multi30k={"enabled": True})
    assert p.train_files("multi30k", "en") == ["M/train.en.json"]
    assert p.train_files("multi30k", "all") == [f"M/train.{x}.json" for x in ("en", "de", "fr", "cs")]
    assert p.train_files("multi30k", "single", "fr") == ["M/train.fr.json"]
    assert p.init_model("multi30k", "single", "fr") == "results/finetune/multi30k/en/model.pt"  # CCRK
    assert p.init_model("multi30k", "all") == "P.pt"
    assert p.selection_files("multi30k", "en") == ["M/val.en.json"]
    assert p.selection_files("multi30k", "all") == [f"M/val.{x}.json" for x in ("en", "de", "fr", "cs")]
    original = _protocols(
        multi30k={"enabled": True, "selection": "test_as_original", "single_from": "pretrain"}
    )
    # the original sums test r_mean over every evaluated language
    assert original.selection_files("multi30k", "en") == [
        f"M/test_2016_flickr.{x}.json" for x in ("en", "de", "fr", "cs")
    ]
    assert original.selection_files("multi30k", "single", "cs") == ["M/test_2016_flickr.cs.json"]
    assert original.selection("xflickrco", "fewshot") == "validation"  # the override is per protocol
    assert original.init_model("multi30k", "single", "fr") == "P.pt"
    rows = p.table_rows("multi30k")
    assert len(rows) == 12 and rows[("single", "en")] == "results/eval/multi30k/en/en_metrics.json"
    assert rows[("single", "de")] == "results/eval/multi30k/single/de_metrics.json"
    assert set(p.mrv_rows("multi30k")) == set(rows)  # MRV over all four languages per setting


def test_mscoco_folds_and_original_selection_on_english_test():
    p = _protocols(
        mscoco={
            "enabled": True,
            "selection": "test_as_original",
            "by_setting": {"all": {"finetune": {"batch_size": 10}}},
        }
    )
    assert p.folds("mscoco") == {"en": 5, "ja": 5} and p.folds("multi30k") == {}
    assert p.test_file("mscoco", "zh") == "C/zh.test.json"
    assert p.selection_files("mscoco", "single", "zh") == ["C/en.test.json"]  # CCRK evaluates only en
    assert p.languages("mscoco", "single") == ["zh", "ja"] and p.languages("mscoco") == ["en", "zh", "ja"]
    assert p.finetune_config("mscoco", "all")["batch_size"] == 10
    assert (
        p.finetune_config("mscoco", "en")["batch_size"] == 32
    )  # the by_setting override stays in its setting
    assert p.finetune_config("mscoco", "all")["augment"] == {
        "crop_scale_min": 1.0,
        "hflip": False,
        "randaugment": False,
    }


def test_wit_files():
    p = _protocols(wit_zeroshot={"enabled": True})
    assert p.train_files("wit", "zeroshot") == ["W/train_en.jsonl"]
    assert p.selection_files("wit", "zeroshot") == ["W/val_en.jsonl"]
    assert p.test_file("wit", "ko") == "W/test_ko.jsonl" and len(p.languages("wit")) == 11
    assert p.finetune_config("wit", "zeroshot")["epochs"] == 5


def test_run_names_round_trip_and_reject_others():
    p = _protocols()
    assert p.run("xflickrco", "fewshot", "de") == "xflickrco/fewshot/de"
    assert p.parse_run("multi30k/single/fr") == ("multi30k", "single", "fr")
    assert p.parse_run("wit/zeroshot") == ("wit", "zeroshot", None)
    for bad in ("wit/fewshot", "xflickrco/fewshot", "multi30k/en/de", "x", "a/b/c/d"):
        with pytest.raises(ValueError):
            p.parse_run(bad)


def test_schema_rejects_a_bad_protocol_key():
    with pytest.raises(Exception, match="selection|enum"):
        _protocols(selection="on_test")
    with pytest.raises(Exception, match="Additional properties|unexpected"):
        _protocols(multi30k={"setings": ["en"]})


def test_threads_per_job_come_from_the_protocol_and_default_to_eight():
    p = _protocols(multi30k={"enabled": True, "threads": 3})
    assert p.threads("xflickrco", "fewshot") == 1  # the demo's: one small job per language, side by side
    assert p.threads("xflickrco", "zeroshot") == 8  # the schema default (Snakemake caps it at --cores)
    # every setting of the protocol
    assert p.threads("multi30k", "single") == p.threads("multi30k", "en") == 3
    with pytest.raises(Exception, match="threads|minimum"):
        _protocols(xflickrco_fewshot={"threads": 0})
