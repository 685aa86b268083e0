"""Result tables: the IGLUE average over non-English languages and MRV from rank files."""

import json

import pandas as pd
import pytest

from ccrk.tables import TABLE_COLUMNS, mrv_table, retrieval_table, write_table


def _metrics(tmp_path, lang, base):
    path = tmp_path / f"{lang}.json"
    path.write_text(json.dumps({c: base + i for i, c in enumerate(TABLE_COLUMNS)}))
    return str(path)


def test_table_rows_and_non_english_average(tmp_path):
    files = {lang: _metrics(tmp_path, lang, base) for lang, base in [("de", 10), ("en", 90), ("ja", 20)]}
    df = retrieval_table(files)
    assert list(df["lang"]) == ["de", "en", "ja", "avg"]
    assert list(df.columns) == ["lang", *TABLE_COLUMNS]
    assert df.iloc[-1]["ir_r1"] == 15.0 and df.iloc[-1]["r_mean"] == 21.0  # mean of de and ja only
    write_table(df, tmp_path / "t.csv", tmp_path / "t.md", title="T")
    assert pd.read_csv(tmp_path / "t.csv").shape == (4, 8)
    md = (tmp_path / "t.md").read_text()
    assert md.startswith("# T") and "| avg " in md


def _ranks(tmp_path, lang, ir, tr):
    path = tmp_path / f"{lang}_ranks.csv"
    pd.DataFrame({"index": range(len(ir)), "ir_rank": pd.array(ir, dtype="Int64"),
                  "tr_rank": pd.array(tr, dtype="Int64")}).to_csv(path, index=False)
    return str(path)


def test_mrv_is_the_mean_population_std_and_skips_missing_items(tmp_path):
    files = {
        "en": _ranks(tmp_path, "en", [0, 0, 5], [0, 2, 1]),
        "de": _ranks(tmp_path, "de", [2, 0, None], [0, 2, 1]),  # item 2 has no German caption
    }
    df = mrv_table(files).set_index("direction")
    assert df.loc["ir", "mrv"] == pytest.approx((1.0 + 0.0) / 2)  # std of (0, 2) and (0, 0); item 2 left out
    assert df.loc["tr", "mrv"] == 0.0
    assert df.loc["ir", "langs"] == "en/de"


def test_mrv_rejects_misaligned_rank_files(tmp_path):
    files = {"en": _ranks(tmp_path, "en", [0, 1], [0, 1]), "de": _ranks(tmp_path, "de", [0], [0])}
    with pytest.raises(ValueError, match="different items"):
        mrv_table(files)
