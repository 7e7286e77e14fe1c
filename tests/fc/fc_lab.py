#!/usr/bin/env python3
"""Firecracker's own guest cases against Hearth, in the lab (issue 48, item 6).

    python3 tests/fc/fc_lab.py [--fc /tmp/fc] [--per-file 1] [--files SUBSTR,...]
                            [--case NODEID ...] [--list] [--batch N]

The host's /dev/kvm cannot boot a stock kernel (tests/lab/README.md), so this
runs tests/fc/run.sh, unmodified Firecracker tests and all, inside the lab's
L1 (Debian's cloud kernel under QEMU TCG with emulated SVM), where Hearth
boots the guest artifacts of tests/fc/artifacts.sh as L2:

  - L1 sees this host's root read-only over virtio-fs (QEMU 7.2's
    /usr/lib/qemu/virtiofsd, source=/), under an overlay with a tmpfs upper
    layer, and chroots into it: the same python3, pytest packages, ssh,
    ip, Firecracker tree and build/hearth as tests/fc/run.sh uses here;
  - a scratch disk (virtio-blk, ext4 made here with the artifacts in it) is
    /srv in the chroot: the framework's jails, FC_WORK and the artifacts
    (hard-linked into each jail, as in Firecracker's CI);
  - the cases: one per test file that has guest cases (--per-file), chosen
    from a collection here (fc_guestlist.py); each batch of --batch cases is
    one run.sh in L1 (a lab retry then redoes only the batches left).

Results: each batch's summary, and per case its outcome and first failure
line, printed at the end; the run.sh outputs are copied from the scratch
disk (debugfs, no mount) to build/fc-artifacts/lab-out/<batch>/.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))
import lab as L  # noqa: E402

CACHE = os.path.join(REPO, "build", "fc-artifacts")
ART = os.path.join(CACHE, "out")
VIRTIOFSD = "/usr/lib/qemu/virtiofsd"
L1_MEM_MB = 3072          # l1.L1_QEMU_ARGS's -m: the memfd backend must match

# L1: mount the host (virtio-fs), overlay it, the scratch disk as /srv, and
# run run.sh in a chroot; then print the outcome lines this script reads.
SCRIPT = r'''
set -u
R=/fcroot
if [ ! -d $R/proc/self ]; then
  mkdir -p /hostro /ovl $R
  mount -t virtiofs host /hostro -o ro || { echo "FCLAB mount virtiofs failed"; exit 90; }
  mount -t tmpfs -o size=1500m tmpfs /ovl && mkdir -p /ovl/u /ovl/w
  mount -t overlay overlay -o lowerdir=/hostro,upperdir=/ovl/u,workdir=/ovl/w $R ||
    { echo "FCLAB overlay failed"; exit 91; }
  mount -t proc proc $R/proc
  mount -t sysfs sysfs $R/sys
  mount -t cgroup2 cgroup2 $R/sys/fs/cgroup 2>/dev/null
  mount -o bind /dev $R/dev
  mount -t devpts -o ptmxmode=0666,newinstance devpts $R/dev/pts 2>/dev/null
  mount -t tmpfs tmpfs $R/run
  mkdir -p $R/run/netns
  mount /dev/vda $R/srv || { echo "FCLAB scratch mount failed"; exit 92; }
  [ -c /dev/net/tun ] || echo "FCLAB no /dev/net/tun"
  # Firecracker's CI hosts run THP as madvise (test_huge_pages.py expects no
  # AnonHugePages for a VM without huge pages); Debian's kernel says always.
  echo madvise >/sys/kernel/mm/transparent_hugepage/enabled
  # Host tools the cases run that this host lacks, from Debian's packages,
  # unpacked into the overlay (nothing on the host changes)
  for d in @HOSTDEBS@; do chroot $R dpkg-deb -x "$d" / || echo "FCLAB host deb failed: $d"; done
  echo "FCLAB mounted $(cut -d' ' -f1 /proc/uptime)"
fi
read t0 _ </proc/uptime
chroot $R /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb \
  FC_WORK=/srv/hearth-fc-@BATCH@ FC_ARTIFACTS=/srv/fc-artifacts FC_CASE_TIMEOUT=@CASE_TMO@ \
  FC_RUN_TIMEOUT=@RUN_TMO@ HEARTH_BIN=@HEARTH@ \
  /bin/bash @REPO@/tests/fc/run.sh @FCTREE@ @ARGS@ > /tmp/fc-run.out 2>&1
rc=$?
read t1 _ </proc/uptime
echo "FCLAB run.sh rc=$rc seconds=$(awk "BEGIN{print $t1-$t0}")"
sed 's/^/FCLAB out /' /tmp/fc-run.out | tail -n 40
o=$R/srv/hearth-fc-@BATCH@/out
[ -f $o/failures.json ] && tr -d '\n' <$o/failures.json | head -c 60000 | sed 's/^/FCLAB failures /' && echo
j=$R/srv/hearth-fc-@BATCH@/tree/test_results/test-report.json
[ -f $j ] && tr -d '\n' <$j | sed 's/^/FCLAB report /' && echo
sync
'''


# Host-side tools Firecracker's cases run (iperf3 -c/-s in the VM's netns,
# socat for vsock, ping) that this Debian host lacks: unpacked in L1's overlay.
HOST_PKGS = ["iperf3", "libiperf0", "libsctp1", "socat", "iputils-ping"]


def host_debs():
    """The .deb of each HOST_PKGS package, fetched into build/fc-artifacts/debs."""
    d = os.path.join(CACHE, "debs")
    os.makedirs(d, exist_ok=True)
    out = []
    for p in HOST_PKGS:
        have = [f for f in sorted(os.listdir(d)) if f.startswith(p + "_") and f.endswith(".deb")]
        if not have:
            subprocess.run(["apt-get", "download", "-q", p], cwd=d, check=True,
                           stdout=subprocess.DEVNULL)
            have = [f for f in sorted(os.listdir(d)) if f.startswith(p + "_") and f.endswith(".deb")]
        out.append(os.path.join(d, have[0]))
    return out


def log(msg):
    print("fc-lab: " + msg, file=sys.stderr, flush=True)


def collect(fc_tree):
    """Guest cases by file, collected here with the real artifacts."""
    work = "/tmp/hearth-fc-lab-collect"   # outside any git tree (framework/properties.py)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "tree"))
    subprocess.run("tar -C %s --exclude=./.git -cf - . | tar -C %s -xf -" % (fc_tree, work + "/tree"),
                   shell=True, check=True)
    os.makedirs(os.path.join(work, "tree", "build"), exist_ok=True)
    with open(os.path.join(work, "tree", "build", "current_artifacts"), "w") as f:
        f.write(ART + "\n")
    out = os.path.join(work, "guest.txt")
    env = dict(os.environ, PYTHONPATH=HERE + ":" + os.path.join(HERE, "stubs"),
               PYTHONDONTWRITEBYTECODE="1")
    env.pop("AWS_EMF_NAMESPACE", None)
    r = subprocess.run(["/usr/bin/python3", "-m", "pytest", "-p", "fc_compat", "-p",
                        "fc_jsonreport", "-p", "fc_guestlist", "--fc-guestlist=" + out,
                        "--collect-only", "-q", "--continue-on-collection-errors",
                        "integration_tests"],
                       cwd=os.path.join(work, "tree", "tests"), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if not os.path.exists(out):
        sys.exit("fc-lab: collection failed:\n" + r.stdout[-3000:])
    by_file = OrderedDict()
    for line in open(out):
        nid = line.strip()
        if nid:
            by_file.setdefault(nid.split("::")[0], []).append(nid)
    return by_file


def guest_step_ids(path):
    """Cases a placeholder run of run.sh stopped at the guest step (they
    reached InstanceStart or SSH), kernel name taken out."""
    ids = set()
    if path and os.path.exists(path):
        for line in open(path, errors="replace"):
            m = re.match(r"^(\S+::\S+) SKIPPED \(hearth_fc\.GuestStep", line)
            if m:
                ids.add(re.sub(r"vmlinux-[0-9.]+", "K", m.group(1)))
    return ids


def pick(cases, stepped=frozenset()):
    """The first case of a file that a placeholder run stopped at the guest
    step (when such a run's log is given), preferring one without PCI
    (virtio-mmio is what most of Firecracker's cases run on) and without a
    snapshot restore."""
    def rank(c):
        return (re.sub(r"vmlinux-[0-9.]+", "K", c) not in stepped,
                "PCI_ON" in c, "restored" in c)
    return min(cases, key=rank)


def scratch_image(path, size_gb=12, hearth=None):
    """A fresh ext4 image with the artifacts in /fc-artifacts (hard links)
    and a copy of the Hearth binary in /hearth-bin: L1 reads the host's
    files live over virtio-fs, and a rebuild of build/hearth during a run
    gave L1 'Stale file handle' for it (seen 2026-11-27)."""
    stage = os.path.join(CACHE, "scratch-stage")
    shutil.rmtree(stage, ignore_errors=True)
    os.makedirs(os.path.join(stage, "fc-artifacts"))
    for n in os.listdir(ART):
        os.link(os.path.join(ART, n), os.path.join(stage, "fc-artifacts", n))
    if hearth:
        os.makedirs(os.path.join(stage, "hearth-bin"))
        shutil.copy2(hearth, os.path.join(stage, "hearth-bin", "hearth"))
    if os.path.exists(path):
        os.unlink(path)
    with open(path, "wb") as f:
        f.truncate(size_gb << 30)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-E", "root_owner=0:0", "-d", stage, path], check=True)
    shutil.rmtree(stage)


def start_virtiofsd(sock):
    if os.path.exists(sock):
        os.unlink(sock)
    logf = open(sock + ".log", "w")
    p = subprocess.Popen([VIRTIOFSD, "--socket-path=" + sock, "-o", "source=/",
                          "-o", "cache=auto", "-o", "sandbox=chroot", "-o", "no_posix_lock",
                          "-o", "no_xattr"], stdout=logf, stderr=subprocess.STDOUT)
    for _ in range(100):
        if os.path.exists(sock) or p.poll() is not None:
            break
        time.sleep(0.1)
    if p.poll() is not None or not os.path.exists(sock):
        sys.exit("fc-lab: virtiofsd did not start: " + open(sock + ".log").read()[-2000:])
    return p


def e_line(text):
    """A pytest longrepr's 'E   ' lines in one line (else its last line); for
    the framework's ChildProcessError, the command's tail and its stderr."""
    lines = (text or "").splitlines()
    e = [l[1:].strip() for l in lines if l.startswith("E ")]
    if not e:
        return lines[-1].strip() if lines else ""
    joined = " ".join(l for l in e if l)
    m = re.search(r"Command:\s*(.*?)\s*\[\d+\] stdout:(.*?)\[\d+\] stderr:(.*?)(Returned error code: \d+|$)",
                  joined)
    if e[0].startswith("ChildProcessError") and m:
        cmd = m.group(1)[-120:]
        return "ChildProcessError: ...%s -> stderr: %s %s" % (cmd, m.group(3).strip()[:150], m.group(4))
    return joined


def table(chosen, results):
    """Per chosen case: its outcome and its first failure's message, from
    each batch's test-report.json (fc_jsonreport's; per phase) and
    failures.json (hearth_fc's: 'machine' = could not run for want of
    something). Outcomes: passed; failed (the call failed); error (setup or
    teardown failed, the call did not fail); skipped; machine; not run
    (deselected by Firecracker's marker filter, or never reached)."""
    tests, fails = {}, {}
    for rr in results:
        for line in (rr.guest_lines if rr else []):
            for tag, into in (("FCLAB report ", tests), ("FCLAB failures ", fails)):
                if line.startswith(tag):
                    try:
                        d = json.loads(line[len(tag):])
                    except ValueError:
                        continue
                    for x in (d.get("tests", []) if isinstance(d, dict) else d):
                        into.setdefault(x["nodeid"], []).append(x)
    rows = []
    for c in chosen:
        t = (tests.get(c) or [None])[0]
        fl = fails.get(c, [])
        out, msg = "not run", ""
        if t:
            ph = {p: t[p] for p in ("setup", "call", "teardown") if isinstance(t.get(p), dict)}
            bad = [p for p in ("setup", "call", "teardown") if ph.get(p, {}).get("outcome") == "failed"]
            if any(x.get("outcome") == "machine" for x in fl):
                out = "machine"
            elif "call" in bad:
                out = "failed"
            elif bad:
                out = "error"
            elif any(v.get("outcome") == "skipped" for v in ph.values()):
                out = "skipped"
            else:
                out = "passed"
            if bad:
                msg = "%s: %s" % (bad[0], e_line(ph[bad[0]].get("longrepr", "")))
            elif out == "skipped":
                sk = [v for v in ph.values() if v.get("outcome") == "skipped"][0]
                msg = e_line(sk.get("longrepr", "")) or str(sk.get("longrepr", ""))
            if out == "machine" or (not msg and fl):
                msg = "%s: %s" % (fl[0].get("phase", "?"), " ".join(fl[0]["message"].split()))
        rows.append({"case": c, "outcome": out, "message": msg[:300]})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fc", default="/tmp/fc", help="Firecracker tree (default /tmp/fc)")
    ap.add_argument("--hearth", default=os.path.join(REPO, "build", "hearth"))
    ap.add_argument("--per-file", type=int, default=1)
    ap.add_argument("--files", default="", help="only files whose path has one of these")
    ap.add_argument("--case", action="append", default=[], help="a node id (repeatable)")
    ap.add_argument("--list", action="store_true", help="print the chosen cases and stop")
    ap.add_argument("--batch", type=int, default=100, help="cases per run.sh in L1")
    ap.add_argument("--case-timeout", type=int, default=900)
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--guest-step-log", default="/tmp/hearth-fc/out/pytest.log",
                    help="a placeholder run's pytest.log: prefer cases it stopped at the guest step")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("fc-lab: needs root (as run.sh)")

    log("artifacts (tests/fc/artifacts.sh %s)" % ART)
    subprocess.run([os.path.join(HERE, "artifacts.sh"), ART, "all"], check=True,
                   stderr=subprocess.DEVNULL if not a.stream else None)
    if a.case:
        chosen = a.case
    else:
        by_file = collect(a.fc)
        want = [w for w in a.files.split(",") if w]
        stepped = guest_step_ids(a.guest_step_log)
        chosen = []
        for f, cases in by_file.items():
            if want and not any(w in f for w in want):
                continue
            first = pick(cases, stepped)
            chosen += [first] + [c for c in cases if c != first][:a.per_file - 1]
        log("%d files with guest cases, %d guest cases; chosen %d" % (
            len(by_file), sum(map(len, by_file.values())), len(chosen)))
    if a.list:
        print("\n".join(chosen))
        return 0

    os.makedirs(CACHE, exist_ok=True)
    scratch = os.path.join(CACHE, "lab-scratch.img")
    scratch_image(scratch, hearth=os.path.abspath(a.hearth))
    sock = os.path.join(CACHE, "virtiofsd.sock")
    vfs = start_virtiofsd(sock)
    try:
        batches = [chosen[i:i + a.batch] for i in range(0, len(chosen), a.batch)]
        runs = []
        for i, b in enumerate(batches):
            tmo = a.case_timeout * len(b) + 600
            s = (SCRIPT.replace("@BATCH@", str(i)).replace("@CASE_TMO@", str(a.case_timeout))
                 .replace("@RUN_TMO@", str(tmo)).replace("@HEARTH@", "/srv/hearth-bin/hearth")
                 .replace("@REPO@", REPO).replace("@FCTREE@", os.path.abspath(a.fc))
                 .replace("@HOSTDEBS@", " ".join(host_debs()))
                 .replace("@ARGS@", " ".join("'%s'" % c for c in b)))
            runs.append(L.ShellRun("fc%d" % i, "hearth", s, timeout=tmo + 120))
        extra = L.L1Extra(
            qemu_args=["-object", "memory-backend-memfd,id=fcmem,size=%dM,share=on" % L1_MEM_MB,
                       "-numa", "node,memdev=fcmem",
                       "-chardev", "socket,id=fcvfs,path=" + sock,
                       "-device", "vhost-user-fs-pci,chardev=fcvfs,tag=host",
                       "-drive", "file=%s,if=none,id=fcscratch,format=raw,cache=unsafe" % scratch,
                       "-device", "virtio-blk-pci,drive=fcscratch"],
            modules=[("virtio_pci", ""), ("virtio_blk", ""), ("virtiofs", ""), ("overlay", ""),
                     ("tun", "")])
        lab = L.Lab(stream=a.stream)
        t0 = time.time()
        res = lab.run_plan(runs, tag="fc", retries=1, l1_extra=extra,
                           timeout=sum(r.timeout + 60 for r in runs) + 600)
        wall = time.time() - t0
    finally:
        vfs.terminate()
        try:
            vfs.wait(10)
        except subprocess.TimeoutExpired:
            vfs.kill()
    outdir = os.path.join(CACHE, "lab-out")
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    for i in range(len(runs)):
        subprocess.run(["debugfs", "-R", "rdump /hearth-fc-%d/out %s" % (i, outdir), scratch],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if os.path.isdir(os.path.join(outdir, "out")):
            os.rename(os.path.join(outdir, "out"), os.path.join(outdir, str(i)))
    print("fc-lab: L1 wall %.0f s; lab %s; serial log %s" % (
        wall, "ok" if res.ok else res.failure_line(), res.log))
    for r in runs:
        rr = res.runs.get(r.name)
        if not rr:
            print("%s: did not run" % r.name)
            continue
        for line in rr.guest_lines:
            if line.startswith("FCLAB ") and not line.startswith("FCLAB failures"):
                print("%s: %s" % (r.name, line[6:]))
        for line in rr.stderr_lines[-20:]:
            print("%s!: %s" % (r.name, line))
    print("fc-lab: run.sh outputs in %s" % outdir)
    rows = table(chosen, [res.runs.get(r.name) for r in runs])
    with open(os.path.join(outdir, "table.json"), "w") as f:
        json.dump(rows, f, indent=1)
    n = {k: sum(1 for r in rows if r["outcome"] == k) for k in
         ("passed", "failed", "error", "skipped", "machine", "not run")}
    print("\n| file | case | outcome | first failure |\n|---|---|---|---|")
    for r in rows:
        f, _, c = r["case"].partition("::")
        print("| %s | `%s` | %s | %s |" % (f.replace("integration_tests/", ""), c, r["outcome"],
                                          r["message"].replace("|", "\\|")))
    print("\nfc-lab: %d cases: %s" % (len(rows), ", ".join("%d %s" % (v, k) for k, v in n.items())))
    return 0 if res.ok else 3


if __name__ == "__main__":
    sys.exit(main())
