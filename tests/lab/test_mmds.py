#!/usr/bin/env python3
"""Lab test of the MMDS: a stock kernel reads its metadata over the NIC, V2
with a session token, in ONE L1 boot.

    tests/lab/test_mmds.py [--hearth PATH] [--stream] [--only mmds_tap,mmds_user]

Each run: hearth serve; boot-source, machine-config, one NIC, PUT
/mmds/config (V2, that NIC) and PUT /mmds by the API (curl in L1), then
InstanceStart. The guest gives eth0 an address outside 169.254.0.0/16,
routes 169.254.169.254 to it (`ip route add 169.254.169.254 dev eth0`, as
Firecracker's guide says) and with busybox nc: a GET without a token (V2:
401), PUT /latest/api/token with a TTL (200, a token), the GET with it (200,
the data); then busybox wget with the token's header.

  mmds_tap   a TAP NIC (host_dev_name tap0, left down in L1: nothing the
             guest sends the MMDS reaches the TAP), guest 172.16.0.2.
  mmds_user  a user-mode NIC (Hearth's "backend": "user"), guest 10.0.2.15.

Hearth runs with its sandbox and seccomp filters on (the defaults). Prints
one line per check and `N passed, N failed`; exit 0 all passed, 1 a check
failed, 3 lab failure (tests/lab/README.md).
"""
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402
import test_api as A  # noqa: E402

RUN_TIMEOUT = 300
AMI = "ami-lab-42"
HOSTNAME = "hearth-lab"

# In L2, before "LAB ready": lab.mmds=tap|user picks the guest's address.
L2_SCRIPT = r'''
mode=
for w in $(cat /proc/cmdline); do case "$w" in lab.mmds=*) mode=${w#lab.mmds=} ;; esac; done
if [ -n "$mode" ]; then
  # The kernel's own lines ("eth0: link becomes ready", printed late) share
  # the console with the LAB lines and once cut into one: keep them off it.
  dmesg -n 1 2>/dev/null
  ip link set lo up
  i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  [ -e /sys/class/net/eth0 ] && echo "LAB nic=yes" || echo "LAB nic=no"
  if [ "$mode" = tap ]; then addr=172.16.0.2/24; else addr=10.0.2.15/24; fi
  ip addr add $addr dev eth0
  ip link set eth0 up
  ip route add 169.254.169.254 dev eth0 && echo "LAB route=yes"
  # One HTTP/1.0 request with busybox nc: the answer, CRs dropped, in /tmp/r.
  req() {
    { printf '%s %s HTTP/1.0\r\nHost: 169.254.169.254\r\n' "$1" "$2"
      [ -n "$3" ] && printf '%s\r\n' "$3"
      printf '\r\n'; } | timeout 30 nc -w 10 169.254.169.254 80 | tr -d '\r' >/tmp/r
  }
  st() { head -n 1 /tmp/r | cut -d' ' -f2; }
  bd() { sed '1,/^$/d' /tmp/r; }
  req GET /latest/meta-data/ami-id
  echo "LAB notoken_status=$(st)"
  req PUT /latest/api/token "X-metadata-token-ttl-seconds: 60"
  echo "LAB token_status=$(st)"
  tok=$(bd)
  echo "LAB token_len=${#tok}"
  req GET /latest/meta-data/ami-id "X-metadata-token: $tok"
  echo "LAB data_status=$(st)"
  echo "LAB data=$(bd)"
  req GET /latest/meta-data/ami-id "X-metadata-token: not-$tok"
  echo "LAB badtoken_status=$(st)"
  if timeout 30 wget -q -O /tmp/w --header "X-metadata-token: $tok" \
       http://169.254.169.254/latest/meta-data/hostname; then
    echo "LAB wget=$(cat /tmp/w)"
  else
    echo "LAB wget=failed"
  fi
fi
'''

NIC = {
    "tap": '{"iface_id": "eth0", "host_dev_name": "tap0"}',
    "user": '{"iface_id": "eth0", "backend": "user"}',
}

RUN = A.PRELUDE + r'''
$H serve --api-sock $S </dev/null >/tmp/g.out 2>/tmp/h.err & hp=$!
waitsock
echo "API boot_source=$(api PUT /boot-source '{"kernel_image_path": "@KERNEL@", "initrd_path": "@INITRD@", "boot_args": "@CMDLINE@ lab.mmds=@MODE@"}')"
echo "API machine=$(api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256}')"
echo "API nic=$(api PUT /network-interfaces/eth0 '@NIC@') $(cat /tmp/resp)"
echo "API mmds_config=$(api PUT /mmds/config '{"network_interfaces": ["eth0"], "version": "V2"}') $(cat /tmp/resp)"
echo "API mmds_put=$(api PUT /mmds '{"latest": {"meta-data": {"ami-id": "@AMI@", "hostname": "@HOST@"}}}') $(cat /tmp/resp)"
echo "API start=$(api PUT /actions '{"action_type": "InstanceStart"}') $(cat /tmp/resp)"
waitfor '^LAB ready' /tmp/g.out 1800 && echo "API guest_ready=yes"
# The guest powers off: Hearth ends by itself.
n=0; while kill -0 $hp 2>/dev/null && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done
finish $hp
'''


def script(mode):
    return (A.script(RUN).replace("@MODE@", mode).replace("@NIC@", NIC[mode])
            .replace("@AMI@", AMI).replace("@HOST@", HOSTNAME))


def checks(r):
    n, a, i = r.name, A.api_info(r), r.info
    for k in ("boot_source", "machine"):
        yield a.get(k) == "204", "%s: PUT %s is 204 (got %s)" % (n, k, a.get(k))
    for k in ("nic", "mmds_config", "mmds_put", "start"):
        yield (a.get(k) or "").startswith("204"), "%s: %s is 204 (got %s)" % (n, k, a.get(k))
    yield i.get("nic") == "yes" and i.get("route") == "yes", \
        "%s: guest has eth0 and a route to 169.254.169.254" % n
    yield i.get("notoken_status") == "401", \
        "%s: V2: a GET without a token is 401 (got %s)" % (n, i.get("notoken_status"))
    yield i.get("token_status") == "200", \
        "%s: PUT /latest/api/token is 200 (got %s)" % (n, i.get("token_status"))
    yield (i.get("token_len") or "0") != "0", \
        "%s: a token came back (%s characters)" % (n, i.get("token_len"))
    yield i.get("data_status") == "200" and i.get("data") == AMI, \
        "%s: GET with the token reads the data (got %s %s)" % (
            n, i.get("data_status"), i.get("data"))
    yield i.get("badtoken_status") == "401", \
        "%s: a wrong token is 401 (got %s)" % (n, i.get("badtoken_status"))
    yield i.get("wget") == HOSTNAME, "%s: busybox wget with the token reads hostname (got %s)" % (
        n, i.get("wget"))
    yield a.get("guest_ready") == "yes", "%s: the guest ran to its end" % n
    yield a.get("exit") == "0", "%s: the guest powered off, Hearth exit code 0 (got %s)" % (
        n, a.get("exit"))
    trapped = [l for l in r.stderr_lines if "seccomp" in l or "sandbox" in l]
    yield not trapped, "%s: no seccomp or sandbox complaint (got %s)" % (n, trapped[:2])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hearth", help="Hearth binary (default build/hearth, or $HEARTH)")
    ap.add_argument("--stream", action="store_true", help="stream L1's console to stderr")
    ap.add_argument("--only", help="comma-separated runs (mmds_tap, mmds_user)")
    a = ap.parse_args()
    if a.hearth:
        os.environ["HEARTH"] = os.path.abspath(a.hearth)
    curl = shutil.which("curl")
    if not curl:
        print("FAIL curl is not installed (scripts/deps.sh build installs it)")
        print("0 passed, 1 failed")
        return 1
    names = ["mmds_tap", "mmds_user"]
    if a.only:
        names = [x for x in names if x in a.only.split(",")]
    try:
        if not any(m == "tun" for m, _ in L.L1_MODULES):
            L.L1_MODULES = L.L1_MODULES + [("tun", "")]
        lab = L.Lab(stream=a.stream or None)
        l2 = L.build_l2_initrd(lab.kernel, name="l2mmds", modules=["virtio_mmio", "virtio_net"],
                               extra_sh=L2_SCRIPT)
        runs = []
        for name in names:
            run = L.ShellRun(name, "hearth", script(name.split("_")[1]), timeout=RUN_TIMEOUT)
            run.initrd = l2
            runs.append(run)
        res = lab.run_plan(runs, tag="mmds", binaries={"/bin/curl": curl})
    except L.LabError as e:
        print("LAB FAILURE: %s" % e)
        return 3
    return L.report(res, [(name, checks) for name in names])


if __name__ == "__main__":
    sys.exit(main())
