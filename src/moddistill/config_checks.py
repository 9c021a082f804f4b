"""Every script's config checked before any data or model is loaded: types, ranges, enum values, input paths,
unknown keys in our own config groups, and ``trainer.args`` against ``TrainingArguments``' own fields.

A wrong override (``trainer.args.num_train_epochs=abc``, ``data.on_error=skp``) used to surface minutes later
as a ``TypeError`` deep in a library; here it is one line naming the key and what it accepts. The rules are
plain data (``SCHEMAS``), one table per script, so adding a key to a yaml file means adding its rule here, and
``tests/test_config_checks.py`` fails until it is (every key of every composed config must have a rule).
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import types
import typing
from pathlib import Path
from typing import Any, Callable, Mapping

from omegaconf import DictConfig, ListConfig, OmegaConf

from moddistill.data.listings import parse_listing
from moddistill.data.records import ON_ERROR as READ_MODES
from moddistill.data.records import Row, RowError
from moddistill.errors import ConfigError
from moddistill.serving.runtime import RUNTIMES
from moddistill.teacher.openai_backend import STRUCTURED_OUTPUT
from moddistill.teacher.prompts import MODES as PROMPT_MODES

Check = Callable[[str, Any], None]
ANY: Check = lambda key, value: None  # noqa: E731 - free-form (a text, a mapping the code validates itself)


def _fail(key: str, value: Any, wanted: str) -> None:
    raise ConfigError(f"config key {key}={value!r}: expected {wanted}")


def number(lo: float | None = None, hi: float | None = None, *, integer: bool = False,
           optional: bool = False, lo_open: bool = False) -> Check:
    """An int (``integer``) or any real number in [lo, hi] (``lo_open``: (lo, hi]); ``optional``: null allowed."""
    def check(key: str, value: Any) -> None:
        if value is None and optional:
            return
        wanted = ("an integer" if integer else "a number") + _range(lo, hi, lo_open)
        if isinstance(value, bool) or not isinstance(value, (int,) if integer else (int, float)):
            _fail(key, value, wanted + (" or null" if optional else ""))
        if (lo is not None and (value <= lo if lo_open else value < lo)) or (hi is not None and value > hi):
            _fail(key, value, wanted)
    return check


def _range(lo, hi, lo_open) -> str:
    if lo is not None and hi is not None:
        return f" in {'(' if lo_open else '['}{lo}, {hi}]"
    if lo is not None:
        return f" {'>' if lo_open else '>='} {lo}"
    return f" <= {hi}" if hi is not None else ""


def choice(*allowed: Any) -> Check:
    def check(key: str, value: Any) -> None:
        if value not in allowed:
            _fail(key, value, "one of " + ", ".join(map(repr, allowed)))
    return check


def either(*checks: Check, wanted: str) -> Check:
    def check(key: str, value: Any) -> None:
        for c in checks:
            try:
                c(key, value)
                return
            except ConfigError:
                pass
        _fail(key, value, wanted)
    return check


def text(*, optional: bool = False) -> Check:
    def check(key: str, value: Any) -> None:
        if value is None and optional:
            return
        if not isinstance(value, str) or not value.strip():
            _fail(key, value, "a non-empty text" + (" or null" if optional else ""))
    return check


def boolean(key: str, value: Any) -> None:
    if not isinstance(value, bool):
        _fail(key, value, "true or false")


def existing(kind: str = "file", *, optional: bool = False) -> Check:
    """A path that exists now (``kind``: file | dir); inputs are checked before any work starts."""
    def check(key: str, value: Any) -> None:
        if value is None and optional:
            return
        if not isinstance(value, str) or not value.strip():
            _fail(key, value, f"the path of an existing {kind}")
        path = Path(value)
        if not (path.is_file() if kind == "file" else path.is_dir()):
            raise ConfigError(f"config key {key}={value!r}: no such {kind}")
    return check


def int_range_pair(key: str, value: Any) -> None:
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value) and value[0] <= value[1]):
        _fail(key, value, "[min, max] with 1 <= min <= max")


def mapping(key: str, value: Any) -> None:
    if not isinstance(value, Mapping):
        _fail(key, value, "a mapping {key: value}")


def group(schema: Mapping[str, Any], *, optional: bool = False) -> Check:
    """A nested mapping checked key by key against ``schema``; ``optional``: null allowed (a switched-off part)."""
    def check(key: str, value: Any) -> None:
        if value is None and optional:
            return
        if not isinstance(value, Mapping):
            _fail(key, value, "a mapping" + (" or null" if optional else ""))
        _check_node(value, schema, key + ".")
    return check


def training_arguments(key: str, value: Any) -> None:
    check_training_arguments(value, prefix=key + ".")


def number_list(lo: float | None = None, *, optional: bool = False) -> Check:
    """A list of numbers, each at least ``lo``; ``optional``: null allowed."""
    item = number(lo)

    def check(key: str, value: Any) -> None:
        if value is None and optional:
            return
        if not isinstance(value, (list, tuple, ListConfig)):
            _fail(key, value, "a list of numbers")
        for i, v in enumerate(value):
            item(f"{key}[{i}]", v)
    return check


def group_list(schema: Mapping[str, Any]) -> Check:
    """A list of mappings, each checked against ``schema`` (a missing key is left to its default)."""
    def check(key: str, value: Any) -> None:
        if not isinstance(value, (list, tuple, ListConfig)):
            _fail(key, value, "a list of mappings")
        for i, item in enumerate(value):
            group(schema)(f"{key}[{i}]", item)
    return check


def string_list(key: str, value: Any) -> None:
    if not (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)):
        _fail(key, value, "a list of texts")


def choice_list(*allowed: Any) -> Check:
    """A non-empty list of distinct values, each one of ``allowed``."""
    def check(key: str, value: Any) -> None:
        wanted = "a non-empty list of distinct values from " + ", ".join(map(repr, allowed))
        if not isinstance(value, (list, tuple)) or not value or len(set(value)) < len(value):
            _fail(key, value, wanted)
        for i, v in enumerate(value):
            choice(*allowed)(f"{key}[{i}]", v)
    return check


def locales(key: str, value: Any) -> None:
    """A non-empty list of {language, market, currency}, each code one a listing may carry: checked by parsing a
    listing in that locale, so the rule is the listing reader's own."""
    if not isinstance(value, (list, tuple)) or not value:
        _fail(key, value, "a non-empty list of {language, market, currency}")
    for i, locale in enumerate(value):
        where = f"{key}[{i}]"
        if not isinstance(locale, Mapping) or set(locale) != {"language", "market", "currency"}:
            _fail(where, locale, "{language: ..., market: ..., currency: ...}")
        try:
            parse_listing(Row("", "", {"id": "x", "title": "x", "description": "", "category": "x", "price": 0,
                                       **locale}))
        except RowError as e:
            raise ConfigError(f"config key {where}.{e.field}={locale[e.field]!r}: {e.reason}") from None


def existing_files(key: str, value: Any) -> None:
    """One path or a list of paths, each an existing file."""
    paths = [value] if isinstance(value, str) else value
    if not isinstance(paths, (list, tuple)):
        _fail(key, value, "a file path or a list of file paths")
    for i, path in enumerate(paths):
        existing("file")(key if isinstance(value, str) else f"{key}[{i}]", path)


FRACTION = number(0, 1)
POSITIVE_INT = number(1, integer=True)
COUNT = number(0, integer=True)
ON_ERROR = choice(*READ_MODES)
# the allowed values of keys read by torch/scikit-learn modules, spelled out so that checking a config stays a
# light import (tests/test_config_checks.py holds them equal to the modules' own constants)
POOLINGS = ("mean", "cls")  # distill/student.py
NGRAM_FITS = ("joint", "stacked")  # distill/ngrams.py
THRESHOLD_STRATEGIES = ("global", "per_policy", "adaptive")  # metrics/thresholds.py
SELECTION_STRATEGIES = ("uncertainty", "disagreement", "random")  # loop/selection.py
INTENTS = ("lookalike", "violation")  # teacher/generation.py

# --- config groups (closed: a key not listed here is a typo) ------------------------------------------------

POLICY = {"id": text(), "version": ANY, "title": text(), "description": text(), "policies": ANY}
DATA = {
    "listings": existing("file"), "columns": mapping, "on_error": ON_ERROR, "policy_cases": existing("file"),
    "validation_fraction": number(0, 0.5, lo_open=True), "group_threshold": FRACTION, "leakage_threshold": FRACTION,
    "policy_examples": group({"weight": COUNT}),
    "contrast": group_list({"listings": existing("file"), "labels": existing("file"), "weight": POSITIVE_INT}),
}
NGRAM = {"buckets": POSITIVE_INT, "char_ngrams": int_range_pair, "word_ngrams": int_range_pair,
         "fit": choice(*NGRAM_FITS), "C": number(0, lo_open=True)}
MODEL = {
    "name": text(), "license": text(), "pretrained": text(optional=True), "tokenizer": text(optional=True), "config": ANY,
    "target_modules": either(choice("all-linear"), string_list, wanted="'all-linear' or a list of module names"),
    "modules_to_save": string_list, "max_length": POSITIVE_INT, "pooling": choice(*POOLINGS),
    "ngram": group(NGRAM, optional=True), "freeze_embeddings": boolean,
}
PEFT = {"method": choice("lora", "full"), "r": POSITIVE_INT, "alpha": POSITIVE_INT, "dropout": number(0, 1),
        "bias": choice("none", "all", "lora_only"), "loraplus_lr_ratio": number(0, optional=True, lo_open=True)}
TRAINER = {
    "pos_weight": either(choice("none", "balanced"), number(0, lo_open=True),
                         wanted="'none', 'balanced' or a positive number"),
    "max_pos_weight": number(1), "head_lr_ratio": number(0, lo_open=True), "focal_gamma": number(0),
    "early_stopping_patience": number(1, integer=True, optional=True),
    "ngram_learning_rate": number(0, optional=True, lo_open=True), "precision": choice("auto", "bf16", "fp32"),
    "encoder_weight_grid": number_list(0, optional=True),
    "args": training_arguments,
}
REPLAY_TEACHER = {"backend": choice("replay"), "labels": existing("file"), "expert_verdicts": existing_files}
OPENAI_TEACHER = {
    "backend": choice("openai"), "base_url": text(), "model": text(), "api_key_env": text(optional=True),
    "concurrency": POSITIVE_INT, "requests_per_minute": number(0, optional=True, lo_open=True),
    "tokens_per_minute": number(0, optional=True, lo_open=True), "timeout_s": number(0, lo_open=True),
    "max_retries": COUNT, "backoff_base_s": number(0), "backoff_max_s": number(0), "parse_retries": COUNT,
    "structured_output": choice("auto", *STRUCTURED_OUTPUT), "logprobs": boolean,
    "top_logprobs": number(0, 20, integer=True), "max_tokens": POSITIVE_INT, "temperature": number(0, 2),
    "samples": POSITIVE_INT, "sample_temperature": number(0, 2), "seed": number(integer=True, optional=True),
    "extra_body": mapping, "prices": mapping,
}
PROMPT = {"name": text(), "mode": choice(*PROMPT_MODES), "clauses": boolean,
          "examples": number(0, integer=True, optional=True), "lookalikes": number(0, integer=True, optional=True),
          "system": text(), "user": text()}
GENERATE_PROMPT = {"name": text(), "system": text(), "user": text(), "lookalike": text(), "violation": text(),
                   "language_names": mapping, "clauses": boolean, "examples": number(0, integer=True, optional=True),
                   "lookalikes": number(0, integer=True, optional=True)}
BASELINE = {"_target_": text(), "char_ngram_range": int_range_pair, "char_min_df": POSITIVE_INT,
            "word_ngram_range": int_range_pair, "word_min_df": POSITIVE_INT, "sublinear_tf": boolean,
            "C": number(0, lo_open=True), "class_weight": choice("balanced", None), "max_iter": POSITIVE_INT,
            "solver": text()}
FUSION = {"llm_share": number(0, 1, optional=True), "target": number(0, 1, lo_open=True),
          "disagreement_margin": number(0, lo_open=True), "always_human": string_list}
RUN_KEYS = {"experiment": text(), "seed": number(integer=True), "threshold_strategy": choice(*THRESHOLD_STRATEGIES),
            "max_false_reject": number(0, 1, optional=True),
            "output_dir": text(), "evaluate": boolean}

SCHEMAS: dict[str, dict[str, Any]] = {
    "train": {**RUN_KEYS, "policy": POLICY, "data": DATA, "teacher": REPLAY_TEACHER, "model": MODEL, "peft": PEFT,
              "trainer": TRAINER, "resume_from": existing("dir", optional=True)},
    # an experiment file configures its student and its baseline at once (make demo: baseline.py experiment=demo):
    # the student's keys are checked by the student's rules, and the baseline ignores them
    "baseline": {**RUN_KEYS, "policy": POLICY, "data": DATA, "teacher": REPLAY_TEACHER, "baseline": BASELINE,
                 "model": MODEL, "peft": PEFT, "trainer": TRAINER},
    "label": {"policy": POLICY, "teacher": OPENAI_TEACHER, "prompt": PROMPT, "input": existing("file"),
              "output": text(), "on_error": ON_ERROR, "columns": mapping, "cache": text(optional=True),
              "progress": boolean},
    "generate": {"policy": POLICY, "teacher": {**OPENAI_TEACHER, "model": text(optional=True)},
                 "generate_prompt": GENERATE_PROMPT, "output": text(),
                 "policies": either(choice(None), string_list, wanted="null or a list of policy ids"),
                 "intents": choice_list(*INTENTS), "locales": locales,
                 "languages": either(choice(None), string_list, wanted="null or a list of language codes"),
                 "n_per_request": POSITIVE_INT, "limit": number(1, integer=True, optional=True),
                 "cache": text(optional=True), "progress": boolean, "report_labels": existing("file", optional=True)},
    "evaluate": {"policy": POLICY, "checkpoint": existing("dir", optional=True),
                 "teacher_labels": existing("file", optional=True), "policy_cases": existing("file", optional=True),
                 "thresholds": either(choice("validation"), number(0, 1), wanted="'validation' or a number in [0, 1]"),
                 "batch_size": POSITIVE_INT, "output_dir": text(optional=True)},
    "export": {"checkpoint": existing("dir"), "export_dir": text(optional=True), "overwrite": boolean,
               "allow_collapsed": boolean, "onnx": boolean, "onnx_int8": boolean},
    "predict": {"export_dir": existing("dir"), "input": existing("file"), "output": text(), "on_error": ON_ERROR,
                "columns": mapping, "batch_size": POSITIVE_INT, "allow_empty": boolean, "runtime": choice(*RUNTIMES)},
    "leaderboard": {"root": existing("dir"), "output": text(), "bootstrap": COUNT, "seed": number(integer=True),
                    "cases": text(optional=True), "exclude": string_list},
    "fuse": {"export_dir": existing("dir"), "llm_labels": existing("file"), "cases": existing("file", optional=True),
             "listings": existing("file", optional=True), "ids": choice("validation", None),
             "teacher": OPENAI_TEACHER, "fusion": group(FUSION)},
    "moderate": {"export_dir": existing("dir"), "input": existing("file"), "output": text(), "on_error": ON_ERROR,
                 "columns": mapping, "cache": text(optional=True), "runtime": choice(*RUNTIMES),
                 "batch_size": POSITIVE_INT, "progress": boolean, "teacher": OPENAI_TEACHER, "prompt": PROMPT},
    "benchmark_runtimes": {"export_dir": existing("dir"), "cases": existing("file"), "listings": existing("file"),
                           "batch_size": POSITIVE_INT, "latency_samples": POSITIVE_INT, "repeats": POSITIVE_INT},
    "benchmark_thresholds": {"runs": string_list, "cases": text(),
                             "rules": string_list},
    "benchmark": {"experiment": text(), "train_overrides": string_list, "cases": existing("file"),
                  "batch_size": POSITIVE_INT, "latency_samples": POSITIVE_INT},
    "audit": {"policy": POLICY, "decisions": existing("file"), "verdicts": existing_files, "output": text(optional=True),
              "size": number(1, integer=True, optional=True), "listings": existing("file", optional=True),
              "seed": number(integer=True), "min_per_stratum": COUNT, "sample": existing("file", optional=True)},
    "drift": {"reference": existing("file"), "current": existing("file"), "export_dir": existing("dir", optional=True),
              "output": text(optional=True), "on_error": ON_ERROR, "columns": mapping, "runtime": choice(*RUNTIMES),
              "batch_size": POSITIVE_INT, "progress": boolean, "min_listings": POSITIVE_INT,
              "mix": group({"min_share": FRACTION, "min_count": POSITIVE_INT}), "quantile_bins": number(2, integer=True),
              "unsure_margin": number(0, lo_open=True), "plot_policies": POSITIVE_INT,
              "limits": group({f"{name}_{level}": number(0) for name in ("psi", "flag_rate", "unsure_share", "oov")
                               for level in ("warn", "alert")})},
    "select_batch": {"export_dir": existing("dir", optional=True), "pool": existing("file"), "budget": POSITIVE_INT,
               "output": text(), "exclude": existing_files, "strategy": choice(*SELECTION_STRATEGIES),
               "labels": existing("file", optional=True), "diversity": FRACTION, "max_similarity": number(0, 1, lo_open=True),
               "max_share": group({"policy": number(0, 1, optional=True, lo_open=True),
                                   "language": number(0, 1, optional=True, lo_open=True)}),
               "seed": number(integer=True), "on_error": ON_ERROR, "columns": mapping, "runtime": choice(*RUNTIMES),
               "batch_size": POSITIVE_INT, "progress": boolean},
    "loop_sim": {"listings": existing("file"), "labels": existing("file"), "policy_cases": existing("file"),
                 "start_fraction": number(0, 1, lo_open=True), "round_fraction": number(0, 1, lo_open=True),
                 "rounds": POSITIVE_INT, "strategies": string_list, "experiment": text(), "train_overrides": string_list,
                 "baseline": boolean, "seed": number(integer=True), "diversity": FRACTION,
                 "max_similarity": number(0, 1, lo_open=True),
                 "max_share": group({"policy": number(0, 1, optional=True, lo_open=True),
                                     "language": number(0, 1, optional=True, lo_open=True)}),
                 "output_dir": text()},
}


def check_config(cfg: DictConfig, script: str) -> None:
    """Raise ConfigError for the first key of ``cfg`` that ``SCHEMAS[script]`` refuses or does not know.

    Missing mandatory values (``???``) are reported by name; Hydra's own ``hydra`` node is not ours to check.
    """
    missing = _missing_keys(cfg)
    if missing:
        raise ConfigError(f"config key {missing[0]} is required: pass {missing[0]}=...")
    _check_node(OmegaConf.to_container(cfg, resolve=True), SCHEMAS[script], prefix="")


def _missing_keys(cfg: DictConfig, prefix: str = "") -> list[str]:
    out = []
    for key in cfg:
        if key == "hydra":
            continue
        name = f"{prefix}{key}"
        if OmegaConf.is_missing(cfg, key):
            out.append(name)
        elif isinstance(cfg[key], DictConfig):
            out += _missing_keys(cfg[key], name + ".")
    return out


def _check_node(node: Mapping[str, Any], schema: Mapping[str, Any], prefix: str) -> None:
    for key, value in node.items():
        name = f"{prefix}{key}"
        if key == "hydra" and not prefix:
            continue
        rule = schema.get(key)
        if rule is None:
            raise ConfigError(f"config key {name} is unknown{_did_you_mean(key, schema)}; known keys "
                              f"{'under ' + prefix.rstrip('.') if prefix else 'at the top level'}: "
                              + ", ".join(sorted(schema)))
        (group(rule) if isinstance(rule, dict) else rule)(name, value)


def _did_you_mean(key: str, known) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def check_training_arguments(args: Mapping[str, Any], prefix: str = "trainer.args.") -> None:
    """Each key must be a field of ``transformers.TrainingArguments`` and its value of that field's type."""
    from transformers import TrainingArguments

    fields = {f.name: f for f in dataclasses.fields(TrainingArguments) if f.init}
    hints = typing.get_type_hints(TrainingArguments)
    for key, value in args.items():
        if key not in fields:
            raise ConfigError(f"config key {prefix}{key} is not a TrainingArguments flag"
                              f"{_did_you_mean(key, fields)}")
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
        return isinstance(value, (list, tuple, ListConfig))
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
