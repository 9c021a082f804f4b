"""scripts/review.py end to end: bad input and a risky bind end in one line and exit 2, the Label Studio modes run
from the command line, and a served console killed mid-session keeps every verdict it acknowledged."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from moddistill.config_checks import check_config
from moddistill.errors import ConfigError
from moddistill.review.store import VerdictStore
from tests.conftest import ROOT, compose_config, write_jsonl
from tests.review.conftest import decision, review_overrides
from tests.test_exit_codes import run_script


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_shipped_config_passes_and_a_bad_value_is_one_line():
    check_config(compose_config("review"), "review")
    for override, message in (("port=70000", "port=70000: expected an integer in [0, 65535]"),
                              ("queues=/no/such.jsonl", "queues[0]='/no/such.jsonl': no such file"),
                              ("dashboard.top=0", "dashboard.top=0: expected an integer >= 1")):
        with pytest.raises(ConfigError, match=re.escape(message)):
            check_config(compose_config("review", [override]), "review")


@pytest.mark.parametrize("case", ["malformed", "unknown_policy", "no_listings", "bind"])
def test_bad_input_is_one_line_and_exit_2(review_files, tmp_path, monkeypatch, capsys, case):
    monkeypatch.delenv("MODDISTILL_REVIEW_TOKEN", raising=False)
    args = review_overrides(review_files, tmp_path)

    def replace(key: str, value: str) -> None:
        args[:] = [a for a in args if not a.startswith(f"{key}=")] + [f"{key}={value}"]

    if case == "malformed":
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"id": "a", "decided_by": "expert", "flagged": []}\n{"id": "b", oops}\n', encoding="utf-8")
        replace("queues", f"[{bad}]")
        expected = f"error: {bad}, line 2, field '<row>': malformed JSON"
    elif case == "unknown_policy":
        bad = write_jsonl(tmp_path / "bad.jsonl", [decision("r0", ["weaponz"], "expert")])
        replace("queues", f"[{bad}]")
        expected = f"error: {bad}, line 1, field 'flagged[0]': policy id 'weaponz' is not in the policy"
    elif case == "no_listings":
        replace("listings", "null")
        expected = f"error: {review_files['decisions']}, line 1: listing 'r0' has no listing fields"
    else:
        replace("host", "0.0.0.0")
        expected = "error: host=0.0.0.0 is not a loopback address: set a token in the environment variable"
    code, err = run_script("review", args, monkeypatch, capsys)
    assert code == 2 and err.startswith(expected) and err.count("\n") == 1, err


def test_label_studio_modes_from_the_command_line(review_files, tmp_path, monkeypatch, capsys):
    tasks = tmp_path / "ls" / "tasks.json"
    code, err = run_script("review", review_overrides(review_files, tmp_path) + [f"label_studio.tasks={tasks}"],
                           monkeypatch, capsys)
    assert code == 0 and tasks.exists() and (tmp_path / "ls" / "tasks.label_config.xml").exists(), err
    code, err = run_script("review", review_overrides(review_files, tmp_path) + [f"label_studio.export={tasks}"],
                           monkeypatch, capsys)
    assert code == 2 and err.startswith("error: label_studio.verdicts=VERDICTS.jsonl is required")


def test_killing_the_server_loses_no_acknowledged_verdict(review_files, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MODDISTILL_REVIEW_TOKEN"}
    server = subprocess.Popen([sys.executable, "scripts/review.py", *review_overrides(review_files, tmp_path),
                               f"port={port}"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=5) as c:
            for _ in range(300):  # the script starts in a few seconds (Hydra, the queue, uvicorn)
                try:
                    page = c.get("/queue")
                    break
                except httpx.TransportError:
                    assert server.poll() is None, server.stdout.read().decode()
                    time.sleep(0.1)
            csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
            for lid in ("r0", "r1", "b1"):
                r = c.post(f"/items/{lid}/verdict", data={"csrf": csrf, "decision": "allow", "reviewer": "ana"})
                assert r.status_code == 303
    finally:
        server.send_signal(signal.SIGKILL)  # no shutdown: whatever was acknowledged must already be on disk
        server.wait(timeout=10)
    assert [(v.id, v.reviewer) for v in VerdictStore(tmp_path / "review.sqlite").all()] == [
        ("r0", "ana"), ("r1", "ana"), ("b1", "ana")]
