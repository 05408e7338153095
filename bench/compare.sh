#!/usr/bin/env bash
# ioloop, tokio and Python Tornado side by side: installs Tornado 6 into a throwaway
# virtualenv, runs its workloads, then the Rust benchmarks with a Tornado column.
# Usage: bench/compare.sh [workload ...]
set -euo pipefail
cd "$(dirname "$0")/.."

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
python3 -m venv "$scratch/venv"
"$scratch/venv/bin/pip" install --quiet "tornado>=6,<7"
echo "Tornado $("$scratch/venv/bin/python" -c 'import tornado; print(tornado.version)'), $(python3 --version)" >&2

"$scratch/venv/bin/python" bench/tornado_workloads.py "$@" > "$scratch/tornado.json"
TORNADO_PYTHON="$scratch/venv/bin/python" cargo run --release -p benches -- --tornado "$scratch/tornado.json" "$@"
