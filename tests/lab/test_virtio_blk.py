#!/usr/bin/env python3
"""Lab test for virtio-blk: a stock kernel mounts an ext4 image through
Hearth's --disk, in ONE L1 boot.

    tests/lab/test_virtio_blk.py [--vmm hearth|qemu] [--stream]

The image lives on the host: L1 (QEMU TCG) gets it as its own virtio-pci
disk, /dev/vda, and hands that block device to the VMM with --disk, so
L2's writes land in the host file and are checked with debugfs after L1
exits.  Runs, in order:

  check  (2 vCPUs, queues=2) two blk-mq queues; mount /dev/vda, sha256sum
         files made on the host by mkfs.ext4 -d
  write  (cache=none) write /written.txt, sync, umount, power off
  ro     (,ro) mount -o ro works, writes to /dev/vda are refused, the
         device's bytes are unchanged (also checked from L1 around the run)
  many   the same device given 17 times (,ro): a root drive plus Kata's
         pool of 8 and more; the stock kernel finds vda to vdq, each with
         its own serial, and mounts the last

Prints one line per check and `N passed, N failed`.  Exit 0 all passed,
1 a check failed, 3 lab failure.  --vmm qemu runs the same plan with QEMU
microvm's virtio-blk, which validates the test itself.
"""
import argparse
import hashlib
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab as L  # noqa: E402

RUN_TIMEOUT = 240
IMG_MB = 32
BLK_DIR = os.path.join(L.LAB_DIR, "blk")
IMG = os.path.join(BLK_DIR, "disk.img")
SERIAL = "labdisk"
# key (LAB lines allow [a-z_]) -> path inside the image
FILES = {"alpha": "alpha.txt", "big": "big.bin", "deep": "dir/sub/deep.bin"}
WRITTEN = "/written.txt"
# Busybox writes this in L2; the host computes the same bytes.
WRITTEN_CMD = "seq 1 20000"
WRITTEN_BYTES = "".join("%d\n" % i for i in range(1, 20001)).encode()

L2_SCRIPT = r'''
mode=none
for w in $(cat /proc/cmdline); do
  case "$w" in lab.blk=*) mode=${w#lab.blk=} ;; esac
done
i=0; while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
[ -b /dev/vda ] && echo "LAB blk_dev=present" || { echo "LAB blk_dev=missing"; dmesg | grep -i virtio; }
echo "LAB blk_size=$(cat /sys/block/vda/size 2>/dev/null)"
echo "LAB blk_ro=$(cat /sys/block/vda/ro 2>/dev/null)"
echo "LAB blk_serial=$(cat /sys/block/vda/serial 2>/dev/null)"
echo "LAB blk_mq=$(ls /sys/block/vda/mq 2>/dev/null | wc -l)"
# virtio-rng is on by default in Hearth: the hwrng core should pick it.
if [ -c /dev/hwrng ]; then
  echo "LAB rng_current=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)"
  echo "LAB rng_bytes=$(head -c 4096 /dev/hwrng | wc -c)"
  a=$(head -c 64 /dev/hwrng | sha256sum | cut -d' ' -f1)
  b=$(head -c 64 /dev/hwrng | sha256sum | cut -d' ' -f1)
  [ "$a" != "$b" ] && echo "LAB rng_distinct=yes" || echo "LAB rng_distinct=no"
else
  echo "LAB rng_current=missing"
fi
mkdir -p /mnt
case "$mode" in
check)
  mount -t ext4 /dev/vda /mnt && echo "LAB mount=ok" || echo "LAB mount=failed"
  for kf in @FILES@; do
    echo "LAB sum_${kf%%:*}=$(sha256sum "/mnt/${kf#*:}" | cut -d' ' -f1)"
  done
  dd if=/dev/vda of=/dev/null bs=1M 2>/dev/null && echo "LAB raw_read=ok" || echo "LAB raw_read=failed"
  umount /mnt && echo "LAB umount=ok" ;;
write)
  mount -t ext4 /dev/vda /mnt && echo "LAB mount=ok" || echo "LAB mount=failed"
  @WRITTEN_CMD@ >/mnt@WRITTEN@ && sync && echo "LAB synced=ok" || echo "LAB synced=failed"
  echo "LAB write_sum=$(sha256sum /mnt@WRITTEN@ | cut -d' ' -f1)"
  umount /mnt && echo "LAB umount=ok" || echo "LAB umount=failed" ;;
ro)
  before=$(sha256sum /dev/vda | cut -d' ' -f1)
  mount -t ext4 -o ro /dev/vda /mnt && echo "LAB mount=ok" || echo "LAB mount=failed"
  echo "LAB ro_written_sum=$(sha256sum /mnt@WRITTEN@ | cut -d' ' -f1)"
  (echo x >/mnt/new.txt) 2>/dev/null && echo "LAB ro_fs_write=accepted" || echo "LAB ro_fs_write=refused"
  umount /mnt
  if dd if=/dev/zero of=/dev/vda bs=4096 count=1 conv=fsync 2>/dev/null; then
    echo "LAB ro_raw_write=accepted"
  else
    echo "LAB ro_raw_write=refused"
  fi
  after=$(sha256sum /dev/vda | cut -d' ' -f1)
  [ "$before" = "$after" ] && echo "LAB ro_unchanged=yes" || echo "LAB ro_unchanged=no" ;;
many)
  i=0; while [ ! -b /dev/vd@LAST@ ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  echo "LAB many_count=$(ls -d /sys/block/vd* 2>/dev/null | wc -l)"
  echo "LAB many_last_serial=$(cat /sys/block/vd@LAST@/serial 2>/dev/null)"
  mount -t ext4 -o ro /dev/vd@LAST@ /mnt && echo "LAB many_mount=ok" || echo "LAB many_mount=failed"
  echo "LAB many_sum_alpha=$(sha256sum /mnt/alpha.txt | cut -d' ' -f1)"
  umount /mnt ;;
esac
'''

# L1 shell step: the device's hash as L1 sees it (around the ro run).
L1_HASH = r'''i=0; while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
echo "LAB l_one_vda=$(sha256sum /dev/vda | cut -d' ' -f1)"'''


class DiskLab(L.Lab):
    """The lab's L1 with the host image attached as its virtio-pci disk."""

    def l1_argv(self, initrd, cmdline=None):
        return super().l1_argv(initrd, cmdline) + [
            "-drive", "file=%s,format=raw,if=virtio,cache=writeback" % IMG]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def make_image():
    """An ext4 image built from a directory; returns {key: sha256}."""
    os.makedirs(BLK_DIR, exist_ok=True)
    rnd = random.Random(1234)
    sums = {}
    with tempfile.TemporaryDirectory(dir=BLK_DIR) as root:
        content = {
            "alpha": b"hearth virtio-blk lab\n" * 100,
            "big": bytes(rnd.getrandbits(8) for _ in range(1 << 20)),
            "deep": bytes(rnd.getrandbits(8) for _ in range(200 * 1024 + 7)),
        }
        for key, rel in FILES.items():
            p = os.path.join(root, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(content[key])
            sums[key] = sha256(content[key])
        if os.path.exists(IMG):
            os.unlink(IMG)
        L.sh(["mkfs.ext4", "-q", "-F", "-L", "lab", "-d", root,
              "-E", "lazy_itable_init=0,lazy_journal_init=0", IMG, "%dM" % IMG_MB],
             stdout=subprocess.DEVNULL)
    return sums


# The many run: a root drive, Kata's pool of 8 and 8 more (Hearth takes 19 virtio
# devices; with the default virtio-rng this leaves one line free).
MANY = 17
MANY_LAST = chr(ord("a") + MANY - 1)


def disk_args(vmm, opts):
    if opts == "many":
        out = []
        for i in range(MANY):
            if vmm == "hearth":
                out += ["--disk", "path=/dev/vda,ro,id=many%d" % i]
            else:
                out += ["-drive", "id=d%d,file=/dev/vda,format=raw,if=none,readonly=on" % i,
                        "-device", "virtio-blk-device,drive=d%d,serial=many%d" % (i, i)]
        return out
    if vmm == "hearth":
        extra = {"check": ",queues=2", "write": ",cache=none", "ro": ",ro"}[opts]
        return ["--disk", "path=/dev/vda,id=%s%s" % (SERIAL, extra)]
    drive = {"check": "", "write": ",cache=none", "ro": ",readonly=on"}[opts]
    dev = ",num-queues=2" if opts == "check" else ""
    return ["-drive", "id=d0,file=/dev/vda,format=raw,if=none" + drive,
            "-device", "virtio-blk-device,drive=d0,serial=" + SERIAL + dev]


def plan(vmm, l2):
    def blk(mode):
        # check: two vCPUs on a two-queue disk, one blk-mq queue each.
        return L.Run("blk_" + mode, vmm=vmm, cpus=2 if mode == "check" else 1, memory=256,
                     timeout=RUN_TIMEOUT,
                     initrd=l2, cmdline=L.L2_CONSOLE + " panic=-1 lab.blk=" + mode,
                     extra_args=disk_args(vmm, mode))
    runs = [blk("check"), blk("write"), L.ShellRun("l1_pre_ro", vmm, L1_HASH), blk("ro"),
            L.ShellRun("l1_post_ro", vmm, L1_HASH), blk("many")]
    return runs


def checks(res, sums, vmm):
    runs = res.runs

    def info(run, key):
        r = runs.get(run)
        return r.info.get(key) if r else None

    def ran(run):
        r = runs.get(run)
        return r is not None and r.ended and r.rc == 0

    if vmm == "hearth":
        cur = info("blk_check", "rng_current") or ""
        yield cur.startswith("virtio_rng"), "rng: /dev/hwrng is virtio-rng (got %r)" % cur
        yield info("blk_check", "rng_bytes") == "4096", "rng: /dev/hwrng yields 4096 bytes (got %s)" % (
            info("blk_check", "rng_bytes"))
        yield info("blk_check", "rng_distinct") == "yes", "rng: two reads differ"
    for m in ("check", "write", "ro"):
        n = "blk_" + m
        yield ran(n), "%s: VMM exit code 0 (got %s)" % (n, runs[n].rc if n in runs else None)
        yield info(n, "blk_dev") == "present", "%s: /dev/vda present" % n
        size = info(n, "blk_size")
        yield size == str(IMG_MB * 2048), "%s: capacity %d sectors (got %s)" % (
            n, IMG_MB * 2048, size)
        yield info(n, "blk_serial") == SERIAL, "%s: serial (GET_ID) is %s (got %s)" % (
            n, SERIAL, info(n, "blk_serial"))
        yield info(n, "mount") == "ok", "%s: mount /dev/vda" % n
    for key in FILES:
        got = info("blk_check", "sum_" + key)
        yield got == sums[key], "blk_check: sha256 of %s matches the host (got %s)" % (
            FILES[key], (got or "")[:16])
    yield info("blk_check", "raw_read") == "ok", "blk_check: read the whole device"
    yield info("blk_check", "blk_mq") == "2", "blk_check: queues=2 on 2 vCPUs is two blk-mq " \
        "queues (got %s)" % info("blk_check", "blk_mq")
    yield info("blk_check", "blk_ro") == "0", "blk_check: device is writable"
    want = sha256(WRITTEN_BYTES)
    yield info("blk_write", "synced") == "ok", "blk_write: write + sync succeeded"
    yield info("blk_write", "write_sum") == want, "blk_write: guest reads back its file"
    yield info("blk_write", "umount") == "ok", "blk_write: umount"
    yield info("blk_ro", "blk_ro") == "1", "blk_ro: device is read-only (got %s)" % info(
        "blk_ro", "blk_ro")
    yield info("blk_ro", "ro_written_sum") == want, "blk_ro: sees the file the write run made"
    yield info("blk_ro", "ro_fs_write") == "refused", "blk_ro: file write refused"
    yield info("blk_ro", "ro_raw_write") == "refused", "blk_ro: raw write to /dev/vda refused"
    yield info("blk_ro", "ro_unchanged") == "yes", "blk_ro: device bytes unchanged (guest)"
    pre, post = info("l1_pre_ro", "l_one_vda"), info("l1_post_ro", "l_one_vda")
    yield pre is not None and pre == post, "blk_ro: device bytes unchanged (L1: %s -> %s)" % (
        (pre or "")[:12], (post or "")[:12])
    n = "blk_many"
    yield ran(n), "%s: VMM exit code 0 (got %s)" % (n, runs[n].rc if n in runs else None)
    yield info(n, "many_count") == str(MANY), "%s: the guest sees %d disks (got %s)" % (
        n, MANY, info(n, "many_count"))
    yield info(n, "many_last_serial") == "many%d" % (MANY - 1), \
        "%s: vd%s's serial is many%d (got %s)" % (n, MANY_LAST, MANY - 1,
                                                  info(n, "many_last_serial"))
    yield info(n, "many_mount") == "ok", "%s: mount /dev/vd%s" % (n, MANY_LAST)
    yield info(n, "many_sum_alpha") == sums["alpha"], "%s: vd%s reads the image" % (
        n, MANY_LAST)
    # Host side, after L1 exited: the image holds what L2 wrote.
    got = subprocess.run(["debugfs", "-R", "cat " + WRITTEN, IMG], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL).stdout
    yield sha256(got) == want, "host: debugfs finds %s intact (%d bytes)" % (WRITTEN, len(got))
    fsck = subprocess.run(["e2fsck", "-fn", IMG], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    yield fsck.returncode == 0, "host: e2fsck -fn is clean (rc %d)" % fsck.returncode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", default="hearth", choices=["hearth", "qemu"])
    ap.add_argument("--stream", action="store_true", help="stream L1's console to stderr")
    a = ap.parse_args()
    saved = list(L.L1_MODULES)
    try:
        lab = DiskLab(stream=a.stream or None)
        sums = make_image()
        # L1 needs virtio-pci + virtio-blk for its own disk; L2 virtio-mmio + virtio-blk.
        l1_mods = ["virtio_pci", "virtio_blk"]
        l2_mods = ["virtio_mmio", "virtio_blk", "virtio_rng"]
        script = (L2_SCRIPT.replace("@FILES@", " ".join("%s:%s" % kv for kv in FILES.items()))
                  .replace("@WRITTEN_CMD@", WRITTEN_CMD).replace("@WRITTEN@", WRITTEN)
                  .replace("@LAST@", MANY_LAST))
        l2 = L.build_l2_initrd(lab.kernel, name="l2blk", modules=l2_mods, extra_sh=script)
        L.L1_MODULES = saved + [(m, "") for m in l1_mods]
        res = lab.run_plan(plan(a.vmm, l2), tag="blk-" + a.vmm)
    except (L.LabError, subprocess.CalledProcessError) as e:
        print("LAB FAILURE: %s" % e)
        return 3
    finally:
        L.L1_MODULES = saved
    if not res.ok:
        print(res.failure_line())
        return 3
    if res.retry_line():
        print(res.retry_line())
    passed = failed = 0
    for ok, desc in checks(res, sums, a.vmm):
        print("%s %s [%s]" % ("PASS" if ok else "FAIL", desc, a.vmm))
        passed += ok
        failed += not ok
    if failed:
        print("  serial log: %s" % res.log)
        for name in ("blk_check", "blk_write", "blk_ro"):
            r = res.runs.get(name)
            if r:
                for ln in r.guest_lines[-12:] + ["(stderr:)"] + r.stderr_lines[-8:]:
                    print("    %s| %s" % (name, ln))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
