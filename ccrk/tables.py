"""Result tables: per-language retrieval metrics (IGLUE layout), MRV across languages, the demo ablation."""

import logging

import numpy as np
import pandas as pd

from ccrk.io import atomic_open, atomic_path, read_json
from ccrk.metrics import mean_rank_variance

log = logging.getLogger("ccrk.tables")

TABLE_COLUMNS = ["ir_r1", "ir_r5", "ir_r10", "tr_r1", "tr_r5", "tr_r10", "r_mean"]
ITC_COLUMNS = [f"itc_{c}" for c in TABLE_COLUMNS]  # the dual-encoder (ITC-only) ranking of the same model


def _row(path) -> dict:
    m = read_json(path)
    missing = [c for c in TABLE_COLUMNS if c not in m]
    if missing:
        raise ValueError(f"{path}: metrics lack {missing}")
    # metrics from before the ITC columns existed leave those cells empty rather than failing
    return {
        **{c: m[c] for c in TABLE_COLUMNS},
        **{c: m.get(c, np.nan) for c in ITC_COLUMNS},
        "selection": m.get("selection", "unknown"),
    }


def retrieval_table(metric_files: dict, avg_exclude=("en",), average: bool = True) -> pd.DataFrame:
    """One row per language in the given order, then an `avg` row over the languages not excluded.

    Keys are languages, or (setting, language) pairs for tables of several settings (a `setting` column,
    and one `avg` row per setting). `selection` says how each row's checkpoint was chosen.
    """
    by_setting = all(isinstance(k, tuple) for k in metric_files)
    keys = ["setting", "lang"] if by_setting else ["lang"]
    rows = [{**dict(zip(keys, k if by_setting else (k,))), **_row(path)} for k, path in metric_files.items()]
    df = pd.DataFrame(rows, columns=[*keys, *TABLE_COLUMNS, *ITC_COLUMNS, "selection"])
    if not average:
        return df.round(2)
    out = []
    for setting, group in df.groupby("setting", sort=False) if by_setting else [(None, df)]:
        out.append(group)
        averaged = group[~group["lang"].isin(avg_exclude)]
        if len(averaged):  # IGLUE convention: the average is over the non-English languages
            avg = {
                "lang": "avg",
                **averaged[TABLE_COLUMNS + ITC_COLUMNS].mean().to_dict(),
                "selection": "/".join(dict.fromkeys(averaged["selection"])),
            }
            if by_setting:
                avg["setting"] = setting
            out.append(pd.DataFrame([avg], columns=df.columns))
    return pd.concat(out, ignore_index=True).round(2)


def write_table(
    df: pd.DataFrame, csv_path, md_path=None, title: str | None = None, note: str | None = None
) -> None:
    """The CSV and its Markdown twin (same rows and columns, a title and a note under it)."""
    with atomic_path(csv_path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.2f")
    if md_path:
        with atomic_open(md_path) as f:
            if title:
                f.write(f"# {title}\n\n")
            f.write(df.to_markdown(index=False, floatfmt=".2f") + "\n")
            if note:
                f.write(f"\n{note}\n")


def rank_matrix(ranks_files: dict[str, str], column: str) -> tuple[np.ndarray, int]:
    """[n_items, n_langs] ranks of one direction, and how many items were left out.

    Items are aligned by their `image` key where the files have one (a gallery without captionless images, as
    the original builds it, is shorter and shifted: aligning by row would pair different images), else by row.
    An item missing, or without a rank, in any language is left out and counted.
    """
    tables = {lang: pd.read_csv(path, dtype={column: "Int64"}) for lang, path in ranks_files.items()}
    keyed = ["image" in t.columns for t in tables.values()]
    if all(keyed):
        frames = [t.set_index("image")[column] for t in tables.values()]
    elif not any(keyed):
        frames = [t.set_index("index")[column] for t in tables.values()]
        if len({len(f) for f in frames}) != 1:
            raise ValueError(
                f"rank files cover different items ({sorted({len(f) for f in frames})} rows) and have no "
                f"`image` column to align them by: {list(ranks_files.values())}"
            )
    else:
        raise ValueError(f"some rank files have an `image` column, some not: {list(ranks_files.values())}")
    for lang, f in zip(ranks_files, frames):
        if f.index.has_duplicates:
            raise ValueError(f"{ranks_files[lang]}: item {f.index[f.index.duplicated()][0]!r} appears twice")
    m = pd.concat(frames, axis=1, join="outer", sort=False)
    complete = m.dropna()
    return complete.to_numpy(dtype=np.float64), len(m) - len(complete)


def mrv_table(ranks_files: dict, reduce: str = "std", directions=("ir", "tr")) -> pd.DataFrame:
    """MRV (docs/method.md#mrv) for IR (per-caption ranks) and TR (per-image ranks) across the given languages.

    Keys are languages, or (setting, language) pairs: then one MRV per setting, with a `setting` column.
    `items` counts the items averaged over, `left_out` those missing or unranked in some language.
    """
    groups: dict = {}
    for k, path in ranks_files.items():
        setting, lang = k if isinstance(k, tuple) else (None, k)
        groups.setdefault(setting, {})[lang] = path
    rows = []
    for setting, files in groups.items():
        for direction in directions:
            ranks, left_out = rank_matrix(files, f"{direction}_rank")
            if left_out:
                log.warning(
                    "MRV %s: %d items without a rank in some language are left out", direction, left_out
                )
            row = {
                "direction": direction,
                "langs": "/".join(files),
                "mrv": mean_rank_variance(ranks, reduce),
                "items": len(ranks),
                "left_out": left_out,
            }
            rows.append(row if setting is None else {"setting": setting, **row})
    return pd.DataFrame(rows).round(2)


ABLATION_METRICS = (
    "ir_r1_avg",
    "tr_r1_avg",
    "itc_ir_r1_avg",
    "itc_tr_r1_avg",
    "en_ir_r1",
    "en_tr_r1",
    "mrv_ir",
    "mrv_tr",
)


def ablation_row(metrics: dict[str, str], ranks: dict[str, str], mrv_langs, avg_exclude=("en",)) -> dict:
    """One pretrained model's R@1 (re-ranked and ITC-only) averaged over the non-English languages, English
    R@1, and MRV over `mrv_langs`, from its {lang: metrics json} and {lang: ranks csv}."""
    t = retrieval_table(metrics, avg_exclude).set_index("lang")
    mrv = mrv_table({lang: ranks[lang] for lang in mrv_langs}).set_index("direction")["mrv"]
    return {
        "ir_r1_avg": t.loc["avg", "ir_r1"],
        "tr_r1_avg": t.loc["avg", "tr_r1"],
        "itc_ir_r1_avg": t.loc["avg", "itc_ir_r1"],
        "itc_tr_r1_avg": t.loc["avg", "itc_tr_r1"],
        "en_ir_r1": t.loc["en", "ir_r1"],
        "en_tr_r1": t.loc["en", "tr_r1"],
        "mrv_ir": mrv["ir"],
        "mrv_tr": mrv["tr"],
    }


def ablation_table(
    variants: dict[str, tuple[dict[str, str], dict[str, str]]], mrv_langs, avg_exclude=("en",)
):
    """One row per pretraining variant (`ablation_row`). variants[name] = ({lang: metrics json}, {lang: ranks csv})."""
    rows = [
        {"variant": name, **ablation_row(metrics, ranks, mrv_langs, avg_exclude)}
        for name, (metrics, ranks) in variants.items()
    ]
    return pd.DataFrame(rows).round(2)


def ablation_summary(per_seed: pd.DataFrame, first: str, second: str) -> pd.DataFrame:
    """Mean and sample standard deviation over seeds of each `ABLATION_METRICS` for two variants, their gap.

    per_seed: one row per (variant, seed) with the metric columns. `gap` = mean(first) - mean(second);
    `gap_exceeds_2std` says whether |gap| is larger than twice the larger of the two standard deviations
    (with one seed there is no standard deviation, and the answer is empty).
    """
    rows = []
    for metric in ABLATION_METRICS:
        a = per_seed.loc[per_seed["variant"] == first, metric].astype(float)
        b = per_seed.loc[per_seed["variant"] == second, metric].astype(float)
        spread = max(a.std(ddof=1), b.std(ddof=1)) if min(len(a), len(b)) > 1 else float("nan")
        gap = a.mean() - b.mean()
        rows.append(
            {
                "metric": metric,
                "seeds": min(len(a), len(b)),
                f"{first}_mean": a.mean(),
                f"{first}_std": a.std(ddof=1) if len(a) > 1 else float("nan"),
                f"{second}_mean": b.mean(),
                f"{second}_std": b.std(ddof=1) if len(b) > 1 else float("nan"),
                "gap": gap,
                "gap_exceeds_2std": None if spread != spread else bool(abs(gap) > 2 * spread),
            }
        )
    return pd.DataFrame(rows).round(2)
