"""Config: the demo validates, bad values are rejected naming the key, schema and dataclasses agree."""

import copy
import re
import tomllib
from dataclasses import fields

import pytest
import yaml
from snakemake.utils import validate

from ccrk.config import (
    EvalConfig,
    FinetuneConfig,
    ImageAugConfig,
    OptimConfig,
    PretrainConfig,
    from_dict,
)
from ccrk.data.masking import MaskingConfig
from ccrk.models.config import CCRKConfig, TextConfig, VisionConfig
from tests.conftest import REPO

SCHEMA = str(REPO / "config" / "schema.yaml")


@pytest.fixture
def config():
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_demo_config_validates_and_gets_defaults(config):
    del config["translate"]["shards"]
    validate(config, SCHEMA)
    assert config["translate"]["shards"] == 1


@pytest.mark.parametrize(
    "path,value,pattern",
    [
        (("pretrain", "epochs"), "many", r"'many' is not of type 'integer'.*\['pretrain'\]\['epochs'\]"),
        (("pretrain", "lrate"), 1e-4, r"'lrate' was unexpected"),
        (("pretrain", "optimizer"), {"lr": "fast"}, r"\['pretrain'\]\['optimizer'\]\['lr'\]"),
        (("finetune", "optimizer"), {"betas": [0.9]}, r"\['finetune'\]\['optimizer'\]\['betas'\]"),
        (("translate", "backend"), "google", r"'google' is not one of.*\['translate'\]\['backend'\]"),
        (("languages", "mrv"), ["en"], r"\['languages'\]\['mrv'\]"),
        (("evaluate", "k_test"), 0, r"\['evaluate'\]\['k_test'\]"),
    ],
)
def test_bad_config_names_the_key(config, path, value, pattern):
    bad = copy.deepcopy(config)
    bad[path[0]][path[1]] = value
    with pytest.raises(Exception) as err:
        validate(bad, SCHEMA)
    assert re.search(pattern, str(err.value), re.S), str(err.value)


def test_real_data_needs_data_paths(config):
    config["demo"]["enabled"] = False
    with pytest.raises(Exception, match="'data' is a required property"):
        validate(config, SCHEMA)


def _schema_keys(section):
    schema = yaml.safe_load(open(SCHEMA))
    return set(schema["properties"][section]["properties"])  # YAML merge keys (<<) are already expanded


@pytest.mark.parametrize(
    "section,kinds",
    [
        ("pretrain", [PretrainConfig]),
        ("finetune", [FinetuneConfig]),
        ("evaluate", [EvalConfig]),
        ("model", [CCRKConfig]),
    ],
)
def test_schema_sections_mirror_the_dataclasses(section, kinds):
    expected = {f.name for k in kinds for f in fields(k)} - {
        "languages"
    }  # pretrain languages come from languages:
    assert _schema_keys(section) == expected


def test_nested_schema_objects_mirror_the_dataclasses():
    schema = yaml.safe_load(open(SCHEMA))
    model = schema["properties"]["model"]["properties"]
    assert set(model["vision"]["properties"]) == {f.name for f in fields(VisionConfig)}
    assert set(model["text"]["properties"]) == {f.name for f in fields(TextConfig)}
    assert set(schema["$defs"]["augment"]["properties"]) == {f.name for f in fields(ImageAugConfig)}
    assert set(schema["$defs"]["masking"]["properties"]) == {f.name for f in fields(MaskingConfig)}
    assert set(schema["$defs"]["optimizer"]["properties"]) == {f.name for f in fields(OptimConfig)}


def test_one_optimiser_sub_config_keeps_each_stage_defaults():
    """Both stages read `optimizer:` into the same OptimConfig; keys left out keep that stage's own default."""
    pre = from_dict(PretrainConfig, {"optimizer": {"lr": 5e-4}}, "pretrain").optimizer
    assert pre == OptimConfig(lr=5e-4, lr_mult=2.0, warmup=0.03006253006253006)
    ft = from_dict(FinetuneConfig, {"optimizer": {"warmup": 0.2}}, "finetune").optimizer
    assert ft == OptimConfig(lr=3e-5, lr_mult=1.0, warmup=0.2)
    assert from_dict(PretrainConfig, {"optimizer": {"betas": [0.9, 0.999]}}, "p").optimizer.betas == (
        0.9,
        0.999,
    )
    with pytest.raises(ValueError, match=r"pretrain.optimizer: unknown key\(s\) \['lrate'\]"):
        from_dict(PretrainConfig, {"optimizer": {"lrate": 1.0}}, "pretrain")


def test_environment_yml_lists_the_pyproject_dependencies():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert sorted(pip) == sorted(deps)


def test_constraints_pin_every_dependency():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~ ]", d)[0].lower() for d in deps}
    pins = {
        line.split("==")[0].lower()
        for line in (REPO / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    assert names <= pins
