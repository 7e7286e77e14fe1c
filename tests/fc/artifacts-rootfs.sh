# The guest rootfs of tests/fc/artifacts.sh (sourced by it; uses its fetch_deb,
# place, say, $cache, $out, $tools).
#
# What Firecracker's framework needs of a guest (tests/framework/microvm.py,
# host_tools/network.py, resources/rootfs/):
#   - root=/dev/vda, mounted read-only (squashfs, the default rootfs_mode "ro")
#     or read-write (ext4); the kernel command line is the framework's
#     "reboot=k panic=1 nomodule swiotlb=noforce console=ttyS0 ..." (so no
#     module can load: everything is built into the kernel) and no initrd;
#   - every NIC configured from its MAC, as resources/rootfs/overlay/usr/local/
#     bin/fcnet-setup.sh does: 06:00:AC:10:00:02 -> 172.16.0.2/30, link up;
#   - sshd on port 22 accepting ROOTFS.id_rsa for root, with the client's
#     -o KexAlgorithms=ecdh-sha2-nistp521 -o HostKeyAlgorithms=rsa-sha2-512
#     -c aes256-ctr (an RSA host key), and scp (OpenSSH 9's scp speaks SFTP:
#     sftp-server);
#   - a root shell on ttyS0 whose prompt is framework/guest.py's shell_prompt
#     for the image's name, /etc/hostname its hostname, /etc/os-release its
#     os_release_token (test_serial_io.py, test_kernel_cmdline.py);
#   - `reboot` and Ctrl-Alt-Del ending the VM (reboot=k).
# Here init is busybox's (not systemd), the userland Debian 12's packages
# below with the libraries they load (found with ldd, each from the Debian
# package that owns it on this Debian 12 host, fetched with apt-get download).

# Firecracker's setup-ubuntu-ci.sh installs (on a full Ubuntu): udev systemd-sysv
# openssh-server iproute2 curl socat python3-minimal iperf3 iputils-ping fio
# kmod tmux hwloc-nox vim-tiny trace-cmd linuxptp strace python3-boto3
# pciutils msr-tools cpuid. Here: those its cases call, without systemd/udev
# (busybox init), fio (its Debian package pulls Ceph's and RDMA's libraries),
# tmux, hwloc, vim, trace-cmd, linuxptp and boto3; and the GNU tools the
# cases' commands expect of Ubuntu (grep -P, lscpu, ...).
ROOTFS_PKGS=${FC_ROOTFS_PKGS:-"busybox-static bash openssh-server openssh-sftp-server \
iproute2 socat iperf3 curl python3.11-minimal libpython3.11-minimal libpython3.11-stdlib \
iputils-ping kmod strace pciutils pci.ids msr-tools cpuid coreutils grep sed gawk findutils \
util-linux procps e2fsprogs"}

# The Debian package that owns a library path on this (Debian 12) host.
lib_pkg() {
    local p=$1 r
    r=$(dpkg -S "$p" 2>/dev/null | head -n 1 | cut -d: -f1) ||
        true
    if [ -z "$r" ]; then
        # merged /usr: ldd may name /usr/lib/... where the package says /lib/...
        local alt=${p#/usr}
        [ "$alt" = "$p" ] && alt=/usr$p
        r=$(dpkg -S "$alt" 2>/dev/null | head -n 1 | cut -d: -f1) || true
    fi
    echo "$r"
}

rootfs_stage() {
    local st=$1 p deb
    rm -rf "$st"
    mkdir -p "$st"
    # The packages, and the library packages they depend on, recursively
    # (first alternatives; some are not on this host, so ldd cannot find
    # them: libwrap0, libiperf0, libsctp1)
    local want=" " queue="$ROOTFS_PKGS" d
    while [ -n "$queue" ]; do
        set -- $queue
        p=$1; shift; queue="$*"
        case $want in *" $p "*) continue ;; esac
        want="$want$p "
        dpkg-deb -x "$(fetch_deb "$p")" "$st"
        for d in $(dpkg-deb -f "$(fetch_deb "$p")" Depends Pre-Depends | sed 's/^[A-Za-z-]*: //' |
                   tr ',' '\n' | sed 's/|.*//; s/(.*//; s/:any//' | tr -d ' ' |
                   grep -E '^lib' | grep -vE -- '-(dev|modules|runtime|bin|common|data)$'); do
            queue="$queue $d"
        done
    done
    # The libraries of every ELF file, to a fixed point (each from the
    # package that owns it here).
    local done_pkgs="$want" round=0 missing lib pkg nf
    while :; do
        round=$((round + 1))
        missing=$(find "$st" -type f \( -perm -u+x -o -name '*.so*' \) -print0 |
            xargs -0 file -N 2>/dev/null | grep -E ': *ELF .*(executable|shared object)' |
            cut -d: -f1 | while read -r f; do
                ldd "$f" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p'
            done | sort -u | grep -v "^$st/" | while read -r lib; do
                [ -e "$st$lib" ] || [ -e "$st${lib#/usr}" ] || [ -e "$st/usr$lib" ] || echo "$lib"
            done)
        nf=$(find "$st" -type f \( -perm -u+x -o -name '*.so*' \) -print0 |
            xargs -0 file -N 2>/dev/null | grep -E ': *ELF .*(executable|shared object)' |
            cut -d: -f1 | while read -r f; do
                LD_LIBRARY_PATH="$st/lib/x86_64-linux-gnu:$st/usr/lib/x86_64-linux-gnu" \
                    ldd "$f" 2>/dev/null | sed -n "s|^\t*\([^ ]*\) => not found|${f#$st}: \1|p"
            done | sort -u)
        if [ -z "$missing" ]; then
            [ -z "$nf" ] || { say "rootfs: libraries found nowhere: $nf"; exit 1; }
            break
        fi
        [ $round -le 8 ] || { say "rootfs: libraries still missing after 8 rounds: $missing"; exit 1; }
        local added=0
        for lib in $missing; do
            pkg=$(lib_pkg "$lib")
            [ -n "$pkg" ] || { say "rootfs: no Debian package owns $lib"; exit 1; }
            case $done_pkgs in *" $pkg "*) continue ;; esac
            done_pkgs="$done_pkgs$pkg "
            dpkg-deb -x "$(fetch_deb "$pkg")" "$st"
            added=1
        done
        [ $added = 1 ] || { say "rootfs: libraries not found in their packages: $missing"; exit 1; }
    done
    echo "$done_pkgs" | tr ' ' '\n' | grep . | sort > "$st/.packages"
    rm -rf "$st"/usr/share/doc "$st"/usr/share/man "$st"/usr/share/info "$st"/usr/share/locale \
        "$st"/usr/share/lintian "$st"/lib/systemd "$st"/usr/lib/systemd "$st"/etc/init.d \
        "$st"/etc/systemd "$st"/etc/ssh/sshd_config.d

    # busybox's applets where no package put a program
    local a
    for a in $(/bin/busybox --list-full); do
        [ -e "$st/$a" ] || [ -L "$st/$a" ] || { mkdir -p "$st/$(dirname "$a")"; ln -s /bin/busybox "$st/$a"; }
    done
    ln -sf busybox "$st/bin/sh"
    [ -e "$st/usr/bin/python3" ] || ln -s python3.11 "$st/usr/bin/python3"
    mkdir -p "$st"/{dev,proc,sys,run,tmp,root/.ssh,var/log,var/empty,var/lib,mnt,srv,home,etc/ssh}
    chmod 1777 "$st/tmp"
    chmod 700 "$st/root" "$st/root/.ssh"

    cat > "$st/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/bash
sshd:x:100:65534::/run/sshd:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
    # root's password is empty (Firecracker's setup-*-ci.sh: passwd -d root)
    cat > "$st/etc/shadow" <<'EOF'
root::19000:0:99999:7:::
sshd:*:19000:0:99999:7:::
nobody:*:19000:0:99999:7:::
EOF
    chmod 600 "$st/etc/shadow"
    printf 'root:x:0:\nnogroup:x:65534:\n' > "$st/etc/group"
    printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n' > "$st/etc/nsswitch.conf"
    printf '/bin/sh\n/bin/bash\n' > "$st/etc/shells"
    printf '127.0.0.1 localhost\n' > "$st/etc/hosts"
    : > "$st/etc/resolv.conf"
    printf 'include /etc/ld.so.conf.d/*.conf\n' > "$st/etc/ld.so.conf"
    ldconfig -r "$st" 2>/dev/null || say "rootfs: ldconfig -r failed (the loader's default paths remain)"

    cat > "$st/etc/ssh/sshd_config" <<'EOF'
# Firecracker's framework: ssh -i ROOTFS.id_rsa root@IP with
# KexAlgorithms=ecdh-sha2-nistp521, HostKeyAlgorithms=rsa-sha2-512, -c aes256-ctr
Port 22
HostKey /etc/ssh/ssh_host_rsa_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
StrictModes no
MaxSessions 64
MaxStartups 64
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
    ssh-keygen -q -t rsa -b 3072 -N '' -C hearth-fc-host -f "$st/etc/ssh/ssh_host_rsa_key"
    cp "$cache/id_rsa.pub" "$st/root/.ssh/authorized_keys"
    chmod 600 "$st/root/.ssh/authorized_keys"

    cat > "$st/etc/inittab" <<'EOF'
::sysinit:/etc/rcS
ttyS0::respawn:-/bin/bash -l
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/umount -a -r
EOF
    cat > "$st/etc/rcS" <<'EOF'
#!/bin/sh
# busybox init's sysinit: the mounts systemd would make, the network from
# each NIC's MAC (Firecracker's fcnet-setup.sh), sshd.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
grep -q ' / [a-z0-9]* rw' /proc/mounts || mount -t tmpfs tmpfs /var/log
hostname -F /etc/hostname
ip link set lo up
for d in /sys/class/net/*; do
    dev=${d##*/}
    [ "$dev" = lo ] && continue
    mac=$(cat "$d/address")
    case $mac in 06:00:*) ;; *) continue ;; esac
    set -- $(echo "${mac#06:00:}" | tr ':' ' ')
    ip addr add "$((0x$1)).$((0x$2)).$((0x$3)).$((0x$4))/30" dev "$dev"
    ip link set "$dev" up
done
mkdir -p /run/sshd
chmod 755 /run/sshd
/usr/sbin/sshd -E /run/sshd.log
EOF
    chmod 755 "$st/etc/rcS"
    cat > "$st/etc/profile" <<'EOF'
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
[ -f /etc/ps1 ] && PS1=$(cat /etc/ps1)
EOF
    rm -f "$st/sbin/init"
    ln -s /bin/busybox "$st/sbin/init"

    # Firecracker's guest helpers (resources/rootfs/overlay/usr/local/bin/*.c:
    # init, fillmem, readmem, fast_page_fault_helper), built as its
    # rebuild.sh builds them (gcc -Wall), with Debian's gcc. Its two Go
    # helpers (go_sdk_cred_provider*) are not built: no Go toolchain here.
    local ov="$fc_tree/resources/rootfs/overlay/usr/local/bin" c
    mkdir -p "$st/usr/local/bin"
    for c in init fillmem readmem fast_page_fault_helper; do
        if [ -f "$ov/$c.c" ]; then
            gcc -Wall -O2 -o "$st/usr/local/bin/$c" "$ov/$c.c" ||
                say "rootfs: $c.c did not build"
        fi
    done
}

# Per image name: framework/guest.py's hostname, prompt and os-release token.
rootfs_name_files() {
    local st=$1 name=$2
    case $name in
    ubuntu-*)
        echo ubuntu-fc-uvm > "$st/etc/hostname"
        printf '%s' '\u@\h:\w\$ ' > "$st/etc/ps1"
        printf 'PRETTY_NAME="Debian 12 packages (Hearth test image named %s)"\nID=ubuntu\n' "$name" \
            > "$st/etc/os-release" ;;
    amazonlinux-*)
        echo al2023-fc-uvm > "$st/etc/hostname"
        printf '%s' '[\u@\h \W]\$ ' > "$st/etc/ps1"
        printf 'PRETTY_NAME="Debian 12 packages (Hearth test image named %s)"\nID="amzn"\n' "$name" \
            > "$st/etc/os-release" ;;
    esac
}

build_rootfs() {
    local st=$cache/rootfs-stage sum
    [ -f "$cache/id_rsa" ] || ssh-keygen -q -t rsa -b 3072 -N '' -C hearth-fc -f "$cache/id_rsa"
    sum=$(cat "$0" "$here/artifacts-rootfs.sh" "$fc_tree"/resources/rootfs/overlay/usr/local/bin/*.c 2>/dev/null |
          sha256sum | cut -c1-12)
    if [ ! -f "$cache/rootfs-$sum.ok" ]; then
        unpack_tools
        say "rootfs: staging $ROOTFS_PKGS and their libraries"
        rootfs_stage "$st"
        local name mb
        for name in ubuntu-24.04 amazonlinux-2023; do
            rootfs_name_files "$st" "$name"
            rm -f "$cache/$name.squashfs" "$cache/$name.ext4"
            "$tools/usr/bin/mksquashfs" "$st" "$cache/$name.squashfs" -all-root -noappend \
                -comp zstd -quiet -no-progress >/dev/null
            # room for what the cases write (Firecracker's CI ext4 has some too)
            mb=$(( $(du -sm "$st" | cut -f1) + 200 ))
            truncate -s "${mb}M" "$cache/$name.ext4"
            mkfs.ext4 -q -F -L rootfs -d "$st" "$cache/$name.ext4"
        done
        # the initramfs of Firecracker's resources/rebuild.sh (build_initramfs)
        local ir=$cache/initramfs-stage
        rm -rf "$ir"
        mkdir -p "$ir"/{bin,dev,proc,sys}
        cp /bin/busybox "$ir/bin/sh"
        ln "$ir/bin/sh" "$ir/bin/mount"
        cat > "$ir/init" <<'EOF'
#!/bin/sh
mount -t devtmpfs devtmpfs /dev
mount -t proc none /proc
devmem 0xc0000000 8 123
mount -t sysfs none /sys
exec 0</dev/console
exec 1>/dev/console
exec 2>/dev/console

echo Boot took $(cut -d' ' -f1 /proc/uptime) seconds
echo ">>> Welcome to fcinitrd <<<"

exec /bin/sh
EOF
        chmod +x "$ir/init"
        (cd "$ir" && find . -print0 | cpio --quiet --null -o --format=newc -R 0:0) > "$cache/initramfs.cpio"
        rm -f "$cache"/rootfs-*.ok
        touch "$cache/rootfs-$sum.ok"
    fi
    local name
    for name in ubuntu-24.04 amazonlinux-2023; do
        place "$cache/$name.squashfs" "$out/$name.squashfs"
        place "$cache/$name.ext4" "$out/$name.ext4"
        place "$cache/id_rsa" "$out/$name.id_rsa"
    done
    place "$cache/id_rsa" "$out/id_rsa"
    place "$cache/initramfs.cpio" "$out/initramfs.cpio"
}
