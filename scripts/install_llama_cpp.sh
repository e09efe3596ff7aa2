#!/usr/bin/env bash
# Build (once) and install llama-cpp-python with its OpenAI-compatible server.
#
# llama-cpp-python ships no binary wheel for this platform, so pip compiles
# llama.cpp (3-6 minutes on 2 cores). The default build targets the build
# machine's CPU (-march=native plus AVX512/AMX kernels) and crashes on CPUs
# without them, so the flags below build portable kernels. The built wheel is
# cached under $INTERANK_CACHE/wheels (default ~/.cache/interank/wheels) and
# reused: a second run installs in seconds.
#
# Usage: bash scripts/install_llama_cpp.sh [python]   (default: the python on PATH)
# Env:   LLAMA_CPP_VERSION (default 0.3.36), INTERANK_CACHE, MAX_JOBS
set -euo pipefail

PYTHON="${1:-python}"
VERSION="${LLAMA_CPP_VERSION:-0.3.36}"
CACHE="${INTERANK_CACHE:-$HOME/.cache/interank}"
WHEELS="$CACHE/wheels"
mkdir -p "$WHEELS"

if "$PYTHON" -c "import llama_cpp, sys; sys.exit(0 if llama_cpp.__version__ == '$VERSION' else 1)" 2>/dev/null \
   && "$PYTHON" -c "import llama_cpp.server" 2>/dev/null; then
    echo "llama-cpp-python $VERSION (server) already installed"
    exit 0
fi

shopt -s nullglob
wheel=("$WHEELS"/llama_cpp_python-"$VERSION"-*.whl)
if [ ${#wheel[@]} -eq 0 ]; then
    echo "building llama-cpp-python $VERSION (portable CPU kernels; takes a few minutes)..."
    export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
    export CMAKE_BUILD_PARALLEL_LEVEL="${MAX_JOBS:-$(nproc)}"
    # a persistent build folder: an interrupted build resumes where it stopped
    "$PYTHON" -m pip wheel --no-deps --no-cache-dir "llama-cpp-python==$VERSION" -w "$WHEELS" \
        -C "build-dir=$CACHE/build/llama-cpp-python-$VERSION"
    wheel=("$WHEELS"/llama_cpp_python-"$VERSION"-*.whl)
fi
# The server extra pulls only web-server packages (fastapi, uvicorn, sse-starlette, ...), never torch.
"$PYTHON" -m pip install "${wheel[0]}[server]"
"$PYTHON" -c "import llama_cpp.server; print('llama-cpp-python', __import__('llama_cpp').__version__, 'installed')"
