"""Every script's config checked before any data or model is loaded: each script's typed settings model (kept in the
room that reads the config: ``distill/settings.py``, ``loop/settings.py``, ...) validates the composed config.

A wrong override (``trainer.args.num_train_epochs=abc``, ``data.on_error=skp``) used to surface minutes later as a
``TypeError`` deep in a library; here it is one line naming the key and what it accepts (``settings.py`` words
it). ``tests/test_config_checks.py`` composes every shipped config and option through its script's model, so a key
added to a YAML file without its setting fails there.
"""

from __future__ import annotations

import functools

from omegaconf import DictConfig, OmegaConf

from moddistill.baselines.settings import BaselineRunSettings
from moddistill.bench.engines import BenchmarkEnginesSettings
from moddistill.bench.settings import BenchmarkRuntimesSettings, BenchmarkSettings
from moddistill.distill.settings import TrainSettings
from moddistill.errors import ConfigError
from moddistill.evaluation.settings import BenchmarkThresholdsSettings, EvaluateSettings, LeaderboardSettings
from moddistill.export.settings import ExportSettings
from moddistill.fusion.settings import FuseSettings, ModerateSettings
from moddistill.loop.settings import AuditSettings, DriftSettings, LoopSimSettings, SelectBatchSettings
from moddistill.review.settings import ReviewSettings
from moddistill.serving.settings import PredictSettings
from moddistill.settings import Settings, check_settings
from moddistill.teacher.settings import GenerateSettings, LabelSettings

SCRIPTS: dict[str, type[Settings]] = {
    "train": TrainSettings, "baseline": BaselineRunSettings, "label": LabelSettings, "generate": GenerateSettings,
    "evaluate": EvaluateSettings, "export": ExportSettings, "predict": PredictSettings,
    "leaderboard": LeaderboardSettings, "fuse": FuseSettings, "moderate": ModerateSettings,
    "benchmark": BenchmarkSettings, "benchmark_runtimes": BenchmarkRuntimesSettings,
    "benchmark_thresholds": BenchmarkThresholdsSettings, "audit": AuditSettings, "drift": DriftSettings,
    "select_batch": SelectBatchSettings, "loop_sim": LoopSimSettings, "review": ReviewSettings,
    "benchmark_engines": BenchmarkEnginesSettings,
}


def check_config(cfg: DictConfig, script: str) -> Settings:
    """``cfg`` validated as ``SCRIPTS[script]``; the first refusal raised as a one-line ConfigError.

    Missing mandatory values (``???``) are reported by name; Hydra's own ``hydra`` node is not ours to check.
    """
    missing = _missing_keys(cfg)
    if missing:
        raise ConfigError(f"config key {missing[0]} is required: pass {missing[0]}=...")
    values = OmegaConf.to_container(cfg, resolve=True)
    values.pop("hydra", None)
    return check_settings(SCRIPTS[script], values)


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


def checked(script: str):
    """The task function runs only on a config that its script's settings model (``config_checks.SCRIPTS``) accepts."""
    def decorate(main):
        @functools.wraps(main)
        def wrapper(cfg):
            check_config(cfg, script)
            return main(cfg)
        return wrapper
    return decorate
