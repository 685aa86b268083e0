"""Config: one loader for Snakemake and the CLI; the schema rejects bad values naming the key and fills its
defaults exactly as snakemake.utils.validate does; schema and dataclasses agree; the schema ships in the package."""

import copy
import json
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import fields

import pytest
import yaml
from snakemake.utils import update_config, validate

from ccrk.config import (
    EvalConfig,
    FinetuneConfig,
    ImageAugConfig,
    OptimConfig,
    PretrainConfig,
    from_dict,
)
from ccrk.configfile import (
    SCHEMA_PATH,
    ConfigError,
    check_value,
    deep_merge,
    default_of,
    load_config,
    validate_config,
    value_of,
)
from ccrk.data.masking import MaskingConfig
from ccrk.models.config import CCRKConfig, TextConfig, VisionConfig
from tests.conftest import REPO
from tests.paper_inputs import OVERLAYS, PAPER

SCHEMA = str(SCHEMA_PATH)
CONFIG = REPO / "config" / "config.yaml"
LAYERINGS = [
    [CONFIG],
    [CONFIG, PAPER],
    [PAPER, OVERLAYS["2m"], OVERLAYS["6lang"]],
    [CONFIG, PAPER, OVERLAYS["1m"]],
]


@pytest.fixture
def config():
    return yaml.safe_load(CONFIG.read_text())


def test_demo_config_validates_and_gets_defaults(config):
    del config["translate"]["shards"]
    validate_config(config)
    assert config["translate"]["shards"] == 1
    assert config["protocols"]["wit_zeroshot"]["finetune"] == {
        "epochs": 5,
        "start_eval": 4,
    }  # a nested default


@pytest.mark.parametrize("files", LAYERINGS, ids=lambda fs: "+".join(f.stem for f in fs))
def test_the_cli_loader_gives_what_snakemake_gives(files):
    """Layering (Snakemake's update_config over --configfile) and defaults (snakemake.utils.validate) agree."""
    snakemake_config: dict = {}
    for path in files:
        update_config(snakemake_config, yaml.safe_load(path.read_text()))
    ours_unvalidated = deep_merge({}, *(yaml.safe_load(p.read_text()) for p in files))
    assert ours_unvalidated == snakemake_config
    validate(snakemake_config, SCHEMA)
    assert load_config(files) == snakemake_config


def test_json_and_yaml_files_are_read_as_snakemake_reads_them(tmp_path):
    """JSON first (a JSON 1e-5 is a number, YAML 1.1 would read text), then YAML; later files win key by key."""
    (tmp_path / "over.json").write_text(json.dumps({"finetune": {"optimizer": {"lr": 1e-5}}}))
    cfg = load_config([CONFIG, tmp_path / "over.json"])
    assert cfg["finetune"]["optimizer"] == {"lr": 1e-5} and cfg["finetune"]["epochs"] == 5
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="list.yaml: a config file holds keys at its top level"):
        load_config([tmp_path / "list.yaml"])


@pytest.mark.parametrize(
    "path,value,pattern",
    [
        (("pretrain", "epochs"), "many", r"pretrain\.epochs: 'many' is not of type 'integer'"),
        (
            ("pretrain", "lrate"),
            1e-4,
            r"pretrain: Additional properties are not allowed \('lrate' was unexpected",
        ),
        (
            ("pretrain", "optimizer"),
            {"lr": "fast"},
            r"pretrain\.optimizer\.lr: 'fast' is not of type 'number'",
        ),
        (("finetune", "optimizer"), {"betas": [0.9]}, r"finetune\.optimizer\.betas: \[0\.9\] is too short"),
        (("translate", "backend"), "google", r"translate\.backend: 'google' is not one of"),
        (("languages", "mrv"), ["en"], r"languages\.mrv: \['en'\] is too short"),
        (("evaluate", "k_test"), 0, r"evaluate\.k_test: 0 is less than the minimum of 1"),
        (
            ("pretrain", "precision"),
            "amp",
            r"pretrain\.precision: 'amp' is not one of \['fp32', 'fp16', 'bf16'\]",
        ),
        (("finetune", "precision"), "fp64", r"finetune\.precision: 'fp64' is not one of"),
        (
            ("pretrain", "itm_hard_negatives"),
            [0.5],
            r"pretrain\.itm_hard_negatives: \[0\.5\] is too short",
        ),
        (
            ("finetune", "itm_hard_negatives"),
            [0, 2],
            r"finetune\.itm_hard_negatives\[1\]: 2 is greater than the maximum of 1",
        ),
        (("finetune", "loss_weights"), {"mlm": 1.0}, r"finetune\.loss_weights: Additional properties"),
        (
            ("evaluate", "captionless_images"),
            "skip",
            r"evaluate\.captionless_images: 'skip' is not one of \['keep', 'drop'\]",
        ),
    ],
)
def test_bad_config_names_the_key(config, path, value, pattern):
    bad = copy.deepcopy(config)
    bad[path[0]][path[1]] = value
    with pytest.raises(ConfigError, match=pattern):
        validate_config(bad)
    with pytest.raises(Exception, match=re.escape(f"['{path[0]}']")):  # Snakemake's own validate agrees
        validate(copy.deepcopy(bad), SCHEMA)


def test_every_error_is_listed_with_the_files(tmp_path, config):
    config["pretrain"]["epochs"] = 0
    config["evaluate"]["k_tset"] = 8
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as err:
        load_config([path])
    message = str(err.value)
    assert message.startswith(f"{path} does not match schema.yaml")
    assert "evaluate: Additional properties are not allowed ('k_tset'" in message
    assert "pretrain.epochs: 0 is less than the minimum of 1" in message


def test_real_data_needs_data_paths(config):
    config["demo"]["enabled"] = False
    with pytest.raises(ConfigError, match="'data' is a required property"):
        validate_config(config)


def test_keys_values_and_defaults_by_dotted_name(config):
    assert default_of("data.missing_images") == "fail"
    assert default_of("protocols.mscoco.folds") == {"en": 5, "ja": 5}
    assert default_of("protocols.xflickrco_fewshot.finetune")["optimizer"] == {"lr": 1e-6}
    assert default_of("translate.model") is None  # required, no default
    validate_config(config)
    assert value_of(config, "finetune.optimizer.lr") == 3e-4
    assert value_of(config, "data.missing_images") == "fail"  # the demo has no data: section
    assert value_of(None, "tokenizer.vocab_size") == 1000
    check_value("data.download.threads", 1)
    with pytest.raises(
        ConfigError, match=r"0 is less than the minimum of 1 \(data.download.threads in schema"
    ):
        check_value("data.download.threads", 0)
    with pytest.raises(KeyError, match="data.download.thread: no such key"):
        check_value("data.download.thread", 1)


def test_schema_ships_inside_the_package_and_an_installed_ccrk_finds_it(tmp_path):
    """Build the wheel, install it elsewhere, validate a config from outside the checkout."""
    src = tmp_path / "src"
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "schema.yaml" in pyproject["tool"]["setuptools"]["package-data"]["ccrk"]
    shutil.copytree(REPO / "ccrk", src / "ccrk", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "whl"), str(src)],
                   check=True, cwd=tmp_path, capture_output=True)  # fmt: skip
    wheel = next((tmp_path / "whl").glob("ccrk-*.whl"))
    subprocess.run([*pip, "install", "--no-deps", "--target", str(tmp_path / "site"), str(wheel)], check=True)
    code = (
        "import sys, ccrk.configfile as c; assert c.SCHEMA_PATH.is_file(), c.SCHEMA_PATH; "
        "assert str(c.SCHEMA_PATH).startswith(sys.argv[2]); print(c.load_config([sys.argv[1]])['translate']['shards'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(CONFIG), str(tmp_path / "site")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0 and out.stdout.strip() == "2", out.stderr


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


@pytest.mark.parametrize("value", [True, False, 0.5, [0, 1], [0.5, 1.0]])
def test_itm_hard_negatives_takes_a_boolean_a_number_or_a_ramp(config, value):
    """The schema takes all three forms; the dataclass keeps a ramp as a (start, end) tuple."""
    for stage, kind in (("pretrain", PretrainConfig), ("finetune", FinetuneConfig)):
        cfg = copy.deepcopy(config)
        cfg[stage]["itm_hard_negatives"] = value
        validated = validate_config(cfg)[stage]
        got = from_dict(kind, {"itm_hard_negatives": validated["itm_hard_negatives"]}, stage)
        assert got.itm_hard_negatives == (tuple(value) if isinstance(value, list) else value)


def test_stage_defaults_keep_the_original_itm_sampling_and_weights():
    assert PretrainConfig().itm_hard_negatives is True and FinetuneConfig().itm_hard_negatives is True
    weights = from_dict(FinetuneConfig, {"loss_weights": {"itm": 2.0}}, "finetune").loss_weights
    assert (weights.itc, weights.itm) == (1.0, 2.0) and FinetuneConfig().loss_weights.itm == 1.0
