"""The rooms point one way (docs/architecture.md): the import-linter contracts in pyproject.toml hold, and every room
of the package is in the layer list, so a new room cannot sit outside the contract unchecked."""

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "moddistill"


def _contract() -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return contract


def test_import_contracts_hold(tmp_path):
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0, \
        "an import points against the rooms' order: see the broken contract above (docs/architecture.md)"


def test_every_room_is_a_layer():
    rooms = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    rooms |= {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    layers = {name.removeprefix("moddistill.") for layer in _contract()["layers"] for name in layer.split("|")}
    assert rooms == {layer.strip() for layer in layers}


@pytest.mark.parametrize("upward", ["moddistill.distill.train", "moddistill.serving.runtime"])
def test_the_contract_refuses_an_upward_import(tmp_path, upward):
    """A copy of the package where a lower room imports a higher one breaks the contract: the check can fail."""
    import shutil
    import subprocess
    import sys

    copy = tmp_path / "src"
    shutil.copytree(PACKAGE, copy / "moddistill", ignore=shutil.ignore_patterns("__pycache__"))
    module = copy / "moddistill" / "data" / "records.py"
    module.write_text(module.read_text(encoding="utf-8") + f"\nimport {upward}  # noqa\n", encoding="utf-8")
    config = tmp_path / ".importlinter"
    contract = _contract()
    config.write_text("[importlinter]\nroot_package = moddistill\n\n[importlinter:contract:layers]\n"
                      f"name = {contract['name']}\ntype = layers\nlayers =\n"
                      + "".join(f"    {layer}\n" for layer in contract["layers"]), encoding="utf-8")
    result = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                             f"sys.exit(lint_imports(config_filename={str(config)!r}, no_cache=True, no_logo=True))"],
                            cwd=tmp_path, env={"PYTHONPATH": str(copy), "PATH": ""}, capture_output=True, text=True)
    assert result.returncode != 0
    assert f"moddistill.data is not allowed to import {upward.rsplit('.', 1)[0]}" in result.stdout


def test_predict_loads_neither_httpx_nor_the_labelling_stack():
    """The serving path (scripts/predict.py: its config check, the runtime) stays light: no HTTP client, no labeller,
    no torch until a torch runtime is asked for."""
    import subprocess
    import sys

    code = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('predict', 'scripts/predict.py'); "
            "spec.loader.exec_module(importlib.util.module_from_spec(spec)); "
            "print(sorted(m for m in sys.modules if m in ('httpx', 'torch', 'transformers') "
            "or m.startswith(('moddistill.teacher.labeling', 'moddistill.teacher.openai_backend', 'moddistill.distill.train'))))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_script_runner_imports_only_the_errors_module():
    """cli.py catches every user error by its base class, so it needs no room of the package to do it."""
    import subprocess
    import sys

    code = "import sys, moddistill.cli; print(sorted(m for m in sys.modules if m.startswith('moddistill')))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "['moddistill', 'moddistill.cli', 'moddistill.errors']"
