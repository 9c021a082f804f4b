"""conf/accelerate/: each file is a config accelerate's own loader accepts and its launcher turns into the launch it
names (one GPU, DDP, FSDP), and composes with every student recipe. No GPU here: nothing is launched."""

from pathlib import Path

import pytest

from moddistill.config_checks import check_config
from tests.conftest import CONF, compose_config

ACCELERATE = CONF / "accelerate"
EXPECTED = {"single_gpu": ("NO", False, False), "multi_gpu": ("MULTI_GPU", True, False), "fsdp": ("FSDP", False, True)}
RECIPES = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
# TrainingArguments keys that would fight the launcher's own distribution settings
LAUNCHER_KEYS = {"fsdp", "fsdp_config", "deepspeed", "local_rank", "ddp_backend", "parallelism_config"}


def launch_args(name: str):
    pytest.importorskip("accelerate")
    from accelerate.commands.launch import (
        _validate_launch_command,
        launch_command_parser,
    )

    args = launch_command_parser().parse_args(["--config_file", str(ACCELERATE / f"{name}.yaml"),
                                               "scripts/train.py", "experiment=demo"])
    return _validate_launch_command(args)[0]


def test_the_three_launches_are_shipped():
    assert {p.stem for p in ACCELERATE.glob("*.yaml")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_accelerate_loads_each_file_and_launches_what_it_names(name):
    pytest.importorskip("accelerate")
    from accelerate.commands.config.config_args import ClusterConfig

    config = ClusterConfig.from_yaml_file(str(ACCELERATE / f"{name}.yaml"))  # refuses unknown keys
    kind, multi_gpu, fsdp = EXPECTED[name]
    assert config.distributed_type.value == kind and config.mixed_precision == "no"  # the recipe sets precision
    args = launch_args(name)
    assert (bool(args.multi_gpu), bool(args.use_fsdp)) == (multi_gpu, fsdp)
    assert "UNTESTED here" in (ACCELERATE / f"{name}.yaml").read_text()
    assert f"accelerate launch --config_file conf/accelerate/{name}.yaml" in (ACCELERATE / f"{name}.yaml").read_text()
    if fsdp:
        from accelerate.utils.launch import prepare_multi_gpu_env

        env = prepare_multi_gpu_env(args)
        assert env["ACCELERATE_USE_FSDP"] == "true" and env["FSDP_SHARDING_STRATEGY"] == "FULL_SHARD"
        assert env["FSDP_USE_ORIG_PARAMS"] == "true"  # LoRA: frozen and trainable parameters in one flat module
        assert env["FSDP_STATE_DICT_TYPE"] == "FULL_STATE_DICT"  # a checkpoint export.py reads


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_student_recipe_composes_with_the_launches(recipe):
    cfg = compose_config("train", [f"experiment={recipe}"])
    check_config(cfg, "train")
    clashes = LAUNCHER_KEYS & set(cfg.trainer.args)
    assert not clashes, f"experiment={recipe}: trainer.args {sorted(clashes)} would fight accelerate launch"
    assert cfg.trainer.precision in ("auto", "bf16", "fp32")  # the launches leave precision to the recipe
    assert Path("scripts/train.py").name in (ACCELERATE / "fsdp.yaml").read_text()
