# What the zero-shot rules (rules/zeroshot.smk) read: models, protocols with data, languages, files.
import re

from ccrk.formats.xm3600 import LOCALES as XM3600_LOCALES
from ccrk.zeroshot_protocols import DATASETS as ZS_DATASETS, PROTOCOLS as ZS_PROTOCOLS
from ccrk.zoo.spec import model_spec, spec_dict

ZS = config.get("zeroshot", {})
ZS_MODELS = {m["name"]: model_spec(m) for m in ZS.get("models", [])}
ZS_XM3600 = (
    {"captions": f"{DEMO['out_dir']}/xm3600/captions.jsonl", "images": f"{DEMO['out_dir']}/xm3600/images"}
    if DEMO["enabled"]
    else DATA.get("xm3600")
)
_MSCOCO_SOURCE = {"en": "karpathy", "ja": "yjcaptions", "zh": "coco_cn_captions"}


def zs_languages(protocol):
    """Test languages of a zero-shot protocol (MSCOCO: those with data)."""
    dataset = ZS_PROTOCOLS[protocol].dataset
    if dataset == "xflickrco":
        return list(LANGS["xflickrco_test"])
    if dataset == "xm3600":
        return list(ZS.get("xm3600", {}).get("locales") or XM3600_LOCALES)
    langs = PROTOCOLS.languages(dataset, "en" if dataset != "wit" else None)
    if dataset == "mscoco":
        langs = [x for x in langs if DATA.get("mscoco", {}).get(_MSCOCO_SOURCE[x])]
    return langs


def zs_mrv_languages(protocol):
    dataset = ZS_PROTOCOLS[protocol].dataset
    if dataset == "xflickrco":
        return list(LANGS["mrv"])
    if dataset == "multi30k":
        section = config["protocols"].get("multi30k", {})
        return list(section.get("mrv_languages") or zs_languages(protocol))
    return list(ZS.get("xm3600", {}).get("mrv_locales") or zs_languages(protocol))


def zs_has_data(protocol):
    dataset = ZS_PROTOCOLS[protocol].dataset
    if dataset == "xflickrco":
        return True
    if dataset == "xm3600":
        return bool(ZS_XM3600)
    if DEMO["enabled"]:
        return False  # the demo draws xFlickr&CO-style data only
    return bool(zs_languages(protocol)) and bool(
        DATA.get("multi30k")
        if dataset == "multi30k"
        else DATA.get("wit", {}).get("test_pixels") if dataset == "wit" else True
    )


ZS_ENABLED = list(ZS.get("protocols") or [p for p in ZS_PROTOCOLS if zs_has_data(p)])
for _p in ZS_ENABLED:
    if not zs_has_data(_p):
        raise ValueError(f"zeroshot.protocols: {_p} has no data (configure data.{ZS_PROTOCOLS[_p].dataset})")


def zs_test_file(protocol, lang):
    dataset = ZS_PROTOCOLS[protocol].dataset
    return ZS_XM3600["captions"] if dataset == "xm3600" else PROTOCOLS.test_file(dataset, lang)


def zs_images(dataset):
    return [ZS_XM3600["images"]] if dataset == "xm3600" else protocol_images(dataset)


def zs_model_inputs(name):
    """The local files a model reads (a hub tag or id with zeroshot.network is not a file)."""
    s = ZS_MODELS[name]
    if s.kind == "ccrk":
        return [s.checkpoint, s.tokenizer or tokenizer_dir()]
    if s.kind == "open_clip":
        local = [s.model.removeprefix("local-dir:")] if s.model.startswith("local-dir:") else []
        return local + [f for f in (s.model_config, s.weights, s.tokenizer) if f]
    return [] if ZS["network"] and not os.path.exists(s.path) else [s.path]


def zs_evaluate(name):
    return dict(config["evaluate"]) if ZS_MODELS[name].kind == "ccrk" else {}


def zs_out(protocol, lang, kind, model="{model}"):
    return f"results/zeroshot/{model}/{protocol}/{lang}_{kind}"


def zs_rerank(name):
    s = ZS_MODELS[name]
    return s.kind == "ccrk" and s.rerank


def zs_leaderboard_files(kind):
    """table / mrv CSV of every (model, protocol), as `model|protocol` -> path (params hold builtins)."""
    return {
        f"{m}|{p}": f"results/zeroshot/{m}/{p}_{kind}.csv"
        for m in ZS_MODELS
        for p in ZS_ENABLED
        if kind == "table" or ZS_PROTOCOLS[p].mrv
    }


ZS_TABLES = "|".join(ZS_ENABLED) or "(?!)"
