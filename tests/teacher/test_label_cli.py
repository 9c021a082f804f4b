"""scripts/label.py as a user runs it: fail-fast preflight, the key kept secret, kill -9 and resume."""

import os
import signal
import socket
import subprocess
import sys
import time

from tests.conftest import ROOT, read_jsonl
from tests.fake_openai import FakeOpenAI
from tests.teacher.test_label_faults import listings_file

KEY = "sk-test-SECRET-5f3a9c0d1e2b"


def run_label(tmp_path, url, *overrides, env=None, popen=False):
    cmd = [sys.executable, str(ROOT / "scripts" / "label.py"), f"teacher.base_url={url}", "teacher.model=fake",
           f"input={tmp_path / 'in.jsonl'}", f"output={tmp_path / 'out' / 'labels.jsonl'}",
           f"cache={tmp_path / 'cache.sqlite'}", "teacher.backoff_base_s=0.01", "teacher.backoff_max_s=0.05", *overrides]
    env = {**os.environ, **(env or {})}
    if popen:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_key_never_appears_in_outputs_logs_or_the_cache(tmp_path, policy):
    listings_file(tmp_path / "in.jsonl", ["weapons 0", "echo 1", "busy 2"])
    faults = {"echo 1": ["500", "500"], "busy 2": ["429:0"]}  # their error bodies quote the key
    with FakeOpenAI(policy.ids, faults=faults, api_key=KEY) as fake:
        result = run_label(tmp_path, fake.url, "teacher.api_key_env=LABEL_TEST_KEY", "teacher.max_retries=1",
                           env={"LABEL_TEST_KEY": KEY})
        assert result.returncode == 0, result.stderr
        assert fake.counts["echo 1"] == 2 and fake.counts["busy 2"] == 2
    errors = read_jsonl(tmp_path / "out" / "labels.errors.jsonl")
    assert [e["error"] for e in errors] == ["server_error"] and "Bearer ***" in errors[0]["reason"]
    written = [result.stdout, result.stderr] + [p.read_bytes().decode("utf-8", "replace")
                                                for p in tmp_path.rglob("*") if p.is_file()]
    assert not any(KEY in text for text in written)
    assert "labelled: 2" in result.stdout and "errors: 1 (server_error 1)" in result.stdout


def test_a_rejected_key_stops_the_run_before_any_listing_is_sent(tmp_path, policy):
    listings_file(tmp_path / "in.jsonl", ["weapons 0", "plain 1"])
    wrong = "sk-wrong-0f9e8d7c6b5a"
    with FakeOpenAI(policy.ids, api_key=KEY) as fake:
        result = run_label(tmp_path, fake.url, "teacher.api_key_env=LABEL_TEST_KEY", env={"LABEL_TEST_KEY": wrong})
        assert fake.listing_requests() == 0
    assert result.returncode == 2
    assert "rejected the API key from $LABEL_TEST_KEY: HTTP 401" in result.stderr and "Traceback" not in result.stderr
    assert wrong not in result.stderr + result.stdout  # the server echoed it; we did not
    assert not (tmp_path / "out" / "labels.jsonl").exists()


def test_an_unreachable_server_or_a_missing_key_fails_fast(tmp_path, policy):
    listings_file(tmp_path / "in.jsonl", ["weapons 0"])
    started = time.monotonic()
    result = run_label(tmp_path, f"http://127.0.0.1:{free_port()}/v1")
    assert result.returncode == 2 and "cannot reach the teacher server" in result.stderr
    assert time.monotonic() - started < 20 and "Traceback" not in result.stderr
    with FakeOpenAI(policy.ids) as fake:
        result = run_label(tmp_path, fake.url, "teacher.api_key_env=LABEL_TEST_UNSET_KEY",
                           env={"LABEL_TEST_UNSET_KEY": ""})
        assert sum(fake.counts.values()) == 0
    assert result.returncode == 2 and "LABEL_TEST_UNSET_KEY is not set" in result.stderr


def test_kill_and_resume_repeats_at_most_the_requests_in_flight(tmp_path, policy):
    titles = [f"weapons {i}" for i in range(12)]
    listings_file(tmp_path / "in.jsonl", titles)
    concurrency = 2
    with FakeOpenAI(policy.ids, delay_s=0.3) as fake:
        proc = run_label(tmp_path, fake.url, f"teacher.concurrency={concurrency}", popen=True)
        deadline = time.monotonic() + 60
        while fake.listing_requests() < 5 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        assert not (tmp_path / "out" / "labels.jsonl").exists()
        answered_before = fake.listing_requests()

        result = run_label(tmp_path, fake.url, f"teacher.concurrency={concurrency}")
        assert result.returncode == 0, result.stderr
        counts = {t: fake.counts[t] for t in titles}
        assert all(1 <= n <= 2 for n in counts.values()), counts
        assert sum(n == 2 for n in counts.values()) <= concurrency  # only requests in flight at the kill
        assert sum(counts.values()) <= len(titles) + concurrency
        assert answered_before >= 5 and "served from cache: " in result.stdout

        before = dict(fake.counts)
        result = run_label(tmp_path, fake.url)
        assert result.returncode == 0 and dict(fake.counts) == before  # a rerun calls nothing
        assert "calls made: 0" in result.stdout
    assert [r["id"] for r in read_jsonl(tmp_path / "out" / "labels.jsonl")] == [f"id-{i}" for i in range(12)]
