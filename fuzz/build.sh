#!/usr/bin/env bash
# Builds the libFuzzer targets under ASan and UBSan: all of src/ but
# main.c, compiled with -DHEARTH_FUZZ (which adds queue.c's racing-guest
# hook) into one archive with the seccomp programs the sandbox's generator
# writes (as meson does), and fuzz/out/<target> for each fuzz/fuzz_*.c.
# Seeds are committed in fuzz/seeds/<target>/ (fuzz/gen_seeds.py).
# Kept out of the Meson build: it needs clang and its fuzzer runtime.
# It writes a ninja file, so a rebuild only compiles what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
CC=${CC:-clang}
OUT=${OUT:-fuzz/out}
DEPS="liburing slirp jansson libseccomp libcurl"
mkdir -p "$OUT"
# Absolute or relative to the tree, as given.
OUT_ABS=$(cd "$OUT" && pwd)
printf '#define HEARTH_VERSION "fuzz"\n#define HEARTH_FIRECRACKER_VERSION "1.16.0"\n' \
  >"$OUT/hearth-config.h.new"
cmp -s "$OUT/hearth-config.h.new" "$OUT/hearth-config.h" ||
  mv "$OUT/hearth-config.h.new" "$OUT/hearth-config.h"
rm -f "$OUT/hearth-config.h.new"
cflags="-std=gnu11 -D_GNU_SOURCE -DHEARTH_FUZZ -g -O1 -fno-omit-frame-pointer \
-fsanitize=address,undefined -fno-sanitize-recover=undefined \
-Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -fno-strict-aliasing \
-I$PWD/src -I$PWD/fuzz -I$OUT_ABS $(pkg-config --cflags $DEPS)"
libs="$(pkg-config --libs $DEPS) -lhttp_parser -lresolv -ldl -lpthread"
{
  echo "cc = $CC"
  echo "cflags = $cflags"
  echo "libs = $libs"
  echo 'rule cc'
  echo '  command = $cc $cflags $extra -MD -MF $out.d -c $in -o $out'
  echo '  depfile = $out.d'
  echo '  deps = gcc'
  echo 'rule ar'
  echo '  command = rm -f $out && ar rcs $out $in'
  echo 'rule link'
  echo '  command = $cc -fsanitize=fuzzer,address,undefined $in -o $out $libs'
  echo 'rule link_tool'
  echo '  command = $cc -fsanitize=address,undefined $in -o $out $libs'
  echo 'rule generate'
  echo '  command = ./$in $out'
  objs=()
  for src in $(find src -name '*.c' ! -path src/main.c ! -path src/sandbox/filters_gen.c | sort); do
    obj="obj/${src//\//_}.o"
    objs+=("$obj")
    echo "build $obj: cc $PWD/$src"
    echo "  extra = -fsanitize=fuzzer-no-link"
  done
  # The seccomp programs and syscall names the build writes (src/sandbox/compile.h).
  gen_objs=()
  for src in src/sandbox/filters_gen.c src/sandbox/compile.c src/sandbox/allow.c; do
    gen_objs+=("obj/gen_${src//\//_}.o")
    echo "build obj/gen_${src//\//_}.o: cc $PWD/$src"
  done
  echo "build sandbox-filters-gen: link_tool ${gen_objs[*]}"
  echo "build sandbox_filters.c: generate sandbox-filters-gen"
  echo "build obj/sandbox_filters.c.o: cc sandbox_filters.c"
  echo "  extra = -fsanitize=fuzzer-no-link"
  objs+=(obj/sandbox_filters.c.o)
  echo "build libhearth-fuzz.a: ar ${objs[*]}"
  for t in fuzz/fuzz_*.c; do
    name=$(basename "$t" .c)
    echo "build obj/$name.o: cc $PWD/$t"
    echo "  extra = -fsanitize=fuzzer"
    echo "build $name: link obj/$name.o libhearth-fuzz.a"
  done
} >"$OUT/build.ninja"
ninja -C "$OUT" --quiet 2>/dev/null || ninja -C "$OUT"
echo "built $(ls fuzz/fuzz_*.c | sed 's|fuzz/\(.*\)\.c|'"$OUT"'/\1|' | tr '\n' ' ')"
