"""Result tables: the IGLUE average over non-English languages, ITC columns, selection, MRV, the ablation."""

import json

import pandas as pd
import pytest

from ccrk.tables import ITC_COLUMNS, TABLE_COLUMNS, ablation_table, mrv_table, retrieval_table, write_table


def _metrics(tmp_path, name, base, selection="validation", itc=True):
    path = tmp_path / f"{name}.json"
    m = {c: base + i for i, c in enumerate(TABLE_COLUMNS)}
    if itc:
        m.update({c: base / 2 + i for i, c in enumerate(ITC_COLUMNS)})
    path.write_text(json.dumps({**m, "selection": selection}))
    return str(path)


def test_table_rows_and_non_english_average(tmp_path):
    files = {lang: _metrics(tmp_path, lang, base) for lang, base in [("de", 10), ("en", 90), ("ja", 20)]}
    df = retrieval_table(files)
    assert list(df["lang"]) == ["de", "en", "ja", "avg"]
    assert list(df.columns) == ["lang", *TABLE_COLUMNS, *ITC_COLUMNS, "selection"]
    avg = df.iloc[-1]
    assert avg["ir_r1"] == 15.0 and avg["r_mean"] == 21.0  # mean of de and ja only: (16 + 26) / 2
    assert avg["itc_ir_r1"] == 7.5 and avg["itc_tr_r1"] == 10.5  # (5 + 10) / 2 and (8 + 13) / 2
    assert set(df["selection"]) == {"validation"}
    write_table(df, tmp_path / "t.csv", tmp_path / "t.md", title="T", note="a note")
    assert pd.read_csv(tmp_path / "t.csv").shape == (4, 16)
    md = (tmp_path / "t.md").read_text()
    assert md.startswith("# T") and "| avg " in md and md.rstrip().endswith("a note")
    assert md.count("\n|") == 2 + 4  # the Markdown twin: header, separator and one line per CSV row


def test_table_records_a_mixed_selection_and_old_metrics(tmp_path):
    files = {
        "en": _metrics(tmp_path, "en", 50, "validation"),
        "de": _metrics(tmp_path, "de", 10, "test_as_original", itc=False),
    }
    df = retrieval_table(files).set_index("lang")
    assert df.loc["de", "selection"] == "test_as_original" and df.loc["en", "selection"] == "validation"
    assert df.loc["avg", "selection"] == "test_as_original"  # only de is averaged
    assert pd.isna(
        df.loc["de", "itc_ir_r1"]
    )  # metrics written before the ITC columns: empty cells, no failure


def test_table_by_setting_without_average(tmp_path):
    files = {
        (s, lang): _metrics(tmp_path, f"{s}_{lang}", base)
        for s, lang, base in [("en", "en", 80), ("en", "de", 40), ("all", "en", 82), ("all", "de", 70)]
    }
    df = retrieval_table(files, average=False)
    assert list(df.columns[:2]) == ["setting", "lang"] and len(df) == 4
    with_avg = retrieval_table(files)
    assert list(with_avg["lang"]) == ["en", "de", "avg", "en", "de", "avg"]
    assert list(with_avg.loc[with_avg["lang"] == "avg", "ir_r1"]) == [40.0, 70.0]  # per setting, de only


def test_table_names_missing_metric(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"ir_r1": 1.0}))
    with pytest.raises(ValueError, match="bad.json: metrics lack"):
        retrieval_table({"de": str(bad)})


def _ranks(tmp_path, lang, ir, tr):
    path = tmp_path / f"{lang}_ranks.csv"
    pd.DataFrame(
        {
            "index": range(len(ir)),
            "ir_rank": pd.array(ir, dtype="Int64"),
            "tr_rank": pd.array(tr, dtype="Int64"),
        }
    ).to_csv(path, index=False)
    return str(path)


def test_mrv_is_the_mean_population_std_and_skips_missing_items(tmp_path):
    files = {
        "en": _ranks(tmp_path, "en", [0, 0, 5], [0, 2, 1]),
        "de": _ranks(tmp_path, "de", [2, 0, None], [0, 2, 1]),  # item 2 has no German caption
    }
    df = mrv_table(files).set_index("direction")
    assert df.loc["ir", "mrv"] == pytest.approx((1.0 + 0.0) / 2)  # std of (0, 2) and (0, 0); item 2 left out
    assert df.loc["ir", "items"] == 2 and df.loc["tr", "items"] == 3
    assert df.loc["tr", "mrv"] == 0.0
    assert df.loc["ir", "langs"] == "en/de"


def test_mrv_per_setting_and_direction(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    files = {
        ("en", "en"): _ranks(tmp_path / "a", "en", [0, 0], [0, 4]),
        ("en", "fr"): _ranks(tmp_path / "a", "fr", [0, 0], [2, 0]),
        ("all", "en"): _ranks(tmp_path / "b", "en", [0, 0], [1, 1]),
        ("all", "fr"): _ranks(tmp_path / "b", "fr", [0, 0], [1, 1]),
    }
    df = mrv_table(files, directions=("tr",))
    assert list(df.columns) == ["setting", "direction", "langs", "mrv", "items", "left_out"]
    assert list(df["setting"]) == ["en", "all"] and set(df["direction"]) == {"tr"}
    assert list(df["mrv"]) == [1.5, 0.0]  # std(0, 2) = 1, std(4, 0) = 2 -> 1.5; identical ranks -> 0


def test_mrv_rejects_misaligned_rank_files(tmp_path):
    files = {"en": _ranks(tmp_path, "en", [0, 1], [0, 1]), "de": _ranks(tmp_path, "de", [0], [0])}
    with pytest.raises(ValueError, match="different items"):
        mrv_table(files)


def test_ablation_table_hand_computed(tmp_path):
    variants = {}
    for name, bases in (("1-to-K", {"en": 60, "de": 20, "ja": 30}), ("CCLM", {"en": 58, "de": 10, "ja": 12})):
        d = tmp_path / name
        d.mkdir()
        metrics = {lang: _metrics(d, lang, b) for lang, b in bases.items()}
        shift = 0 if name == "1-to-K" else 2
        ranks = {"en": _ranks(d, "en", [0, 1], [0, 0]), "de": _ranks(d, "de", [0, 1 + shift], [0, 2 * shift])}
        variants[name] = (metrics, ranks)
    df = ablation_table(variants, mrv_langs=["en", "de"]).set_index("variant")
    assert df.loc["1-to-K", "ir_r1_avg"] == 25.0 and df.loc["CCLM", "ir_r1_avg"] == 11.0
    assert df.loc["1-to-K", "tr_r1_avg"] == 28.0 and df.loc["1-to-K", "en_ir_r1"] == 60.0
    assert df.loc["1-to-K", "itc_ir_r1_avg"] == 12.5  # (10 + 15) / 2
    assert (
        df.loc["1-to-K", "mrv_ir"] == 0.0 and df.loc["CCLM", "mrv_ir"] == 0.5
    )  # std(1, 3) = 1, std(0, 0) = 0
    assert df.loc["CCLM", "mrv_tr"] == 1.0  # std(0, 0) = 0, std(0, 4) = 2


def test_ablation_summary_over_seeds_hand_computed():
    from ccrk.tables import ABLATION_METRICS, ablation_summary

    rows = []
    for seed, (a, b) in zip([42, 1, 2], [(20.0, 3.0), (24.0, 2.0), (22.0, 4.0)]):
        rows.append({"variant": "one_to_k", "seed": seed, **{m: a for m in ABLATION_METRICS}})
        rows.append({"variant": "cclm", "seed": seed, **{m: b for m in ABLATION_METRICS}})
    rows[0]["mrv_ir"] = 30.0  # one_to_k mrv_ir over seeds: 30, 24, 22 -> mean 25.33, std 4.16
    out = ablation_summary(pd.DataFrame(rows), "one_to_k", "cclm").set_index("metric")
    r = out.loc["ir_r1_avg"]
    assert r["seeds"] == 3 and r["one_to_k_mean"] == 22.0 and r["cclm_mean"] == 3.0
    assert r["one_to_k_std"] == 2.0 and r["cclm_std"] == 1.0  # sample std (ddof 1)
    assert r["gap"] == 19.0 and r["gap_exceeds_2std"]  # 19 > 2 x 2
    m = out.loc["mrv_ir"]
    assert m["one_to_k_std"] == pytest.approx(4.16, abs=0.01) and m["gap"] == pytest.approx(22.33, abs=0.01)
    assert m["gap_exceeds_2std"]  # 22.33 > 8.33
    one = ablation_summary(pd.DataFrame(rows[:2]), "one_to_k", "cclm").set_index("metric")
    assert one.loc["ir_r1_avg", "gap_exceeds_2std"] is None  # one seed: no spread to compare with
