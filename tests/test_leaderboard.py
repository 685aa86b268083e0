"""The zero-shot leaderboard from per-(model, protocol) tables and MRV files with known numbers."""

import pandas as pd
import pytest

from ccrk.leaderboard import PUBLISHED_CCRK, leaderboard, write_leaderboard
from ccrk.tables import mrv_table, retrieval_table


def _metrics(tmp_path, name, values):
    import json

    path = tmp_path / f"{name}.json"
    cols = ["ir_r1", "ir_r5", "ir_r10", "tr_r1", "tr_r5", "tr_r10", "r_mean"]
    path.write_text(
        json.dumps({**dict(zip(cols, values)), **{f"itc_{c}": v / 2 for c, v in zip(cols, values)}})
    )
    return path


def _ranks(tmp_path, name, ir, tr):
    path = tmp_path / f"{name}.csv"
    pd.DataFrame(
        {
            "index": range(len(ir)),
            "ir_rank": ir,
            "tr_rank": tr,
            "itc_ir_rank": [0] * len(ir),
            "itc_tr_rank": tr,
        }
    ).to_csv(path, index=False)
    return path


@pytest.fixture
def inputs(tmp_path):
    """Two models x two protocols: tables built by ccrk.tables from metric files, MRV from rank files."""
    tables, mrvs = {}, {}
    r1 = {"de": 10.0, "en": 50.0, "ja": 30.0}  # non-English average 20
    for model in ("ccrk-x", "dual-y"):
        for protocol in ("xflickrco", "xm3600_all"):
            scale = 1.0 if model == "ccrk-x" else 2.0
            files = {
                lang: _metrics(tmp_path, f"{model}-{protocol}-{lang}", [v * scale] * 7)
                for lang, v in r1.items()
            }
            tables[(model, protocol)] = tmp_path / f"{model}-{protocol}-table.csv"
            retrieval_table(files).to_csv(tables[(model, protocol)], index=False)
            ranks = {
                "en": _ranks(tmp_path, f"{model}-{protocol}-en", [0, 2], [0, 0]),
                "de": _ranks(tmp_path, f"{model}-{protocol}-de", [2, 2], [4, 0]),
            }
            mrvs[(model, protocol)] = tmp_path / f"{model}-{protocol}-mrv.csv"
            directions = ("ir", "tr", "itc_ir", "itc_tr") if model == "ccrk-x" else ("ir", "tr")
            mrv_table(ranks, directions=directions).to_csv(mrvs[(model, protocol)], index=False)
    models = [
        {"name": "ccrk-x", "kind": "ccrk", "rerank": True, "description": "ours"},
        {"name": "dual-y", "kind": "open_clip", "rerank": False, "description": "a dual encoder"},
    ]
    return models, tables, mrvs


def test_one_row_per_model_and_scoring_with_non_english_r1_and_mrv(inputs):
    models, tables, mrvs = inputs
    board = leaderboard(models, tables, mrvs).set_index(["model", "scoring"])
    assert list(board.index) == [
        ("ccrk-x", "itc+itm"),
        ("ccrk-x", "itc"),
        ("dual-y", "itc"),
        (PUBLISHED_CCRK["model"], "itc+itm"),
    ]
    assert board.loc[("ccrk-x", "itc+itm"), "xflickrco_ir_r1"] == 20.0  # mean of de 10 and ja 30, not en
    assert board.loc[("ccrk-x", "itc"), "xflickrco_tr_r1"] == 10.0  # the itc_* columns: half
    assert board.loc[("dual-y", "itc"), "xm3600_all_ir_r1"] == 40.0  # a dual encoder's own ranks
    # MRV by hand: ir ranks en [0, 2], de [2, 2] -> stds 1, 0 -> 0.5; tr en [0, 0], de [4, 0] -> 2, 0 -> 1.0
    assert board.loc[("ccrk-x", "itc+itm"), "xflickrco_mrv_ir"] == 0.5
    assert board.loc[("dual-y", "itc"), "xm3600_all_mrv_tr"] == 1.0
    # the ITC-only row's MRV comes from the itc_* rank columns: ir [0, 0] in both languages -> 0
    assert board.loc[("ccrk-x", "itc"), "xflickrco_mrv_ir"] == 0.0
    published = board.loc[(PUBLISHED_CCRK["model"], "itc+itm")]
    assert published["xflickrco_ir_r1"] == 73.30 and published["xflickrco_tr_r1"] == 72.64
    assert pd.isna(published["xm3600_all_ir_r1"])  # nothing published for XM3600


def test_no_published_row_where_it_does_not_apply(inputs):
    models, tables, mrvs = inputs
    only_xm = {k: v for k, v in tables.items() if k[1] == "xm3600_all"}
    board = leaderboard(models, only_xm, {k: v for k, v in mrvs.items() if k[1] == "xm3600_all"})
    assert "published" not in set(board["kind"])


def test_written_files_name_the_protocol_of_every_column(inputs, tmp_path):
    models, tables, mrvs = inputs
    out = (tmp_path / "board.csv", tmp_path / "board.md", tmp_path / "board.png")
    languages = {"xflickrco": ["de", "en", "ja"], "xm3600_all": ["de", "en", "ja"]}
    write_leaderboard(
        models, tables, mrvs, out, languages, {"xflickrco": ["en", "de"], "xm3600_all": ["en", "de"]}
    )
    assert pd.read_csv(out[0]).shape == (4, 3 + 2 * 4 + 1)
    md = out[1].read_text()
    assert "`xm3600_all`: XM3600" in md and "every caption of each locale" in md and "R@1 over de/ja" in md
    assert "MRV over en/de" in md
    assert out[2].read_bytes().startswith(b"\x89PNG")
