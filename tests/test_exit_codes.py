"""The exit-code contract (cli.py): each script's main, run in-process with a catalogue of bad configs and bad
files, exits 2 with a first line naming the key or file:line and no traceback (Hydra adds the options a group
has when an option does not exist); a crash exits 1 with its traceback."""

from __future__ import annotations

import runpy
import subprocess
import sys

import pytest

from tests.conftest import ROOT, SAMPLE_LISTINGS, write_jsonl
from tests.data.test_listings import row


def run_script(name: str, args: list[str], monkeypatch, capsys) -> tuple[int, str]:
    """Run scripts/<name>.py as ``__main__`` in this process; (exit code, stderr)."""
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")  # restored after the test (cli.run sets it)
    monkeypatch.setattr(sys, "argv", [f"scripts/{name}.py", *args])
    monkeypatch.chdir(ROOT)
    try:
        runpy.run_path(str(ROOT / "scripts" / f"{name}.py"), run_name="__main__")
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    return code, capsys.readouterr().err


@pytest.fixture
def files(tmp_path):
    not_utf8 = tmp_path / "latin1.jsonl"
    not_utf8.write_bytes(b'{"id": "a1", "title": "caf\xe9"}\n')
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    bad_price = write_jsonl(tmp_path / "bad_price.jsonl", [row(), row(id="a2", price="ask me")])
    return {"not_utf8": not_utf8, "empty": empty, "bad_price": bad_price, "dir": tmp_path}


CATALOGUE = [
    # (script, args, what stderr must say); {name} is filled from the files fixture
    ("train", ["trainer.args.num_train_epochs=abc"], "config key trainer.args.num_train_epochs='abc': expected float"),
    ("train", ["data.on_error=skp"], "config key data.on_error='skp': expected one of 'raise', 'skip'"),
    ("train", ["no_such_key=1"], "Could not override 'no_such_key'"),
    ("train", ["model=no_such_model"], "Could not find 'model/no_such_model'"),
    ("train", ["data.listings={not_utf8}", "output_dir={dir}/run"], "latin1.jsonl, line 1, field '<row>': not UTF-8"),
    ("baseline", ["data.listings={bad_price}", "output_dir={dir}/run"], "bad_price.jsonl, line 2, field 'price'"),
    ("baseline", ["data.listings={empty}", "output_dir={dir}/run"], "empty.jsonl: no rows"),
    ("predict", ["export_dir={dir}", "input={not_utf8}", "output={dir}/p.jsonl"], "latin1.jsonl, line 1"),
    ("predict", ["export_dir={dir}", "input={empty}", "output={dir}/p.jsonl"], "empty.jsonl: no rows"),
    ("predict", ["input={empty}", "output={dir}/p.jsonl"], "config key export_dir is required"),
    ("predict", ["export_dir={dir}/nope", "input={empty}", "output=x"], "export_dir='{dir}/nope': no such dir"),
    ("export", ["checkpoint={dir}"], "not a finished training run (missing config.yaml)"),
    ("evaluate", [], "pass exactly one of checkpoint=PATH or teacher_labels=PATH"),
    ("leaderboard", ["root={dir}/nope"], "root='{dir}/nope': no such dir"),
    ("label", [f"input={SAMPLE_LISTINGS}", "output={dir}/l.jsonl", "teacher.model=m", "teacher.concurrency=0"],
     "teacher.concurrency=0: expected an integer >= 1"),
    ("benchmark", ["batch_size=-1"], "config key batch_size=-1: expected an integer >= 1"),
]


@pytest.mark.parametrize("script, args, message", CATALOGUE, ids=[f"{c[0]}-{i}" for i, c in enumerate(CATALOGUE)])
def test_a_user_error_exits_2_in_one_line(script, args, message, files, monkeypatch, capsys):
    args = [a.format(**files) for a in args]
    code, err = run_script(script, args, monkeypatch, capsys)
    assert code == 2, err[-2000:]
    assert err.startswith("error: ") and message.format(**files) in err.splitlines()[0]
    assert "Traceback" not in err


def test_an_empty_input_is_fine_when_allowed(files, tmp_path, monkeypatch, capsys, tiny_run):
    from moddistill.export.directory import export_run

    export_dir = export_run(tiny_run, tmp_path / "export", allow_collapsed=True)
    code, err = run_script("predict", [f"export_dir={export_dir}", f"input={files['empty']}",
                                       f"output={tmp_path}/p.jsonl", "allow_empty=true"], monkeypatch, capsys)
    assert code == 0, err[-2000:]
    assert (tmp_path / "p.jsonl").read_text() == ""


def test_a_crash_exits_1_with_its_traceback(tmp_path):
    crash = ("import runpy, sys; import moddistill.evaluation.leaderboard as lb\n"
             "def boom(*a, **k): raise RuntimeError('a bug, not a user error')\n"
             "lb.collect_leaderboard = boom\n"
             f"sys.argv = ['scripts/leaderboard.py', 'root={tmp_path}']\n"
             "runpy.run_path('scripts/leaderboard.py', run_name='__main__')\n")
    proc = subprocess.run([sys.executable, "-c", crash], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr and "RuntimeError: a bug, not a user error" in proc.stderr
