"""The lab's proof of issue 47's S1, a run of test_virtio_net.py's L1 boot:
vhost-net's memory table holds the memory hotplug region's plugged blocks
only, and follows plug and unplug.

A freestanding guest (tests/guest/vhostmem.c) drives a TAP NIC on
vhost-net and a virtio-mem device itself, and puts its one receive
buffer at the hotplug region's first block. L1 sends frames to tap0
(pings of an address nobody has: ARP requests), and steps the guest
through PATCH /hotplug/memory (the guest polls requested_size):

  unplugged   the buffer stays unused (vhost's table does not reach the
              block: before the fix it held the whole region, wrote the
              frame there and the host backed the page);
  plugged     the guest plugs the block and kicks the queue: a frame lands;
  unplugged   the guest unplugs it and posts the buffer again: no frame
              lands, and the region's pages in Hearth's RSS (L1's
              /proc/PID/smaps, the region's mapping) do not grow.

The same script runs natively (`python3 tests/lab/vhost_hotplug.py
--native BUILD`) with the NIC on Hearth's own userspace path where the
host has no /dev/vhost-net: its own translation holds plugged blocks only.
"""
import os
import subprocess
import sys

HP_TOTAL_MIB = 512
CONFIG = """{
  "boot-source": {"kernel_image_path": "KERNEL"},
  "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
  "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "TAP"}],
  "memory-hotplug": {"total_size_mib": %d, "slot_size_mib": 128, "block_size_mib": 2}
}""" % HP_TOTAL_MIB

# $H is Hearth, $K the guest, $T the TAP's name, $A the address L1 gives it. The
# results are LAB lines on stdout, after the VM's own.
SCRIPT = r"""
S=/tmp/vhp.sock
say() { echo "LAB $1" >>/tmp/vhp.res; }
: >/tmp/vhp.res
sed -e "s|KERNEL|$K|" -e "s|TAP|$T|" >/tmp/vhp.json <<'EOF'
@CONFIG@
EOF
rm -f $S
$H serve --api-sock $S --config-file /tmp/vhp.json </dev/null >/tmp/vhp.out 2>/tmp/vhp.err &
hp=$!
api() { curl -s -o /tmp/vhp.resp -w '%{http_code}' --unix-socket $S -X PATCH \
  -H 'Content-Type: application/json' -d "{\"requested_size_mib\": $1}" \
  http://localhost/hotplug/memory; }
waitline() { # KEY: up to 60 s for the guest's "LAB KEY=" line
  i=0; until grep -q "LAB $1=" /tmp/vhp.out; do
    i=$((i+1)); [ $i -gt 600 ] && return 1; kill -0 $hp 2>/dev/null || return 1; sleep 0.1
  done
}
# The hotplug region's mapping: the anonymous one of its size; its Rss in kB.
hprss() {
  awk -v want=$((@HP@ * 1024)) '
    /^[0-9a-f]+-[0-9a-f]+ / { split($1, a, "-"); on = 0 }
    /^Size:/ { on = ($2 == want) }
    on && /^Rss:/ { print $2; exit }' /proc/$hp/smaps
}
frames() { # ARP requests onto $T: pings of an address on its subnet nobody has
  ping -c 4 -i 0.2 -W 1 ${A%.*}.77 >/dev/null 2>&1; sleep 0.5
}
i=0; until ip link show $T >/dev/null 2>&1; do i=$((i+1)); [ $i -gt 600 ] && break; sleep 0.1; done
ip addr add $A/24 dev $T 2>/dev/null; ip link set $T up
if waitline vm_armed; then
  r0=$(hprss); frames; r1=$(hprss)
  say "hp_rss_unplugged=${r0:-none} ${r1:-none}"
  say "patch1=$(api 2)"
  waitline vm_plugged && frames
  say "patch2=$(api 4)"
  if waitline vm_rearmed; then
    r2=$(hprss); frames; r3=$(hprss)
    say "hp_rss_after_unplug=${r2:-none} ${r3:-none}"
  fi
  say "patch3=$(api 6)"
fi
i=0; while kill -0 $hp 2>/dev/null && [ $i -lt 300 ]; do i=$((i+1)); sleep 0.1; done
kill $hp 2>/dev/null; wait $hp; say "exit=$?"
say "vhost=$(grep -c 'vhost-net' /tmp/vhp.err)"
cat /tmp/vhp.out
sed 's/^/LAB-ERR /' /tmp/vhp.err | head -n 5
cat /tmp/vhp.res
""".replace("@CONFIG@", CONFIG).replace("@HP@", str(HP_TOTAL_MIB))


def script(hearth, kernel, tap="tap0", addr="192.168.100.1"):
    """The L1 (or host) shell script, its variables set."""
    return "H=%s K=%s T=%s A=%s\n%s" % (hearth, kernel, tap, addr, SCRIPT)


def checks(name, i, vhost=True):
    """Yields (ok, description) from the run's LAB lines."""
    def two(key):
        v = (i.get(key) or "").split()
        return v if len(v) == 2 and all(x.isdigit() for x in v) else None

    yield i.get("vm_armed") == "yes", "%s: the guest posted its buffer in the unplugged " \
        "block (hp=%s)" % (name, i.get("vm_hp"))
    yield i.get("vm_rx_unplugged") == "0", "%s: no frame lands in an unplugged block (%s " \
        "used; before the fix vhost's table held the whole region)" % (
            name, i.get("vm_rx_unplugged"))
    r = two("hp_rss_unplugged")
    yield r is not None and r == ["0", "0"], "%s: nothing plugged, the host backs none of " \
        "the region while frames arrive (RSS kB before, after: %s)" % (
            name, i.get("hp_rss_unplugged"))
    yield i.get("vm_plug") == "0" and i.get("vm_rx_plugged") == "1", \
        "%s: plugged (response %s), the buffer takes a frame (%s used): the table grew" % (
            name, i.get("vm_plug"), i.get("vm_rx_plugged"))
    yield i.get("vm_unplug") == "0" and i.get("vm_rx_after_unplug") == "0", \
        "%s: unplugged again (response %s), the new buffer there takes none (%s): the " \
        "table shrank" % (name, i.get("vm_unplug"), i.get("vm_rx_after_unplug"))
    r = two("hp_rss_after_unplug")
    yield r is not None and r == ["0", "0"], "%s: and the host backs none of it again (RSS " \
        "kB before, after: %s)" % (name, i.get("hp_rss_after_unplug"))
    if vhost:
        yield i.get("vhost") == "0", "%s: the NIC stayed on vhost-net (%s lines of Hearth's " \
            "said otherwise)" % (name, i.get("vhost"))
    yield i.get("exit") == "0", "%s: the guest powered off, exit 0 (got %s)" % (
        name, i.get("exit"))


def native(build):
    """Runs the script on this host (root, /dev/net/tun) and checks it."""
    out = subprocess.run(["sh", "-c", script(os.path.join(build, "hearth"),
                                             os.path.join(build, "tests/guest/vhostmem.elf"),
                                             "vhp0", "192.168.177.1")],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=300).stdout
    info = {}
    for line in out.splitlines():
        if line.startswith("LAB ") and "=" in line:
            k, _, v = line[4:].partition("=")
            info.setdefault(k, v.strip())
    bad = 0
    for ok, desc in checks("native", info, vhost=False):
        print("%s %s" % ("PASS" if ok else "FAIL", desc))
        bad += not ok
    if bad:
        print(out[-3000:])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(native(sys.argv[2] if len(sys.argv) > 2 and sys.argv[1] == "--native" else "build"))
