#!/usr/bin/env bash
# Benchmarks in the lab, Hearth vs QEMU microvm.  Report only; never fail on
# the numbers.
#   bench/run.sh [-n N] [--vmm hearth,qemu] [--stream]     boot time + RSS (bench/bench.py)
#   bench/run.sh --io [-n N] [--runtime S] [--net-time S] [--cache writeback|none]
#                                                         fio + iperf3 (bench/io.py)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh lab
if [ "${1:-}" = --io ]; then
  shift
  exec python3 bench/io.py "$@"
fi
exec python3 bench/bench.py "$@"
