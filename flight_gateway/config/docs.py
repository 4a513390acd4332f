"""`docs/configuration-reference.md`, rendered from the settings models and their field descriptions.

Regenerate after changing a setting: `python -m flight_gateway.config.docs > docs/configuration-reference.md`
(tests/config/test_config_docs.py fails while the committed file differs). Every field needs a
`Field(description=...)`: rendering refuses a field without one.
"""

from __future__ import annotations

import json
import re
import types
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from flight_gateway.config.settings import PREFIX as _PREFIX
from flight_gateway.config.settings import Settings

_SCALARS: dict[Any, str] = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    Path: "path",
    SecretStr: "secret",
    datetime: "datetime (with a timezone)",
}

# Sections listed first (by their top-level key); the others follow in field order.
_FIRST = ("tenants", "users", "engines")
# A `<placeholder>` outside code would be read as an HTML tag: such words go in backticks.
_PLACEHOLDER_WORD = re.compile(r"(?<![`\w])((?:[\w./:*-]*<[^<>`]+>)+[\w./:*-]*)")

_HEADER = """# Configuration reference

<!-- Generated from the settings models (flight_gateway/config/) by
`python -m flight_gateway.config.docs > docs/configuration-reference.md`; do not edit by hand. -->

Every key, its environment variable, type, default and meaning. How settings are given (flags,
environment, TOML file), examples and what happens to a bad value: [configuration](configuration.md).
Top-level keys sit at the top level of the TOML file; each table below is a TOML table (or array of
tables) of its own. In the environment, a table or list is one variable holding JSON.
"""


def render_configuration_reference() -> str:
    """The whole reference document (Markdown)."""
    parts = [_HEADER, "## Top-level keys\n", _settings_table()]
    for title, model in _sections(Settings, ""):
        note = (model.__doc__ or "").strip().splitlines()
        parts.append(f"## `{title}`\n")
        if note and not note[0].startswith(("Usage docs", "A base class")):
            parts.append(" ".join(line.strip() for line in note if line.strip()) + "\n")
        parts.append(fields_table(model))
    return "\n".join(parts)


def _settings_table() -> str:
    rows = ["| key | environment variable | type | default | meaning |", "| --- | --- | --- | --- | --- |"]
    for name, info in Settings.model_fields.items():
        variable = f"`{_PREFIX}{name.upper()}`"
        if _models(info.annotation) or get_origin(_unwrap(info.annotation)) in (list, dict):
            variable += " (JSON)"
        rows.append(f"| `{name}` | {variable} | {_type(info)} | {_default(info)} | {_meaning(Settings, name, info)} |")
    return "\n".join(rows) + "\n"


def fields_table(model: type[BaseModel]) -> str:
    rows = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for name, info in model.model_fields.items():
        rows.append(f"| `{name}` | {_type(info)} | {_default(info)} | {_meaning(model, name, info)} |")
    return "\n".join(rows) + "\n"


def _sections(model: type[BaseModel], parent: str) -> Iterator[tuple[str, type[BaseModel]]]:
    """Each nested model once, depth first in field order, titled as its TOML table."""
    seen: set[type[BaseModel]] = set()

    def walk(current: type[BaseModel], path: str) -> Iterator[tuple[str, type[BaseModel]]]:
        fields = list(current.model_fields.items())
        if not path:
            fields = sorted(fields, key=lambda item: _FIRST.index(item[0]) if item[0] in _FIRST else len(_FIRST))
        for name, info in fields:
            inner = _unwrap(info.annotation)
            many = get_origin(inner) is list
            dotted = f"{path}.{name}" if path else name
            members = _models(info.annotation)
            for member in members:
                if member in seen:
                    continue
                seen.add(member)
                title = f"[[{dotted}]]" if many else f"[{dotted}]"
                kind = member.model_fields.get("type")
                if len(members) > 1 and kind is not None:
                    title += f" with type = {json.dumps(kind.default)}"
                yield title, member
                yield from walk(member, dotted)

    yield from walk(model, parent)


def _unwrap(annotation: Any) -> Any:
    """The annotation without `Annotated` and without `None` in a union."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(rest) == 1:
            return _unwrap(rest[0])
    return annotation


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation holds (a model, a list of them, a union of them)."""
    inner = _unwrap(annotation)
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return [inner]
    if get_origin(inner) is list:
        return _models(get_args(inner)[0])
    if get_origin(inner) in (Union, types.UnionType):
        return [model for arg in get_args(inner) for model in _models(arg)]
    return []


def _type(info: FieldInfo) -> str:
    text = _type_name(info.annotation)
    bounds = []
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge):
            bounds.append(f"≥ {_number(item.ge)}")
        elif isinstance(item, annotated_types.Gt):
            bounds.append(f"> {_number(item.gt)}")
        elif isinstance(item, annotated_types.Le):
            bounds.append(f"≤ {_number(item.le)}")
        elif isinstance(item, annotated_types.Lt):
            bounds.append(f"< {_number(item.lt)}")
    return text + (f", {', '.join(bounds)}" if bounds else "")


def _type_name(annotation: Any) -> str:
    inner = _unwrap(annotation)
    origin = get_origin(inner)
    if origin is Literal:
        return " \\| ".join(f"`{value}`" for value in get_args(inner))
    if origin is list:
        element = get_args(inner)[0]
        return "array of tables" if _models(element) else f"list of {_type_name(element)}"
    if origin is dict:
        key, value = get_args(inner)
        return f"table of {_type_name(key)} → {_type_name(value)}"
    if _models(inner):
        return "table"
    if inner in _SCALARS:
        return _SCALARS[inner]
    raise ValueError(f"no documented name for the type {inner!r}; add it to flight_gateway.config.docs._SCALARS")


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return "required"
    else:
        value = info.default
    if value is None:
        return "unset"
    if isinstance(value, BaseModel):
        return "(its defaults)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Path):
        return f"`{json.dumps(str(value))}`"
    if isinstance(value, int | float):
        return f"`{value}`"
    return f"`{json.dumps(value)}`"


def _meaning(model: type[BaseModel], name: str, info: FieldInfo) -> str:
    if not info.description:
        raise ValueError(f"{model.__name__}.{name} has no description: add Field(description=...)")
    text = info.description.replace("|", "\\|").replace("\n", " ")
    return _PLACEHOLDER_WORD.sub(r"`\1`", text)


if __name__ == "__main__":
    print(render_configuration_reference(), end="")
