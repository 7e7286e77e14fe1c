#!/usr/bin/env bash
# Boot-time and memory benchmark, Hearth vs QEMU microvm, in the lab (see
# bench/bench.py).  Reports only; never fails on timing.
#   bench/run.sh [-n N] [--vmm hearth,qemu] [--stream]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh lab
exec python3 bench/bench.py "$@"
