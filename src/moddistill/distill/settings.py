"""The training configs (``conf/train.yaml`` and its groups data, model, peft, trainer, teacher=replay), typed: what
``scripts/train.py`` accepts, checked before any data or model is loaded. Defaults and meanings: the YAML files."""

from __future__ import annotations

import dataclasses
import difflib
import enum
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from moddistill.data.listings import RENDERINGS, ReadSettings
from moddistill.data.policy import PolicySettings
from moddistill.distill.augment import PERTURBATIONS
from moddistill.errors import ConfigError
from moddistill.metrics.thresholds import THRESHOLD_STRATEGIES
from moddistill.settings import (
    Bool,
    Count,
    ExistingDir,
    ExistingFile,
    Fraction,
    Int,
    IntPair,
    PositiveInt,
    Settings,
    Text,
    TextList,
    distinct,
    wanted,
)
from moddistill.teacher.settings import ReplayTeacherSettings

Positive = Annotated[float, Field(gt=0)]
# the stacked n-gram channel is fitted before the encoder trains (frozen) | with it (joint); distill/ngrams.py
NGRAM_FITS = ("joint", "stacked")
POOLINGS = ("mean", "cls")  # how the head reads the encoder: mean over tokens (L2-normalised) | the CLS token


class PolicyExamples(Settings):
    weight: Count


class ContrastSet(Settings):
    listings: ExistingFile
    labels: ExistingFile
    weight: PositiveInt = 1


class AugmentSettings(Settings):
    share: Fraction
    kinds: distinct(Literal[tuple(PERTURBATIONS)])


class DataSettings(ReadSettings):
    listings: ExistingFile
    policy_cases: ExistingFile
    validation_fraction: Annotated[float, Field(gt=0, le=0.5)]
    group_threshold: Fraction
    leakage_threshold: Fraction
    policy_examples: PolicyExamples
    contrast: list[ContrastSet]
    augment: AugmentSettings
    render: Literal[tuple(RENDERINGS)]


class NgramSettings(Settings):
    buckets: PositiveInt
    char_ngrams: IntPair
    word_ngrams: IntPair
    fit: Literal[NGRAM_FITS]
    C: Positive


class ModelSettings(Settings):
    name: Text
    license: Text
    pretrained: Text | None = None
    tokenizer: Text | None = None
    config: Any = None  # an architecture config (tests), checked by transformers
    target_modules: Literal["all-linear"] | list[str] = wanted("'all-linear' or a list of module names")
    modules_to_save: TextList = []
    max_length: PositiveInt
    pooling: Literal[POOLINGS] = "mean"
    ngram: NgramSettings | None = None
    freeze_embeddings: Bool = False


class PeftSettings(Settings):
    method: Literal["lora", "full"]
    r: PositiveInt = 16
    alpha: PositiveInt = 32
    dropout: Fraction = 0.1
    bias: Literal["none", "all", "lora_only"] = "none"
    loraplus_lr_ratio: Positive | None = None


class TrainerSettings(Settings):
    pos_weight: Literal["none", "balanced"] | Positive = wanted("'none', 'balanced' or a positive number")
    max_pos_weight: Annotated[float, Field(ge=1)]
    head_lr_ratio: Positive
    focal_gamma: Annotated[float, Field(ge=0)]
    early_stopping_patience: PositiveInt | None
    ngram_learning_rate: Positive | None
    precision: Literal["auto", "bf16", "fp32"]
    encoder_weight_grid: list[Annotated[float, Field(ge=0)]] | None = wanted("a list of numbers >= 0 or null")
    args: dict[str, Any]

    @field_validator("args")
    @classmethod
    def _training_arguments(cls, args: dict[str, Any]) -> dict[str, Any]:
        check_training_arguments(args)
        return args


class RunSettings(Settings):
    """What every training run (student or baseline) takes besides its model."""

    experiment: Text
    seed: Int
    threshold_strategy: THRESHOLD_STRATEGIES.setting()
    max_false_reject: Fraction | None
    output_dir: Text
    evaluate: Bool
    policy: PolicySettings
    data: DataSettings
    teacher: ReplayTeacherSettings


class TrainSettings(RunSettings):
    model: ModelSettings
    peft: PeftSettings
    trainer: TrainerSettings
    resume_from: ExistingDir | None = None


def check_training_arguments(args: dict[str, Any], prefix: str = "trainer.args.") -> None:
    """Each key must be a field of ``transformers.TrainingArguments`` and its value of that field's type (the
    dataclass's own annotations: one definition, transformers')."""
    from transformers import TrainingArguments

    fields = {f.name: f for f in dataclasses.fields(TrainingArguments) if f.init}
    hints = typing.get_type_hints(TrainingArguments)
    for key, value in args.items():
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            raise ConfigError(f"config key {prefix}{key} is not a TrainingArguments flag"
                              f"{f' (did you mean {close[0]}?)' if close else ''}")
        if not _fits(value, hints.get(key, Any)):
            raise ConfigError(f"config key {prefix}{key}={value!r}: expected {_type_name(hints.get(key, Any))}")


def _fits(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any or hint is object:
        return True
    if origin in (typing.Union, types.UnionType):
        enums = [h for h in typing.get_args(hint) if isinstance(h, type) and issubclass(h, enum.Enum)]
        if enums and isinstance(value, str):  # `SchedulerType | str`: the text must still name a member
            return any(_fits(value, e) for e in enums)
        return any(_fits(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return value in {m.value for m in hint} or value in {m.name for m in hint}
    if origin in (list, tuple) or hint in (list, tuple):
        return isinstance(value, (list, tuple))
    if origin is dict or hint is dict:
        return isinstance(value, Mapping)
    return True  # a type we do not model (a callable, a class): TrainingArguments itself checks it


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        enums = [h for h in typing.get_args(hint) if isinstance(h, type) and issubclass(h, enum.Enum)]
        return " or ".join(_type_name(h) for h in (enums or typing.get_args(hint)))
    if hint is type(None):
        return "null"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in hint)
    return getattr(hint, "__name__", str(hint))
