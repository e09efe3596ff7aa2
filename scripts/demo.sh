#!/usr/bin/env bash
# Command one of the README: set up .venv, build the demo model, rerank an example query.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup_env.sh demo
model="${INTERANK_CACHE:-$HOME/.cache/interank}/models/qwen2.5-coder-0.5b-instruct"
.venv/bin/interank rerank --model "$model" --local-files-only \
  --query "How do plants make food from sunlight?" --docs examples/docs.jsonl "$@"
