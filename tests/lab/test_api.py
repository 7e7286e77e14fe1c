#!/usr/bin/env python3
"""Lab tests of the control plane: the stock kernel driven only through the
Firecracker-compatible API (curl on the Unix socket, inside L1) and through a
config file, in ONE L1 boot.

    tests/lab/test_api.py [--hearth PATH] [--stream]

  api_boot   hearth serve; boot-source, machine-config and a drive by PUT,
             InstanceStart; the guest's nproc, MemTotal and disk; PATCH /vm
             Paused: its serial output stops and Hearth's CPU time stays
             flat for 5 s; Resumed: the guest goes on.
  cad        hearth serve --config-file (boots at once); SendCtrlAltDel
             reaches the guest's keyboard driver, the guest reboots and
             Hearth exits as it does for a reboot.
  run_api    hearth run ... --api-sock: a VM started from the command line
             is paused, inspected and resumed through the API.
  devices    PUT /metrics, three drives (one with a bandwidth limiter);
             the guest's O_DIRECT read of the limited disk never beats its
             bucket (size + burst + rate x time) while the same read of an
             unlimited one does; PATCH /drives swaps the running disk's file
             and the guest reads the new one at its new size: a file inside
             --snapshot-dir, the only directory the sealed sandbox keeps,
             while a file outside it (not a drive given at start) is 400
             naming it; FlushMetrics writes a line with the disks' counters
             and throttles.
  cpus       machine-config with smt true, 2 vCPUs and the static CPU
             template of L1's vendor (T2A on AMD, T2 on Intel), the other
             vendor's refused in Firecracker's words: the guest sees one
             core of two threads (cpu0's thread_siblings_list 0-1,
             siblings 2, cpu cores 1), the template's family/model, and
             its /proc/cpuinfo flags (printed) lack what the template
             clears and have ERMS, which it sets.
  balloon    test_balloon.py's runs, in this boot: free page reporting,
             a new target, statistics and the refusals, the balloon across
             a snapshot restored from File and through Uffd; deflate_on_oom
             under memory pressure.
  pmem       test_pmem.py's run: an ext4 image as /dev/pmem0 with DAX, a
             synced write reaching the file, a read-only root device.
  hotplug    test_hotplug.py's run: virtio_mem grows and shrinks MemTotal,
             unplugged memory goes back to the host.
  pci        test_pci.py's run: --enable-pci, a disk, a NIC (DHCP) and
             virtio-rng over virtio-pci with MSI-X, snapshotted and restored
             in a new process.
  vub        test_vhost_user.py's run: a vhost-user disk served by
             qemu-storage-daemon (2 queues), read and written, paused,
             PATCHed, refused a snapshot, its backend killed mid-I/O.
  vfs        test_virtiofs.py's run: a directory of L1's that virtiofsd
             serves, mounted with virtio-fs on PCI and on virtio-mmio, read
             and written both ways through an fsync storm, a snapshot
             refused, the daemon killed mid-I/O.
  vfio       test_vfio.py's run: L1's emulated NVMe disk, behind its
             emulated IOMMU, bound to vfio-pci and passed through: the
             guest's nvme driver formats, writes and reads it over MSI-X,
             a snapshot is refused, and L1 reads what the guest wrote.

Prints one line per check and `N passed, N failed`.  Exit 0 all passed, 1 a
check failed, 3 lab failure (tests/lab/README.md).
"""
import argparse
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402
import test_balloon as B  # noqa: E402
import test_hotplug as HP  # noqa: E402
import test_pci as PCI  # noqa: E402
import test_pmem as PM  # noqa: E402
import test_vfio as VF  # noqa: E402
import test_vhost_user as VU  # noqa: E402
import test_virtiofs as VFS  # noqa: E402

RUN_TIMEOUT = 420
L1_INITRD = "/lab/l2/initrd0.cpio"    # every run here uses the one L2 initrd below
CMDLINE = L.L2_CONSOLE + " reboot=k panic=-1"
PAUSE_SECONDS = 5
# Hearth's CPU time (user + system, in clock ticks of 10 ms) may grow by at
# most this much over PAUSE_SECONDS while paused: a vCPU or the I/O thread
# still spinning would take hundreds.
PAUSED_CPU_TICKS_MAX = 5

# The limited disk's bucket: 512 KiB, refilled every second, no burst.
RL_SIZE, RL_REFILL_MS, RL_BURST = 512 * 1024, 1000, 0
RL_READ = 4 * 1024 * 1024      # what the guest reads from each of vdb, vdc

# In L2, after the standard facts: the disk's first bytes, whether atkbd
# bound the i8042's keyboard, Ctrl-Alt-Del armed as an immediate reboot
# (lab.cad=1), and a tick on the serial line every 0.3 s (lab.ticks=N).
# lab.rl=1: O_DIRECT reads of vdb (limited) and vdc, timed on the guest's
# clock; lab.watch=1: vda's first bytes and size, printed when they change.
L2_SCRIPT = r'''
for w in $(cat /proc/cmdline); do
  case "$w" in
    lab.ticks=*) ticks=${w#lab.ticks=} ;;
    lab.cad=1) cad=1 ;;
    lab.rl=1) rl=1 ;;
    lab.watch=1) watch=1 ;;
    lab.cpu=1) cpu=1 ;;
  esac
done
if [ -n "$cpu" ]; then
  echo "LAB thread_siblings=$(cat /sys/devices/system/cpu/cpu0/topology/thread_siblings_list)"
  echo "LAB core_siblings=$(cat /sys/devices/system/cpu/cpu0/topology/core_siblings_list)"
  echo "LAB siblings=$(awk -F': *' '/^siblings/ {print $2; exit}' /proc/cpuinfo)"
  echo "LAB cpu_cores=$(awk -F': *' '/^cpu cores/ {print $2; exit}' /proc/cpuinfo)"
  echo "LAB vendor=$(awk -F': *' '/^vendor_id/ {print $2; exit}' /proc/cpuinfo)"
  echo "LAB family=$(awk -F': *' '/^cpu family/ {print $2; exit}' /proc/cpuinfo)"
  echo "LAB model=$(awk -F': *' '/^model\t/ {print $2; exit}' /proc/cpuinfo)"
  echo "LAB cpuflags=$(awk -F': *' '/^flags/ {print $2; exit}' /proc/cpuinfo)"
fi
if [ -n "$rl" ]; then
  for d in vdb vdc; do
    read t0 _ </proc/uptime
    n=$(dd if=/dev/$d of=/dev/null bs=64k count=@RL_BLOCKS@ iflag=direct 2>&1 |
        awk -F+ '/records in/ {print $1 * 65536}')
    read t1 _ </proc/uptime
    echo "LAB read_$d=$n,$t0,$t1"
  done
fi
if [ -n "$watch" ]; then
  last=; i=0
  while [ $i -lt 1500 ]; do
    m=$(dd if=/dev/vda bs=512 count=1 iflag=direct 2>/dev/null | head -c 11)
    sz=$(cat /sys/block/vda/size)
    [ "$m $sz" != "$last" ] && echo "LAB disk_now=$m size=$sz" && last="$m $sz"
    i=$((i+1)); sleep 0.2
  done
fi
[ -b /dev/vda ] && echo "LAB disk=$(head -c 16 /dev/vda)"
i=0; while [ ! -e /sys/bus/serio/drivers/atkbd/serio0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
[ -e /sys/bus/serio/drivers/atkbd/serio0 ] && echo "LAB atkbd=bound" || echo "LAB atkbd=absent"
if [ -n "$cad" ]; then echo 1 >/proc/sys/kernel/ctrl-alt-del && echo "LAB cad=armed"; fi
if [ -n "$ticks" ]; then
  i=0; while [ $i -lt "$ticks" ]; do echo "LAB tick $i"; i=$((i+1)); sleep 0.3; done
fi
'''

# In L1, before each run's own script.
PRELUDE = "\nS=/tmp/api.sock\nH=/lab/bin/hearth\n" + L.SH_API + r'''cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks() { tr -d '\r' </tmp/g.out | grep -c '^LAB tick'; }
finish() { # PID: stop Hearth if still running, report its exit code and the guest's lines
  if kill -0 "$1" 2>/dev/null; then kill -TERM "$1"; fi
  wait "$1"; echo "API exit=$?"
  tr -d '\r' </tmp/g.out | grep '^LAB '
  tr -d '\r' </tmp/g.out | grep -v '^LAB ' | tail -n 12 | sed 's/^/GUEST /'
  cat /tmp/h.err >&2
}
rm -f $S /tmp/g.out /tmp/h.err
'''

PAUSE_CHECK = r'''
waitfor '^LAB tick 3' /tmp/g.out 1800 && echo "API ticking=yes"
echo "API pause=$(api PATCH /vm '{"state": "Paused"}')"
echo "API paused_info=$(api GET /) $(cat /tmp/resp)"
sleep 1   # what the guest wrote before it stopped is drained
t0=$(ticks); c0=$(cputicks $hp)
sleep @PAUSE@
t1=$(ticks); c1=$(cputicks $hp)
echo "API paused_ticks=$t0,$t1"
echo "API paused_cpu=$c0,$c1"
echo "API resume=$(api PATCH /vm '{"state": "Resumed"}')"
waitfor "^LAB tick $((t1 + 2))" /tmp/g.out 1800 && echo "API resumed=yes"
echo "API resumed_info=$(api GET /) $(cat /tmp/resp)"
'''.replace("@PAUSE@", str(PAUSE_SECONDS))

API_BOOT = PRELUDE + r'''
printf 'hearth-disk-mark' >/tmp/d.img
dd if=/dev/zero bs=1M count=4 >>/tmp/d.img 2>/dev/null
$H serve --api-sock $S </dev/null >/tmp/g.out 2>/tmp/h.err & hp=$!
waitsock
echo "API info=$(api GET /) $(cat /tmp/resp)"
echo "API boot_source=$(api PUT /boot-source '{"kernel_image_path": "@KERNEL@", "initrd_path": "@INITRD@", "boot_args": "@CMDLINE@ lab.ticks=600"}')"
echo "API machine=$(api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 384}')"
echo "API drive=$(api PUT /drives/data '{"drive_id": "data", "path_on_host": "/tmp/d.img", "is_root_device": false, "is_read_only": true}')"
echo "API start=$(api PUT /actions '{"action_type": "InstanceStart"}')"
echo "API started_info=$(api GET /) $(cat /tmp/resp)"
''' + PAUSE_CHECK + r'''
finish $hp
'''

CAD = PRELUDE + r'''
cat >/tmp/vm.json <<'EOF'
{"boot-source": {"kernel_image_path": "@KERNEL@", "initrd_path": "@INITRD@",
                 "boot_args": "@CMDLINE@ lab.cad=1 lab.wait=600"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 256}}
EOF
$H serve --api-sock $S --config-file /tmp/vm.json </dev/null >/tmp/g.out 2>/tmp/h.err & hp=$!
waitsock
echo "API info=$(api GET /) $(cat /tmp/resp)"
waitfor '^LAB ready' /tmp/g.out 1800 && echo "API guest_ready=yes"
echo "API cad=$(api PUT /actions '{"action_type": "SendCtrlAltDel"}') $(cat /tmp/resp)"
n=0; while kill -0 $hp 2>/dev/null && [ $n -lt 1200 ]; do sleep 0.1; n=$((n+1)); done
kill -0 $hp 2>/dev/null && echo "API exited_by_itself=no" || echo "API exited_by_itself=yes"
finish $hp
'''

RUN_API = PRELUDE + r'''
$H run --kernel @KERNEL@ --initrd @INITRD@ --cmdline "@CMDLINE@ lab.ticks=600" --cpus 1 \
  --memory 256 --api-sock $S </dev/null >/tmp/g.out 2>/tmp/h.err & hp=$!
waitsock
echo "API started_info=$(api GET /) $(cat /tmp/resp)"
echo "API put_after_boot=$(api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256}')"
''' + PAUSE_CHECK + r'''
finish $hp
'''


# Once sealed, the sandbox reaches only the drive files given at start and
# --snapshot-dir (docs/security.md): the image swapped in later lives there,
# as under Firecracker's jailer it would have to live inside the jail. The
# same image outside it is the refusal's case.
DEVICES = PRELUDE + r'''
rm -rf /tmp/swap; mkdir -p /tmp/swap
dd if=/dev/zero of=/tmp/a.img bs=1M count=4 2>/dev/null
printf 'disk-A-mark-----' | dd of=/tmp/a.img conv=notrunc 2>/dev/null
dd if=/dev/zero of=/tmp/swap/b.img bs=1M count=8 2>/dev/null
printf 'disk-B-mark-----' | dd of=/tmp/swap/b.img conv=notrunc 2>/dev/null
cp /tmp/swap/b.img /tmp/outside.img
dd if=/dev/zero of=/tmp/rl.img bs=1M count=8 2>/dev/null
dd if=/dev/zero of=/tmp/free.img bs=1M count=8 2>/dev/null
rm -f /tmp/m.json
$H serve --api-sock $S --snapshot-dir /tmp/swap </dev/null >/tmp/g.out 2>/tmp/h.err & hp=$!
waitsock
echo "API boot_source=$(api PUT /boot-source '{"kernel_image_path": "@KERNEL@", "initrd_path": "@INITRD@", "boot_args": "@CMDLINE@ lab.rl=1 lab.watch=1"}')"
echo "API metrics=$(api PUT /metrics '{"metrics_path": "/tmp/m.json"}')"
echo "API drive_data=$(api PUT /drives/data '{"drive_id": "data", "path_on_host": "/tmp/a.img", "is_root_device": false, "is_read_only": true}')"
echo "API drive_rl=$(api PUT /drives/rl '{"drive_id": "rl", "path_on_host": "/tmp/rl.img", "is_root_device": false, "is_read_only": true, "rate_limiter": {"bandwidth": {"size": @RL_SIZE@, "one_time_burst": @RL_BURST@, "refill_time": @RL_REFILL@}}}')"
echo "API drive_free=$(api PUT /drives/free '{"drive_id": "free", "path_on_host": "/tmp/free.img", "is_root_device": false, "is_read_only": true}')"
echo "API start=$(api PUT /actions '{"action_type": "InstanceStart"}')"
waitfor '^LAB disk_now=disk-A' /tmp/g.out 1800 && echo "API saw_a=yes"
echo "API patch_missing=$(api PATCH /drives/data '{"drive_id": "data", "path_on_host": "/tmp/nope.img"}') $(cat /tmp/resp)"
echo "API patch_outside=$(api PATCH /drives/data '{"drive_id": "data", "path_on_host": "/tmp/outside.img"}') $(cat /tmp/resp)"
echo "API patch=$(api PATCH /drives/data '{"drive_id": "data", "path_on_host": "/tmp/swap/b.img"}') $(cat /tmp/resp)"
waitfor '^LAB disk_now=disk-B' /tmp/g.out 600 && echo "API saw_b=yes"
waitfor '^LAB read_vdc=' /tmp/g.out 1800
echo "API flush=$(api PUT /actions '{"action_type": "FlushMetrics"}') $(cat /tmp/resp)"
sed 's/^/MX /' /tmp/m.json
finish $hp
'''


# smt and the CPU template of L1's own vendor; the other vendor's is refused first.
CPUS = PRELUDE + r'''
vendor=$(awk -F': *' '/^vendor_id/ {print $2; exit}' /proc/cpuinfo)
case "$vendor" in
  AuthenticAMD) tmpl=T2A; other=T2 ;;
  GenuineIntel) tmpl=T2; other=T2A ;;
  *) tmpl=None; other=T2A ;;
esac
echo "API l1_vendor=$vendor"
echo "API template=$tmpl"
$H serve --api-sock $S </dev/null >/tmp/g.out 2>/tmp/h.err & hp=$!
waitsock
echo "API boot_source=$(api PUT /boot-source '{"kernel_image_path": "@KERNEL@", "initrd_path": "@INITRD@", "boot_args": "@CMDLINE@ lab.cpu=1"}')"
echo "API other=$(api PUT /machine-config "{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"cpu_template\": \"$other\"}") $(cat /tmp/resp)"
echo "API machine=$(api PUT /machine-config "{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"smt\": true, \"cpu_template\": \"$tmpl\"}") $(cat /tmp/resp)"
echo "API got_machine=$(api GET /machine-config) $(cat /tmp/resp)"
echo "API start=$(api PUT /actions '{"action_type": "InstanceStart"}') $(cat /tmp/resp)"
waitfor '^LAB ready' /tmp/g.out 1800 && echo "API guest_ready=yes"
finish $hp
'''

# What the T2 family of templates clears (Linux's flag names) and sets;
# T2A also clears AMD's own. Not 3dnowprefetch, which T2A clears in CPUID
# too: Linux sets that flag itself on any CPU with long mode (PREFETCHW
# is implied), so /proc/cpuinfo shows it whatever CPUID says.
T2_CLEARED = ["pdpe1gb", "sha_ni", "rdseed", "adx", "avx512f", "clflushopt",
              "clwb", "umip", "pku", "la57", "rdpid", "vaes", "vpclmulqdq", "monitor", "vmx",
              "mwaitx", "xsavec", "xsaves", "hle", "rtm", "mpx"]
T2A_CLEARED = ["svm", "sse4a", "misalignsse", "mmxext", "fxsr_opt", "clzero", "wbnoinvd"]


def check_cpus(r):
    n, a = r.name, api_info(r)
    tmpl = a.get("template")
    yield a.get("boot_source") == "204", "%s: PUT /boot-source is 204 (got %s)" % (
        n, a.get("boot_source"))
    yield (a.get("other") or "").startswith("400") and \
        "CPU vendor mismatched between actual CPU and CPU template." in a.get("other", ""), \
        "%s: the other vendor's template is refused in Firecracker's words (got %s)" % (
            n, a.get("other"))
    yield (a.get("machine") or "").startswith("204"), \
        "%s: smt true, 2 vCPUs, cpu_template %s is 204 (got %s; L1 vendor %s)" % (
            n, tmpl, a.get("machine"), a.get("l1_vendor"))
    yield (a.get("start") or "").startswith("204"), "%s: InstanceStart is 204 (got %s)" % (
        n, a.get("start"))
    yield r.info.get("nproc") == "2", "%s: guest nproc == 2 (got %s)" % (n, r.info.get("nproc"))
    yield r.info.get("thread_siblings") == "0-1", \
        "%s: cpu0's thread siblings are 0-1, two threads per core (got %s)" % (
            n, r.info.get("thread_siblings"))
    yield r.info.get("siblings") == "2" and r.info.get("cpu_cores") == "1", \
        "%s: /proc/cpuinfo: siblings 2, cpu cores 1 (got %s, %s)" % (
            n, r.info.get("siblings"), r.info.get("cpu_cores"))
    flags = (r.info.get("cpuflags") or "").split()
    print("INFO %s: guest CPU under %s (L1 %s): vendor %s family %s model %s flags: %s" % (
        n, tmpl, a.get("l1_vendor"), r.info.get("vendor"), r.info.get("family"),
        r.info.get("model"), " ".join(flags)))
    if tmpl not in ("T2", "T2A"):
        yield False, "%s: L1's vendor %r takes no T2 template" % (n, a.get("l1_vendor"))
        return
    yield r.info.get("family") == "6" and r.info.get("model") == "63", \
        "%s: %s's signature, family 6 model 63 (got %s, %s)" % (
            n, tmpl, r.info.get("family"), r.info.get("model"))
    cleared = T2_CLEARED + (T2A_CLEARED if tmpl == "T2A" else [])
    left = [f for f in cleared if f in flags]
    yield bool(flags) and not left, "%s: %s clears %s (left: %s)" % (
        n, tmpl, " ".join(cleared), left)
    yield "erms" in flags and "hypervisor" in flags, \
        "%s: %s sets erms; hypervisor is there" % (n, tmpl)


def script(text):
    return (text.replace("@KERNEL@", L.L1_KERNEL).replace("@INITRD@", L1_INITRD)
            .replace("@CMDLINE@", CMDLINE).replace("@RL_SIZE@", str(RL_SIZE))
            .replace("@RL_BURST@", str(RL_BURST)).replace("@RL_REFILL@", str(RL_REFILL_MS)))


def api_info(r):
    """The API lines of a run: {name: value}."""
    out = {}
    for l in r.guest_lines:
        m = re.match(r"^API (\w+)=(.*)$", l.strip())
        if m and m.group(1) not in out:
            out[m.group(1)] = m.group(2)
    return out


def state_of(v):
    m = re.search(r'"state":\s*"([^"]+)"', v or "")
    return m.group(1) if m else None


def check_pause(n, a):
    yield a.get("ticking") == "yes", "%s: the guest ticks on its serial line" % n
    yield a.get("pause") == "204", "%s: PATCH /vm Paused is 204 (got %s)" % (n, a.get("pause"))
    yield state_of(a.get("paused_info")) == "Paused", "%s: GET / says Paused (got %s)" % (
        n, a.get("paused_info"))
    t = (a.get("paused_ticks") or "").split(",")
    yield len(t) == 2 and t[0] == t[1], \
        "%s: no serial output over %d s while paused (ticks %s)" % (n, PAUSE_SECONDS, t)
    c = [int(x) for x in (a.get("paused_cpu") or "").split(",") if x.isdigit()]
    yield len(c) == 2 and c[1] - c[0] <= PAUSED_CPU_TICKS_MAX, \
        "%s: Hearth's CPU time flat while paused (%s ticks of 10 ms over %d s, at most %d)" % (
            n, c[1] - c[0] if len(c) == 2 else "?", PAUSE_SECONDS, PAUSED_CPU_TICKS_MAX)
    yield a.get("resume") == "204", "%s: PATCH /vm Resumed is 204 (got %s)" % (n, a.get("resume"))
    yield a.get("resumed") == "yes", "%s: the guest ticks again after resume" % n
    yield state_of(a.get("resumed_info")) == "Running", "%s: GET / says Running (got %s)" % (
        n, a.get("resumed_info"))


def check_api_boot(r):
    n, a = r.name, api_info(r)
    yield state_of(a.get("info")) == "Not started", "%s: GET / before boot says Not started (got %s)" % (
        n, a.get("info"))
    for k in ("boot_source", "machine", "drive", "start"):
        yield a.get(k) == "204", "%s: PUT %s is 204 (got %s)" % (n, k, a.get(k))
    yield state_of(a.get("started_info")) == "Running", "%s: GET / after InstanceStart says Running" % n
    yield r.info.get("nproc") == "2", "%s: guest nproc == 2 (got %s)" % (n, r.info.get("nproc"))
    mem = r.info.get("memtotal_kb", "")
    ok = mem.isdigit() and (384 - 72) * 1024 <= int(mem) <= 384 * 1024
    yield ok, "%s: guest MemTotal fits 384 MiB (got %s kB)" % (n, mem)
    yield r.info.get("disk") == "hearth-disk-mark", "%s: guest reads the PUT drive (got %r)" % (
        n, r.info.get("disk"))
    yield from check_pause(n, a)
    yield a.get("exit") == "3", "%s: SIGTERM ends Hearth with exit 3 (got %s)" % (n, a.get("exit"))


def check_cad(r):
    n, a = r.name, api_info(r)
    yield state_of(a.get("info")) == "Running", "%s: --config-file booted at once (got %s)" % (
        n, a.get("info"))
    yield a.get("guest_ready") == "yes", "%s: guest reached its idle wait" % n
    yield r.info.get("atkbd") == "bound", "%s: the guest's atkbd bound the i8042 keyboard (got %s)" % (
        n, r.info.get("atkbd"))
    yield (a.get("cad") or "").startswith("204"), "%s: SendCtrlAltDel is 204 (got %s)" % (
        n, a.get("cad"))
    yield a.get("exited_by_itself") == "yes", "%s: the guest rebooted and Hearth exited" % n
    yield a.get("exit") == "0", "%s: exit code 0, as for a reboot (got %s)" % (n, a.get("exit"))
    said = any("reboot" in l.lower() for l in r.stderr_lines)
    yield said, "%s: Hearth's stderr reports the reboot" % n
    yield not any(l.strip() == "LAB doing poweroff" for l in r.guest_lines), \
        "%s: the guest did not power off on its own" % n


def check_run_api(r):
    n, a = r.name, api_info(r)
    yield state_of(a.get("started_info")) == "Running", "%s: GET / says Running (got %s)" % (
        n, a.get("started_info"))
    yield a.get("put_after_boot") == "400", "%s: PUT /machine-config after boot is 400 (got %s)" % (
        n, a.get("put_after_boot"))
    yield from check_pause(n, a)
    yield a.get("exit") == "3", "%s: SIGTERM ends Hearth with exit 3 (got %s)" % (n, a.get("exit"))


def read_stats(r, dev):
    """(bytes, seconds) of the guest's timed read of dev, or None."""
    for l in r.guest_lines:
        m = re.match(r"^LAB read_%s=(\d+),([\d.]+),([\d.]+)$" % dev, l.strip())
        if m:
            return int(m.group(1)), float(m.group(3)) - float(m.group(2))
    return None


def bucket_allows(seconds):
    """The most a bucket lets through in `seconds`: full at the start, plus
    its one-time burst, plus what it refills; 10 ms for the guest clock."""
    return RL_SIZE + RL_BURST + RL_SIZE * (seconds + 0.01) * 1000 / RL_REFILL_MS


def check_devices(r):
    import json
    n, a = r.name, api_info(r)
    for k in ("boot_source", "metrics", "drive_data", "drive_rl", "drive_free", "start"):
        yield a.get(k) == "204", "%s: %s is 204 (got %s)" % (n, k, a.get(k))
    lim, free = read_stats(r, "vdb"), read_stats(r, "vdc")
    yield lim is not None and lim[0] == RL_READ, "%s: the guest read %d bytes of the limited disk (got %s)" % (
        n, RL_READ, lim)
    if lim:
        yield lim[0] <= bucket_allows(lim[1]), \
            "%s: limited read within its bucket: %d bytes in %.2f s, bucket allows %d (%.0f KiB/s)" % (
                n, lim[0], lim[1], bucket_allows(lim[1]), lim[0] / 1024 / max(lim[1], 0.01))
    if free:
        yield free[0] > bucket_allows(free[1]), \
            "%s: the same read without a limiter beats that bound (%d bytes in %.2f s, %.0f KiB/s)" % (
                n, free[0], free[1], free[0] / 1024 / max(free[1], 0.01))
    else:
        yield False, "%s: the guest read the unlimited disk" % n
    yield a.get("saw_a") == "yes", "%s: the guest reads the first file" % n
    yield (a.get("patch_missing") or "").startswith("400") and "nope.img" in a.get("patch_missing", ""), \
        "%s: PATCH to a missing file is 400 naming it (got %s)" % (n, a.get("patch_missing"))
    yield (a.get("patch_outside") or "").startswith("400") and \
        "outside.img" in a.get("patch_outside", ""), \
        "%s: PATCH to a file the sealed sandbox does not keep is 400 naming it (got %s)" % (
            n, a.get("patch_outside"))
    yield (a.get("patch") or "").startswith("204"), "%s: PATCH /drives/data is 204 (got %s)" % (
        n, a.get("patch"))
    seen = [l.strip() for l in r.guest_lines if l.strip().startswith("LAB disk_now=")]
    yield any(l.startswith("LAB disk_now=disk-B-mark size=%d" % (8 * 2048)) for l in seen), \
        "%s: after the PATCH the guest reads the new file at its new size (saw %s)" % (n, seen)
    yield (a.get("flush") or "").startswith("204"), "%s: FlushMetrics is 204 (got %s)" % (n, a.get("flush"))
    # Each line holds the changes since the one before (Firecracker's
    # deltas); the 60 s timer may have written some before FlushMetrics.
    lines = []
    for l in r.guest_lines:
        if l.startswith("MX "):
            try:
                lines.append(json.loads(l[3:]))
            except ValueError:
                lines.append(None)
    ok = bool(lines) and all(isinstance(x, dict) and "utc_timestamp_ms" in x for x in lines)
    yield ok, "%s: the metrics file has %d line(s), each JSON with a timestamp" % (n, len(lines))
    lines = [x for x in lines if isinstance(x, dict)]

    def total(group, name):
        return sum(x.get(group, {}).get(name, 0) for x in lines)

    # Firecracker's groups and names; Hearth's own counts under "hearth".
    got_rl = total("block_rl", "rate_limiter_throttled_events")
    yield got_rl > 0, "%s: metrics count the limited disk's throttles (got %s)" % (n, got_rl)
    got_free = total("block_free", "read_bytes")
    yield got_free >= RL_READ, "%s: metrics count the free disk's bytes read (got %s)" % (n, got_free)
    got_put = sum(x.get("hearth", {}).get("api_server", {}).get("put_requests", 0) for x in lines)
    yield got_put >= 6, "%s: metrics count the API's PUTs (got %s)" % (n, got_put)
    got_drives = total("put_api_requests", "drive_count")
    yield got_drives >= 3, "%s: Firecracker's put_api_requests count the drives (got %s)" % (
        n, got_drives)
    exits = sum(sum(x.get("hearth", {}).get("vcpu", {}).values()) for x in lines)
    yield exits > 0, "%s: metrics count vCPU exits (got %s)" % (n, exits)


CHECKS = [("api_boot", API_BOOT, check_api_boot), ("cad", CAD, check_cad),
          ("run_api", RUN_API, check_run_api), ("devices", DEVICES, check_devices),
          ("cpus", CPUS, check_cpus)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hearth", help="Hearth binary (default build/hearth, or $HEARTH)")
    ap.add_argument("--stream", action="store_true", help="stream L1's console to stderr")
    a = ap.parse_args()
    if a.hearth:
        os.environ["HEARTH"] = os.path.abspath(a.hearth)
    tools = {}
    for t in (B.tools(), VU.tools(), VFS.tools()):
        tools.update(t)
    missing = [k for k, v in tools.items() if not v]
    if missing:
        print("FAIL %s not found (scripts/deps.sh installs curl and qemu-storage-daemon; make "
              "builds the handler)"
              % missing)
        print("0 passed, 1 failed")
        return 1
    try:
        lab = L.Lab(stream=a.stream or None)
        l2 = L.build_l2_initrd(lab.kernel, name="l2api", modules=["virtio_mmio", "virtio_blk"],
                               extra_sh=L2_SCRIPT.replace("@RL_BLOCKS@",
                                                          str(RL_READ // 65536)))
        runs = []
        for name, text, _ in CHECKS:
            run = L.ShellRun(name, "hearth", script(text), timeout=RUN_TIMEOUT)
            run.initrd = l2
            runs.append(run)
        # The balloon's, pmem's, memory hotplug's, PCI's, vhost-user's, virtio-fs's
        # and VFIO's runs (test_balloon.py, test_pmem.py, test_hotplug.py,
        # test_pci.py, test_vhost_user.py, test_virtiofs.py, test_vfio.py) share this L1 boot, each with its own
        # L2; VFIO's IOMMU and NVMe disk are in this L1 for it.
        runs += [B.run(lab.kernel), B.run_oom(lab.kernel), PM.run(lab.kernel),
                 HP.run(lab.kernel), PCI.run(lab.kernel), VU.run(lab.kernel),
                 VFS.run(lab.kernel), VF.run(lab.kernel)]
        with tempfile.TemporaryDirectory() as d:
            res = lab.run_plan(runs, tag="api", binaries=tools, files=PM.files(d),
                               l1_extra=VF.vfio_l1_extra())
    except L.LabError as e:
        print("LAB FAILURE: %s" % e)
        return 3
    return L.report(res, [(name, check) for name, _, check in CHECKS] +
                    [("balloon", B.check_balloon), ("balloon_oom", B.check_balloon_oom),
                     ("pmem", PM.check_pmem),
                     ("hotplug", HP.check_hotplug), ("pci", PCI.check_pci),
                     ("vub", VU.check_vub), ("vfs", VFS.check_vfs), ("vfio", VF.check_vfio)])


if __name__ == "__main__":
    sys.exit(main())
