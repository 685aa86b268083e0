"""Flags that stand for config keys: type, range and choices come from the schema, and a flag left unset takes
the key's value in the validated `--config` (or the schema's default), so argparse repeats no default."""

from __future__ import annotations

import argparse

from ccrk.configfile import ConfigError, check_value, default_of, load_config, resolved, subschema, value_of


def add_config(parser, default: list[str] | None = None, what: str = "") -> None:
    parser.add_argument(
        "--config",
        nargs="+",
        metavar="YAML",
        default=default,
        help="config files layered in order as Snakemake layers --configfile (later keys over earlier, dicts "
        "merged), validated against ccrk/schema.yaml with its defaults filled"
        + (f"; read here: {what}" if what else "")
        + (f" (default: {' '.join(default)})" if default else ""),
    )


def add_setting(parser, flag: str, key: str, help: str = "", required: bool = False, **kwargs) -> None:
    """`flag` for config key `key`: parsed and range-checked by the schema; unset, the config's value."""
    sub = subschema(key)
    dest = flag.removeprefix("--").replace("-", "_")
    kwargs.setdefault("type", value_parser(key, sub))
    if "enum" in sub:
        kwargs.setdefault("choices", sub["enum"])
    default = default_of(key)
    shown = f"{key} of --config" + (f", else {default!r}" if default not in (None, "", [], {}) else "")
    parser.add_argument(
        flag, dest=dest, default=None, help=f"{help}{'; ' if help else ''}default: {shown}", **kwargs
    )
    keys = dict(parser.get_default("setting_keys") or {})
    keys[dest] = (key, flag, required)
    parser.set_defaults(setting_keys=keys)


def value_parser(key: str, sub: dict):
    """str -> the value of `key` (comma-separated for lists), refused with the schema's reason if invalid."""
    enum_kind = {int: "integer", float: "number", bool: "boolean"}.get(
        type(sub.get("enum", [""])[0]), "string"
    )
    kinds = sub.get("type") or enum_kind
    kinds = kinds if isinstance(kinds, list) else [kinds]
    item = resolved(sub.get("items", {}))

    def parse(text: str):
        if "array" in kinds:
            value = [_scalar(item.get("type"), x) for x in text.split(",") if x]
        else:
            value = _scalar(next((k for k in kinds if k != "null"), "string"), text)
        try:
            check_value(key, value)
        except ConfigError as e:
            raise argparse.ArgumentTypeError(f"invalid value {text!r}: {e}") from None
        return value

    parse.__name__ = "array" if "array" in kinds else kinds[0]  # argparse names it in "invalid <type> value"
    return parse


def _scalar(kind: str | None, text: str):
    if kind == "integer":
        return int(text)
    if kind == "number":
        return float(text)
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise ValueError(text)
        return text.lower() == "true"
    return text


def resolve(args) -> None:
    """Load and validate --config once (`args.cfg`); every unset setting takes its key's configured value."""
    args.cfg = load_config(args.config) if getattr(args, "config", None) else None
    keys = getattr(args, "setting_keys", None) or {}
    args.flags_given = {dest for dest in keys if getattr(args, dest) is not None}  # on the command line
    for dest, (key, flag, required) in keys.items():
        if getattr(args, dest) is None:
            setattr(args, dest, value_of(args.cfg, key))
        if required and getattr(args, dest) is None:
            raise ConfigError(f"{flag} is needed: give it, or a --config that sets {key}")


def needs_config(args) -> dict:
    if args.cfg is None:
        raise ConfigError(f"{args.command} reads its settings from a config: give --config")
    return args.cfg
