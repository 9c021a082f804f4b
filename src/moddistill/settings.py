"""Typed configs: the base every room's settings model derives from, the field types they share, and the one place a
pydantic error becomes the one-line ``ConfigError`` a user reads.

Each room keeps the models of the config it reads next to its code (``distill/settings.py``, ``loop/settings.py``,
...); ``config_checks.py`` only maps each script to its model. A model states a setting once: its type, range,
allowed values, whether a path must exist, and (``extra="forbid"``) that any other key is a typo. The YAML files
hold the defaults and say what each setting means.

Messages keep the project's wording, ``config key KEY=VALUE: expected WHAT``, whatever pydantic's own error type:
a field's range and type say WHAT (``an integer >= 1``, ``a number in (0, 0.5]``, ``one of 'a', 'b'``), and a
field whose values no range describes (a union, a pair) says it in ``Field(description=...)`` as ``wanted``.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Sequence, get_args, get_origin

import annotated_types
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    create_model,
)
from pydantic_core import PydanticCustomError

from moddistill.errors import ConfigError

WANTED = "wanted"  # json_schema_extra key: what a field accepts, in words, where its type cannot say it


class Settings(BaseModel):
    """A config node: unknown keys refused, ints and bools strict (``1.5`` is not an int, ``'yes'`` not a bool)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


def wanted(text: str, **kwargs: Any) -> Any:
    """A ``Field`` whose refusal reads ``expected <text>`` whatever pydantic's error was (unions, pairs, lists)."""
    return Field(json_schema_extra={WANTED: text}, **kwargs)


def _refuse(text: str) -> PydanticCustomError:
    return PydanticCustomError("moddistill", text)


def _existing(kind: str):
    def check(value: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            raise _refuse(f"expected the path of an existing {kind}")
        if not (Path(value).is_file() if kind == "file" else Path(value).is_dir()):
            raise _refuse(f"no such {kind}")
        return value
    return check


def _non_empty(value: str) -> str:
    if not value.strip():
        raise _refuse("expected a non-empty text")
    return value


def _int_pair(value: Any) -> Any:
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value) and value[0] <= value[1]):
        raise _refuse("expected [min, max] with 1 <= min <= max")
    return list(value)


def _distinct(value: list) -> list:
    if not value or len(set(value)) < len(value):
        raise _refuse("expected a non-empty list of distinct values")
    return value


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


# --- field types ----------------------------------------------------------------------------------------------
Text = Annotated[str, AfterValidator(_non_empty)]
Bool = Annotated[bool, Strict()]
Int = Annotated[int, Strict()]
PositiveInt = Annotated[int, Strict(), Field(ge=1)]
Count = Annotated[int, Strict(), Field(ge=0)]
Number = Annotated[float, Field(allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1)]
ExistingFile = Annotated[str, BeforeValidator(_existing("file"))]
ExistingDir = Annotated[str, BeforeValidator(_existing("dir"))]
# one path (a command-line override) or a list of them, each an existing file
ExistingFiles = Annotated[list[ExistingFile], BeforeValidator(_one_or_many), wanted("a file path or a list of file paths")]
IntPair = Annotated[list[int], BeforeValidator(_int_pair)]
Mapping_ = Annotated[dict[str, Any], Field(json_schema_extra={WANTED: "a mapping {key: value}"})]
TextList = Annotated[list[str], Field(json_schema_extra={WANTED: "a list of texts"})]


def partial(model: type[Settings]) -> type[Settings]:
    """``model`` with every setting optional: the keys given are checked by ``model``'s types, none is required
    (a group another script configures, like a student's ``trainer`` in an experiment file a baseline also reads)."""
    fields = {name: (f.annotation, Field(None, json_schema_extra=f.json_schema_extra, alias=f.alias))
              for name, f in model.model_fields.items()}
    for name, f in model.model_fields.items():
        fields[name][1].metadata = list(f.metadata)
    return create_model(f"Partial{model.__name__}", __base__=Settings, **fields)


def distinct(item: Any) -> Any:
    """A non-empty list of distinct values of ``item``."""
    return Annotated[list[item], AfterValidator(_distinct)]


# --- checking -------------------------------------------------------------------------------------------------
def check_settings(model: type[Settings], values: Mapping[str, Any], *, prefix: str = "") -> Settings:
    """``values`` validated as ``model``; the first refusal raised as a one-line ConfigError naming the key (under
    ``prefix``, for a node checked on its own)."""
    try:
        return model.model_validate(values)
    except ValidationError as e:
        raise _config_error(model, values, e.errors(include_url=False)[0], prefix) from None


def _config_error(model: type[Settings], values: Mapping[str, Any], error: dict, prefix: str) -> ConfigError:
    loc = [part for part in error["loc"] if not _is_union_tag(part)]
    key = prefix + _key(loc)
    if error["type"] == "extra_forbidden":
        known = _known_keys(model, values, loc[:-1])
        parent = prefix.rstrip(".") if not loc[:-1] else prefix + _key(loc[:-1])
        where = f"under {parent}" if parent else "at the top level"
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        return ConfigError(f"config key {key} is unknown{f' (did you mean {close[0]}?)' if close else ''}; known "
                           f"keys {where}: {', '.join(sorted(known))}")
    original = (error.get("ctx") or {}).get("error")
    if isinstance(original, ConfigError):  # a validator that checks with a library's own rules (TrainingArguments)
        return original
    if error["type"] == "missing":
        return ConfigError(f"config key {key} is required: pass {key}=...")
    if error["type"] == "moddistill":  # our own validators word their refusal themselves
        return ConfigError(f"config key {key}={_input_at(values, loc, error)!r}: {error['msg']}")
    field, annotation = _field_at(model, values, loc)
    item = isinstance(loc[-1], int) if loc else False
    return ConfigError(f"config key {key}={_input_at(values, loc, error)!r}: "
                       f"expected {_wanted(None if item else field, annotation, error)}")


def _is_union_tag(part: Any) -> bool:
    """pydantic adds the member of a union (``'literal['a']'``, ``'float'``, a discriminator value) to the location
    of an error inside it; the user's key has no such part."""
    return isinstance(part, str) and ("[" in part or part in ("float", "int", "str", "bool", "none", "list", "dict"))


def _key(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _input_at(values: Any, loc: Sequence[Any], error: dict) -> Any:
    node = values
    for part in loc:
        if isinstance(part, int) and not isinstance(node, (list, tuple)):  # one path given where a list may be
            return error.get("input")
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return error.get("input")
    return node


def _field_at(model: type[BaseModel], values: Any, loc: Sequence[Any]):
    """(FieldInfo of the setting at ``loc``, the annotation of the value there): list indices and union members
    walked through, so an item of a list is described by the list's item type. (None, None) where nothing matches."""
    node: Any = model
    field = annotation = None
    for part in loc:
        if isinstance(part, int):
            annotation = _item_type(annotation)
            continue
        models = _models_in(node, values)
        match = next((m.model_fields[part] for m in models if part in m.model_fields), None)
        if match is None:
            return field, annotation
        field, annotation = match, match.annotation
        node = match.annotation
        values = values.get(part) if isinstance(values, Mapping) else None
    return field, annotation


def _item_type(annotation: Any) -> Any:
    for arg in (get_args(annotation) if get_origin(annotation) is not list else []):
        found = _item_type(arg)
        if found is not None:
            return found
    return get_args(annotation)[0] if get_origin(annotation) is list else None


def _models_in(annotation: Any, values: Any) -> list[type[BaseModel]]:
    """The settings models an annotation can hold (through Annotated, Optional, list and unions); for a
    discriminated union, the member the values name first."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in get_args(annotation):
        out += _models_in(arg, values)
    if isinstance(values, Mapping):
        out.sort(key=lambda m: not any(values.get(name) in get_args(f.annotation) for name, f in m.model_fields.items()
                                       if get_origin(f.annotation) is Literal))
    return out


def _known_keys(model: type[BaseModel], values: Any, loc: Sequence[Any]) -> list[str]:
    if not loc:
        return [f.alias or name for name, f in model.model_fields.items()]
    field, _ = _field_at(model, values, loc)
    node = values
    for part in loc:
        node = node[part] if isinstance(node, (Mapping, list)) else None
    models = _models_in(field.annotation, node) if field else []
    return [f.alias or name for name, f in models[0].model_fields.items()] if models else []


def _wanted(field, annotation: Any, error: dict) -> str:
    """What the setting accepts, in words: the field's own ``wanted``, else its type, range and allowed values."""
    if field is not None:
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        for meta in [extra, *[getattr(m, "json_schema_extra", None) or {} for m in field.metadata]]:
            if isinstance(meta, dict) and WANTED in meta:
                return meta[WANTED]
    described = _describe(annotation, field.metadata if field is not None else ())
    return described or error["msg"]


def _describe(annotation: Any, metadata: Sequence[Any] = ()) -> str | None:
    """``an integer >= 1``, ``a number in [0, 1]`` (``or null``), ``one of 'a', 'b'``, ``true or false``."""
    optional = False
    args = get_args(annotation)
    if get_origin(annotation) is Annotated:
        return _describe(args[0], list(metadata) + list(annotation.__metadata__))
    if type(None) in args and len(args) == 2:
        optional, annotation = True, next(a for a in args if a is not type(None))
        if get_origin(annotation) is Annotated:
            inner = get_args(annotation)
            metadata, annotation = list(metadata) + list(annotation.__metadata__), inner[0]
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(map(repr, get_args(annotation)))
    words = {bool: "true or false", int: "an integer", float: "a number", str: "a non-empty text"}.get(annotation)
    if words is None:
        return None
    return words + _bounds(metadata) + (" or null" if optional else "")


def _bounds(metadata: Sequence[Any]) -> str:
    lo = hi = None
    lo_open = False
    for m in metadata:
        for item in getattr(m, "metadata", [m]):
            if isinstance(item, annotated_types.Ge):
                lo = item.ge
            elif isinstance(item, annotated_types.Gt):
                lo, lo_open = item.gt, True
            elif isinstance(item, annotated_types.Le):
                hi = item.le
    if lo is not None and hi is not None:
        return f" in {'(' if lo_open else '['}{lo}, {hi}]"
    if lo is not None:
        return f" {'>' if lo_open else '>='} {lo}"
    return f" <= {hi}" if hi is not None else ""
