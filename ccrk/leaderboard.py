"""The zero-shot leaderboard: one row per model (and scoring), per protocol the non-English R@1 and MRV.

Built from the per-(model, protocol) tables and MRV tables (`ccrk.tables`), beside the published CCRK row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ccrk.zeroshot_protocols import PROTOCOLS

# CCRK 3M, 10 languages (CCR^10-E): Nie et al., KDD 2024, arXiv 2406.18254, Table 1 (zero-shot = fine-tuned on
# English). R@1 averaged over the non-English languages; its Multi30K / MSCOCO columns are mean recall, not
# R@1, and its MRV4 (xFlickr&CO 7.89, Multi30K 2.53) does not say which direction, so neither is placed here.
PUBLISHED_CCRK = {
    "model": "CCRK 3M 10 languages (published)",
    "kind": "published",
    "scoring": "itc+itm",
    "values": {
        "xflickrco_ir_r1": 73.30,
        "xflickrco_tr_r1": 72.64,
        "wit_ir_r1": 11.11,
        "wit_tr_r1": 12.62,
    },
    "description": "arXiv 2406.18254 Table 1, fine-tuned on English; MRV4 7.89 (xFlickr&CO, direction not stated)",
}


def scorings(kind: str, rerank: bool) -> list[str]:
    """The rows of one model: a re-ranked ccrk model also gets its ITC-only row."""
    return ["itc+itm", "itc"] if kind == "ccrk" and rerank else ["itc"]


def _prefix(kind: str, scoring: str) -> str:
    # a re-ranked model's ITC-only numbers are its itc_* columns; a dual encoder's ITC ranks are its main ones
    return "itc_" if kind == "ccrk" and scoring == "itc" else ""


def leaderboard(models: list[dict], tables: dict, mrvs: dict, published: bool = True) -> pd.DataFrame:
    """models: [{name, kind, rerank, description}]; tables[(name, protocol)] = table CSV (with an `avg` row);
    mrvs[(name, protocol)] = MRV CSV (protocols whose images align across languages)."""
    protocols = list(dict.fromkeys(p for _, p in tables))
    rows = []
    for m in models:
        for scoring in scorings(m["kind"], m.get("rerank", False)):
            pre = _prefix(m["kind"], scoring)
            row = {"model": m["name"], "kind": m["kind"], "scoring": scoring}
            for p in protocols:
                avg = pd.read_csv(tables[(m["name"], p)]).set_index("lang").loc["avg"]
                row[f"{p}_ir_r1"] = avg[f"{pre}ir_r1"]
                row[f"{p}_tr_r1"] = avg[f"{pre}tr_r1"]
                if (m["name"], p) in mrvs:
                    mrv = pd.read_csv(mrvs[(m["name"], p)]).set_index("direction")["mrv"]
                    for direction in PROTOCOLS[p].mrv:
                        row[f"{p}_mrv_{direction}"] = mrv.get(f"{pre}{direction}", np.nan)
            row["description"] = m.get("description", "")
            rows.append(row)
    columns = ["model", "kind", "scoring"] + [
        c
        for p in protocols
        for c in [f"{p}_ir_r1", f"{p}_tr_r1"] + [f"{p}_mrv_{d}" for d in PROTOCOLS[p].mrv]
    ]
    if published and any(k in columns for k in PUBLISHED_CCRK["values"]):
        rows.append(
            {
                **{k: PUBLISHED_CCRK[k] for k in ("model", "kind", "scoring", "description")},
                **{k: v for k, v in PUBLISHED_CCRK["values"].items() if k in columns},
            }
        )
    return pd.DataFrame(rows, columns=[*columns, "description"]).round(2)


def legend(protocols: list[str], languages: dict[str, list[str]], mrv_languages: dict[str, list[str]]) -> str:
    """The protocol of every column group, for the Markdown twin."""
    lines = [
        "Columns: `<protocol>_ir_r1` / `_tr_r1` = R@1 (%) text-to-image / image-to-text averaged over the"
    ]
    lines.append(
        "non-English languages; `_mrv_ir` / `_mrv_tr` = mean rank variance across languages (lower is more"
    )
    lines.append("consistent). Protocols:")
    for p in protocols:
        non_en = [x for x in languages[p] if x != "en"]
        mrv = f"; MRV over {'/'.join(mrv_languages[p])}" if mrv_languages.get(p) else ""
        lines.append(f"- `{p}`: {PROTOCOLS[p].description}; R@1 over {'/'.join(non_en)}{mrv}.")
    lines.append(
        "scoring: itc = dual-encoder cosine ranking; itc+itm = ITC top-k re-ranked by the ITM head (ccrk models)."
    )
    return "\n".join(lines)


def leaderboard_chart(
    leaderboard_csv, out_png, title: str = "zero-shot: R@1 averaged over non-English languages"
):
    """One bar group per R@1 column (protocol and direction), one bar per row; the published row hatched."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display
    import matplotlib.pyplot as plt

    from ccrk.io import atomic_path

    df = pd.read_csv(leaderboard_csv)
    columns = [c for c in df.columns if c.endswith("_r1")]
    bars = df.assign(row=df["model"] + " (" + df["scoring"] + ")").set_index("row")[columns].T
    bars.index = [c.removesuffix("_r1").replace("_ir", " IR").replace("_tr", " TR") for c in columns]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(columns) + 2), 4.2))
    bars.plot.bar(ax=ax, width=0.8, edgecolor="black", linewidth=0.4, rot=30)
    for container, kind in zip(ax.containers, df["kind"]):
        if kind == "published":  # numbers copied from a paper, not measured here
            for patch in container:
                patch.set_hatch("//")
                patch.set_alpha(0.55)
    ax.set_ylabel("R@1 (%)")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def write_leaderboard(
    models, tables, mrvs, outputs, languages, mrv_languages, published: bool = True
) -> None:
    """The leaderboard CSV, its Markdown twin with the protocol legend, and its chart."""
    from ccrk.tables import write_table

    csv, md, png = outputs
    df = leaderboard(models, tables, mrvs, published)
    protocols = list(dict.fromkeys(p for _, p in tables))
    write_table(
        df,
        csv,
        md,
        title="Zero-shot leaderboard: R@1 averaged over the non-English languages, MRV",
        note=legend(protocols, languages, mrv_languages),
    )
    leaderboard_chart(csv, png)
