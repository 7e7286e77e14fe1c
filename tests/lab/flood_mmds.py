#!/usr/bin/env python3
"""Lab measurement: what a hostile guest flooding the MMDS with out-of-order
TCP segments costs Hearth (RSS, and its io thread's CPU), in ONE L1 boot,
one L2 run per Hearth binary.

    tests/lab/flood_mmds.py [--hearth PATH] [--hearth-old PATH]
                            [--conns 8] [--segments 60000] [--hold 8] [--stream]

Each run is test_mmds.py's mmds_tap case: hearth serve, boot-source,
machine-config (1 vCPU, 256 MiB), one TAP NIC (tap0, left down in L1),
PUT /mmds/config (V2, that NIC) and PUT /mmds through the API (curl in L1),
InstanceStart. The guest (172.16.0.2, a route to 169.254.169.254 on eth0)
reads its metadata once (token PUT, then GET), then runs mmds_flood
(tests/lab/mmds_flood.c, built here with gcc -static -O2 and put into the L2
initramfs): CONNS real connections to 169.254.169.254:80, SEGMENTS 1-byte
out-of-order segments each through a raw socket, held HOLD seconds, then
reset. Then it reads its metadata again, and waits a few seconds before
powering off.

Meanwhile L1 samples Hearth once a second: VmRSS and VmHWM
(/proc/PID/status), the CPU time of its thread named "io" and of the whole
process (/proc/PID[/task/TID]/stat, utime + stime), and stamps each of the
guest's "LAB flood ..." / "LAB get_..." lines with L1's clock when it
appears. Printed per binary: RSS before the flood, its peak during the flood
(sampled, and VmHWM), RSS after the connections were reset and at the end;
the io thread's (and the process's) CPU % while the segments were being
sent and over the whole flood (start to reset); the segments sent; the
guest's own counters over the flood (eth0 tx/rx, tx_dropped, IP
OutDiscards, TCP segments in: libslirp ACKs every out-of-order segment it
takes at once, so the segments that came back bound from below how many
reached it); and whether the MMDS answered before and after.

Exit 0 when every run ran to its end and the MMDS answered after the flood,
1 otherwise, 3 lab failure.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402
import test_api as A  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
AMI = "ami-lab-flood"
CLK_TCK = 100          # L1's USER_HZ (Debian's kernel: 100)

# In L2, before "LAB ready": lab.flood=CONNS,SEGMENTS,HOLD.
L2_SCRIPT = r'''
flood=
for w in $(cat /proc/cmdline); do case "$w" in lab.flood=*) flood=${w#lab.flood=} ;; esac; done
if [ -n "$flood" ]; then
  dmesg -n 1 2>/dev/null
  ip link set lo up
  i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  [ -e /sys/class/net/eth0 ] && echo "LAB nic=yes" || echo "LAB nic=no"
  ip addr add 172.16.0.2/24 dev eth0
  ip link set eth0 up
  ip route add 169.254.169.254 dev eth0 && echo "LAB route=yes"
  req() {
    { printf '%s %s HTTP/1.0\r\nHost: 169.254.169.254\r\n' "$1" "$2"
      [ -n "$3" ] && printf '%s\r\n' "$3"
      printf '\r\n'; } | timeout 60 nc -w 30 169.254.169.254 80 | tr -d '\r' >/tmp/r
  }
  st() { head -n 1 /tmp/r | cut -d' ' -f2; }
  bd() { sed '1,/^$/d' /tmp/r; }
  get() { # the token, then the data with it: "TOKEN_STATUS DATA_STATUS DATA"
    req PUT /latest/api/token "X-metadata-token-ttl-seconds: 600"
    ts=$(st); tok=$(bd)
    req GET /latest/meta-data/ami-id "X-metadata-token: $tok"
    echo "$ts $(st) $(bd)"
  }
  ctr() { # eth0's packets, the guest's TCP segments in and IP output discards
    d=/sys/class/net/eth0/statistics
    echo "rx=$(cat $d/rx_packets) tx=$(cat $d/tx_packets) txdrop=$(cat $d/tx_dropped)" \
         "tcp_in=$(awk '/^Tcp: [0-9]/ {print $11}' /proc/net/snmp)" \
         "ip_outdiscards=$(awk '/^Ip: [0-9]/ {print $12}' /proc/net/snmp)"
  }
  echo "LAB get_before=$(get)"
  echo "LAB ctr_before=$(ctr)"
  set -- $(echo "$flood" | tr ',' ' ')
  /bin/mmds_flood "$1" "$2" "$3"
  echo "LAB flood_rc=$?"
  echo "LAB ctr_after=$(ctr)"
  sleep 2
  echo "LAB get_after=$(get)"
  echo "LAB settle"
  sleep 6
fi
'''

RUN = A.PRELUDE + r'''
H=@HEARTH@
echo "FLOOD binary=$H"
$H serve --api-sock $S </dev/null >/tmp/g.out 2>/tmp/h.err & hp=$!
waitsock
echo "API boot_source=$(api PUT /boot-source '{"kernel_image_path": "@KERNEL@", "initrd_path": "@INITRD@", "boot_args": "@CMDLINE@ lab.flood=@FLOOD@"}')"
echo "API machine=$(api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256}')"
echo "API nic=$(api PUT /network-interfaces/eth0 '{"iface_id": "eth0", "host_dev_name": "tap0"}') $(cat /tmp/resp)"
echo "API mmds_config=$(api PUT /mmds/config '{"network_interfaces": ["eth0"], "version": "V2"}') $(cat /tmp/resp)"
echo "API mmds_put=$(api PUT /mmds '{"latest": {"meta-data": {"ami-id": "@AMI@"}}}') $(cat /tmp/resp)"
echo "API start=$(api PUT /actions '{"action_type": "InstanceStart"}') $(cat /tmp/resp)"
# Sample once a second until Hearth ends: builtins only where it is cheap
# (L1 runs under TCG; the sampler must not steal Hearth's CPU).
io=; seen=0; n=0
while kill -0 $hp 2>/dev/null && [ $n -lt @MAXSAMPLES@ ]; do
  n=$((n+1))
  if [ -z "$io" ]; then
    for t in /proc/$hp/task/*; do
      read c 2>/dev/null <$t/comm; [ "$c" = io ] && io=${t##*/}
    done
    [ -n "$io" ] && echo "FLOOD io_tid=$io"
  fi
  read up _ </proc/uptime
  rss=; hwm=
  while read k v _; do
    case $k in VmRSS:) rss=$v ;; VmHWM:) hwm=$v ;; esac
  done 2>/dev/null </proc/$hp/status
  iot=-1; all=-1
  if [ -n "$io" ] && read -r st 2>/dev/null </proc/$hp/task/$io/stat; then
    set -- $st; iot=$((${14} + ${15}))
  fi
  if read -r st 2>/dev/null </proc/$hp/stat; then set -- $st; all=$((${14} + ${15})); fi
  [ -n "$rss" ] && echo "FLOOD sample t=$up rss_kb=$rss hwm_kb=$hwm io_ticks=$iot all_ticks=$all"
  m=$(tr -d '\r' </tmp/g.out | grep -c -e '^LAB flood' -e '^LAB get_' -e '^LAB settle')
  if [ "$m" -gt "$seen" ]; then
    tr -d '\r' </tmp/g.out | grep -e '^LAB flood' -e '^LAB get_' -e '^LAB settle' |
      tail -n +$((seen + 1)) | while IFS= read -r l; do echo "FLOOD mark t=$up $l"; done
    seen=$m
    th=
    for t in /proc/$hp/task/*; do
      read c 2>/dev/null <$t/comm && read -r st 2>/dev/null <$t/stat &&
        { set -- $st; th="$th $c=$((${14} + ${15}))"; }
    done
    echo "FLOOD threads t=$up$th"
  fi
  sleep 1
done
finish $hp
'''


def script(hearth_l1_path, flood, maxsamples):
    return (A.script(RUN).replace("@HEARTH@", hearth_l1_path).replace("@FLOOD@", flood)
            .replace("@AMI@", AMI).replace("@MAXSAMPLES@", str(maxsamples)))


def build_flooder():
    """tests/lab/mmds_flood.c, static, into this lab run's directory."""
    out = os.path.join(L.work_dir(), "mmds_flood")
    cc = shutil.which("gcc") or "cc"
    subprocess.run([cc, "-static", "-O2", "-Wall", "-o", out,
                    os.path.join(HERE, "mmds_flood.c")], check=True)
    return out


def analyse(r):
    """The figures of one run, from its FLOOD lines."""
    samples, marks, threads = [], [], []
    for l in r.guest_lines:
        m = re.match(r"^FLOOD sample t=([\d.]+) (.*)$", l.strip())
        if m:
            kv = {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)", m.group(2))}
            kv["t"] = float(m.group(1))
            samples.append(kv)
            continue
        m = re.match(r"^FLOOD mark t=([\d.]+) (LAB .*)$", l.strip())
        if m:
            # A line the guest was still writing is read once cut short and
            # again whole: keep its first time and its whole text.
            t, text = float(m.group(1)), m.group(2)
            for i, (t0, old) in enumerate(marks):
                if text.startswith(old):
                    marks[i] = (t0, text)
                    break
            else:
                marks.append((t, text))
            continue
        m = re.match(r"^FLOOD threads t=([\d.]+) ?(.*)$", l.strip())
        if m:
            threads.append((float(m.group(1)), m.group(2)))

    def mark(prefix):
        for t, text in marks:
            if text.startswith(prefix):
                return t, text
        return None, None

    def before(t):      # the last sample taken before t
        s = [x for x in samples if x["t"] < t]
        return s[-1] if s else None

    def at_or_after(t):  # the first sample at or after t
        s = [x for x in samples if x["t"] >= t]
        return s[0] if s else None

    f = {"samples": len(samples), "marks": marks, "threads": threads}
    t_start, _ = mark("LAB flood start")
    t_inj, inj = mark("LAB flood injected")
    t_done, done = mark("LAB flood done")
    t_closed, _ = mark("LAB flood closed")
    for key, text in (("injected", inj), ("done", done)):
        if text:
            f[key] = dict(re.findall(r"(\w+)=([\d.]+)", text))
    for key in ("get_before", "get_after"):
        f[key] = r.info.get(key)
    # What came back to the guest during the flood (libslirp ACKs each
    # out-of-order segment it takes at once, so tcp_in counts about the
    # segments that reached it), and what the guest's own stack dropped.
    c0 = dict(re.findall(r"(\w+)=(\d+)", r.info.get("ctr_before") or ""))
    c1 = dict(re.findall(r"(\w+)=(\d+)", r.info.get("ctr_after") or ""))
    f["ctr"] = {k: int(c1[k]) - int(c0[k]) for k in c0 if k in c1}
    if t_start is None or not samples:
        return f
    s0 = before(t_start) or samples[0]
    f["rss_before"] = s0["rss_kb"]
    end = t_closed or t_done or samples[-1]["t"]
    during = [x for x in samples if s0["t"] <= x["t"] <= end]
    f["rss_peak"] = max(x["rss_kb"] for x in during) if during else None
    last = samples[-1]
    f["hwm_end"] = last["hwm_kb"]
    f["rss_end"] = last["rss_kb"]
    if t_closed:
        s = at_or_after(t_closed + 2)
        f["rss_after_close"] = s["rss_kb"] if s else None

    def pct(a, b, key):
        if a is None or b is None or b["t"] <= a["t"] or a[key] < 0 or b[key] < 0:
            return None
        return 100.0 * (b[key] - a[key]) / CLK_TCK / (b["t"] - a["t"])
    # The sample just before the flood started, and the first one after
    # the guest said the segments were all sent / the connections were reset.
    s_inj = at_or_after(t_inj) if t_inj else None
    s_end = at_or_after(t_closed) if t_closed else (at_or_after(t_done) if t_done else None)
    f["window_inject_s"] = s_inj["t"] - s0["t"] if s_inj else None
    f["window_flood_s"] = s_end["t"] - s0["t"] if s_end else None
    f["io_pct_inject"] = pct(s0, s_inj, "io_ticks")
    f["all_pct_inject"] = pct(s0, s_inj, "all_ticks")
    f["io_pct_flood"] = pct(s0, s_end, "io_ticks")
    f["all_pct_flood"] = pct(s0, s_end, "all_ticks")
    # The highest io-thread CPU over any 5 s window of the flood.
    best = None
    for i, a in enumerate(during):
        for b in during[i + 1:]:
            if b["t"] - a["t"] >= 5:
                p = pct(a, b, "io_ticks")
                if p is not None and (best is None or p > best):
                    best = p
                break
    f["io_pct_peak5s"] = best
    return f


def mib(kb):
    return "-" if kb is None else "%.1f MiB" % (kb / 1024.0)


def pc(x):
    return "-" if x is None else "%.0f%%" % x


def secs(x):
    return "-" if x is None else "%.1f s" % x


def answered(v):
    """get_before/get_after: 'TOKEN_STATUS DATA_STATUS DATA'."""
    return bool(v) and v.split()[:3] == ["200", "200", AMI]


def print_figures(label, path, r, f):
    print("=== %s (%s): rc=%s" % (label, path, r.rc))
    inj = f.get("injected") or {}
    print("  segments sent:        %s (failed %s, ENOBUFS retries %s) in %s s (guest clock)"
          % (inj.get("sent", "-"), inj.get("failed", "-"), inj.get("retries", "-"),
             inj.get("seconds", "-")))
    ctr = f.get("ctr") or {}
    print("  guest counters over the flood (flood start to reset): eth0 tx %s (tx_dropped %s, "
          "IP OutDiscards %s), eth0 rx %s, TCP segments in %s"
          % (ctr.get("tx", "-"), ctr.get("txdrop", "-"), ctr.get("ip_outdiscards", "-"),
             ctr.get("rx", "-"), ctr.get("tcp_in", "-")))
    print("  RSS before flood:     %s" % mib(f.get("rss_before")))
    print("  RSS peak during:      %s (sampled 1/s); VmHWM at the end %s"
          % (mib(f.get("rss_peak")), mib(f.get("hwm_end"))))
    print("  RSS 2 s after reset:  %s" % mib(f.get("rss_after_close")))
    print("  RSS at the end:       %s (after the second MMDS GET)" % mib(f.get("rss_end")))
    print("  io thread CPU:        %s while sending (%s); %s over the whole flood incl. hold "
          "(%s); peak 5 s window %s"
          % (pc(f.get("io_pct_inject")), secs(f.get("window_inject_s")),
             pc(f.get("io_pct_flood")), secs(f.get("window_flood_s")),
             pc(f.get("io_pct_peak5s"))))
    print("  whole Hearth CPU:     %s while sending; %s over the whole flood"
          % (pc(f.get("all_pct_inject")), pc(f.get("all_pct_flood"))))
    print("  MMDS before flood:    %s (%s)" % ("answered" if answered(f.get("get_before"))
                                               else "NO ANSWER", f.get("get_before")))
    print("  MMDS after flood:     %s (%s)" % ("answered" if answered(f.get("get_after"))
                                               else "NO ANSWER", f.get("get_after")))
    for t, text in f.get("marks", []):
        print("    t=%-9.2f %s" % (t, text))
    for t, text in f.get("threads", [])[-3:]:
        print("    threads (CPU ticks) t=%.2f %s" % (t, text))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hearth", help="Hearth binary (default build/hearth, or $HEARTH)")
    ap.add_argument("--hearth-old", help="a second Hearth binary, run first in the same L1 boot")
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--segments", type=int, default=60000)
    ap.add_argument("--hold", type=int, default=8, help="seconds the flooded connections stay open")
    ap.add_argument("--timeout", type=int, default=1500, help="each run's timeout in L1 (s)")
    ap.add_argument("--stream", action="store_true", help="stream L1's console to stderr")
    a = ap.parse_args()
    if a.hearth:
        os.environ["HEARTH"] = os.path.abspath(a.hearth)
    new = L.vmm_binary("hearth")
    if not shutil.which("curl"):
        print("curl is not installed (scripts/deps.sh build installs it)")
        return 1
    flood = "%d,%d,%d" % (a.conns, a.segments, a.hold)
    binaries = {"/bin/curl": shutil.which("curl")}
    plan = []                               # (run name, label, binary here, binary in L1)
    if a.hearth_old:
        old = os.path.abspath(a.hearth_old)
        binaries[L.L1_BIN + "/hearth-old"] = old
        plan.append(("flood_old", "old", old, L.L1_BIN + "/hearth-old"))
    plan.append(("flood_new", "new", new, L.L1_BIN + "/hearth"))
    try:
        if not any(m == "tun" for m, _ in L.L1_MODULES):
            L.L1_MODULES = L.L1_MODULES + [("tun", "")]
        lab = L.Lab(stream=a.stream or None)
        flooder = build_flooder()
        l2 = L.build_l2_initrd(lab.kernel, name="l2flood", modules=["virtio_mmio", "virtio_net"],
                               files={"/bin/mmds_flood": flooder}, extra_sh=L2_SCRIPT)
        runs = []
        for name, _, _, l1path in plan:
            run = L.ShellRun(name, "hearth", script(l1path, flood, max(60, a.timeout - 90)), timeout=a.timeout)
            run.initrd = l2
            runs.append(run)
        print("flood: %d connections x %d segments, hold %d s; runs: %s"
              % (a.conns, a.segments, a.hold, ", ".join("%s=%s" % (n, p) for n, _, p, _ in plan)),
              flush=True)
        res = lab.run_plan(runs, tag="flood", binaries=binaries)
    except L.LabError as e:
        print("LAB FAILURE: %s" % e)
        return 3
    if not res.ok:
        print(res.failure_line())
        return 3
    if res.retry_line():
        print(res.retry_line())
    print("serial log: %s" % res.log)
    ok = True
    for name, label, path, _ in plan:
        r = res.runs.get(name)
        if r is None or not r.ended:
            print("=== %s: the run did not start or end" % label)
            ok = False
            continue
        f = analyse(r)
        print_figures(label, path, r, f)
        ok = ok and answered(f.get("get_after"))
        if not answered(f.get("get_after")) or r.rc != 0:
            for line in (r.guest_lines + ["stderr:"] + r.stderr_lines)[-30:]:
                print("  | " + line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
