#!/usr/bin/env bash
# Benchmarks in the lab, Hearth vs QEMU microvm.  Report only; never fail on
# the numbers.
#   bench/run.sh [-n N] [--vmm ...] [--quiet] [--fc-args] [--stream]  boot time, exits, RSS (bench/bench.py)
#   bench/run.sh --io [-n N] [--runtime S] [--net-time S] [--cache writeback|none]
#                                                         fio + iperf3 (bench/io.py)
#   bench/run.sh --qcow2 [-n N] [--runtime S] [--modes alloc,overlay]
#                                                         fio on one qcow2 image: Hearth's engine,
#                                                         QEMU's qcow2, qemu-storage-daemon behind
#                                                         Hearth's vhost-user-blk (bench/qcow2.py)
#   bench/run.sh --vfio [-n N] [--runtime S] [--sriov]     fio on an NVMe disk (or its VF) passed
#                                                         through, against L1 (bench/vfio.py)
#   bench/run.sh --api [-n N] [--ready-n M] [--lab-ready-n M] [--no-host] [--no-lab]
#                                                         API socket ready, InstanceStart
#                                                         to /init (bench/api.py)
#   bench/run.sh --snapshot [--memory MIB]                snapshot size, create and restore
#                                                         times, restored RSS; File and Uffd
#                                                         restores (bench/snapshot.py)
#   bench/run.sh --api-load [-n N] [--seconds S] [--clients 1,16,64]
#                                                         the API socket under a client
#                                                         pool's load, on the host
#                                                         (bench/api_load.py)
#   bench/run.sh --density [-n N]                         what a VM process costs on the
#                                                         host: API ready vs its floor,
#                                                         RSS/Pss without guest RAM vs QEMU
#                                                         (bench/density.py)
#   bench/run.sh --clones-lab [--counts 1,10,30] [--plain-counts 1,10] [--touch MIB]
#                                                         N restores of one snapshot at once
#                                                         in L1, against QEMU's templating
#                                                         (x-ignore-shared) and plain
#                                                         -incoming (bench/clones_lab.py)
#   bench/run.sh --clones [--counts 1,10,30,100]          N restores of one snapshot at
#                                                         once on the host: time, Pss, host
#                                                         memory per clone, with and without
#                                                         --mem-merge (bench/clones.py)
#   bench/run.sh --migrate [--memory MIB] [--touch MIB] [--dirty MIBS]
#                                                         live migration in the lab against
#                                                         QEMU's migrate, idle and under a
#                                                         dirtier (bench/migrate.py)
#   bench/run.sh --migrate-tls [-n N] [--memory MIB] [--touch MIB]
#                                                         live migration on the host over
#                                                         TCP, plain against TLS, in the
#                                                         same run (bench/migrate_tls.py)
#   bench/run.sh --fork [--counts 1,10,100,1000] [--dirty-mib 0,1,4,16,64] [--no-restore]
#                                                         PUT /fork of a running VM into N
#                                                         clones on the host, against N
#                                                         hearth restore; PUT /reset against
#                                                         MiB dirtied (bench/fork.py)
#   bench/run.sh --firmware [-n N]                        SeaBIOS to Debian's login: in L1,
#                                                         Hearth against QEMU q35: time to the
#                                                         kernel, to login:, exits (bench/firmware.py)
#   bench/run.sh --sandboxes [-n N] [--at-once M] [--jail] E2B's SDK on `hearth sandboxes` in L1:
#                                                         create to first command, idle memory,
#                                                         against a bare PUT /fork (bench/sandboxes.py)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --api-load ]; then
  shift
  exec python3 bench/api_load.py "$@"
fi
if [ "${1:-}" = --clones ]; then
  shift
  scripts/deps.sh bench
  exec python3 bench/clones.py "$@"
fi
if [ "${1:-}" = --migrate-tls ]; then
  shift
  scripts/deps.sh bench
  exec python3 bench/migrate_tls.py "$@"
fi
if [ "${1:-}" = --fork ]; then
  shift
  scripts/deps.sh bench
  exec python3 bench/fork.py "$@"
fi
if [ "${1:-}" = --density ]; then
  shift
  scripts/deps.sh bench
  exec python3 bench/density.py "$@"
fi
# The rest run in the lab: its packages (QEMU, busybox, kmod's modinfo for L2's
# modules ...) and the charts'.
scripts/deps.sh lab
scripts/deps.sh bench
if [ "${1:-}" = --migrate ]; then
  shift
  exec python3 bench/migrate.py "$@"
fi
if [ "${1:-}" = --io ]; then
  shift
  exec python3 bench/io.py "$@"
fi
if [ "${1:-}" = --qcow2 ]; then
  shift
  exec python3 bench/qcow2.py "$@"
fi
if [ "${1:-}" = --vfio ]; then
  shift
  exec python3 bench/vfio.py "$@"
fi
if [ "${1:-}" = --firmware ]; then
  shift
  exec python3 bench/firmware.py "$@"
fi
if [ "${1:-}" = --sandboxes ]; then
  shift
  exec python3 bench/sandboxes.py "$@"
fi
if [ "${1:-}" = --clones-lab ]; then
  shift
  exec python3 bench/clones_lab.py "$@"
fi
if [ "${1:-}" = --snapshot ]; then
  shift
  exec python3 bench/snapshot.py "$@"
fi
if [ "${1:-}" = --api ]; then
  shift
  exec python3 bench/api.py "$@"
fi
exec python3 bench/bench.py "$@"
