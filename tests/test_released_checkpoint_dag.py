"""A released checkpoint (pretrain.checkpoint) stands in for pretraining: `pretrained_model()` in rules/common.smk."""

import pytest
import yaml

from tests.conftest import REPO

TARGET = "results/xflickrco_table.csv"


def _dry_run(tmp_path, **overrides):
    """Files a Snakemake API dry-run of TARGET would write, with the demo config plus `overrides` (section -> keys)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        Quietness,
        ResourceSettings,
    )

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for section, keys in overrides.items():
        cfg[section] = {**cfg[section], **keys}
    configfile = tmp_path / "released.yaml"
    configfile.write_text(yaml.safe_dump(cfg))
    updated = []
    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        wf = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(configfiles=[configfile]),
            snakefile=REPO / "Snakefile",
            workdir=tmp_path / "work",
        )
        wf.dag(DAGSettings(targets={TARGET})).execute_workflow(
            pseudo_executor="dryrun", updated_files=updated
        )
    return set(updated)


def test_released_checkpoint_replaces_pretraining(tmp_path):
    released = tmp_path / "ccrk_3m_10lan_epoch_29.th"
    released.write_bytes(b"placeholder")  # a dry run only needs the file to exist
    (tmp_path / "xlm-roberta-large").mkdir()
    updated = _dry_run(
        tmp_path,
        pretrain={"checkpoint": str(released)},
        tokenizer={"path": str(tmp_path / "xlm-roberta-large")},
    )
    assert {TARGET, "results/finetune/xflickrco/zeroshot/model.pt"} <= updated
    assert not any(
        f.startswith(("results/pretrain", "results/corpus", "results/translate", "results/tokenizer"))
        for f in updated
    )


def test_the_released_checkpoint_is_the_fine_tuning_input(tmp_path):
    from snakemake.exceptions import MissingInputException

    (tmp_path / "xlm-roberta-large").mkdir()
    with pytest.raises(MissingInputException, match="missing_epoch_29.th"):
        _dry_run(
            tmp_path,
            pretrain={"checkpoint": str(tmp_path / "missing_epoch_29.th")},
            tokenizer={"path": str(tmp_path / "xlm-roberta-large")},
        )


def test_released_checkpoint_needs_the_xlmr_tokenizer(tmp_path):
    with pytest.raises(Exception, match="pretrain.checkpoint needs tokenizer.path"):
        _dry_run(tmp_path, pretrain={"checkpoint": str(tmp_path / "x.th")})
