"""The baseline's config (``conf/baseline.yaml``), typed. ``baseline`` is checked against its ``_target_``'s own
signature (parameter names, annotated types and ranges), so a new baseline class needs no schema of its own."""

from __future__ import annotations

import inspect
import typing
from typing import Any

from pydantic import Field, create_model, field_validator

from moddistill.distill.settings import ModelSettings, PeftSettings, RunSettings, TrainerSettings
from moddistill.errors import ConfigError
from moddistill.settings import Settings, Text, check_settings, partial


class BaselineRunSettings(RunSettings):
    baseline: dict[str, Any]
    # an experiment file configures its student and its baseline at once (make demo: baseline.py experiment=demo):
    # the student's groups are checked by the student's rules, and the baseline ignores them
    model: partial(ModelSettings) | None = None
    peft: partial(PeftSettings) | None = None
    trainer: partial(TrainerSettings) | None = None

    @field_validator("baseline")
    @classmethod
    def _matches_target(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_settings(target_settings(value.get("_target_")), value, prefix="baseline.")
        return value


def target_settings(target: Any) -> type[Settings]:
    """A settings model of ``target``'s keyword parameters: their annotations, their defaults, nothing else."""
    from hydra.utils import get_class

    if not isinstance(target, str) or not target.strip():
        raise ConfigError(f"config key baseline._target_={target!r}: expected the import path of a baseline class")
    try:
        cls = get_class(target)
    except Exception:  # hydra raises ImportError or its own error for a path that names nothing
        raise ConfigError(f"config key baseline._target_={target!r}: no such class") from None
    hints = typing.get_type_hints(cls.__init__, include_extras=True)
    fields: dict[str, Any] = {"target": (Text, Field(alias="_target_"))}
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        fields[name] = (hints.get(name, Any), ... if param.default is param.empty else param.default)
    return create_model(f"{cls.__name__}Settings", __base__=Settings, **fields)
