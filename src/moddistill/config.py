"""Bridges between Hydra/OmegaConf configs and the plain objects the library works with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from moddistill.data.policy import Policy, parse_policy
from moddistill.data.records import write_text_atomic


def to_dict(cfg: Any) -> Any:
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg


def path_list(value: Any) -> list[str]:
    """A config key that takes one path (a command-line override) or a list of them (or none) as a list."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def policy_from_cfg(cfg: DictConfig) -> Policy:
    """The composed ``policy`` group validated as a Policy; errors name the policy file it came from."""
    return parse_policy(to_dict(cfg.policy), source=_policy_source())


def _policy_source() -> str:
    try:
        from hydra.core.hydra_config import HydraConfig

        choice = HydraConfig.get().runtime.choices.get("policy")
        return f"conf/policy/{choice}.yaml"
    except (ImportError, ValueError):  # composed outside a Hydra run (tests, notebooks)
        return "policy config"


def save_config(cfg: DictConfig, path: str | Path) -> None:
    """Written atomically: in a two-process run, process 0 once read its own config.yaml without ``seed`` (the end
    of the file) while it was being written."""
    write_text_atomic(path, OmegaConf.to_yaml(cfg, resolve=True))


def load_config(path: str | Path) -> DictConfig:
    cfg = OmegaConf.load(path)
    assert isinstance(cfg, DictConfig)
    return cfg
