#!/usr/bin/env bash
# ioloop, tokio and Python Tornado side by side: installs Tornado 6 into a throwaway
# virtualenv, then runs the Rust benchmarks with Tornado as one more side, its runs
# interleaved with the others (bench/tornado_workloads.py --one, one run each).
# Usage: bench/compare.sh [workload ...]
set -euo pipefail
cd "$(dirname "$0")/.."

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
python3 -m venv "$scratch/venv"
"$scratch/venv/bin/pip" install --quiet "tornado>=6,<7"
echo "Tornado $("$scratch/venv/bin/python" -c 'import tornado; print(tornado.version)'), $(python3 --version)" >&2

TORNADO_PYTHON="$scratch/venv/bin/python" cargo run --release -p benches -- "$@"
