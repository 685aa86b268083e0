"""Bar charts of the result tables: languages on x, IR and TR R@1 bars, published baselines beside them."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # files only, never a display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ccrk.io import atomic_path  # noqa: E402

# Published R@1 (percent), for context only; never produced by ccrk. Sources:
# - UC2 and xUNITER on xFlickr&CO, zero-shot: e-bug/iglue results/xflickrco/xFlickrCO_ir_0.csv and
#   xFlickrCO_tr_0.csv (rows uc2, ctrl_xuniter; avg = the 7 non-English languages);
# - UC2 on WIT, zero-shot: e-bug/iglue results/wit/WIT_ir_0.csv and WIT_tr_0.csv (avg of the 10 non-English);
# - CCRK 3M 10 languages (CCR^10-E): arXiv 2406.18254, Table 1 (averages over the non-English languages;
#   per-language CCRK numbers are not published).
# Multi30K/MSCOCO anchors are mean recall, not R@1, so their charts show ccrk's bars only.
PUBLISHED: dict[str, list[tuple[str, str, dict[str, float]]]] = {
    "xflickrco": [
        (
            "UC2",
            "ir_r1",
            {
                "en": 37.40,
                "de": 28.60,
                "es": 15.95,
                "id": 14.60,
                "ja": 24.25,
                "ru": 20.00,
                "tr": 7.15,
                "zh": 31.60,
                "avg": 20.31,
            },
        ),
        (
            "UC2",
            "tr_r1",
            {
                "en": 34.55,
                "de": 23.90,
                "es": 15.30,
                "id": 13.60,
                "ja": 22.40,
                "ru": 16.75,
                "tr": 6.95,
                "zh": 26.30,
                "avg": 17.89,
            },
        ),
        (
            "xUNITER",
            "ir_r1",
            {
                "en": 38.45,
                "de": 14.55,
                "es": 16.10,
                "id": 16.50,
                "ja": 10.25,
                "ru": 15.90,
                "tr": 9.05,
                "zh": 15.95,
                "avg": 14.04,
            },
        ),
        ("CCRK 3M 10 lang.", "ir_r1", {"avg": 73.30}),
        ("CCRK 3M 10 lang.", "tr_r1", {"avg": 72.64}),
    ],
    "xflickrco_fewshot": [
        ("CCRK 3M 10 lang.", "ir_r1", {"avg": 73.74}),
        ("CCRK 3M 10 lang.", "tr_r1", {"avg": 73.27}),
    ],
    "wit": [
        ("UC2", "ir_r1", {"avg": 7.83}),
        ("UC2", "tr_r1", {"avg": 9.09}),
        ("CCRK 3M 10 lang.", "ir_r1", {"avg": 11.11}),
        ("CCRK 3M 10 lang.", "tr_r1", {"avg": 12.62}),
    ],
}

DIRECTION = {"ir_r1": "IR", "tr_r1": "TR"}


def chart_series(table: pd.DataFrame, published, label: str = "ccrk") -> list[dict]:
    """The bars of one chart: ccrk's IR and TR R@1 per language, then each published series (NaN = no bar)."""
    langs = list(table["lang"])
    series = [
        {"label": f"{label} {DIRECTION[col]}@1", "values": [float(v) for v in table[col]], "published": False}
        for col in ("ir_r1", "tr_r1")
    ]
    for name, col, values in published:
        if any(lang in values for lang in langs):
            series.append(
                {
                    "label": f"{name} {DIRECTION[col]}@1 (published)",
                    "published": True,
                    "values": [values.get(lang, math.nan) for lang in langs],
                }
            )
    return series


def bar_chart(
    table_csv,
    out_png,
    published_key: str | None = None,
    title: str = "",
    label: str = "ccrk",
    chance: float | None = None,
) -> None:
    """One panel per setting (or one panel): languages on x, IR/TR R@1 bars, published ones hatched.

    `chance`: R@1 of a random ranking (100 / gallery size), drawn as a dashed line. Published numbers are
    real-data results: a chart of the synthetic demo passes published_key=None and shows none of them.
    """
    df = pd.read_csv(table_csv)
    published = PUBLISHED.get(published_key or "", [])
    panels = list(df.groupby("setting", sort=False)) if "setting" in df.columns else [(None, df)]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 3.6 * len(panels)), squeeze=False)
    for ax, (setting, table) in zip(axes[:, 0], panels):
        series = chart_series(table, published, label)
        width = 0.8 / len(series)
        for i, s in enumerate(series):
            xs = [x + (i - (len(series) - 1) / 2) * width for x in range(len(table))]
            ax.bar(
                xs,
                s["values"],
                width,
                label=s["label"],
                hatch="//" if s["published"] else None,
                alpha=0.55 if s["published"] else 1.0,
                edgecolor="black",
                linewidth=0.4,
            )
        if chance is not None:
            ax.axhline(chance, color="red", linestyle="--", linewidth=1, label=f"chance ({chance:.2g} %)")
        ax.set_xticks(range(len(table)), list(table["lang"]))
        ax.set_ylabel("R@1 (%)")
        ax.set_title(f"{title} ({setting})" if setting is not None else title)
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
