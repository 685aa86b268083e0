"""Result tables: per-language retrieval metrics (IGLUE layout) and MRV across languages."""

import logging

import numpy as np
import pandas as pd

from ccrk.io import atomic_open, atomic_path, read_json
from ccrk.metrics import mean_rank_variance

log = logging.getLogger("ccrk.tables")

TABLE_COLUMNS = ["ir_r1", "ir_r5", "ir_r10", "tr_r1", "tr_r5", "tr_r10", "r_mean"]


def retrieval_table(metric_files: dict[str, str], avg_exclude=("en",)) -> pd.DataFrame:
    """One row per language (in the given order) and a final `avg` row over the languages not excluded."""
    rows = [{"lang": lang, **{c: read_json(path)[c] for c in TABLE_COLUMNS}} for lang, path in metric_files.items()]
    df = pd.DataFrame(rows, columns=["lang", *TABLE_COLUMNS])
    averaged = df[~df["lang"].isin(avg_exclude)]
    if len(averaged):  # IGLUE convention: the average is over the non-English languages
        df.loc[len(df)] = {"lang": "avg", **averaged[TABLE_COLUMNS].mean().to_dict()}
    return df.round(2)


def write_table(df: pd.DataFrame, csv_path, md_path=None, title: str | None = None) -> None:
    with atomic_path(csv_path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.2f")
    if md_path:
        with atomic_open(md_path) as f:
            if title:
                f.write(f"# {title}\n\n")
            f.write(df.to_markdown(index=False, floatfmt=".2f") + "\n")


def rank_matrix(ranks_files: dict[str, str], column: str) -> tuple[np.ndarray, int]:
    """[n_items, n_langs] ranks of one direction; items missing in any language are left out (and counted)."""
    frames = [pd.read_csv(path, dtype={column: "Int64"}).set_index("index")[column] for path in ranks_files.values()]
    lengths = {len(f) for f in frames}
    if len(lengths) != 1:
        raise ValueError(f"rank files cover different items ({sorted(lengths)} rows): {list(ranks_files.values())}")
    m = pd.concat(frames, axis=1)
    complete = m.dropna()
    return complete.to_numpy(dtype=np.float64), len(m) - len(complete)


def mrv_table(ranks_files: dict[str, str], reduce: str = "std") -> pd.DataFrame:
    """MRV (SPEC §4.3) for IR (per-caption ranks) and TR (per-image ranks) across the given languages."""
    rows = []
    for direction, column in (("ir", "ir_rank"), ("tr", "tr_rank")):
        ranks, left_out = rank_matrix(ranks_files, column)
        if left_out:
            log.warning("MRV %s: %d items without a rank in some language are left out", direction, left_out)
        rows.append({"direction": direction, "langs": "/".join(ranks_files), "mrv": mean_rank_variance(ranks, reduce)})
    return pd.DataFrame(rows).round(2)
