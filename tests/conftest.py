"""Shared fixtures: the repo's configs composed without a Hydra run, small slices of the sample data, and
one tiny trained run (random 2-layer BERT) reused by the tests that need a checkpoint."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from moddistill.data.policy import load_policy

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
POLICY_FILE = CONF / "policy" / "marketplace_v1.yaml"
SAMPLE_LISTINGS = ROOT / "data" / "sample" / "listings.jsonl"
SAMPLE_LABELS = ROOT / "data" / "sample" / "teacher_reference.jsonl"
POLICY_CASES = ROOT / "data" / "policy_cases" / "marketplace_v1.jsonl"
# the experiments `make` trains a baseline beside (scripts/baseline.py experiment=...): same data, same threshold rule
BASELINE_EXPERIMENTS = ["demo", "student_cpu", "review_abuse", "review_spam"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def compose_config(name: str, overrides: list[str] = ()):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(name, overrides=list(overrides))


def write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    # split on "\n" only: str.splitlines also breaks at U+0085 and U+2028, which JSON text may hold raw
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").split("\n") if line.strip()]


@pytest.fixture(scope="session")
def policy():
    return load_policy(POLICY_FILE)


@pytest.fixture(scope="session")
def sample_slice(tmp_path_factory) -> dict[str, Path]:
    """The first 160 sample listings with their reference labels, and 60 policy cases (every kind kept
    consistent: a perturbation is kept only with the case it perturbs)."""
    out = tmp_path_factory.mktemp("slice")
    listings = read_jsonl(SAMPLE_LISTINGS)[:160]
    ids = {r["id"] for r in listings}
    labels = [r for r in read_jsonl(SAMPLE_LABELS) if r["id"] in ids]
    cases = read_jsonl(POLICY_CASES)
    kept, kept_ids = [], set()
    for c in cases:
        if len(kept) >= 60:
            break
        if c.get("variant_of") is None or c["variant_of"] in kept_ids:
            kept.append(c)
            kept_ids.add(c["id"])
    return {
        "listings": write_jsonl(out / "listings.jsonl", listings),
        "labels": write_jsonl(out / "labels.jsonl", labels),
        "cases": write_jsonl(out / "cases.jsonl", kept),
    }


# a test's slice alone: without the sample's policy examples and contrast set (tests/distill/test_contrast_data.py adds them)
SLICE_ONLY = ("data.policy_examples.weight=0", "data.contrast=[]")


def shipped_settings(model, script: str, **changes):
    """``model`` (a settings model) with conf/<script>.yaml's defaults and ``changes``: a test names only what it
    varies, and the defaults stay in the YAML file."""
    import yaml

    defaults = yaml.safe_load((CONF / f"{script}.yaml").read_text(encoding="utf-8"))
    return model.model_validate({**{k: v for k, v in defaults.items() if k in model.model_fields}, **changes})


def slice_overrides(data: dict[str, Path], output_dir: Path, *extra: str) -> list[str]:
    """A training run (student or baseline) on ``data``, a slice like ``sample_slice``'s, alone."""
    return [f"data.listings={data['listings']}", f"teacher.labels={data['labels']}",
            f"data.policy_cases={data['cases']}", *SLICE_ONLY, f"output_dir={output_dir}", *extra]


def tiny_overrides(data: dict[str, Path], output_dir: Path, *extra: str) -> list[str]:
    return ["experiment=tiny", *slice_overrides(data, output_dir, *extra)]


@pytest.fixture(scope="session")
def tiny_run(sample_slice, tmp_path_factory) -> Path:
    """One finished tiny training run, evaluated on the slice's policy cases."""
    from moddistill.distill.train import train
    from moddistill.evaluation.evaluate import evaluate_checkpoint

    run_dir = tmp_path_factory.mktemp("runs") / "tiny-run"
    cfg = compose_config("train", tiny_overrides(sample_slice, run_dir))
    train(cfg)
    evaluate_checkpoint(run_dir)
    return run_dir


def spread_head(model, tokenizer, texts, max_length: int) -> np.ndarray:
    """Give a (tiny, untrained) student a random head, centred and scaled so each policy's logits have std 2 on
    ``texts``: scores then spread across (0, 1), so a wrong order, threshold or runtime is observable. Returns
    the probabilities of each text scored alone through a plain forward pass (no batching, no length sort)."""
    import torch

    from moddistill.distill.inference import encode

    def scored_alone() -> np.ndarray:
        with torch.no_grad():
            return np.array([model(**encode([t], tokenizer, model.config, max_length=max_length)).logits[0].numpy()
                             for t in texts])

    head = model.classifier
    with torch.no_grad():
        torch.manual_seed(0)
        head.weight.normal_()
        head.bias.zero_()
        logits = scored_alone()
        scale = torch.from_numpy(2.0 / logits.std(axis=0))
        head.weight.mul_(scale[:, None])
        head.bias.copy_(-torch.from_numpy(logits.mean(axis=0)) * scale)
    return 1 / (1 + np.exp(-scored_alone()))
