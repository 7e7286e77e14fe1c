#!/usr/bin/env bash
# Builds the libFuzzer targets (libFuzzer + ASan + UBSan) and their seed
# corpora: fuzz/out/fuzz_virtq with fuzz/out/seeds, and
# fuzz/out/fuzz_vsock_line with fuzz/out/seeds_vsock_line.
# Kept out of the Meson build: it needs clang and its fuzzer runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
CC=${CC:-clang}
OUT=${OUT:-fuzz/out}
mkdir -p "$OUT"
FLAGS=(-std=gnu11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
  -Wall -Wextra -Werror -Isrc)
"$CC" "${FLAGS[@]}" \
  fuzz/fuzz_virtq.c src/virtio/queue.c src/mem/guest_mem.c src/util/log.c \
  -o "$OUT/fuzz_virtq"
"$CC" "${FLAGS[@]}" fuzz/fuzz_vsock_line.c src/virtio/vsock_line.c -o "$OUT/fuzz_vsock_line"
# The snapshot reader; its seeds are committed in fuzz/seeds_snapshot (fuzz/README.md).
"$CC" "${FLAGS[@]}" fuzz/fuzz_snapshot.c src/snapshot/format.c src/snapshot/host.c \
  src/vcpu/vcpu_state.c src/util/bytes.c src/util/crc32c.c -o "$OUT/fuzz_snapshot"
rm -rf "$OUT/seeds_snapshot"; cp -r fuzz/seeds_snapshot "$OUT/seeds_snapshot"
python3 fuzz/gen_seeds.py "$OUT/seeds"
# The first byte picks the verb: even CONNECT, odd OK.
mkdir -p "$OUT/seeds_vsock_line"
i=0
for s in '\0CONNECT 5000\n' '\0connect 52\nhello' '\1OK 1073741824\n' '\0CONNECT  7 \r\n' \
         '\0CONNECT 4294967295\n' '\0CONNECT 4294967296\n' '\0CONNECT 12' '\0CONNECT x\n'; do
  printf "$s" >"$OUT/seeds_vsock_line/seed$i"
  i=$((i + 1))
done
echo "built $OUT/fuzz_virtq and $OUT/fuzz_vsock_line; seeds in $OUT/seeds and $OUT/seeds_vsock_line"
