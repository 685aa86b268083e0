"""Bar charts: the bars drawn per language, published baselines marked, one PNG per table."""

import math

import pandas as pd
from PIL import Image

from ccrk.plots import PUBLISHED, bar_chart, chart_series


def test_series_put_published_values_under_the_right_languages():
    table = pd.DataFrame(
        {"lang": ["de", "en", "avg"], "ir_r1": [10.0, 30.0, 10.0], "tr_r1": [9.0, 28.0, 9.0]}
    )
    series = chart_series(table, PUBLISHED["xflickrco"])
    labels = [s["label"] for s in series]
    assert labels[:2] == ["ccrk IR@1", "ccrk TR@1"] and not series[0]["published"]
    uc2_ir = series[labels.index("UC2 IR@1 (published)")]
    assert uc2_ir["published"] and uc2_ir["values"] == [
        28.60,
        37.40,
        20.31,
    ]  # IGLUE results/xflickrco, UC2 IR
    ccrk = series[labels.index("CCRK 3M 10 lang. IR@1 (published)")]
    assert math.isnan(ccrk["values"][0]) and ccrk["values"][2] == 73.30  # only an average was published
    assert chart_series(table, [])[1]["values"] == [9.0, 28.0, 9.0]


def test_chart_png_per_setting(tmp_path):
    table = pd.DataFrame(
        {
            "setting": ["en", "en", "all", "all"],
            "lang": ["en", "de"] * 2,
            "ir_r1": [50.0, 20.0, 51.0, 40.0],
            "tr_r1": [55.0, 22.0, 50.0, 41.0],
        }
    )
    table.to_csv(tmp_path / "t.csv", index=False)
    bar_chart(tmp_path / "t.csv", tmp_path / "t.png", "multi30k", title="multi30k")
    with Image.open(tmp_path / "t.png") as im:
        assert im.format == "PNG" and im.size[1] > im.size[0] / 2  # two stacked panels
    single = pd.DataFrame({"lang": ["en", "avg"], "ir_r1": [5.0, 1.0], "tr_r1": [4.0, 2.0]})
    single.to_csv(tmp_path / "s.csv", index=False)
    bar_chart(tmp_path / "s.csv", tmp_path / "s.png", "wit")
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_demo_chart_shows_chance_and_no_published_bars(tmp_path, monkeypatch):
    """The synthetic demo's chart: a chance line, no real-data bars (the chart rule passes published=None)."""
    import matplotlib.axes

    drawn = {"bars": [], "lines": []}
    monkeypatch.setattr(matplotlib.axes.Axes, "bar", lambda self, *a, **k: drawn["bars"].append(k["label"]))
    real_axhline = matplotlib.axes.Axes.axhline
    monkeypatch.setattr(
        matplotlib.axes.Axes,
        "axhline",
        lambda self, y, **k: drawn["lines"].append((y, k["label"])) or real_axhline(self, y, **k),
    )
    table = pd.DataFrame(
        {"lang": ["de", "en", "avg"], "ir_r1": [10.0, 30.0, 10.0], "tr_r1": [9.0, 28.0, 9.0]}
    )
    table.to_csv(tmp_path / "t.csv", index=False)
    bar_chart(tmp_path / "t.csv", tmp_path / "t.png", None, title="demo", chance=0.5)
    assert drawn["bars"] == ["ccrk IR@1", "ccrk TR@1"]
    assert drawn["lines"] == [(0.5, "chance (0.5 %)")]
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
