#!/usr/bin/env bash
# Builds fuzz/fuzz_virtq (libFuzzer + ASan + UBSan) and its seed corpus.
# Kept out of the Meson build: it needs clang and its fuzzer runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
CC=${CC:-clang}
OUT=${OUT:-fuzz/out}
mkdir -p "$OUT"
"$CC" -std=gnu11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Wall -Wextra -Werror -Isrc \
  fuzz/fuzz_virtq.c src/virtio/queue.c src/mem/guest_mem.c src/util/log.c \
  -o "$OUT/fuzz_virtq"
python3 fuzz/gen_seeds.py "$OUT/seeds"
echo "built $OUT/fuzz_virtq; seeds in $OUT/seeds"
