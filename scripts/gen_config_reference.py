"""Write docs/configuration.md, the station.yaml reference, from the pydantic models themselves.

    python scripts/gen_config_reference.py            # rewrite docs/configuration.md
    python scripts/gen_config_reference.py --check    # exit 1 when the committed file differs

Every key of `inspector.config.StationConfig` and the models it includes gets a row: type, allowed
range, default, description (the model's `Field(description=...)`). A key without a description is
an error: the reference would have a hole where a user needs an answer.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from dataclasses import dataclass, field
from datetime import time
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "configuration.md"
COMMAND = "python scripts/gen_config_reference.py"

SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path",
           time: "time (HH:MM)"}


class UndocumentedKeys(ValueError):
    """Keys without a description; the message lists them."""


@dataclass
class Section:
    """One table of the reference: the keys of one model at one place in the file."""

    title: str
    intro: str
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)


def _args(annotation: Any) -> tuple[Any, ...]:
    return typing.get_args(annotation)


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _strip_annotated(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = _args(annotation)[0]
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _members(annotation: Any) -> list[Any]:
    """The alternatives of a union (Annotated wrappers removed), or the annotation alone."""
    annotation = _strip_annotated(annotation)
    if _is_union(annotation):
        return [_strip_annotated(a) for a in _args(annotation)]
    return [annotation]


def type_name(annotation: Any) -> str:
    """A reader's name for a type: `integer`, `list of string`, `` `a` or `b` ``, `... or null`."""
    annotation = _strip_annotated(annotation)
    if annotation is type(None):
        return "null"
    if _is_union(annotation):
        return " or ".join(type_name(a) for a in _args(annotation))
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return " or ".join(f"`{v}`" for v in _args(annotation))
    if origin in (list, tuple, set, frozenset):
        return f"list of {type_name(_args(annotation)[0])}"
    if origin is dict:
        return "mapping"
    if _is_model(annotation):
        return "mapping"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " or ".join(f"`{m.value}`" for m in annotation)
    if annotation in SCALARS:
        return SCALARS[annotation]
    return getattr(annotation, "__name__", str(annotation))


def limits(info: FieldInfo) -> str:
    """The field's constraints as `≥ 1, ≤ 256`, `length ≤ 64`, `matches ^...$`."""
    out = []
    for item in info.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(item, attr, None)
            if value is not None and isinstance(item, (at.Ge, at.Gt, at.Le, at.Lt, at.Interval)):
                out.append(f"{sign} {value:,}" if isinstance(value, int) else f"{sign} {value}")
        if isinstance(item, at.MinLen) and item.min_length:
            out.append(f"length ≥ {item.min_length}")
        if isinstance(item, at.MaxLen):
            out.append(f"length ≤ {item.max_length}")
        pattern = getattr(item, "pattern", None)
        if pattern:
            out.append(f"matches `{pattern}`")
    return ", ".join(out)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return _plain(value.model_dump(exclude_defaults=True))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, Enum):
        return value.value
    return value


def default_text(info: FieldInfo) -> str:
    """The default as a reader would write it in station.yaml; `required` when there is none."""
    if info.default_factory is not None:
        value = info.default_factory()
        if isinstance(value, BaseModel):
            return "see below"
    elif info.default is PydanticUndefined:
        return "**required**"
    else:
        value = info.default
    plain = _plain(value)
    if plain is None:
        return "`null`"
    if isinstance(plain, bool):
        return f"`{str(plain).lower()}`"
    if isinstance(plain, str):
        return f"`{plain}`" if plain else '`""`'
    if isinstance(plain, (list, dict)):
        return f"`{json.dumps(plain, ensure_ascii=False)}`"
    return f"`{plain}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _own_doc(model: type[BaseModel]) -> str:
    doc = model.__dict__.get("__doc__")
    return " ".join(doc.split()) if doc else ""


def _variant_tag(model: type[BaseModel]) -> str | None:
    info = model.model_fields.get("type")
    if info is None:
        return None
    tags = _args(_strip_annotated(info.annotation))
    return str(tags[0]) if typing.get_origin(_strip_annotated(info.annotation)) is Literal else None


def collect(model: type[BaseModel], path: str, title: str, context: str, intro: str,
            out: list[Section], missing: list[str]) -> None:
    """Append the section of `model` at `path`, then the sections of the models its keys hold.

    `context` names the variant the path lies in (`source type: folder`), for keys whose table
    depends on a `type:` above them.
    """
    section = Section(title, intro)
    out.append(section)
    nested: list[tuple[str, str, str, str, type[BaseModel]]] = []
    fields = sorted(model.model_fields.items(), key=lambda item: item[0] != "type")  # type first
    for name, info in fields:
        key = f"{path}.{name}" if path else name
        description = info.description or ""
        if not description:
            missing.append(f"{key} ({context})" if context else key)
        annotation = _strip_annotated(info.annotation)
        is_list = typing.get_origin(annotation) is list
        inner = _args(annotation)[0] if is_list else annotation
        models = [m for m in _members(inner) if _is_model(m)]
        shown = f"{key}[]" if is_list else key
        type_text = type_name(info.annotation)
        if models:
            tags = [_variant_tag(m) for m in models]
            variants = len(models) > 1 and all(tags)
            if variants:
                type_text = ("list of " if is_list else "") + "mapping, by `type`: " + ", ".join(
                    f"[`{t}`](#{_anchor(_title(shown, f'type: {t}'))})" for t in tags)
            else:
                link = _anchor(_title(shown, context))
                type_text = type_text.replace("mapping", f"mapping ([below](#{link}))", 1)
            for m, tag in zip(models, tags, strict=True):
                if variants:
                    tag_text = m.model_fields["type"].description or ""
                    nested.append((_title(shown, f"type: {tag}"), f"{shown} type: {tag}",
                                   _own_doc(m) or tag_text, shown, m))
                else:
                    nested.append((_title(shown, context), context, _own_doc(m) or description,
                                   shown, m))
        rule = limits(info)
        section.rows.append((f"`{name}`", _cell(type_text + (f"; {rule}" if rule else "")),
                             _cell(default_text(info)), _cell(description)))
    for child_title, child_context, child_intro, child_path, m in nested:
        collect(m, child_path, child_title, child_context, child_intro, out, missing)


def _title(path: str, context: str) -> str:
    return f"{path} ({context})" if context else path


def _anchor(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    kept = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def render(root: type[BaseModel] | None = None, env: dict[str, str] | None = None) -> str:
    """The reference as Markdown; raises UndocumentedKeys naming every key without a description."""
    if root is None:
        from inspector import config

        root = config.StationConfig
        env = env if env is not None else {
            config.ENV_DATA_DIR: "station.data_dir",
            config.ENV_DB_URL: "storage.url",
            config.ENV_API_PORT: "api.port",
        }
    sections: list[Section] = []
    missing: list[str] = []
    collect(root, "", "Top level", "", _own_doc(root), sections, missing)
    if missing:
        raise UndocumentedKeys("keys without a description (add Field(description=...)): "
                               + ", ".join(missing))
    lines = [
        "# Configuration reference: station.yaml",
        "",
        f"<!-- Generated by `{COMMAND}` from the pydantic models; do not edit by hand. -->",
        "",
        "Every key `inspector run --config FILE` and `inspector check-config FILE` accept, generated",
        f"from the models in `inspector/config.py` and the sections it includes (`{COMMAND}`).",
        "Unknown keys are errors. Keys left out take the default shown. A `mapping` key holds the keys",
        "of the table named after it; a key with types by `type` holds the keys of the table for the",
        "`type:` it is given. Examples: `examples/station-usb.yaml`, `examples/station-folder.yaml`;",
        "the guide: `docs/station-setup.md`.",
        "",
    ]
    if env:
        lines += ["Environment variables override the file (deployment facts):", ""]
        lines += [f"- `{var}` sets `{key}`" for var, key in env.items()]
        lines.append("")
    for section in sections:
        lines += [f"## {section.title}", ""]
        if section.intro:
            lines += [section.intro, ""]
        lines += ["| key | type | default | description |", "|---|---|---|---|"]
        lines += [f"| {' | '.join(row)} |" for row in section.rows]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed file instead of writing it")
    parser.add_argument("--out", type=Path, default=OUTPUT, help="where to write (default: %(default)s)")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date: run `{COMMAND}`", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
