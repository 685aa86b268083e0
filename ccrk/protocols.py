"""The evaluation protocols as data: which files each (dataset, setting, language) run reads.

The protocols: docs/method.md#protocols.

The Snakemake rules ask this module for their inputs and parameters, so the protocol logic lives (and is
tested) in one place. Datasets and their settings:

  xflickrco  zeroshot (English Flickr30K fine-tuning, 8 test languages), fewshot (per language, from the
             English model, on train_{shots}.jsonl)
  wit        zeroshot (English WIT fine-tuning, 11 test languages)
  multi30k   en (English fine-tuning, all languages tested), single (per language), all (every language)
  mscoco     the same settings; k-fold test sets per language (`folds`)

Model selection: under `selection: validation` every run scores its epochs on held-out validation files;
`test_as_original` reproduces the original code (test sets for Multi30K, MSCOCO and few-shot).
"""

from __future__ import annotations

from dataclasses import dataclass

from ccrk.configfile import deep_merge

SETTINGS = {
    "xflickrco": ("zeroshot", "fewshot"),
    "wit": ("zeroshot",),
    "multi30k": ("en", "single", "all"),
    "mscoco": ("en", "single", "all"),
}
PER_LANGUAGE = {
    ("xflickrco", "fewshot"),
    ("multi30k", "single"),
    ("mscoco", "single"),
}  # one model per language
FORMAT = {"xflickrco": "iglue", "wit": "wit", "multi30k": "json", "mscoco": "json"}
TABLES = {  # table name -> (dataset, protocol name); multi30k and mscoco tables hold all their settings
    "xflickrco": ("xflickrco", "xflickrco_zeroshot"),
    "xflickrco_fewshot": ("xflickrco", "xflickrco_fewshot"),
    "wit": ("wit", "wit_zeroshot"),
    "multi30k": ("multi30k", "multi30k"),
    "mscoco": ("mscoco", "mscoco"),
}
AVERAGED = {"xflickrco", "xflickrco_fewshot", "wit"}  # tables with IGLUE's avg row over non-English languages
MRV_TABLES = {"xflickrco": ("ir", "tr"), "xflickrco_fewshot": ("ir", "tr"), "multi30k": ("tr",)}


@dataclass(frozen=True)
class DataDirs:
    iglue: str  # an IGLUE checkout's datasets/ folder (xFlickrCO, flickr30k)
    wit: str  # WIT {train_en,val_en,test_<lang>}.jsonl joined with their pixels (docs/method.md#wit)
    multi30k: (
        str  # {train,val}.<lang>.json, test_2016_flickr.<lang>.json (docs/method.md#multi30k-and-mscoco-json)
    )
    mscoco: str  # <lang>.{train,val,test}.json (docs/method.md#multi30k-and-mscoco-json)


class Protocols:
    """Answers, for a validated config (schema defaults filled), what each protocol run reads and writes."""

    def __init__(self, config: dict, dirs: DataDirs, pretrained: str = "results/pretrain/model.pt"):
        self.config, self.dirs, self.pretrained = config, dirs, pretrained
        self.section = config.get("protocols", {})

    # -- configuration ------------------------------------------------------------------------
    def protocol(self, dataset: str, setting: str) -> dict:
        self._check(dataset, setting)
        name = (
            "xflickrco_" + setting
            if dataset == "xflickrco"
            else "wit_zeroshot"
            if dataset == "wit"
            else dataset
        )
        return self.section.get(name, {})

    def selection(self, dataset: str, setting: str) -> str:
        return self.protocol(dataset, setting).get("selection") or self.section.get("selection", "validation")

    def _stage(self, dataset: str, setting: str, stage: str) -> dict:
        p = self.protocol(dataset, setting)
        by_setting = p.get("by_setting", {}).get(setting, {})
        return deep_merge(self.config.get(stage, {}), p.get(stage), by_setting.get(stage))

    def threads(self, dataset: str, setting: str) -> int:
        """CPU threads of each fine-tuning and evaluation job of a run: never a param (a change reruns nothing)."""
        return self.protocol(dataset, setting)["threads"]

    def finetune_config(self, dataset: str, setting: str) -> dict:
        return self._stage(dataset, setting, "finetune")

    def evaluate_config(self, dataset: str, setting: str) -> dict:
        return self._stage(dataset, setting, "evaluate")

    def settings(self, dataset: str) -> list[str]:
        if dataset == "xflickrco":
            return ["zeroshot", "fewshot"]
        return list(self.section.get(dataset, {}).get("settings", SETTINGS[dataset]))

    def languages(self, dataset: str, setting: str | None = None) -> list[str]:
        """Test languages (for a per-language setting: those with their own model, English excluded)."""
        if dataset == "xflickrco":
            langs = list(self.config["languages"]["xflickrco_test"])
            if setting == "fewshot":
                return list(
                    self.protocol(dataset, setting).get("languages") or [x for x in langs if x != "en"]
                )
            return langs
        langs = list(self.protocol(dataset, setting or SETTINGS[dataset][0])["languages"])
        return [x for x in langs if x != "en"] if (dataset, setting) in PER_LANGUAGE else langs

    def folds(self, dataset: str) -> dict[str, int]:
        return dict(self.section.get("mscoco", {}).get("folds", {})) if dataset == "mscoco" else {}

    def enabled_tables(self) -> list[str]:
        return [t for t, (_, name) in TABLES.items() if self.section.get(name, {}).get("enabled")]

    # -- files --------------------------------------------------------------------------------
    def _check(self, dataset: str, setting: str) -> None:
        if setting not in SETTINGS.get(dataset, ()):
            raise ValueError(f"unknown protocol {dataset}/{setting}; expected one of {SETTINGS}")

    def test_file(self, dataset: str, lang: str) -> str:
        d = self.dirs
        return {
            "xflickrco": f"{d.iglue}/xFlickrCO/annotations/{lang}/test.jsonl",
            "wit": f"{d.wit}/test_{lang}.jsonl",
            "multi30k": f"{d.multi30k}/test_2016_flickr.{lang}.json",
            "mscoco": f"{d.mscoco}/{lang}.test.json",
        }[dataset]

    def _split_file(self, dataset: str, split: str, lang: str) -> str:
        d = self.dirs
        if dataset == "xflickrco":
            return f"{d.iglue}/flickr30k/annotations/{split}_ann.jsonl"  # English Flickr30K
        if dataset == "wit":
            return f"{d.wit}/{split}_en.jsonl"
        return (
            f"{d.multi30k}/{split}.{lang}.json"
            if dataset == "multi30k"
            else f"{d.mscoco}/{lang}.{split}.json"
        )

    def _train_langs(self, dataset: str, setting: str, lang: str | None) -> list[str]:
        if setting in ("en", "zeroshot"):
            return ["en"]
        if setting in ("single", "fewshot"):
            if lang is None:
                raise ValueError(f"{dataset}/{setting} runs once per language; no language given")
            return [lang]
        return self.languages(dataset, setting)  # all

    def train_files(self, dataset: str, setting: str, lang: str | None = None) -> list[str]:
        self._check(dataset, setting)
        if setting == "fewshot":
            shots = self.protocol(dataset, setting)["shots"]
            return [f"{self.dirs.iglue}/xFlickrCO/annotations/{lang}/train_{shots}.jsonl"]
        return [self._split_file(dataset, "train", x) for x in self._train_langs(dataset, setting, lang)]

    def selection_files(self, dataset: str, setting: str, lang: str | None = None) -> list[str]:
        """Where epochs are scored: held-out validation, or what the original code scored.

        See docs/method.md#model-selection.
        """
        langs = self._train_langs(dataset, setting, lang)
        if self.selection(dataset, setting) == "validation":
            return [self._split_file(dataset, "valid" if dataset == "xflickrco" else "val", x) for x in langs]
        if dataset == "xflickrco" and setting == "fewshot":
            return [
                self.test_file(dataset, lang)
            ]  # the original's few-shot "val" is the target-language test
        if dataset in ("xflickrco", "wit"):  # the original already selects on validation data here
            return [self._split_file(dataset, "valid" if dataset == "xflickrco" else "val", "en")]
        if dataset == "mscoco":
            return [self.test_file(dataset, "en")]  # CCRK evaluates only en during MSCOCO training
        if setting == "en":  # Multi30K: the sum of test r_mean over every evaluated language
            langs = self.languages(dataset, setting)
        return [self.test_file(dataset, x) for x in langs]

    def run(self, dataset: str, setting: str, lang: str | None = None) -> str:
        """The name of one fine-tuning run: `dataset/setting`, or `dataset/setting/lang` for per-language ones."""
        self._check(dataset, setting)
        if ((dataset, setting) in PER_LANGUAGE) != (lang is not None):
            raise ValueError(f"{dataset}/{setting}: a language is needed exactly for per-language settings")
        return f"{dataset}/{setting}/{lang}" if lang else f"{dataset}/{setting}"

    def parse_run(self, run: str) -> tuple[str, str, str | None]:
        """(dataset, setting, lang or None) of a run name; raises on anything `run` would not produce."""
        parts = run.split("/")
        dataset, setting, lang = (parts + [None])[:3] if len(parts) in (2, 3) else (None, None, None)
        if dataset is None or self.run(dataset, setting, lang) != run:
            raise ValueError(f"not a protocol run: {run!r}")
        return dataset, setting, lang

    def model(self, dataset: str, setting: str, lang: str | None = None) -> str:
        return f"results/finetune/{self.run(dataset, setting, lang)}/model.pt"

    def init_model(self, dataset: str, setting: str, lang: str | None = None) -> str:
        """The checkpoint a run starts from: the pretrained model, or the English fine-tuned one."""
        if setting == "fewshot":
            return self.model(dataset, "zeroshot")
        if setting == "single" and self.protocol(dataset, setting).get("single_from", "en") == "en":
            return self.model(dataset, "en")
        return self.pretrained

    def eval_file(self, dataset: str, setting: str, lang: str, kind: str) -> str:
        """results/eval/... `{lang}_metrics.json` or `{lang}_ranks.csv`; a per-language setting takes its
        English row from the English model (few-shot: zero-shot; single: en), as the paper does."""
        if lang == "en" and (dataset, setting) in PER_LANGUAGE:
            setting = "zeroshot" if dataset == "xflickrco" else "en"
        return f"results/eval/{dataset}/{setting}/{lang}_{kind}"

    def table_rows(self, table: str) -> dict:
        """Table row key (language, or (setting, language) for multi-setting tables) -> metrics file."""
        dataset, name = TABLES[table]
        if dataset in ("multi30k", "mscoco"):
            langs = self.languages(dataset, "en")
            return {
                (s, x): self.eval_file(dataset, s, x, "metrics.json")
                for s in self.settings(dataset)
                for x in langs
            }
        setting = "fewshot" if table == "xflickrco_fewshot" else "zeroshot"
        langs = self.languages(dataset, "zeroshot")
        if setting == "fewshot":
            chosen = set(self.languages(dataset, "fewshot"))
            langs = [x for x in langs if x == "en" or x in chosen]
        return {x: self.eval_file(dataset, setting, x, "metrics.json") for x in langs}

    def mrv_rows(self, table: str) -> dict:
        """MRV inputs: language (or (setting, language)) -> ranks file, over the MRV languages."""
        dataset, _ = TABLES[table]
        if table not in MRV_TABLES:
            raise ValueError(f"no MRV for {table}; MRV is defined for {sorted(MRV_TABLES)}")
        if dataset == "multi30k":
            p = self.section.get("multi30k", {})
            langs = p.get("mrv_languages") or p["languages"]
            return {
                (s, x): self.eval_file(dataset, s, x, "ranks.csv")
                for s in self.settings(dataset)
                for x in langs
            }
        setting = "fewshot" if table == "xflickrco_fewshot" else "zeroshot"
        langs = self.config["languages"]["mrv"]
        if (
            setting == "fewshot"
        ):  # English from the zero-shot model, the others only where a few-shot run exists
            langs = [x for x in langs if x == "en" or x in self.languages(dataset, setting)]
        return {x: self.eval_file(dataset, setting, x, "ranks.csv") for x in langs}
