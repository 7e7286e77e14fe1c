#!/usr/bin/env bash
# Builds the Debian 12 (bookworm) x86-64 disk image that the firmware-boot lab
# tests and bench boot (issue 64), from Debian's packages and nothing else.
#
#   scripts/debian_image.sh           build it, or find it in the cache; prints its path
#   scripts/debian_image.sh --path    print the path it has (or would have); build nothing
#   scripts/debian_image.sh --force   build it again even if cached
#
# Stdout carries only the image's path (img=$(scripts/debian_image.sh)); what
# each step does, and how long the build took, goes to stderr.
#
# The image: raw, sparse, 1 GiB; GPT with
#   partition 14  BIOS boot, 1 MiB: GRUB's i386-pc core.img (boot.img is in
#                 the protective MBR), for SeaBIOS and other legacy BIOSes;
#   partition 15  EFI system, 64 MiB FAT32: GRUB for UEFI at the removable
#                 path /EFI/BOOT/BOOTX64.EFI, so no NVRAM boot entry is needed;
#   partition 1   ext4 root, the rest (label debian-root).
# Both GRUBs carry an embedded early config that selects the serial console
# and finds the root by its filesystem UUID; the root's /boot/grub/grub.cfg
# (written here, not by update-grub: the image has no grub package) boots
# /vmlinuz and /initrd.img with console=ttyS0,115200n8 net.ifnames=0
# loglevel=6 (the kernel's banner and its warnings on the serial console, not
# its info lines: each byte there is an exit, and in the lab's nested L2 the
# info lines are seconds of the boot; dmesg keeps them all). The
# packages: linux-image-cloud-amd64 (initramfs with virtio_pci and virtio_blk
# forced in), systemd-sysv, cloud-init 22.4 (NoCloud only: a cidata seed disk,
# or `ds=nocloud-net;s=http://169.254.169.254/latest/` in the SMBIOS system
# serial: this cloud-init needs nocloud-net, not nocloud, for an http seed),
# systemd-networkd (DHCP on eth0, an on-link route to 169.254.169.254, and at
# most 20 s of waiting for it), a serial getty on ttyS0. No docs, man pages
# or translations. The root account is locked: users come from cloud-init.
#
# How it is built, with no loop device, mount or privilege: mmdebstrap in
# fakechroot mode into a directory (build/lab/, not /tmp; merged /usr through
# mmdebstrap's merged-usr hook, not the usrmerge package and its perl), `mke2fs -d` of that
# directory in the same fakeroot session, mtools for the FAT ESP,
# grub-mkimage for both GRUBs, sgdisk on a sparse file, and dd of the
# partitions, of boot.img and of core.img into place, patched as
# grub-bios-setup would. HEARTH_IMAGE_MODE=root|unshare picks another
# mmdebstrap mode; HEARTH_IMAGE_MIRROR (default http://deb.debian.org/debian)
# and HEARTH_IMAGE_SECURITY_MIRROR another mirror.
#
# The cache: build/lab/debian12-KEY.raw (with debian12-KEY.manifest, the
# package versions), KEY the hash of this script, which holds the package
# list: the image is rebuilt only when this file changes (or with --force),
# and older images are then dropped. The downloaded .debs are kept in
# build/lab/debian12-debs/ for the next build. Two builds at once wait for
# each other (build/lab/debian12.lock); a failed build leaves nothing behind.
#
# The caller converts to qcow2 when it needs (a base, and a thin overlay per
# VM whose backing file is the base; a larger overlay size grows the root
# partition at first boot through cloud-init's growpart):
#   qemu-img convert -f raw -O qcow2 "$img" base.qcow2
#   qemu-img create -f qcow2 -b base.qcow2 -F qcow2 vm.qcow2 [8G]
# Packages it needs on the host: scripts/deps.sh lab.
set -euo pipefail

# What the image holds (with their dependencies, no Recommends).
PACKAGES=(
  linux-image-cloud-amd64 initramfs-tools zstd
  systemd-sysv udev dbus
  cloud-init cloud-guest-utils e2fsprogs iproute2 netbase sudo
)
SUITE=bookworm
DISK_MIB=1024                       # the whole disk
BIOS_START=2048 BIOS_SECTORS=2048   # partition 14, 1 MiB at 1 MiB
ESP_START=4096 ESP_SECTORS=131072   # partition 15, 64 MiB at 2 MiB
ROOT_START=135168                   # partition 1, to 1 MiB before the end
GRUB_MODULES_COMMON="part_gpt part_msdos ext2 fat search search_fs_uuid search_label
  normal configfile linux echo test serial terminal gzio ls cat sleep halt reboot minicmd"
GRUB_MODULES_PC="biosdisk"
GRUB_MODULES_EFI="efi_gop"
KERNEL_CMDLINE="ro console=ttyS0,115200n8 net.ifnames=0 loglevel=6"

self=$(readlink -f "$0")
repo=$(cd "$(dirname "$self")/.." && pwd)
lab_dir="$repo/build/lab"
say() { echo "debian_image: $*" >&2; }
die() { say "error: $*"; exit 1; }

# ---------------------------------------------------------------- hooks
# mmdebstrap runs these (as `debian_image.sh _HOOK ROOTFS`) inside its
# fakechroot+fakeroot session, outside the chroot; BUILD_* come from the
# environment the main build exports.

# essential: before the --include packages (the kernel among them) are
# installed, so their postinst builds the initramfs once, with virtio in it.
hook_essential() {
  local root=$1
  say "essential hook: initramfs hook forcing virtio_pci and virtio_blk"
  mkdir -p "$root/etc/initramfs-tools/hooks"
  cat >"$root/etc/initramfs-tools/hooks/hearth-virtio" <<'EOF'
#!/bin/sh
# Hearth's test image (scripts/debian_image.sh): the VMM's disks are
# virtio-blk on PCI, so the initramfs holds and loads their drivers whatever
# the machine that built it had.
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0 ;; esac
. /usr/share/initramfs-tools/hook-functions
for m in virtio_pci virtio_blk; do force_load "$m"; done
EOF
  chmod 755 "$root/etc/initramfs-tools/hooks/hearth-virtio"
}

# customize: the image's own configuration, then checks.
hook_customize() {
  local root=$1 l t kver
  say "customize: rewriting the $(find "$root" -type l -lname "$root/*" | wc -l) absolute symlinks fakechroot prefixed with the build directory"
  while IFS= read -r -d '' l; do
    t=$(readlink "$l")
    ln -sfn "${t#"$root"}" "$l"
  done < <(find "$root" -type l -lname "$root/*" -print0)
  [ -z "$(find "$root" -type l -lname "$root/*" -print -quit)" ] || die "symlinks still point into $root"

  say "customize: fstab, hostname, hosts, an empty /dev, no resolv.conf from the build host"
  cat >"$root/etc/fstab" <<EOF
# <file system> <mount point> <type> <options> <dump> <pass>
UUID=$BUILD_ROOT_UUID / ext4 rw,discard,errors=remount-ro 0 1
EOF
  echo debian >"$root/etc/hostname"
  cat >"$root/etc/hosts" <<'EOF'
127.0.0.1	localhost
127.0.1.1	debian
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
EOF
  find "$root/dev" -mindepth 1 -maxdepth 1 ! -name pts ! -name shm -exec rm -rf {} +
  rm -f "$root/etc/resolv.conf"
  : >"$root/etc/resolv.conf"

  say "customize: systemd-networkd with DHCP on eth0 and a route to the MMDS address"
  mkdir -p "$root/etc/systemd/network/10-cloud-init-eth0.network.d"
  cat >"$root/etc/systemd/network/90-hearth-eth0.network" <<'EOF'
# The first NIC (eth0: the kernel runs with net.ifnames=0) by DHCP, IPv4
# only, when cloud-init wrote no configuration of its own for it (its
# 10-cloud-init-eth0.network comes first). Hearth's test image.
[Match]
Name=eth0

[Network]
DHCP=ipv4
LinkLocalAddressing=no
IPv6AcceptRA=no

# The MMDS answers 169.254.169.254 on the link itself (as Firecracker's).
[Route]
Destination=169.254.169.254/32
EOF
  cat >"$root/etc/systemd/network/10-cloud-init-eth0.network.d/50-hearth-mmds.conf" <<'EOF'
# The MMDS answers 169.254.169.254 on the link itself (as Firecracker's),
# whatever configuration cloud-init rendered for eth0.
[Route]
Destination=169.254.169.254/32
EOF
  mkdir -p "$root/etc/systemd/system/multi-user.target.wants" \
    "$root/etc/systemd/system/sockets.target.wants" \
    "$root/etc/systemd/system/network-online.target.wants" \
    "$root/etc/systemd/system/getty.target.wants" \
    "$root/etc/systemd/system/systemd-networkd-wait-online.service.d"
  ln -sfn /lib/systemd/system/systemd-networkd.service "$root/etc/systemd/system/multi-user.target.wants/"
  ln -sfn /lib/systemd/system/systemd-networkd.service "$root/etc/systemd/system/dbus-org.freedesktop.network1.service"
  ln -sfn /lib/systemd/system/systemd-networkd.socket "$root/etc/systemd/system/sockets.target.wants/"
  ln -sfn /lib/systemd/system/systemd-networkd-wait-online.service "$root/etc/systemd/system/network-online.target.wants/"
  cat >"$root/etc/systemd/system/systemd-networkd-wait-online.service.d/hearth.conf" <<'EOF'
# Boot on after 20 s without an address (no NIC, no DHCP server); one
# routable link is enough.
[Service]
ExecStart=
ExecStart=/lib/systemd/systemd-networkd-wait-online --any --operational-state=routable --timeout=20
EOF

  say "customize: a serial getty on ttyS0; apt's daily timers off"
  ln -sfn /lib/systemd/system/serial-getty@.service "$root/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service"
  rm -f "$root"/etc/systemd/system/timers.target.wants/apt-daily*.timer

  say "customize: cloud-init on NoCloud only, locale C.UTF-8, no SSH host keys"
  cat >"$root/etc/cloud/cloud.cfg.d/90_hearth.cfg" <<'EOF'
# Hearth's test image (scripts/debian_image.sh). NoCloud only: a seed disk
# labelled cidata (cloud-localds), or the SMBIOS system serial
# `ds=nocloud-net;s=http://169.254.169.254/latest/` (the MMDS). Without either,
# ds-identify turns cloud-init off for the boot.
datasource_list: [ NoCloud ]
# C.UTF-8 is built in: no locale-gen at first boot.
locale: C.UTF-8
# No SSH server in the image: no host keys to generate.
ssh_genkeytypes: []
# /etc/hosts names the hostname the seed gave (sudo looks it up).
manage_etc_hosts: true
# The image has no grub package (GRUB is installed by the build, not by
# dpkg): nothing for grub-dpkg to tell debconf, and it would probe anyway.
grub_dpkg:
  enabled: false
EOF

  say "customize: /boot/grub/grub.cfg (serial terminal, root by UUID)"
  mkdir -p "$root/boot/grub"
  cat >"$root/boot/grub/grub.cfg" <<EOF
# Written by Hearth's scripts/debian_image.sh (no update-grub in this image):
# what GRUB_TERMINAL=serial and GRUB_TIMEOUT=0 would give. /vmlinuz and
# /initrd.img follow the installed kernel.
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set default=0
set timeout=0
menuentry 'Debian GNU/Linux 12' --id debian {
	search --no-floppy --fs-uuid --set=root $BUILD_ROOT_UUID
	echo 'Loading Linux ...'
	linux /vmlinuz root=UUID=$BUILD_ROOT_UUID $KERNEL_CMDLINE
	echo 'Loading initial ramdisk ...'
	initrd /initrd.img
}
EOF

  kver=$(basename "$(readlink "$root/vmlinuz")"); kver=${kver#vmlinuz-}
  say "customize: checking the initramfs of $kver holds virtio_pci and virtio_blk"
  local list; list=$(chroot "$root" lsinitramfs "/boot/initrd.img-$kver")
  for m in virtio_pci virtio_blk; do
    grep -q "/$m\.ko" <<<"$list" || die "initrd.img-$kver has no $m.ko"
  done
  grep -qx "virtio_blk" <<<"$(chroot "$root" sh -c "unmkinitramfs /boot/initrd.img-$kver /tmp/ird >/dev/null && cat /tmp/ird/main/conf/modules /tmp/ird/conf/modules 2>/dev/null; rm -rf /tmp/ird")" ||
    die "initrd.img-$kver does not force-load virtio_blk"

  say "customize: dropping logs and caches of the build"
  # (mmdebstrap empties apt's lists and cache too, but after these hooks:
  # the filesystem image is made before.)
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
    "$root"/var/lib/apt/lists/* "$root"/var/cache/debconf/*-old \
    "$root"/var/lib/dpkg/*-old "$root"/var/log/apt/* "$root"/tmp/* "$root"/var/tmp/*
  find "$root/var/log" -type f -exec truncate -s 0 {} +
  : >"$root/etc/machine-id"
  dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Package}\t${Version}\n' >"$BUILD_WORK/manifest"
}

# mkfs: the root filesystem image of the tree, in the same fakeroot session
# (ownership and modes as the packages set them).
hook_mkfs() {
  local root=$1
  say "mkfs: ext4 of $(du -sm "$root" | cut -f1) MiB of files into a $((BUILD_ROOT_KIB / 1024)) MiB filesystem"
  mke2fs -q -F -t ext4 -L debian-root -U "$BUILD_ROOT_UUID" -E root_owner=0:0 \
    -d "$root" "$BUILD_WORK/root.ext4" "${BUILD_ROOT_KIB}k"
}

case "${1:-}" in
  _essential) hook_essential "$2"; exit 0 ;;
  _customize) hook_customize "$2"; exit 0 ;;
  _mkfs) hook_mkfs "$2"; exit 0 ;;
esac

# ---------------------------------------------------------------- main
force=0 path_only=0
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    --path) path_only=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$self" | sed '$d; s/^# \{0,1\}//' >&2; exit 0 ;;
    *) die "unknown argument '$a' (--path, --force, --help)" ;;
  esac
done

key=$(sha256sum "$self" | cut -c1-16)
out="$lab_dir/debian12-$key.raw"
if [ "$path_only" = 1 ]; then echo "$out"; exit 0; fi
if [ "$force" = 0 ] && [ -f "$out" ]; then
  say "cached: $out"
  echo "$out"
  exit 0
fi

say "checking the tools (scripts/deps.sh lab installs them)"
for t in mmdebstrap fakechroot fakeroot mke2fs e2fsck mformat mmd mcopy sgdisk grub-mkimage dd truncate flock; do
  command -v "$t" >/dev/null || die "$t is missing: run scripts/deps.sh lab"
done
for d in /usr/lib/grub/i386-pc /usr/lib/grub/x86_64-efi; do
  [ -d "$d" ] || die "$d is missing (grub-pc-bin, grub-efi-amd64-bin): run scripts/deps.sh lab"
done

mkdir -p "$lab_dir"
say "waiting for any other build of the image ($lab_dir/debian12.lock)"
exec 9>"$lab_dir/debian12.lock"
flock 9
if [ "$force" = 0 ] && [ -f "$out" ]; then
  say "cached (built meanwhile): $out"
  echo "$out"
  exit 0
fi

start=$SECONDS
work=$(mktemp -d "$lab_dir/debian12-build.XXXXXX")
cleanup() {
  local rc=$?
  chmod -R u+rwX "$work" 2>/dev/null || true
  rm -rf "$work"
  [ "$rc" = 0 ] || say "failed (exit $rc); removed $work"
}
trap cleanup EXIT
say "building in $work"

export BUILD_WORK=$work
BUILD_ROOT_UUID=$(cat /proc/sys/kernel/random/uuid)
export BUILD_ROOT_UUID
total_sectors=$((DISK_MIB * 2048))
root_last=$((total_sectors - 2048 - 1))
export BUILD_ROOT_KIB=$(((root_last - ROOT_START + 1) / 2))
export KERNEL_CMDLINE
esp_serial=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')

mirror=${HEARTH_IMAGE_MIRROR:-http://deb.debian.org/debian}
security=${HEARTH_IMAGE_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
mode=${HEARTH_IMAGE_MODE:-fakechroot}
debs="$lab_dir/debian12-debs"
mkdir -p "$debs"
say "mmdebstrap ($mode mode) of $SUITE from $mirror: ${PACKAGES[*]}"
# TMPDIR is cleared for hooks; the hooks find their work directory in BUILD_WORK.
mmdebstrap --mode="$mode" --variant=minbase --arch=amd64 \
  --include="$(IFS=,; echo "${PACKAGES[*]}")" \
  --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --skip=essential/unlink \
  --setup-hook='mkdir -p "$1/var/cache/apt/archives"' \
  --setup-hook="sync-in $debs /var/cache/apt/archives/" \
  --essential-hook="\"$self\" _essential \"\$1\"" \
  --customize-hook="sync-out /var/cache/apt/archives $debs" \
  --customize-hook="\"$self\" _customize \"\$1\"" \
  --customize-hook="\"$self\" _mkfs \"\$1\"" \
  "$SUITE" "$work/rootfs" \
  "deb $mirror $SUITE main" "deb $mirror $SUITE-updates main" "deb $security $SUITE-security main" \
  >&2
say "checking the root filesystem (e2fsck -fn)"
e2fsck -fn "$work/root.ext4" >&2
say "removing the tree"
chmod -R u+rwX "$work/rootfs"
rm -rf "$work/rootfs"

say "GRUB: the early config (serial console; root by UUID $BUILD_ROOT_UUID)"
cat >"$work/early.cfg" <<EOF
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
search --no-floppy --fs-uuid --set=root $BUILD_ROOT_UUID
set prefix=(\$root)/boot/grub
EOF
say "GRUB: core.img for i386-pc (BIOS boot partition)"
# shellcheck disable=SC2086
grub-mkimage -O i386-pc -o "$work/core.img" -c "$work/early.cfg" -p /boot/grub \
  $GRUB_MODULES_COMMON $GRUB_MODULES_PC
core_sectors=$((($(stat -c %s "$work/core.img") + 511) / 512))
[ "$core_sectors" -le "$BIOS_SECTORS" ] || die "core.img ($core_sectors sectors) does not fit the BIOS boot partition"
say "GRUB: BOOTX64.EFI for x86_64-efi (EFI system partition)"
# shellcheck disable=SC2086
grub-mkimage -O x86_64-efi -o "$work/BOOTX64.EFI" -c "$work/early.cfg" -p /boot/grub \
  $GRUB_MODULES_COMMON $GRUB_MODULES_EFI

say "ESP: FAT32 of $((ESP_SECTORS / 2048)) MiB with /EFI/BOOT/BOOTX64.EFI"
truncate -s $((ESP_SECTORS * 512)) "$work/esp.img"
export MTOOLS_SKIP_CHECK=1
mformat -i "$work/esp.img" -F -v ESP -N "$esp_serial" -h 64 -s 32 -T "$ESP_SECTORS" -H "$ESP_START" ::
mmd -i "$work/esp.img" ::/EFI ::/EFI/BOOT
mcopy -i "$work/esp.img" "$work/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI

say "disk: sparse $DISK_MIB MiB, GPT (14 BIOS boot, 15 ESP, 1 root)"
disk="$work/disk.raw"
truncate -s "${DISK_MIB}M" "$disk"
sgdisk --clear \
  --new=14:$BIOS_START:$((BIOS_START + BIOS_SECTORS - 1)) --typecode=14:EF02 --change-name=14:'BIOS boot' \
  --new=15:$ESP_START:$((ESP_START + ESP_SECTORS - 1)) --typecode=15:EF00 --change-name=15:'EFI system' \
  --new=1:$ROOT_START:$root_last --typecode=1:8304 --change-name=1:'Debian root' \
  "$disk" >&2
sgdisk --verify "$disk" >&2

say "disk: the ESP and the root filesystem into their partitions"
dd if="$work/esp.img" of="$disk" bs=1M seek=$((ESP_START / 2048)) conv=notrunc,sparse status=none
dd if="$work/root.ext4" of="$disk" bs=1M seek=$((ROOT_START / 2048)) conv=notrunc,sparse status=none
rm -f "$work/esp.img" "$work/root.ext4"

# Little-endian bytes of $1, $2 of them, as printf escapes.
le() { local i s=; for ((i = 0; i < $2; i++)); do s+=$(printf '\\x%02x' $((($1 >> (8 * i)) & 255))); done; printf '%s' "$s"; }
# put FILE OFFSET ESCAPES: write those bytes at OFFSET.
put() { printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

say "disk: core.img ($core_sectors sectors) at sector $BIOS_START, its blocklist naming sectors $((BIOS_START + 1))..$((BIOS_START + core_sectors - 1))"
# diskboot.img, core.img's first sector, loads the rest from the blocklist
# at its end (0x1f4: start LBA, 0x1fc: sector count; 0x1fe: segment 0x820
# as built). grub-bios-setup fills in the same for a contiguous embedding.
[ "$(od -An -tx1 -j $((0x1fe)) -N2 "$work/core.img" | tr -d ' ')" = "2008" ] ||
  die "core.img's first blocklist is not where grub-bios-setup expects it"
put "$work/core.img" $((0x1f4)) "$(le $((BIOS_START + 1)) 8)"
put "$work/core.img" $((0x1fc)) "$(le $((core_sectors - 1)) 2)"
dd if="$work/core.img" of="$disk" bs=512 seek="$BIOS_START" conv=notrunc status=none

say "disk: boot.img into the protective MBR (kernel sector $BIOS_START, partition table kept)"
# As grub-bios-setup: boot.img's code, the old sector's BPB (0x03-0x5a) and
# partition table (0x1b8-0x1fe), the kernel sector at 0x5c, boot drive 0xff
# at 0x64 (use the BIOS's), and the floppy check at 0x66 replaced by NOPs.
cp /usr/lib/grub/i386-pc/boot.img "$work/mbr"
dd if="$disk" of="$work/mbr" bs=1 skip=3 seek=3 count=$((0x5a - 3)) conv=notrunc status=none
dd if="$disk" of="$work/mbr" bs=1 skip=$((0x1b8)) seek=$((0x1b8)) count=$((0x1fe - 0x1b8)) conv=notrunc status=none
put "$work/mbr" $((0x5c)) "$(le "$BIOS_START" 8)"
put "$work/mbr" $((0x64)) '\xff'
put "$work/mbr" $((0x66)) '\x90\x90'
dd if="$work/mbr" of="$disk" bs=512 count=1 conv=notrunc status=none
sgdisk --verify "$disk" >&2

mv "$work/manifest" "${out%.raw}.manifest"
mv "$disk" "$out"
for old in "$lab_dir"/debian12-*.raw "$lab_dir"/debian12-*.manifest; do
  case "$old" in "${out%.raw}".*) ;; *) rm -f "$old" ;; esac
done
say "built $out: $(du -m "$out" | cut -f1) MiB allocated of $DISK_MIB MiB, $(grep -c . "${out%.raw}.manifest") packages, in $((SECONDS - start)) s"
echo "$out"
