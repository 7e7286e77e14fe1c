#!/usr/bin/env bash
# Installs Hearth's Debian dependencies when they are missing.
#   deps.sh build   - compiler, meson, libraries
#   deps.sh lab     - QEMU, busybox, cpio: what the lab and demo need
#   deps.sh fuzz    - clang with libFuzzer, for fuzz/
#   deps.sh bench   - matplotlib, for bench/'s charts, and QEMU
#   deps.sh all     - all of them
set -euo pipefail
what=${1:-all}
# gdb: a unit test opens a snapshot memory file as a core. strace: a signals test holds
# hearth in a system call (run_signals_test.py, early). qemu-utils: the qcow2 tests make
# and check their images with qemu-img and qemu-io (tests/unit/test_qcow2_*.c).
build_pkgs=(gcc make meson ninja-build pkg-config python3 libcmocka-dev liburing-dev libslirp-dev libglib2.0-dev libhttp-parser-dev libjansson-dev libseccomp-dev libcurl4-openssl-dev libgnutls28-dev openssl curl iproute2 gdb strace zlib1g-dev liblzma-dev libbz2-dev liblzo2-2 nettle-dev qemu-utils)
# mmdebstrap ... seabios: scripts/debian_image.sh (issue 64's Debian 12 disk image) and
# tests/lab/image_qemu.py.
lab_pkgs=(qemu-system-x86 qemu-system-common busybox-static cpio xz-utils zstd e2fsprogs kmod python3 nvme-cli
  mmdebstrap fakechroot fakeroot grub-pc-bin grub-efi-amd64-bin mtools gdisk qemu-utils cloud-image-utils ovmf seabios)
fuzz_pkgs=(clang libclang-rt-dev)
bench_pkgs=(python3-matplotlib qemu-system-x86)
pkgs=()
case "$what" in
  build) pkgs=("${build_pkgs[@]}") ;;
  lab) pkgs=("${lab_pkgs[@]}") ;;
  fuzz) pkgs=("${fuzz_pkgs[@]}") ;;
  bench) pkgs=("${bench_pkgs[@]}") ;;
  all) pkgs=("${build_pkgs[@]}" "${lab_pkgs[@]}" "${fuzz_pkgs[@]}") ;;
  *) echo "deps.sh: unknown set '$what' (build, lab, fuzz, bench, all)" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps.sh: installing ${missing[*]}" >&2
SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
