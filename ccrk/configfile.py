"""Config files: YAML layered as Snakemake layers them, validated against the schema with its defaults filled.

The one place that reads and checks a config, for the Snakefile (`validate_config(config)`) and for
`python -m ccrk ... --config A.yaml [B.yaml ...]`. The schema ships inside the package (`ccrk/schema.yaml`),
so an installed ccrk finds it too.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

import yaml

SCHEMA_PATH = Path(__file__).with_name("schema.yaml")
SCHEMA_URI = "urn:ccrk:schema"  # what $refs into the schema resolve against


class ConfigError(ValueError):
    """A config that does not validate; the message names the source, each key and what is wrong."""


def deep_merge(base: dict, *overrides: dict | None) -> dict:
    """A copy of `base` with each override's keys laid over it, nested dicts merged key by key.

    Snakemake's rule for --configfile (snakemake.utils.update_config): dicts merge, anything else replaces.
    """
    out = copy.deepcopy(base)
    for over in overrides:
        for key, value in (over or {}).items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = deep_merge(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
    return out


def read_config_file(path) -> dict:
    """One config file, read as Snakemake reads it: JSON if it parses as JSON, else YAML; a mapping at the top."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file holds keys at its top level, not a {type(data).__name__}")
    return data


def load_config(paths) -> dict:
    """The files layered in order (later keys over earlier ones, dicts merged), validated, defaults filled."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    config = deep_merge({}, *(read_config_file(p) for p in paths))
    return validate_config(config, source=" + ".join(str(p) for p in paths))


@cache
def schema() -> dict:
    """The schema, read once per process (libyaml's loader where installed: the schema is large)."""
    return yaml.load(
        SCHEMA_PATH.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    )


def _validator(root: dict):
    """Draft 2020-12 that fills `default`s while it validates (what snakemake.utils.validate does)."""
    from jsonschema import Draft202012Validator, validators
    from referencing import Registry, Resource

    check_properties = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, subschema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from check_properties(validator, properties, instance, subschema)

    filling = validators.extend(Draft202012Validator, {"properties": set_defaults})
    registry = Registry().with_resource(SCHEMA_URI, Resource.from_contents(root))
    return filling, registry


def key_path(path) -> str:
    """jsonschema's path as a config key: finetune.optimizer.lr, languages.mrv[1]."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def validate_config(config: dict, source: str = "config") -> dict:
    """Validate `config` in place against the schema and fill the schema's defaults; return it.

    Raises ConfigError listing every error with its key (`finetune.optimizer.lr: '3e-5' is not of type ...`).
    """
    root = {**schema(), "$id": SCHEMA_URI}
    filling, registry = _validator(root)
    errors = sorted(
        filling(root, registry=registry).iter_errors(config), key=lambda e: list(map(str, e.path))
    )
    if errors:
        lines = [f"{key_path(e.absolute_path)}: {e.message}" for e in errors]
        raise ConfigError(f"{source} does not match {SCHEMA_PATH.name}:\n  " + "\n  ".join(lines))
    return config


def subschema(key: str) -> dict:
    """The schema of one dotted config key (data.download.threads), $refs followed."""
    node, pointer = schema(), []
    for part in key.split("."):
        node, pointer = _follow(node, pointer)
        props = node.get("properties", {})
        if part not in props:
            raise KeyError(f"{key}: no such key in {SCHEMA_PATH.name}")
        node, pointer = props[part], [*pointer, "properties", part]
    return _follow(node, pointer)[0]


def resolved(node: dict) -> dict:
    """A schema node with its $ref followed (e.g. an array's `items`)."""
    return _follow(node, [])[0]


def _follow(node: dict, pointer: list) -> tuple[dict, list]:
    while "$ref" in node:
        pointer = node["$ref"].removeprefix("#/").split("/")
        sibling_default = node.get("default")
        node = schema()
        for p in pointer:
            node = node[p]
        if sibling_default is not None:
            node = {**node, "default": sibling_default}
    return node, pointer


def check_value(key: str, value) -> None:
    """Raise ConfigError if `value` is not valid for config key `key` (the schema's type, range, choices)."""
    from jsonschema import Draft202012Validator

    sub = {**subschema(key), "$defs": schema().get("$defs", {})}  # its "#/$defs/..." refs resolve here
    for error in Draft202012Validator(sub).iter_errors(value):
        raise ConfigError(f"{error.message} ({key} in {SCHEMA_PATH.name})")


def default_of(key: str):
    """The schema's default of a dotted key: its own `default`, else its parent's default mapping's entry."""
    parts = key.split(".")
    own = subschema(key).get("default")
    if own is not None or len(parts) == 1:
        return copy.deepcopy(own)
    parent = default_of(".".join(parts[:-1]))
    return copy.deepcopy(parent.get(parts[-1])) if isinstance(parent, dict) else None


def value_of(config: dict | None, key: str):
    """A dotted key's value in a validated config; the schema's default where the config (or None) has none."""
    node = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return default_of(key)
        node = node[part]
    return node
