#!/usr/bin/env python3
"""Lab test for virtio-net: a stock kernel's virtio_net driver over Hearth's
user (libslirp) and TAP backends, in ONE L1 boot.

    tests/lab/test_virtio_net.py [--stream]

user: the guest gets its address by DHCP (busybox udhcpc), fetches a file
from busybox httpd on L1's loopback as http://10.0.2.2:8080/ and compares
sha256 sums (host-loopback=on); L1 reaches the guest through
hostfwd=tcp:5555-:7777.
user, default: the same guest and L1 httpd with host loopback left off:
the fetch must fail while DHCP and the hostfwd round trip still work.
tap:  the guest takes 192.168.100.2 on tap0 (L1 has 192.168.100.1); L1
pings it and does a TCP echo round trip with busybox nc. The TAP NIC has
mtu=9000: the guest's eth0 must have taken it (VIRTIO_NET_F_MTU); the user
NICs' eth0 has the 65520 they share with libslirp. It runs with vhost=off:
the userspace path, and queues=1: the guest sees one rx queue of its 2 vCPUs.
vhost: the same TAP NIC with vhost=on (L1 loads vhost_net): the guest gets
its address by DHCP from busybox udhcpd on L1's tap0; Hearth holds one
/dev/vhost-net per queue pair (2 vCPUs: 2, and the guest sees 2 queues),
L1 pings the guest and fetches 4 MiB from the guest's busybox httpd, whose
sha256 must match the guest's; then `hearth snapshot --resume` (pause stops
vhost and reads its ring positions back, resume starts it again) and the
fetch again; then PATCH an rx rate limiter (the NIC leaves vhost: no
vhost-net fd left) and the fetch again, in userspace; then the echo round
trip, after which the guest ends. The snapshot is restored (--net-override
eth0=tap=tap0): on vhost again, the fetch and the echo from where it was.
vhost_hp: issue 47's S1 (tests/lab/vhost_hotplug.py): a freestanding guest
puts a receive buffer in a memory hotplug block, unplugged, plugged and
unplugged again, on a TAP NIC on vhost-net: a frame lands only while it is
plugged, and the host backs nothing there otherwise.
All traffic stays inside L1/L2.  Prints one line per check and
`N passed, N failed`; exit 0 all passed, 1 a check failed, 3 lab failure.

L1's busybox `ip` has no `tuntap`, so Hearth creates tap0 itself (it runs
as root in L1; TUNSETIFF makes the device) and L1 configures it as soon as
it appears.
"""
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab as L  # noqa: E402
import vhost_hotplug as VH  # noqa: E402

# The vhost_hp run's guest, built beside the Hearth binary the lab runs.
VH_GUEST = "/lab/vhostmem.elf"

RUN_TIMEOUT = 240
VHOST_TIMEOUT = 600  # the run, then its snapshot's restore
TOKEN = "hearth-net-roundtrip-42"
# The TAP NIC's mtu (VIRTIO_NET_F_MTU): the guest's eth0 must take it; a user NIC
# offers the 65520 it shares with libslirp (virtio/net/slirp.c).
TAP_MTU = 9000
USER_MTU = 65520

# busybox udhcpc calls this with $1 = deconfig|bound|renew|leasefail.
DHCP_SCRIPT = r'''#!/bin/sh
case "$1" in
  deconfig) ifconfig "$interface" 0.0.0.0 up ;;
  bound|renew)
    ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
    if [ -n "$router" ]; then
      while route del default gw 0.0.0.0 dev "$interface" 2>/dev/null; do :; done
      for r in $router; do route add default gw "$r" dev "$interface"; break; done
    fi
    : >/etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done ;;
esac
exit 0
'''

# L2: runs before "LAB ready"; the mode comes from lab.net= on the cmdline.
L2_EXTRA = r'''
mode=
for w in $(cat /proc/cmdline); do case "$w" in lab.net=*) mode=${w#lab.net=} ;; esac; done
[ -z "$mode" ] && exit 0
# The kernel's own lines (link up, printed late) share the console with
# the LAB lines: keep them off it, as test_virtio_vsock does.
dmesg -n 1 2>/dev/null
ip link set lo up
i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
[ -e /sys/class/net/eth0 ] && echo "LAB nic=yes" || { echo "LAB nic=no"; ls /sys/class/net; exit 0; }
echo "LAB mac=$(cat /sys/class/net/eth0/address)"
echo "LAB mtu=$(cat /sys/class/net/eth0/mtu)"
echo "LAB queues=$(ls -d /sys/class/net/eth0/queues/rx-* | wc -l)"
dhcp() { # TRIES: a lease on eth0 (busybox udhcpc), and the address it gave
  if udhcpc -i eth0 -s /lab/dhcp.sh -n -q -t "$1" -T 2 >/tmp/dhcp.log 2>&1; then
    echo "LAB dhcp=ok"
  else
    echo "LAB dhcp=fail"; cat /tmp/dhcp.log
  fi
  echo "LAB ip=$(ip -4 addr show dev eth0 | awk '/inet /{print $2; exit}')"
}
if [ "$mode" = user ]; then
  dhcp 5
  echo "LAB gw=$(ip route | awk '/^default/{print $3; exit}')"
  echo "LAB dns=$(awk '/nameserver/{print $2; exit}' /etc/resolv.conf)"
  # (busybox 1.35 wget -T segfaults; timeout bounds it instead)
  if timeout 60 wget -q -O /tmp/blob http://10.0.2.2:8080/blob; then
    echo "LAB sha=$(sha256sum /tmp/blob | cut -d' ' -f1)"
  else
    echo "LAB sha=wget-failed"
  fi
  timeout 90 nc -l -p 7777 -e /bin/cat
elif [ "$mode" = vhost ]; then
  dhcp 10 # from L1's udhcpd on tap0, through vhost-net
  echo "LAB tap_ip=set"
else
  ip addr add 192.168.100.2/24 dev eth0
  ip link set eth0 up
  echo "LAB tap_ip=set"
fi
if [ "$mode" != user ]; then
  t=120
  if [ "$mode" = vhost ]; then
    mkdir -p /tmp/www
    dd if=/dev/urandom of=/tmp/www/blob bs=1024 count=4096 2>/dev/null
    echo "LAB guest_sha=$(sha256sum /tmp/www/blob | cut -d' ' -f1)"
    httpd -p 8080 -h /tmp/www
    t=400 # L1 fetches, snapshots and patches first; a restore waits here again
  fi
  timeout $t nc -l -p 7777 -e /bin/cat
fi
'''

# L1 around the VMM.  Helpers write their LAB lines to /tmp/l1.res, printed
# after the VMM exits so they never interleave with the guest's console;
# they are stopped before the run ends (lab_run reads until EOF).
L1_USER = r'''
ip link set lo up
: >/tmp/l1.res
mkdir -p /tmp/www
dd if=/dev/urandom of=/tmp/www/blob bs=1024 count=768 2>/dev/null
echo "LAB host_sha=$(sha256sum /tmp/www/blob | cut -d' ' -f1)" >>/tmp/l1.res
httpd -f -p 127.0.0.1:8080 -h /tmp/www >/dev/null 2>&1 &
web=$!
(
  i=0
  while [ $i -lt 150 ]; do
    r=$(echo TOKEN | nc -w 3 127.0.0.1 5555 2>/dev/null)
    [ "$r" = TOKEN ] && break
    i=$((i+1)); sleep 1
  done
  echo "LAB host_fwd=${r:-none}" >>/tmp/l1.res
) &
helper=$!
"$@"; rc=$?
kill $helper $web 2>/dev/null; wait
cat /tmp/l1.res
exit $rc
'''.replace("TOKEN", TOKEN)

L1_TAP = r'''
ip link set lo up
: >/tmp/l1.res
(
  i=0
  while ! ip link show tap0 >/dev/null 2>&1; do
    i=$((i+1)); [ $i -gt 600 ] && { echo "LAB host_tap=missing" >>/tmp/l1.res; exit 0; }; sleep 0.1
  done
  ip addr add 192.168.100.1/24 dev tap0 && ip link set tap0 up && echo "LAB host_tap=configured" >>/tmp/l1.res
  i=0
  until ping -c 1 -W 1 192.168.100.2 >/dev/null 2>&1; do
    i=$((i+1)); [ $i -gt 120 ] && break
  done
  if ping -c 3 -W 2 192.168.100.2 >/tmp/ping.out 2>&1; then echo "LAB host_ping=ok" >>/tmp/l1.res
  else echo "LAB host_ping=fail" >>/tmp/l1.res; cat /tmp/ping.out >>/tmp/l1.res; fi
  r=$(echo TOKEN | nc -w 5 192.168.100.2 7777 2>/dev/null)
  echo "LAB host_nc=${r:-none}" >>/tmp/l1.res
) &
helper=$!
"$@"; rc=$?
kill $helper 2>/dev/null; wait
cat /tmp/l1.res
exit $rc
'''.replace("TOKEN", TOKEN)



# The vhost run, with --api-sock /tmp/v.sock: a helper checks from L1 while
# the guest runs (its echo round trip last: the guest then ends), then the
# snapshot taken meanwhile is restored and checked the same way.
L1_VHOST = r"""
ip link set lo up
: >/tmp/l1.res
mkdir -p /tmp/s
H=/lab/bin/hearth
say() { echo "LAB $1" >>/tmp/l1.res; }
tapup() { # tap0 (Hearth creates it) configured, and the guest answering pings; else
          # which step failed: 1 no tap0, 2 configuring it, 3 no answer
  i=0; while ! ip link show tap0 >/dev/null 2>&1; do
    i=$((i+1)); [ $i -gt 600 ] && return 1; sleep 0.1
  done
  ip addr add 192.168.100.1/24 dev tap0 2>>/tmp/tap.err && ip link set tap0 up || return 2
  # The guest asks for its address (the first boot only: a restore has it).
  [ -n "$1" ] && { : >/tmp/udhcpd.leases; udhcpd -f /tmp/udhcpd.conf >/dev/null 2>&1 & }
  i=0; until ping -c 1 -W 1 192.168.100.2 >/dev/null 2>&1; do
    i=$((i+1)); [ $i -gt 120 ] && return 3
  done
  return 0
}
vfds() { ls -l /proc/$(pidof hearth)/fd 2>/dev/null | grep -c /dev/vhost-net; }
fetch() { # the guest's blob through its httpd: its sha256
  if timeout 60 wget -q -O /tmp/got http://192.168.100.2:8080/blob; then
    sha256sum /tmp/got | cut -d' ' -f1
  else echo wget-failed; fi
  rm -f /tmp/got
}
echo_rt() { r=$(echo TOKEN | nc -w 5 192.168.100.2 7777 2>/dev/null); echo "${r:-none}"; }
cat >/tmp/udhcpd.conf <<EOF
start 192.168.100.2
end 192.168.100.2
interface tap0
lease_file /tmp/udhcpd.leases
opt subnet 255.255.255.0
opt router 192.168.100.1
EOF
(
  tapup dhcp; t=$?
  [ $t = 0 ] && say host_tap=configured || say "host_tap=failed step=$t $(head -c 100 /tmp/tap.err)"
  ping -c 3 -W 2 192.168.100.2 >/dev/null 2>&1 && say host_ping=ok || say host_ping=fail
  say "host_vhost_fds=$(vfds)"
  say "host_sha=$(fetch)"
  # Pause (vhost stopped, its positions read back), snapshot, resume (vhost again).
  $H snapshot --api-sock /tmp/v.sock --snapshot /tmp/s/v.snap --mem /tmp/s/v.mem --resume \
    2>/tmp/sn.err
  say "snap=$? $(head -c 200 /tmp/sn.err | tr '\n' ' ')"
  say "snap_fds=$(vfds)"
  say "snap_sha=$(fetch)"
  # A rate limiter: the NIC leaves vhost and goes on in userspace.
  c=$(curl -s -o /tmp/resp -w '%{http_code}' --unix-socket /tmp/v.sock -X PATCH \
    -H 'Content-Type: application/json' http://localhost/network-interfaces/eth0 \
    -d '{"iface_id": "eth0", "rx_rate_limiter": {"bandwidth": {"size": 104857600, "refill_time": 100}}}')
  say "patch=$c $(head -c 200 /tmp/resp)"
  say "patch_fds=$(vfds)"
  say "patch_sha=$(fetch)"
  say "host_nc=$(echo_rt)"
) &
helper=$!
"$@"; rc=$?
kill $helper 2>/dev/null; killall udhcpd 2>/dev/null; wait
# The snapshot, restored on vhost: it goes on from the positions the pause read.
$H restore --snapshot /tmp/s/v.snap --mem /tmp/s/v.mem --net-override eth0=tap=tap0 \
  --resume </dev/null >/tmp/g2.out 2>/tmp/h2.err & pr=$!
tapup; t=$?
[ $t = 0 ] && say r_tap=configured || say "r_tap=failed step=$t $(head -c 100 /tmp/tap.err)"
say "r_fds=$(vfds)"
say "r_sha=$(fetch)"
say "r_nc=$(echo_rt)"
wait $pr; say "r_exit=$?"
sed 's/^/LAB H2 /' /tmp/h2.err | head -n 5 >>/tmp/l1.res
cat /tmp/l1.res
exit $rc
""".replace("TOKEN", TOKEN)


class WrappedRun(L.Run):
    """A Run whose VMM command runs inside an L1 shell script."""

    def __init__(self, name, script, **kw):
        super().__init__(name, **kw)
        self.script = script

    def argv(self, l1_initrd_path):
        return ["/bin/sh", "-c", self.script, "lab-wrap"] + super().argv(l1_initrd_path)


def add_tun_module():
    """L1 needs /dev/net/tun for the TAP runs, /dev/vhost-net for the vhost one."""
    for mod in ("tun", "vhost_net"):
        if not any(m == mod for m, _ in L.L1_MODULES):
            L.L1_MODULES = L.L1_MODULES + [(mod, "")]


def plan(lab):
    dhcp = os.path.join(L.LAB_DIR, "dhcp.sh")
    with open(dhcp, "w") as f:
        f.write(DHCP_SCRIPT)
    os.chmod(dhcp, 0o755)
    initrd = L.build_l2_initrd(lab.kernel, name="l2net",
                               modules=["virtio_mmio", "virtio_net"],
                               files={"/lab/dhcp.sh": dhcp}, extra_sh=L2_EXTRA)
    common = dict(vmm="hearth", cpus=2, memory=512, timeout=RUN_TIMEOUT, initrd=initrd)
    return [
        WrappedRun("net_user", L1_USER, cmdline=L.L2_CONSOLE + " panic=-1 lab.net=user",
                   extra_args=["--net", "user,host-loopback=on,hostfwd=tcp:5555-:7777"],
                   **common),
        # The default: L1's loopback httpd must be out of the guest's reach.
        WrappedRun("net_user_noloop", L1_USER, cmdline=L.L2_CONSOLE + " panic=-1 lab.net=user",
                   extra_args=["--net", "user,hostfwd=tcp:5555-:7777"], **common),
        WrappedRun("net_tap", L1_TAP, cmdline=L.L2_CONSOLE + " panic=-1 lab.net=tap",
                   extra_args=["--net", "tap=tap0,mtu=%d,vhost=off,queues=1" % TAP_MTU], **common),
        WrappedRun("net_vhost", L1_VHOST, cmdline=L.L2_CONSOLE + " panic=-1 lab.net=vhost",
                   extra_args=["--net", "tap=tap0,vhost=on", "--api-sock", "/tmp/v.sock",
                               "--snapshot-dir", "/tmp/s"],
                   **dict(common, memory=256, timeout=VHOST_TIMEOUT)),
        L.ShellRun("net_vhost_hp", "hearth", VH.script(L.L1_BIN + "/hearth", VH_GUEST),
                   timeout=RUN_TIMEOUT),
    ]


def guest_files():
    """{path in L1: path here} of the vhost_hp run's guest."""
    build = os.path.dirname(L.vmm_binary("hearth"))
    return {VH_GUEST: os.path.join(build, "tests", "guest", "vhostmem.elf")}


def vhost_checks(name, i):
    """The net_vhost run's own: vhost held, data intact, across pause, a limiter, a restore."""
    want = i.get("guest_sha")

    def fetched(key, when):
        got = i.get(key)
        return want is not None and got == want, \
            "%s: %s, L1 fetches 4 MiB from the guest's httpd, sha256 matches (%s vs %s)" % (
                name, when, (got or "-")[:16], (want or "-")[:16])
    yield i.get("queues") == "2", "%s: the guest sees 2 rx queues (got %s)" % (
        name, i.get("queues"))
    yield i.get("dhcp") == "ok" and i.get("ip") == "192.168.100.2/24", \
        "%s: udhcpc got its lease from L1's udhcpd through vhost-net (%s %s)" % (
            name, i.get("dhcp"), i.get("ip"))
    yield i.get("host_vhost_fds") == "2", \
        "%s: Hearth holds one /dev/vhost-net per queue pair (2; got %s)" % (
            name, i.get("host_vhost_fds"))
    yield fetched("host_sha", "on vhost")
    yield (i.get("snap") or "").split(" ")[0] == "0", \
        "%s: hearth snapshot --resume exits 0 (got %s)" % (name, i.get("snap"))
    yield i.get("snap_fds") == "2", "%s: after the snapshot's pause and resume, still on " \
        "vhost (%s fds)" % (name, i.get("snap_fds"))
    yield fetched("snap_sha", "after the snapshot")
    yield (i.get("patch") or "").split(" ")[0] == "204", \
        "%s: PATCH rx_rate_limiter is 204 (got %s)" % (name, i.get("patch"))
    yield i.get("patch_fds") == "0", "%s: with a rate limiter the NIC has left vhost (%s " \
        "vhost-net fds)" % (name, i.get("patch_fds"))
    yield fetched("patch_sha", "in userspace after the limiter")
    yield i.get("r_tap") == "configured", "%s: the restore brings tap0 back, the guest " \
        "answers pings" % name
    yield i.get("r_fds") == "2", "%s: the restored NIC is on vhost again (%s fds)" % (
        name, i.get("r_fds"))
    yield fetched("r_sha", "restored")
    yield i.get("r_nc") == TOKEN, "%s: restored, the echo round trip (got %s)" % (
        name, i.get("r_nc"))
    yield i.get("r_exit") == "0", "%s: the restored VM ends with exit 0 (got %s)" % (
        name, i.get("r_exit"))


def checks(name, r):
    """Yields (ok, description)."""
    if r is None or not r.begun:
        yield False, "%s: run started" % name
        return
    i = r.info
    if name == "net_vhost_hp":
        yield from VH.checks(name, i)
        return
    yield i.get("nic") == "yes", "%s: guest has eth0 (virtio_net bound)" % name
    yield i.get("mac", "").startswith("02:48:52:"), \
        "%s: default MAC 02:48:52:... (got %s)" % (name, i.get("mac"))
    # The vhost run's TAP NIC has no mtu: the guest keeps Ethernet's 1500.
    want_mtu = str(TAP_MTU if name == "net_tap" else
                   USER_MTU if name.startswith("net_user") else 1500)
    yield i.get("mtu") == want_mtu, "%s: the guest's eth0 has the offered MTU %s (got %s)" % (
        name, want_mtu, i.get("mtu"))
    if name.startswith("net_user"):
        yield i.get("dhcp") == "ok", "%s: udhcpc got a lease" % name
        yield i.get("ip") == "10.0.2.15/24", "%s: guest address 10.0.2.15/24 (got %s)" % (
            name, i.get("ip"))
        yield i.get("gw") == "10.0.2.2", "%s: default route via 10.0.2.2 (got %s)" % (
            name, i.get("gw"))
        yield i.get("dns") == "10.0.2.3", "%s: DNS 10.0.2.3 (got %s)" % (name, i.get("dns"))
        want, got = i.get("host_sha"), i.get("sha")
        if name == "net_user":
            yield want is not None and got == want, \
                "%s: wget http://10.0.2.2:8080/blob sha256 matches L1's (%s vs %s)" % (
                    name, (got or "-")[:16], (want or "-")[:16])
        else:
            yield want is not None and got == "wget-failed", \
                "%s: L1's loopback httpd is out of reach by default (wget: %s)" % (
                    name, (got or "-")[:16])
        yield i.get("host_fwd") == TOKEN, "%s: hostfwd tcp:5555-:7777 echo round trip (got %s)" % (
            name, i.get("host_fwd"))
    else:
        yield i.get("host_tap") == "configured", "%s: L1 configured tap0 192.168.100.1/24" % name
        yield i.get("host_ping") == "ok", "%s: L1 pings the guest 192.168.100.2" % name
        yield i.get("host_nc") == TOKEN, "%s: TCP echo round trip with busybox nc (got %s)" % (
            name, i.get("host_nc"))
        if name == "net_vhost":
            yield from vhost_checks(name, i)
        else:
            yield i.get("queues") == "1", "%s: queues=1: the guest sees 1 rx queue (got %s)" % (
                name, i.get("queues"))
    yield r.ended and r.rc == 0, "%s: VMM exit code 0 (got %s)" % (name, r.rc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stream", action="store_true", help="stream L1's console to stderr")
    a = ap.parse_args()
    try:
        add_tun_module()
        lab = L.Lab(stream=a.stream or None)
        runs = plan(lab)
        # curl for the vhost run's PATCH, and its libcurl for hearth snapshot.
        res = lab.run_plan(runs, tag="net", binaries={"/bin/curl": shutil.which("curl")},
                           files=guest_files())
    except L.LabError as e:
        print("LAB FAILURE: %s" % e)
        return 3
    if not res.ok:
        print(res.failure_line())
        return 3
    if res.retry_line():
        print(res.retry_line())
    passed = failed = 0
    for run in runs:
        r = res.runs.get(run.name)
        bad = False
        for ok, desc in checks(run.name, r):
            print("%s %s" % ("PASS" if ok else "FAIL", desc))
            passed += ok
            failed += not ok
            bad |= not ok
        if bad and r is not None:
            print("  log excerpt for %s (full log: %s):" % (run.name, res.log))
            for line in r.guest_lines[-30:] + ["(stderr:)"] + r.stderr_lines[-15:]:
                print("    " + line)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
