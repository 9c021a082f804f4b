"""Config checks (config_checks.py and each room's settings.py): every shipped config passes, and each kind of wrong
value is refused in one line that names the key, before any data or model is loaded."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import Field

from moddistill.config_checks import check_config
from moddistill.distill.settings import check_training_arguments
from moddistill.errors import ConfigError
from tests.conftest import BASELINE_EXPERIMENTS, CONF, POLICY_CASES, SAMPLE_LISTINGS, compose_config

REQUIRED = {
    "train": [], "baseline": [], "evaluate": [], "leaderboard": [], "benchmark": [],
    "predict": [f"export_dir={CONF}", f"input={SAMPLE_LISTINGS}", "output=/tmp/out.jsonl"],
    "export": [f"checkpoint={CONF}"], "benchmark_runtimes": [f"export_dir={CONF}"],
    "fuse": [f"export_dir={CONF}", f"llm_labels={SAMPLE_LISTINGS}", f"cases={POLICY_CASES}"],
    "moderate": [f"export_dir={CONF}", f"input={SAMPLE_LISTINGS}", "output=/tmp/out.jsonl", "teacher.model=m"],
    "label": [f"input={SAMPLE_LISTINGS}", "output=/tmp/out.jsonl", "teacher.model=some-model"],
    "generate": [], "benchmark_thresholds": [],
    "loop_sim": [],
    "audit": [f"decisions={SAMPLE_LISTINGS}"],
    "drift": [f"reference={SAMPLE_LISTINGS}", f"current={SAMPLE_LISTINGS}"],
    "select_batch": [f"pool={SAMPLE_LISTINGS}", "budget=10", "output=/tmp/out.jsonl", f"exclude=[{SAMPLE_LISTINGS}]"],
    "review": [],
    "benchmark_engines": [f"export_dir={CONF}"],
}


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


SHIPPED = ([("train", [f"model={m}"]) for m in _options("model")]
           + [("train", [f"experiment={e}"]) for e in _options("experiment")]
           + [("train", ["peft=full"])]
           + [("baseline", [f"experiment={e}"]) for e in BASELINE_EXPERIMENTS]
           + [("label", [f"prompt={p}"]) for p in _options("prompt")]
           + [(script, []) for script in REQUIRED])


def test_every_script_config_is_checked():
    assert set(REQUIRED) == {p.stem for p in CONF.glob("*.yaml")}


@pytest.mark.parametrize("script, overrides", SHIPPED, ids=lambda x: x if isinstance(x, str) else ",".join(x))
def test_every_shipped_config_passes(script, overrides):
    """Also the guard for new keys: a key added to a yaml file without its setting in the script's model fails here."""
    check_config(compose_config(script, REQUIRED[script] + overrides), script)


BAD = [
    ("train", "max_false_reject=1.5", "max_false_reject=1.5: expected a number in [0, 1]"),
    ("baseline", "threshold_strategy=shrunk", "threshold_strategy='shrunk': expected one of 'global', 'per_policy', "
                                              "'adaptive'"),
    ("benchmark_thresholds", "rules=[global,best@0.1]", "rules[1]='best@0.1': expected one of 'global', 'per_policy'"),
    ("benchmark_thresholds", "rules=[global@x]", "rules[0]='global@x': expected strategy[@max_false_reject], the cap"),
    ("train", "data.policy_examples.weight=-1", "data.policy_examples.weight=-1: expected an integer >= 0"),
    ("train", "data.contrast=[{listings:nope.jsonl,labels:nope.jsonl,weight:1}]",
     "data.contrast[0].listings='nope.jsonl': no such file"),
    ("train", "trainer.args.num_train_epochs=abc", "trainer.args.num_train_epochs='abc': expected float"),
    ("train", "trainer.args.learning_rat=0.1", None),  # not even composed: Hydra refuses an unknown key
    ("train", "+trainer.args.learning_rat=0.1", "trainer.args.learning_rat is not a TrainingArguments flag "
                                               "(did you mean learning_rate?)"),
    ("train", "trainer.args.eval_strategy=sometimes", "trainer.args.eval_strategy='sometimes': expected"),
    ("train", "data.on_error=skp", "data.on_error='skp': expected one of 'raise', 'skip'"),
    ("train", "+data.validaton_fraction=0.2", "data.validaton_fraction is unknown (did you mean validation_fraction?)"),
    ("train", "data.validation_fraction=1.5", "data.validation_fraction=1.5: expected a number in (0, 0.5]"),
    ("train", "data.leakage_threshold=-0.1", "data.leakage_threshold=-0.1: expected a number in [0, 1]"),
    ("train", "data.listings=/no/such/file.jsonl", "data.listings='/no/such/file.jsonl': no such file"),
    ("train", "trainer.pos_weight=-1", "trainer.pos_weight=-1: expected 'none', 'balanced' or a positive number"),
    ("train", "trainer.precision=fp8", "trainer.precision='fp8': expected one of 'auto', 'bf16', 'fp32'"),
    ("train", "peft.method=qlora", "peft.method='qlora': expected one of 'lora', 'full'"),
    ("fuse", "fusion.llm_share=1.5", "fusion.llm_share=1.5: expected a number in [0, 1]"),
    ("fuse", "ids=train", "ids='train': expected one of 'validation', None"),
    ("predict", "runtime=onnx_fp16", "runtime='onnx_fp16': expected one of 'auto', 'torch', 'onnx', 'onnx_int8'"),
    ("train", "model.max_length=0", "model.max_length=0: expected an integer >= 1"),
    ("train", "model.pooling=max", "model.pooling='max': expected one of 'mean', 'cls'"),
    ("train", "threshold_strategy=best", "threshold_strategy='best': expected one of 'global', 'per_policy'"),
    ("train", "seed=1.5", "seed=1.5: expected an integer"),
    ("train", "resume_from=/no/such/run", "resume_from='/no/such/run': no such dir"),
    ("baseline", "baseline.C=0", "baseline.C=0: expected a number > 0"),
    ("predict", "batch_size=0", "batch_size=0: expected an integer >= 1"),
    ("predict", "allow_empty=maybe", "allow_empty='maybe': expected true or false"),
    ("label", "teacher.concurrency=0", "teacher.concurrency=0: expected an integer >= 1"),
    ("label", "teacher.temperature=3", "teacher.temperature=3: expected a number in [0, 2]"),
    ("label", "teacher.structured_output=xml", "teacher.structured_output='xml': expected one of"),
    ("generate", "intents=[violation,violation]", "intents=['violation', 'violation']: expected a non-empty list of "
                                                  "distinct values"),
    ("generate", "locales=[{language: en, market: USA, currency: USD}]", "locales[0].market='USA': expected a "
                                                                         "2-letter ISO 3166 code"),
    ("generate", "limit=0", "limit=0: expected an integer >= 1"),
    ("evaluate", "thresholds=high", "thresholds='high': expected 'validation' or a number in [0, 1]"),
    ("leaderboard", "bootstrap=-5", "bootstrap=-5: expected an integer >= 0"),
    ("select_batch", "exclude=[/no/such/labels.jsonl]", "exclude[0]='/no/such/labels.jsonl': no such file"),
    ("select_batch", "strategy=margin", "strategy='margin': expected one of 'uncertainty', 'disagreement', 'random'"),
]


@pytest.mark.parametrize("script, override, message", [b for b in BAD if b[2]], ids=lambda x: str(x)[:40])
def test_a_bad_value_is_refused_naming_the_key(script, override, message):
    cfg = compose_config(script, REQUIRED[script] + [override])
    with pytest.raises(ConfigError) as e:
        check_config(cfg, script)
    assert str(e.value).startswith("config key ") and message in str(e.value)


def test_ngram_settings_are_checked_when_the_channel_is_on():
    cfg = compose_config("train", ["experiment=demo", "model.ngram.fit=both"])
    with pytest.raises(ConfigError, match=r"model\.ngram\.fit='both': expected one of 'joint', 'stacked'"):
        check_config(cfg, "train")
    cfg = compose_config("train", ["experiment=demo", "model.ngram.char_ngrams=[5,2]"])
    with pytest.raises(ConfigError, match=r"model\.ngram\.char_ngrams=\[5, 2\]: expected \[min, max\]"):
        check_config(cfg, "train")


def test_a_missing_mandatory_value_is_named():
    with pytest.raises(ConfigError, match=r"config key export_dir is required: pass export_dir=\.\.\."):
        check_config(compose_config("predict", [f"input={POLICY_CASES}", "output=x.jsonl"]), "predict")


def test_training_arguments_are_checked_by_their_own_field_types():
    check_training_arguments({"num_train_epochs": 3, "learning_rate": 1e-4, "warmup_steps": 0.06,
                              "report_to": ["tensorboard"], "eval_strategy": "epoch", "eval_steps": None,
                              "bf16": True, "max_steps": -1})
    with pytest.raises(ConfigError, match="trainer.args.bf16='yes': expected bool"):
        check_training_arguments({"bf16": "yes"})
    with pytest.raises(ConfigError, match="trainer.args.per_device_train_batch_size=1.5: expected int"):
        check_training_arguments({"per_device_train_batch_size": 1.5})


def test_training_flags_that_do_not_combine_fail_before_any_data_is_read(sample_slice, tmp_path, monkeypatch):
    import moddistill.distill.train as train_module
    from tests.conftest import tiny_overrides

    def no_data(*args, **kwargs):
        raise AssertionError("the data was read before trainer.args were checked")

    monkeypatch.setattr(train_module, "prepare_training_data", no_data)
    cfg = compose_config("train", tiny_overrides(sample_slice, tmp_path / "run", "trainer.args.save_strategy=steps"))
    with pytest.raises(ConfigError, match=r"^trainer\.args: .*strateg"):
        train_module.train(cfg)


class ToyBaseline:
    """A baseline from outside the package: its signature is all the config check knows of it."""

    def __init__(self, *, ngram: Annotated[int, Field(ge=1, le=3)] = 1, lowercase: bool = True):
        self.ngram, self.lowercase = ngram, lowercase


@pytest.mark.parametrize("override, message", [
    ("+baseline.ngram=2", None),
    ("+baseline.ngram=5", "baseline.ngram=5: expected an integer in [1, 3]"),
    ("+baseline.lowercase=maybe", "baseline.lowercase='maybe': expected true or false"),
    ("+baseline.C=1", "baseline.C is unknown; known keys under baseline: _target_, lowercase, ngram"),
    ("baseline._target_=tests.test_config_checks.NoSuchBaseline", "baseline._target_='tests.test_config_checks."
                                                                  "NoSuchBaseline': no such class"),
])
def test_a_baseline_is_checked_against_its_targets_signature(override, message):
    """No hard-coded list: a baseline class from outside the package is checked by its own parameters' types."""
    cfg = compose_config("baseline", ["baseline=tfidf_logreg", "~baseline.char_ngram_range", "~baseline.char_min_df",
                                      "~baseline.word_ngram_range", "~baseline.word_min_df", "~baseline.sublinear_tf",
                                      "~baseline.C", "~baseline.class_weight", "~baseline.max_iter", "~baseline.solver",
                                      "baseline._target_=tests.test_config_checks.ToyBaseline", override])
    if message is None:
        check_config(cfg, "baseline")
        return
    with pytest.raises(ConfigError) as e:
        check_config(cfg, "baseline")
    assert message in str(e.value)
