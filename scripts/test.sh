#!/usr/bin/env bash
# Command two of the README (and what .ci/run runs): set up .venv with everything, build the
# offline models, run the whole test suite. Missing models are failures here, not skips.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup_env.sh test
paths=(tests)
for extra in integrations/llama-index/tests integrations/langchain/tests trainer/tests; do
  [ -d "$extra" ] && paths+=("$extra")
done
INTERANK_REQUIRE_MODELS=1 .venv/bin/python -m pytest "${paths[@]}" -q "$@"
