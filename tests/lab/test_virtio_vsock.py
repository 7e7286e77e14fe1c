#!/usr/bin/env python3
"""Lab test for virtio-vsock (vhost_vsock in L1, Hearth --pci --vsock cid=3, L2
guest: on virtio-pci, where vhost writes the MSI-X vector's eventfd itself),
then hybrid vsock (Hearth --vsock cid=4,uds=PATH: Unix sockets, no vhost, on
virtio-mmio).

    tests/lab/test_virtio_vsock.py [--hearth PATH] [--stream]

L1 loads vhost_vsock and runs a host-side script next to the Hearth run; L2
loads the virtio vsock transport and serves/uses socat (Debian's, copied
with its libraries).  Checks: host->guest connect with data both ways,
1 MiB each way with sha256, guest->host connect, a second VM asking for
the same CID is refused, and a driver unbind/bind (device reset) followed
by a new connection.  Hybrid run: a host client on uds_path sends
"CONNECT 5000", reads "OK <port>" and echoes a line with a guest listener;
the guest connects to CID 2 port 5001 and reaches a listener on
uds_path_5001 in L1. Reset run (issue 62, F4): a vhost-vsock VM snapshotted,
restored (its base), answering over vsock (vhost writes its rings and
buffers where the dirty log cannot see), then PUT /reset twice, answering
after each: the old code refused every such reset ("device 'vsock'
refused its state: invalid"), checking the base's queue positions against
rings vhost had moved.

Prints one line per check and `N passed, N failed`.  Exit 0 all passed,
1 a check failed, 3 lab failure.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab as L  # noqa: E402

CID = 3
HV_CID = 4
# In a directory Hearth makes itself: the only kind the sandbox keeps for the
# guest's connections to uds_path_PORT (src/sandbox/confine.h).
HV_DIR = "/tmp/hv"
HV_SOCK = HV_DIR + "/v.sock"
RUN_TIMEOUT = 300
WORK = os.path.join(L.REPO, "build", "lab-vsock")  # socat and its libraries (a cache)
L1_VSOCK_MODULES = ["vhost_vsock"]
L2_VSOCK_MODULES = ["virtio_mmio", "virtio_pci", "vmw_vsock_virtio_transport"]
LIBDIR = "/lib/x86_64-linux-gnu"

# L2: runs before "LAB ready"; each listener is one-shot and bounded by timeout.
GUEST_SH = r'''
S=/usr/bin/socat
# Kernel messages from the insmods below, printed late from another CPU,
# once cut a LAB line short on the shared console (the guest lost
# "LAB vsock_" while Hearth's UART counted no drop): keep them off it.
dmesg -n 1 2>/dev/null
for m in $(cat /lab/vsock/order); do insmod /lab/vsock/$m.ko || echo "LAB vsock_insmod_failed=$m"; done
[ -e /dev/vsock ] && echo "LAB vsock_dev=yes" || echo "LAB vsock_dev=no"
if grep -q lab.vsock=reset /proc/cmdline; then
timeout 600 $S VSOCK-LISTEN:1238,fork,reuseaddr SYSTEM:'echo pong'
elif grep -q lab.vsock=hybrid /proc/cmdline; then
timeout 120 $S VSOCK-LISTEN:5000 SYSTEM:'echo guest-hello; read l; echo "echo:$l"'
echo "LAB hv_echo_rc=$?"
echo "LAB hv_hostreply=$(echo guest-ping | timeout 30 $S -t 10 - VSOCK-CONNECT:2:5001)"
else
timeout 120 $S VSOCK-LISTEN:1234 SYSTEM:'echo guest-hello; read l; echo "echo:$l"'
echo "LAB vsock_echo_rc=$?"
timeout 60 $S -u VSOCK-LISTEN:1235 CREATE:/tmp/in
echo "LAB vsock_in_sha=$(sha256sum </tmp/in | cut -d' ' -f1) $(wc -c </tmp/in)"
head -c 1048576 /dev/urandom >/tmp/out
echo "LAB vsock_out_sha=$(sha256sum </tmp/out | cut -d' ' -f1) $(wc -c </tmp/out)"
timeout 60 $S -u FILE:/tmp/out VSOCK-LISTEN:1236
echo "LAB vsock_hostreply=$(echo guest-ping | timeout 30 $S -t 10 - VSOCK-CONNECT:2:5000)"
d=/sys/bus/virtio/drivers/vmw_vsock_virtio_transport
dev=$(basename $(ls -d $d/virtio* 2>/dev/null | head -1))
echo "$dev" >$d/unbind && echo "$dev" >$d/bind && echo "LAB vsock_rebind=ok" || echo "LAB vsock_rebind=failed"
timeout 60 $S VSOCK-LISTEN:1237 SYSTEM:'echo after-reset'
echo "LAB vsock_reset_rc=$?"
fi
'''

# L1: next to the Hearth run.  Retries connects while the guest boots.
HOST_SH = r'''#!/bin/sh
S=/lab/bin/socat
say() { echo "VSOCK-HOST $*"; }
[ -c /dev/vhost-vsock ] && say "dev=yes" || say "dev=no"
$S VSOCK-LISTEN:5000 SYSTEM:'read l; echo "host-saw:$l"' 2>/dev/null &
try() { # tries seconds, then the command
  n=$1; shift; i=0
  while [ $i -lt $n ]; do "$@" 2>/dev/null && return 0; i=$((i+1)); sleep 1; done
  return 1
}
echo1() { out=$( (echo host-ping; sleep 2) | timeout 20 $S -t 5 - VSOCK-CONNECT:%(cid)d:1234) && [ -n "$out" ]; }
try 240 echo1; say "echo=$(echo $out | tr ' ' '+')"
# The CID is taken now: a second VM asking for it must be refused up front.
timeout 30 /lab/bin/hearth run --kernel /lab/l2/vmlinuz --initrd /lab/l2/initrd0.cpio \
  --memory 256 --vsock cid=%(cid)d >/tmp/dup.out 2>&1; rc=$?
say "dup_rc=$rc dup_msg=$(head -c 300 /tmp/dup.out | tr '\n' ' ')"
head -c 1048576 /dev/urandom >/tmp/blob
say "in_sha=$(sha256sum </tmp/blob | cut -d' ' -f1) $(wc -c </tmp/blob)"
try 60 timeout 60 $S -u FILE:/tmp/blob VSOCK-CONNECT:%(cid)d:1235
get() { rm -f /tmp/got; timeout 60 $S -u VSOCK-CONNECT:%(cid)d:1236 CREATE:/tmp/got && [ -s /tmp/got ]; }
try 60 get; say "out_sha=$(sha256sum </tmp/got | cut -d' ' -f1) $(wc -c </tmp/got)"
reset1() { out=$(timeout 20 $S -u VSOCK-CONNECT:%(cid)d:1237 -) && [ -n "$out" ]; }
try 90 reset1; say "reset=$out"
say "done"
# Hybrid vsock: the next Hearth run listens on %(hv)s; no vhost involved.
# The directory must be Hearth's: it is gone now, and the listener waits for it.
rm -rf %(hvdir)s
( i=0; while [ ! -d %(hvdir)s ] && [ $i -lt 600 ]; do sleep 0.5; i=$((i+1)); done
  $S UNIX-LISTEN:%(hv)s_5001 SYSTEM:'read l; echo "host-saw:$l"' 2>/dev/null ) &
hv1() { out=$( (echo "CONNECT 5000"; echo host-ping; sleep 2) | timeout 20 $S -t 5 - UNIX-CONNECT:%(hv)s) \
        && echo "$out" | grep -q guest-hello; }
try 300 hv1; say "hv_echo=$(echo $out | tr ' ' '+')"
say "hv_done"
''' % dict(cid=CID, hv=HV_SOCK, hvdir=HV_DIR)


# L1: the reset run, whole (a VM to snapshot, its restore, the resets, over the API).
RESET_CID = 5
RESET_SH = L.SH_API_AT + r'''
S=/lab/bin/socat; H=/lab/bin/hearth; d=/tmp/vr
mkdir -p $d/snap
say() { echo "VRESET $*"; }
try() { n=$1; shift; i=0
  while [ $i -lt $n ]; do "$@" 2>/dev/null && return 0; i=$((i+1)); sleep 1; done; return 1; }
pong() { out=$(timeout 20 $S -t 5 - VSOCK-CONNECT:%(cid)d:1238 </dev/null) && [ "$out" = pong ]; }
$H run --kernel /lab/l2/vmlinuz --initrd @L2_INITRD@ --memory 256 --cpus 1 \
  --cmdline "console=ttyS0 panic=-1 lab.wait=3 lab.vsock=reset" --vsock cid=%(cid)d \
  --api-sock $d/a.sock --snapshot-dir $d/snap >$d/a.out 2>&1 &
a=$!
try 240 pong; say "booted=$out"
say "pause=$(api $d/a.sock PATCH /vm '{"state": "Paused"}')"
say "snapshot=$(api $d/a.sock PUT /snapshot/create '{"snapshot_path": "'$d'/snap/s", "mem_file_path": "'$d'/snap/m"}') $(head -c 200 /tmp/resp)"
kill $a; wait $a
$H restore --snapshot $d/snap/s --mem $d/snap/m --vsock-cid %(cid)d --resume \
  --api-sock $d/b.sock >$d/b.out 2>$d/b.err &
b=$!
try 120 pong; say "restored=$out"
for k in 1 2; do
  say "reset$k=$(api $d/b.sock PUT /reset '{}') $(head -c 200 /tmp/resp | tr -d '\n')"
  out=; try 120 pong; say "after$k=$out"
done
kill $b; wait $b
# Hearth's own stderr: its stdout is the guest's console, where a guest shell's
# "write error" (a connection the reset closed under it) is the guest's.
say "stderr=$(grep -i -E 'error|refused' $d/b.err | head -c 300 | tr '\n' ' ')"
say "done=1"
''' % dict(cid=RESET_CID)


def get_socat():
    """Debian's socat plus libwrap0 (not on this host), extracted under WORK."""
    root = os.path.join(WORK, "root")
    socat = os.path.join(root, "usr", "bin", "socat")
    if not os.path.exists(socat):
        dl = os.path.join(WORK, "dl")
        shutil.rmtree(dl, ignore_errors=True)
        os.makedirs(dl)
        for pkg in ("socat", "libwrap0"):
            L.sh(["apt-get", "download", pkg], cwd=dl, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL)
        for deb in os.listdir(dl):
            L.sh(["dpkg-deb", "-x", os.path.join(dl, deb), root])
    libpath = os.path.join(root, "usr", "lib", "x86_64-linux-gnu")
    env = dict(os.environ, LD_LIBRARY_PATH=libpath)
    out = subprocess.run(["ldd", socat], stdout=subprocess.PIPE, text=True, env=env).stdout
    files = {}
    for line in out.splitlines():
        if "not found" in line:
            raise L.LabError("socat: " + line.strip())
        m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
        if not m:
            continue
        lib = m.group(1)
        # Our extracted libs go where the loader searches; the rest keep their path.
        dst = LIBDIR + "/" + os.path.basename(lib) if lib.startswith(root) else lib
        files[dst] = lib
    return socat, files


def build_overlay(kernel, socat, libs):
    """An extra cpio appended to L1's: the kernel unpacks both, ours last."""
    t = L.Tree(os.path.join(L.work_dir(), "stage-overlay"))
    t.write_modules(kernel, L.L1_MODULES + [(m, "") for m in L1_VSOCK_MODULES])
    t.copy(socat, L.L1_BIN + "/socat", 0o755)
    for dst, src in libs.items():
        t.copy(src, dst, 0o755)
    t.write("/lab/vsock-host.sh", HOST_SH, 0o755)
    # lib.sh is sourced just before runs.sh: start the host side there.
    t.write("/lab/lib.sh", L.L1_LIB + "\n/lab/vsock-host.sh </dev/null &\n")
    return t.pack(os.path.join(L.work_dir(), "overlay.cpio"))


def build_l2(kernel, socat, libs):
    files = {"/usr/bin/socat": socat}
    files.update(libs)
    mods = kernel.modules_with_deps(L2_VSOCK_MODULES)
    for p in mods:
        files["/lab/vsock/" + os.path.basename(p)] = p
    order = os.path.join(L.work_dir(), "l2-order")
    with open(order, "w") as f:
        f.write(" ".join(os.path.basename(p)[:-3] for p in mods) + "\n")
    files["/lab/vsock/order"] = order
    return L.build_l2_initrd(kernel, name="l2vsock", files=files, extra_sh=GUEST_SH)


def checks(result):
    r = result.runs.get("vsock")
    host = {}
    for line in open(result.log, errors="replace").read().splitlines():
        m = re.match(r"^VSOCK-HOST (\w+)=(.*)$", line.replace("\r", ""))
        if m and m.group(1) not in host:
            host[m.group(1)] = m.group(2).strip()
    info = r.info if r else {}

    def c(ok, what):
        return bool(ok), what

    yield c(host.get("dev") == "yes", "L1: /dev/vhost-vsock after loading vhost_vsock (got %s)"
            % host.get("dev"))
    yield c(r is not None and r.begun, "vsock: Hearth run started (--pci: virtio-pci, MSI-X)")
    yield c(info.get("vsock_dev") == "yes", "L2: /dev/vsock exists (got %s)" % info.get("vsock_dev"))
    yield c(host.get("echo") == "guest-hello+echo:host-ping",
            "host->guest connect to CID %d: guest sends, echoes the host's line (got %r)"
            % (CID, host.get("echo")))
    dup = host.get("dup_rc", "")
    yield c(dup.startswith("2 ") and "is in use" in dup,
            "second Hearth with the same CID exits 2 saying it is in use (got %r)" % dup[:200])
    hin, gin = host.get("in_sha"), info.get("vsock_in_sha")
    yield c(hin and hin == gin and hin.endswith(" 1048576"),
            "1 MiB host->guest arrives intact (host %s, guest %s)" % (hin, gin))
    hout, gout = host.get("out_sha"), info.get("vsock_out_sha")
    yield c(gout and hout == gout and gout.endswith(" 1048576"),
            "1 MiB guest->host arrives intact (guest %s, host %s)" % (gout, hout))
    yield c(info.get("vsock_hostreply") == "host-saw:guest-ping",
            "guest->host connect to CID 2 with a reply (got %r)" % info.get("vsock_hostreply"))
    yield c(info.get("vsock_rebind") == "ok", "guest unbinds and rebinds the driver (device reset)")
    yield c(host.get("reset") == "after-reset",
            "connection after the reset (got %r)" % host.get("reset"))
    yield c(r is not None and r.ended and r.rc == 0,
            "Hearth exits 0 (got %s)" % (r.rc if r else None))
    errs = [l for l in (r.stderr_lines if r else []) if "vsock" in l or "error" in l]
    yield c(not errs, "no vsock errors on Hearth's stderr (%s)" % "; ".join(errs[:3]))
    h = result.runs.get("hybrid")
    hinfo = h.info if h else {}
    yield c(h is not None and h.begun, "hybrid: Hearth run with --vsock cid=%d,uds=%s started"
            % (HV_CID, HV_SOCK))
    echo = host.get("hv_echo", "")
    yield c(re.match(r"^OK\+\d+\+guest-hello\+echo:host-ping$", echo),
            "hybrid host->guest: CONNECT 5000, OK <port>, guest's line and its echo (got %r)"
            % echo)
    yield c(hinfo.get("hv_hostreply") == "host-saw:guest-ping",
            "hybrid guest->host: CID 2 port 5001 reaches %s_5001 in L1 (got %r)"
            % (HV_SOCK, hinfo.get("hv_hostreply")))
    yield c(h is not None and h.ended and h.rc == 0,
            "hybrid: Hearth exits 0 (got %s)" % (h.rc if h else None))
    errs = [l for l in (h.stderr_lines if h else []) if "vsock" in l or "error" in l]
    yield c(not errs, "hybrid: no vsock errors on Hearth's stderr (%s)" % "; ".join(errs[:3]))
    rs = {}
    v = result.runs.get("vreset")
    for line in (v.guest_lines if v else []):
        m = re.match(r"^VRESET (\w+)=(.*)$", line)
        if m:
            rs[m.group(1)] = m.group(2).strip()
    yield c(rs.get("booted") == "pong" and rs.get("pause") == "204" and
            rs.get("snapshot", "").startswith("204"),
            "reset: a vhost-vsock VM answers, is paused and snapshotted (got %r %r %r)"
            % (rs.get("booted"), rs.get("pause"), rs.get("snapshot")))
    yield c(rs.get("restored") == "pong", "reset: restored from it, it answers over vsock "
            "(vhost writes its rings) (got %r)" % rs.get("restored"))
    for k in ("1", "2"):
        got = rs.get("reset" + k, "")
        yield c(got.startswith("200 ") and '"pages"' in got,
                "reset: PUT /reset %s of the vhost-vsock VM is taken (got %r)" % (k, got[:200]))
        yield c(rs.get("after" + k) == "pong", "reset: after reset %s it answers again, from "
                "its base (got %r)" % (k, rs.get("after" + k)))
    yield c(rs.get("done") == "1" and not rs.get("stderr"),
            "reset: no error on the restored Hearth's stderr (%r)" % rs.get("stderr"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--hearth", help="Hearth binary (default build/hearth, or $HEARTH)")
    a = ap.parse_args()
    if a.hearth:
        os.environ["HEARTH"] = os.path.abspath(a.hearth)
    try:
        lab = L.Lab(stream=a.stream or None)
        os.makedirs(WORK, exist_ok=True)
        socat, libs = get_socat()
        l2 = build_l2(lab.kernel, socat, libs)
        run = L.Run("vsock", vmm="hearth", cpus=2, memory=512, timeout=RUN_TIMEOUT, initrd=l2,
                    cmdline=L.L2_CONSOLE + " panic=-1 lab.wait=3",
                    extra_args=["--pci", "--vsock", "cid=%d" % CID])
        hybrid = L.Run("hybrid", vmm="hearth", cpus=2, memory=512, timeout=RUN_TIMEOUT,
                       initrd=l2, cmdline=L.L2_CONSOLE + " panic=-1 lab.wait=3 lab.vsock=hybrid",
                       extra_args=["--vsock", "cid=%d,uds=%s" % (HV_CID, HV_SOCK)])
        vreset = L.ShellRun("vreset", "hearth", RESET_SH, timeout=RUN_TIMEOUT)
        base = L.build_l1_initrd(lab.kernel, [run, hybrid, vreset], l2,
                                 binaries={"/bin/curl": shutil.which("curl")})
        overlay = build_overlay(lab.kernel, socat, libs)
        l1 = os.path.join(L.work_dir(), "l1-vsock.cpio")
        with open(l1, "wb") as out:
            for part in (base, overlay):
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out)
        result = lab.boot_with_retry(l1, "vsock", 300 + 3 * RUN_TIMEOUT + 30,
                                     RUN_TIMEOUT + 180, retries=2, planned=3)
    except L.LabError as e:
        print("LAB FAILURE: %s" % e)
        return 3
    if result.failure:
        print(result.failure_line())
        return 3
    if result.retry_line():
        print(result.retry_line())
    passed = failed = 0
    for ok, what in checks(result):
        print("%s %s" % ("PASS" if ok else "FAIL", what))
        passed += ok
        failed += not ok
    print("%d passed, %d failed" % (passed, failed))
    for name in ("vsock", "hybrid"):
        if failed and name in result.runs:
            print(L.fmt_run(result.runs[name]))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
