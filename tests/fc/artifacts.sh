#!/bin/bash
# Guest artifacts in the shape of Firecracker's CI ones (its
# tests/framework/artifacts.py and conftest.py's rootfs fixture), built from
# Debian packages only (apt-get download + dpkg-deb -x; nothing is installed
# on this machine).
#
#   tests/fc/artifacts.sh OUTDIR [kernel|rootfs|all]
#
# OUTDIR gets, as Firecracker's CI names them:
#   vmlinux-6.1.N       ELF guest kernel: Debian's linux-source-6.1 built with
#                       Firecracker's resources/guest_configs/
#                       microvm-kernel-ci-x86_64-6.1.config + ci.config (virtio-
#                       mmio/blk/net, ext4, squashfs built in: the framework
#                       boots with `nomodule` and root=/dev/vda, no initrd)
#   bzImage-6.1.N       the same kernel as a bzImage (test_bzimage_boot.py)
#   vmlinux-6.1.N.config
#   ubuntu-24.04.{ext4,squashfs,id_rsa}, amazonlinux-2023.{ext4,squashfs,id_rsa}
#                       one Debian-package rootfs (busybox-static, openssh-
#                       server + sftp-server and their libraries; hostname per
#                       name, as framework/guest.py expects), the key root's
#                       authorized_keys accepts
#   id_rsa              the same key (conftest.py copies it for some cases)
#   initramfs.cpio      busybox initramfs, as resources/rebuild.sh builds it
#
# Everything is cached under build/fc-artifacts (FC_ARTIFACTS_CACHE); OUTDIR
# holds hard links (or copies). Environment: FC_KERNEL_JOBS (make -j, default
# 2), FC_KERNEL_CONFIG (the Firecracker tree whose guest_configs are used,
# default /tmp/fc). See tests/fc/README.md, "Real guest artifacts".
set -eu -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
[ $# -ge 1 ] || { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
out=$1
what=${2:-all}
cache=${FC_ARTIFACTS_CACHE:-$repo/build/fc-artifacts}
fc_tree=${FC_KERNEL_CONFIG:-/tmp/fc}
jobs=${FC_KERNEL_JOBS:-2}
mkdir -p "$cache" "$out"
cache=$(cd "$cache" && pwd)
tools=$cache/tools
debs=$cache/debs

say() { echo "artifacts.sh: $*" >&2; }

# apt-get download into $debs (once per package version); prints the .deb path.
fetch_deb() {
    local pkg=$1 f
    mkdir -p "$debs"
    f=$(ls "$debs"/"${pkg}"_*.deb 2>/dev/null | head -n 1 || true)
    if [ -z "$f" ]; then
        if ! (cd "$debs" && apt-get download -q "$pkg" >/dev/null 2>&1); then
            say "apt-get download $pkg failed: running apt-get update"
            apt-get update -q >/dev/null
            (cd "$debs" && apt-get download -q "$pkg" >/dev/null)
        fi
        f=$(ls "$debs"/"${pkg}"_*.deb | head -n 1)
    fi
    echo "$f"
}

# Build tools this machine lacks, unpacked under $tools (not installed).
unpack_tools() {
    [ -f "$tools/.ok" ] && return 0
    rm -rf "$tools"
    local p
    for p in flex bison m4 libelf-dev squashfs-tools; do
        dpkg-deb -x "$(fetch_deb $p)" "$tools"
    done
    touch "$tools/.ok"
}
tool_env() {
    export PATH="$tools/usr/bin:$PATH"
    export BISON_PKGDATADIR="$tools/usr/share/bison"
    export M4="$tools/usr/bin/m4"
}

# ------------------------------------------------------------------ kernel
build_kernel() {
    local cfg="$fc_tree/resources/guest_configs"
    [ -f "$cfg/microvm-kernel-ci-x86_64-6.1.config" ] || {
        say "no $cfg/microvm-kernel-ci-x86_64-6.1.config (set FC_KERNEL_CONFIG to a Firecracker tree)"; exit 2; }
    local deb ver src kdir
    deb=$(fetch_deb linux-source-6.1)
    ver=$(dpkg-deb -f "$deb" Version)          # e.g. 6.1.192-2
    kdir=$cache/kernel-$ver
    local cfgsum
    cfgsum=$(cat "$cfg/microvm-kernel-ci-x86_64-6.1.config" "$cfg/ci.config" "$0" | sha256sum | cut -c1-12)
    if [ -f "$kdir/.ok-$cfgsum" ]; then
        return 0
    fi
    unpack_tools
    tool_env
    src=$kdir/src
    if [ ! -f "$src/Makefile" ]; then
        say "unpacking linux-source-6.1 $ver"
        rm -rf "$kdir"
        mkdir -p "$kdir/deb"
        dpkg-deb -x "$deb" "$kdir/deb"
        mkdir -p "$src"
        tar -C "$src" --strip-components=1 -xaf "$kdir"/deb/usr/src/linux-source-6.1.tar.xz
        rm -rf "$kdir/deb"
    fi
    # Firecracker's CI config (olddefconfig fills what Debian's 6.1 adds),
    # its ci.config, then what only this build needs: the host's gcc, no
    # module signing keys, no debug info (smaller, faster).
    cat "$cfg/microvm-kernel-ci-x86_64-6.1.config" "$cfg/ci.config" > "$src/.config"
    cat >> "$src/.config" <<'EOF'
CONFIG_LOCALVERSION=""
# CONFIG_LOCALVERSION_AUTO is not set
CONFIG_SYSTEM_TRUSTED_KEYS=""
CONFIG_SYSTEM_REVOCATION_KEYS=""
# CONFIG_DEBUG_INFO is not set
CONFIG_DEBUG_INFO_NONE=y
# CONFIG_DEBUG_INFO_BTF is not set
EOF
    # libelf's headers and library from libelf-dev under $tools (objtool)
    local hostcc="gcc -I$tools/usr/include -L$tools/usr/lib/x86_64-linux-gnu"
    ln -sf /usr/lib/x86_64-linux-gnu/libelf.so.1 "$tools/usr/lib/x86_64-linux-gnu/libelf.so"
    (cd "$src" && make -s HOSTCC="$hostcc" olddefconfig >/dev/null)
    for o in VIRTIO_MMIO VIRTIO_BLK VIRTIO_NET EXT4_FS SQUASHFS SQUASHFS_ZSTD SERIAL_8250_CONSOLE; do
        grep -q "^CONFIG_$o=y" "$src/.config" || { say "kernel config lacks CONFIG_$o=y"; exit 1; }
    done
    say "building the kernel (make -j$jobs vmlinux bzImage; about 20-40 min on 2 busy cores)"
    local t0=$SECONDS
    (cd "$src" && nice -n 10 make -j"$jobs" HOSTCC="$hostcc" \
        KBUILD_BUILD_USER=hearth KBUILD_BUILD_HOST=fc-artifacts vmlinux bzImage \
        > "$kdir/build.log" 2>&1) || { say "kernel build failed: tail $kdir/build.log"; tail -n 20 "$kdir/build.log" >&2; exit 1; }
    say "kernel built in $((SECONDS - t0)) s"
    local rel
    rel=$(cat "$src/include/config/kernel.release")     # 6.1.192
    rel=$(echo "$rel" | sed -E 's/(.*[[:digit:]]).*/\1/')  # as rebuild.sh normalizes it
    rm -f "$kdir"/vmlinux-* "$kdir"/bzImage-*
    cp "$src/vmlinux" "$kdir/vmlinux-$rel"
    strip --strip-debug "$kdir/vmlinux-$rel" 2>/dev/null || true
    cp "$src/.config" "$kdir/vmlinux-$rel.config"
    cp "$src/arch/x86/boot/bzImage" "$kdir/bzImage-$rel"
    rm -f "$kdir"/.ok-*
    touch "$kdir/.ok-$cfgsum"
}

kernel_files() {
    local deb ver
    deb=$(fetch_deb linux-source-6.1)
    ver=$(dpkg-deb -f "$deb" Version)
    ls "$cache/kernel-$ver"/vmlinux-* "$cache/kernel-$ver"/bzImage-*
}

place() { # SRC DST: a hard link when it can, else a copy
    rm -f "$2"
    ln "$1" "$2" 2>/dev/null || cp "$1" "$2"
}

case $what in
kernel|all)
    build_kernel
    for f in $(kernel_files); do place "$f" "$out/$(basename "$f")"; done
    ;;
esac
case $what in
rootfs|all)
    . "$here/artifacts-rootfs.sh"
    build_rootfs
    ;;
esac
[ "$what" = kernel ] || [ "$what" = rootfs ] || [ "$what" = all ] || { say "unknown step $what"; exit 2; }
say "artifacts in $out:"
ls -la "$out" >&2
