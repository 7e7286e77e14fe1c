#!/usr/bin/env python3
"""Lab test of snapshots: a stock-kernel guest with a counter, a disk and a
user-mode NIC is snapshotted, Hearth is killed, and the snapshot is restored
twice at once, in ONE L1 boot.

    tests/lab/test_snapshot.py [--hearth PATH] [--stream]

  The guest prints `LAB count N up=UPTIME` every 100 ms, rewrites sector 1
  of its disk with `after-N` and reads back sector 0 (written once at boot)
  every second, fetches a file from L1's httpd through the user-mode NIC
  every 2 s, and keeps one socat listener on vsock port 5000 (hybrid vsock,
  whose Unix socket is relative: each restore has its own). Four disk
  writers run back to back the whole time, each a read-modify-write
  counter in its own 4 KiB block (fsync'd write, O_DIRECT read back), so
  the snapshot is taken with disk requests in flight: "snapshots drain
  first" holds when each restore's writers go on from their counts with
  every read matching their last write (none lost, none done twice, none
  stuck waiting on a completion the snapshot dropped). A restored guest's
  writers stop 15 rounds after they see VMClock's marker move, so the
  other checks run on a quiet guest.
  Snapshots are written into /tmp/s, each writer's --snapshot-dir: the only
  directory the sealed sandbox keeps for them (docs/snapshots.md).
  1. `hearth run --api-sock` with hostfwd=tcp:5556-:7778 to a line echo in
     the guest; L1 holds a connection through it (a line each way) while
     the snapshot is taken. snapshot/create on the running VM and
     snapshot/load after boot are 400; PATCH /vm Paused; a Full
     snapshot/create; `readelf` opens the memory file as an ELF core.
  2. A second snapshot/create, and Hearth is killed with SIGKILL while it
     writes the memory file: neither file appears under its name, and
     restoring it fails with exit 2. The held connection was closed by
     the kill (its host side was in that process).
  3. Two restores at the same time, each in its own directory with its own
     copy of the disk (the requests name it by a relative path): one
     through `hearth serve` + PUT /snapshot/load {resume_vm: true}, one
     through `hearth restore --resume` in its own network namespace (each
     given its disk, its user-mode NIC's hostfwd and its vsock socket by
     its request, none taken from the state file; a third restore beside
     the first one fails, one line naming the port). In both the counter goes on from
     where it stopped (no second boot), /proc/uptime moves on, the sector
     written before the snapshot reads back, new writes land in that copy,
     a new wget succeeds, the vsock listener accepts a connection again
     after the transport reset, a new connection through the hostfwd port
     reaches the guest's listener. The memory file's sha256 is unchanged.
  5. Restore 1 was loaded with track_dirty_pages: `hearth snapshot` takes
     a Full base, the guest writes 4 MiB a second to its tmpfs, `hearth
     snapshot --diff` takes a diff much smaller than RAM, `hearth
     snapshot-merge` folds it onto a copy of the base, and `hearth restore`
     of the diff's state file with the merged memory counts on from the
     diff's moment.
  6. The Uffd backend: tests/uffd's handler serves vm.mem on a socket and
     `hearth restore --mem-uffd` restores vm.snap through it: the counter
     goes on from the snapshot without a second boot, and once Hearth is
     stopped the handler exits 0, having served some but not all pages.
  4. Bad input on a fresh `hearth serve`: a missing file, a truncated file,
     a file of another format version, a Uffd load lacking its
     drive's image (refused before any handler is contacted) are each a 400 with a clear message and the instance stays "Not started"; after PUT
     /boot-source the load is refused.

Prints one line per check and `N passed, N failed`.  Exit 0 all passed, 1 a
check failed, 3 lab failure (tests/lab/README.md).
"""
import argparse
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import lab as L  # noqa: E402

RUN_TIMEOUT = 900
L1_INITRD = "/lab/l2/initrd0.cpio"
CMDLINE = L.L2_CONSOLE + " reboot=k panic=-1 lab.snap=1"
MEM_MIB = 256
BLOB = 786432
# Rounds each disk writer must go on after a restore: one proves none was left waiting on a
# request the snapshot lost, a few that writes and reads keep matching. Ten cost 270 s of
# the lab's 660 here (two restored guests, niced writers, nested TCG; CI 2026-11-28).
RMW_ROUNDS = 4

DHCP_SCRIPT = r'''#!/bin/sh
case "$1" in
  deconfig) ifconfig "$interface" 0.0.0.0 up ;;
  bound|renew)
    ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
    [ -n "$router" ] && for r in $router; do route add default gw "$r" dev "$interface"; break; done ;;
esac
exit 0
'''

# L2, before "LAB ready": the mark, DHCP, then the three loops forever.
L2_SCRIPT = r'''
grep -q lab.snap=1 /proc/cmdline || exit 0
i=0; while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
printf 'before-snap-mark' | dd of=/dev/vda bs=512 conv=notrunc,fsync 2>/dev/null
ip link set lo up
if udhcpc -i eth0 -s /lab/dhcp.sh -n -q -t 5 -T 2 >/tmp/dhcp.log 2>&1; then echo "LAB dhcp=ok"
else echo "LAB dhcp=fail"; fi
(j=0; while :; do
   n=$(timeout 30 wget -q -O - http://10.0.2.2:8080/blob 2>/dev/null | wc -c)
   echo "LAB wget $j $n"; j=$((j+1)); sleep 2
 done) &
# One vsock listener for the whole run: it must accept again after the restore's transport reset.
socat VSOCK-LISTEN:5000,reuseaddr,fork SYSTEM:'read l; echo "vsock-echo:$l"' &
# The hostfwd port's listener: echoes each line; "conns" adds how many :7778 connections
# the guest has open.
printf '%s\n' 'while read l; do' '  echo "tcp-echo:$l"' \
  '  [ "$l" = conns ] && echo "tcp-conns:$(netstat -tn 2>/dev/null | grep -c ":7778 .*ESTABLISHED")"' \
  'done' >/tmp/echo.sh
socat TCP-LISTEN:7778,reuseaddr,fork SYSTEM:'sh /tmp/echo.sh' &
(while :; do dd if=/dev/zero of=/tmp/fill bs=1M count=4 2>/dev/null; sleep 1; done) &
# Disk load across the snapshot: four writers, each a read-modify-write counter in its own
# 4 KiB block, back to back. A write lost, done twice or answered with old data shows as a
# block that does not hold what its writer last wrote; a completion lost, as a writer stuck.
# Niced (busybox has renice, not nice), with a breath between rounds: the counter, the
# echo and the wget keep their pace.
for w in 0 1 2 3; do
  (b=$((100 + w)); n=0; left=@RMW_LEFT@
   printf '%-4095d\n' 0 | dd of=/dev/vda bs=4096 seek=$b count=1 iflag=fullblock conv=notrunc,fsync 2>/dev/null
   while :; do
     v=$(dd if=/dev/vda bs=4096 skip=$b count=1 iflag=direct 2>/dev/null | head -c 12 | tr -d ' ')
     [ "$v" = "$n" ] || echo "LAB rmw-bad $w want=$n got=$v"
     n=$((n + 1))
     printf '%-4095d\n' $n | dd of=/dev/vda bs=4096 seek=$b count=1 iflag=fullblock conv=notrunc,fsync 2>/dev/null
     echo "LAB rmw $w $n"
     # Restored (VMClock's marker moved): @RMW_LEFT@ more rounds, then quiet for the other checks.
     [ "$(devmem 0xfeffb010 32 2>/dev/null)" = 0x00000000 ] || left=$((left - 1))
     [ $left -gt 0 ] || break
     sleep 0.05
   done) &
  renice -n 19 -p $! >/dev/null
done
(i=0; while :; do
   read up _ </proc/uptime
   # VMClock's disruption marker (devices/vmclock.h): 6.1 has no driver for it, /dev/mem reads it.
   echo "LAB count $i up=$up vmc=$(devmem 0xfeffb010 32 2>/dev/null)"
   if [ $((i % 10)) = 0 ]; then
     printf 'after-%08d' $i | dd of=/dev/vda bs=512 seek=1 conv=notrunc,fsync 2>/dev/null
     echo "LAB disk0 $i $(dd if=/dev/vda bs=512 count=1 iflag=direct 2>/dev/null | head -c 16)"
   fi
   i=$((i+1)); sleep 0.1
 done) &
sleep 100000
'''

SCRIPT = L.SH_LINES + r'''
H=/lab/bin/hearth
api() { # SOCK METHOD PATH [BODY]: the HTTP status; the body is in /tmp/resp
  if [ -n "$4" ]; then
    curl -s -o /tmp/resp -w '%{http_code}' --unix-socket $1 -X "$2" \
      -H 'Content-Type: application/json' -d "$4" "http://localhost$3"
  else
    curl -s -o /tmp/resp -w '%{http_code}' --unix-socket $1 -X "$2" "http://localhost$3"
  fi
}
waitfor() { # PATTERN FILE TENTHS
  n=0; while ! tr -d '\r' <"$2" 2>/dev/null | grep -q "$1"; do
    n=$((n+1)); [ $n -ge "$3" ] && return 1; sleep 0.1
  done
}
''' + L.SH_WAITSOCK + r'''vs() { # PING SOCK: one hybrid vsock round trip to the guest's port 5000, retried
  k=0; while [ $k -lt 8 ]; do
    o=$( (echo "CONNECT 5000"; echo "$1"; sleep 1) | timeout 8 /lab/bin/socat -t 3 - UNIX-CONNECT:$2 2>/dev/null | tr '\n' '+')
    case "$o" in *"vsock-echo:$1"*) echo "$o"; return 0 ;; esac
    k=$((k+1)); sleep 1
  done; echo "none:$o"
}
fwd() { # LINE [PID]: a new connection to the hostfwd port 127.0.0.1:5556 (in PID's network
        # namespace if given): LINE and "conns" there, the echoes back; retried
  k=0; while [ $k -lt 8 ]; do
    o=$( (echo "$1"; echo conns; sleep 1) | timeout 8 ${2:+nsenter -t $2 -n} /lab/bin/socat -t 3 - TCP:127.0.0.1:5556 2>/dev/null | tr '\n' '+')
    case "$o" in *"tcp-echo:$1"*) echo "$o"; return 0 ;; esac
    k=$((k+1)); sleep 1
  done; echo "none:$o"
}
ip link set lo up
mkdir -p /tmp/www /tmp/run0 /tmp/s /tmp/r1 /tmp/r2
dd if=/dev/urandom of=/tmp/www/blob bs=1024 count=768 2>/dev/null
httpd -f -p 127.0.0.1:8080 -h /tmp/www >/dev/null 2>&1 & web=$!
cd /tmp/run0
dd if=/dev/zero of=d.img bs=1M count=8 2>/dev/null
# Every host resource of a restore comes from its request (relative paths: the restoring
# process's directory), none from the state file.
FWD='user,host-loopback=on,hostfwd=tcp:5556-:7778'
LOAD='{"snapshot_path": "/tmp/s/vm.snap", "mem_backend": {"backend_type": "File", "backend_path": "/tmp/s/vm.mem"}, "resume_vm": true, "track_dirty_pages": true, "drive_overrides": [{"drive_id": "disk0", "path_on_host": "d.img", "is_read_only": false}], "network_overrides": [{"iface_id": "eth0", "backend": "'"$FWD"'"}], "vsock_override": {"uds_path": "v.sock"}}'
RH="--drive-override disk0=rw:d.img --net-override eth0=$FWD --vsock-override v.sock"

# 1. the original
$H run --kernel @KERNEL@ --initrd @INITRD@ --cmdline "@CMDLINE@" --cpus 2 --memory @MEM@ \
  --disk path=d.img --net user,host-loopback=on,hostfwd=tcp:5556-:7778 --vsock cid=3,uds=v.sock --api-sock /tmp/a0.sock \
  --snapshot-dir /tmp/s \
  </dev/null >/tmp/g0.out 2>/tmp/h0.err & hp=$!
waitsock /tmp/a0.sock
waitfor '^LAB count 40 ' /tmp/g0.out 3000 && echo "SNAP counting=yes"
waitfor '^LAB wget [0-9]* @BLOB@' /tmp/g0.out 1200 && echo "SNAP wget_before=yes"
echo "SNAP vsock_before=$(vs ping0 /tmp/run0/v.sock)"
# A connection through the hostfwd port, held open (fd 5 feeds it) while the snapshot is taken.
rm -f /tmp/old.in; mkfifo /tmp/old.in
k=0; while [ $k -lt 8 ]; do
  /lab/bin/socat -t 5 - TCP:127.0.0.1:5556 </tmp/old.in >/tmp/old.out 2>/tmp/old.err & oc=$!
  exec 5>/tmp/old.in
  (echo old0 >&5; echo conns >&5) 2>/dev/null
  waitfor 'tcp-conns:' /tmp/old.out 50 && break
  exec 5>&-; kill $oc 2>/dev/null; wait $oc; k=$((k+1)); sleep 1
done
echo "SNAP fwd_before=$(tr '\n' '+' </tmp/old.out)"
echo "SNAP create_running=$(api /tmp/a0.sock PUT /snapshot/create '{"snapshot_path": "/tmp/s/x.snap", "mem_file_path": "/tmp/s/x.mem"}') $(cat /tmp/resp)"
echo "SNAP load_after_boot=$(api /tmp/a0.sock PUT /snapshot/load "$LOAD") $(cat /tmp/resp)"
echo "SNAP pause=$(api /tmp/a0.sock PATCH /vm '{"state": "Paused"}')"
sleep 1
echo "SNAP before=$(lastline /tmp/g0.out)"
rmwlast() { # OUT: each writer's last counter line in OUT, "w:n" joined by +
  for w in 0 1 2 3; do
    printf '%s:%s+' $w "$(tr -d '\r' <"$1" | grep "^LAB rmw $w " | tail -n 1 | awk '{print $4}')"
  done
}
echo "SNAP rmw_before=$(rmwlast /tmp/g0.out) bad=$(tr -d '\r' </tmp/g0.out | grep -c '^LAB rmw-bad')"
echo "SNAP vmc_before=$(lastline /tmp/g0.out | sed -n 's/.*vmc=//p')"
echo "SNAP diff_untracked=$(api /tmp/a0.sock PUT /snapshot/create '{"snapshot_type": "Diff", "snapshot_path": "/tmp/s/x.snap", "mem_file_path": "/tmp/s/x.mem"}') $(cat /tmp/resp)"
echo "SNAP create=$(api /tmp/a0.sock PUT /snapshot/create '{"snapshot_type": "Full", "snapshot_path": "/tmp/s/vm.snap", "mem_file_path": "/tmp/s/vm.mem"}') $(cat /tmp/resp)"
echo "SNAP old_open_at_create=$(kill -0 $oc 2>/dev/null && echo yes || echo no)"
echo "SNAP mem_bytes=$(stat -c %s /tmp/s/vm.mem) mem_kb_used=$(du -k /tmp/s/vm.mem | cut -f1) state_bytes=$(stat -c %s /tmp/s/vm.snap)"
readelf -hlW /tmp/s/vm.mem 2>&1 | sed 's/^/ELF /'
readelf -nW /tmp/s/vm.mem 2>&1 | sed 's/^/NOTE /' | head -n 12
sha0=$(sha256sum /tmp/s/vm.mem | cut -d' ' -f1)

# 2. SIGKILL in the middle of a second create
(api /tmp/a0.sock PUT /snapshot/create '{"snapshot_path": "/tmp/s/k.snap", "mem_file_path": "/tmp/s/k.mem"}' >/dev/null) &
n=0; while ! ls -a /tmp/s | grep -q '^\.k\.mem\.tmp-' && [ $n -lt 3000 ]; do n=$((n+1)); done
kill -9 $hp; wait $hp; echo "SNAP killed_rc=$?"
# The held connection's host side belonged to the killed process.
n=0; while kill -0 $oc 2>/dev/null && [ $n -lt 150 ]; do sleep 0.1; n=$((n+1)); done
if kill -0 $oc 2>/dev/null; then echo "SNAP old_conn=open"; kill $oc; wait $oc
else wait $oc; echo "SNAP old_conn=closed rc=$? after=$n $(head -c 200 /tmp/old.err | tr '\n' ' ')"; fi
exec 5>&-
[ $n -lt 3000 ] && echo "SNAP kill_mid_write=yes" || echo "SNAP kill_mid_write=no"
echo "SNAP after_kill=$(ls /tmp/s | tr '\n' ' ')"
$H restore --snapshot /tmp/s/k.snap --mem /tmp/s/k.mem $RH </dev/null >/dev/null 2>/tmp/k.err
echo "SNAP k_restore=$? $(head -n 1 /tmp/k.err)"

# 3. two restores at once, each with its own copy of the disk. Both are given the hostfwd
# listener 127.0.0.1:5556 by their requests, so restore 2 runs in its own network namespace
# (with its own httpd for the wget); a third restore beside restore 1 must fail to bind.
cp /tmp/run0/d.img /tmp/r1/d.img; cp /tmp/run0/d.img /tmp/r2/d.img
mkdir -p /tmp/r4; cp /tmp/run0/d.img /tmp/r4/d.img
cd /tmp/r1; $H serve --api-sock /tmp/a1.sock --snapshot-dir /tmp/s </dev/null >/tmp/g1.out 2>/tmp/h1.err & p1=$!
cd /tmp/r2; unshare -n sh -c 'ip link set lo up
  httpd -f -p 127.0.0.1:8080 -h /tmp/www >/dev/null 2>&1 </dev/null & echo $! >/tmp/web2.pid
  exec '"$H"' restore --snapshot /tmp/s/vm.snap --mem /tmp/s/vm.mem --resume '"$RH"'' \
  </dev/null >/tmp/g2.out 2>/tmp/h2.err & p2=$!
cd /tmp
waitsock /tmp/a1.sock
echo "SNAP load=$(api /tmp/a1.sock PUT /snapshot/load "$LOAD") $(cat /tmp/resp)"
cd /tmp/r4; timeout 120 $H restore --snapshot /tmp/s/vm.snap --mem /tmp/s/vm.mem --resume $RH \
  </dev/null >/dev/null 2>/tmp/h4.err
echo "SNAP busy_restore=$? $(head -n 3 /tmp/h4.err | tr '\n' ' ')"
cd /tmp
echo "SNAP r1_info=$(api /tmp/a1.sock GET /) $(cat /tmp/resp)"
echo "SNAP r2_rss_kb=$(awk '/^VmRSS:/ {print $2}' /proc/$p2/status)"
echo "SNAP load_again=$(api /tmp/a1.sock PUT /snapshot/load "$LOAD") $(cat /tmp/resp)"
for g in 1 2; do
  b=$(lastcount /tmp/g0.out)
  waitfor "^LAB count $((b + 40)) " /tmp/g$g.out 1800 && echo "SNAP r${g}_counting=yes"
  waitfor '^LAB wget [0-9]* @BLOB@' /tmp/g$g.out 1200 && echo "SNAP r${g}_wget=yes"
  waitfor '^LAB disk0 ' /tmp/g$g.out 900
  # Every writer gets @RMW_ROUNDS@ more rounds: none was left waiting on a request the snapshot lost.
  for w in 0 1 2 3; do
    c=$(tr -d '\r' </tmp/g0.out | grep "^LAB rmw $w " | tail -n 1 | awk '{print $4}')
    waitfor "^LAB rmw $w $((${c:-0} + @RMW_ROUNDS@))\$" /tmp/g$g.out 1200
  done
  echo "SNAP r${g}_rmw=$(rmwlast /tmp/g$g.out) bad=$(tr -d '\r' </tmp/g$g.out | grep -c '^LAB rmw-bad')"
  tr -d '\r' </tmp/g$g.out | grep '^LAB rmw-bad' | head -n 4 | sed "s/^/G$g /"
  echo "SNAP r${g}_vsock=$(vs ping$g /tmp/r$g/v.sock)"
  echo "SNAP r${g}_vmc=$(tr -d '\r' </tmp/g$g.out | grep '^LAB count ' | tail -n 2 | head -n 1 | sed -n 's/.*vmc=//p')"
  # Its output so far, less the last line, which may be half written: hearth
  # snapshot below leaves restore 1 paused, maybe mid-line.
  tr -d '\r' </tmp/g$g.out | sed '$d' >/tmp/g$g.pre
done
echo "SNAP r1_fwd=$(fwd new1)"
echo "SNAP r2_fwd=$(fwd new2 $(cat /tmp/web2.pid))"
# 5. a Full base then a Diff of restore 1 (loaded with track_dirty_pages), by hearth snapshot
$H snapshot --api-sock /tmp/a1.sock --snapshot /tmp/s/f.snap --mem /tmp/s/f.mem 2>/tmp/sn.err
echo "SNAP base=$? $(cat /tmp/sn.err)"
echo "SNAP base_resume=$(api /tmp/a1.sock PATCH /vm '{"state": "Resumed"}')"
b=$(lastcount /tmp/g1.out)
waitfor "^LAB count $((b + 40)) " /tmp/g1.out 1800
$H snapshot --api-sock /tmp/a1.sock --snapshot /tmp/s/d.snap --mem /tmp/s/d.mem --diff 2>/tmp/sn.err
echo "SNAP diff=$? $(cat /tmp/sn.err)"
sleep 1
echo "SNAP diff_before=$(lastline /tmp/g1.out)"
echo "SNAP diff_kb=$(du -k /tmp/s/d.mem | cut -f1) base_kb=$(du -k /tmp/s/f.mem | cut -f1) diff_bytes=$(stat -c %s /tmp/s/d.mem)"
kill -TERM $p1 $p2; wait $p1; echo "SNAP r1_exit=$?"; wait $p2; echo "SNAP r2_exit=$?"
cp /tmp/s/f.mem /tmp/s/m.mem
$H snapshot-merge --base /tmp/s/m.mem --diff /tmp/s/d.mem 2>/tmp/mg.err; echo "SNAP merge=$? $(cat /tmp/mg.err)"
mkdir -p /tmp/r3; cp /tmp/r1/d.img /tmp/r3/d.img; cd /tmp/r3
$H restore --snapshot /tmp/s/d.snap --mem /tmp/s/m.mem $RH </dev/null >/tmp/g3.out 2>/tmp/h3r.err & p4=$!
cd /tmp
b=$(lastcount /tmp/g1.out)
waitfor "^LAB count $((b + 30)) " /tmp/g3.out 1800 && echo "SNAP r3_counting=yes"
kill -TERM $p4; wait $p4; echo "SNAP r3_exit=$?"
tr -d '\r' </tmp/g3.out | grep '^LAB \(count\|init\)' | head -n 2 | sed "s/^/G3 /"
echo "SNAP r3_inits=$(tr -d '\r' </tmp/g3.out | grep -c 'LAB init')"
echo "SNAP r3_tail=$(tr -d '\r' </tmp/g3.out | tail -n 3 | tr '\n' '|')"
sed "s/^/H3 /" /tmp/h3r.err | head -n 20
for g in 1 2; do
  grep '^LAB \(count\|disk0\|wget\|init\)' /tmp/g$g.pre | head -n 4 | sed "s/^/G$g /"
  grep '^LAB \(disk0\|wget\)' /tmp/g$g.pre | tail -n 2 | sed "s/^/G$g /"
  # The disk's own lines too: with the writers' load, wget's can crowd them out above.
  grep '^LAB disk0' /tmp/g$g.pre | tail -n 2 | sed "s/^/G$g /"
  echo "SNAP r${g}_inits=$(tr -d '\r' </tmp/g$g.out | grep -c 'LAB init')"
  echo "SNAP r${g}_sector1=$(dd if=/tmp/r$g/d.img bs=512 skip=1 count=1 2>/dev/null | head -c 14)"
  # The writers' blocks as the VM left them: each at or past its last counter line.
  echo "SNAP r${g}_rmw_disk=$(for w in 0 1 2 3; do printf '%s:%s+' $w "$(dd if=/tmp/r$g/d.img bs=4096 skip=$((100 + w)) count=1 2>/dev/null | head -c 12 | tr -d ' ')"; done)"
  sed "s/^/H$g /" /tmp/h$g.err | head -n 20
done
echo "SNAP mem_unchanged=$([ "$(sha256sum /tmp/s/vm.mem | cut -d' ' -f1)" = "$sha0" ] && echo yes || echo no)"

# 6. the Uffd backend: vm.snap restored with every page served by tests/uffd's handler.
mkdir -p /tmp/r5; cp /tmp/run0/d.img /tmp/r5/d.img
uffd_handler /tmp/u.sock /tmp/s/vm.mem --count-file /tmp/u.count 2>/tmp/u.err & pu=$!
waitsock /tmp/u.sock
cd /tmp/r5
$H restore --snapshot /tmp/s/vm.snap --mem-uffd /tmp/u.sock $RH </dev/null >/tmp/g5.out 2>/tmp/h5.err & p5=$!
cd /tmp
b=$(lastcount /tmp/g0.out)
waitfor "^LAB count $((b + 30)) " /tmp/g5.out 1800 && echo "SNAP r5_counting=yes"
kill -TERM $p5; wait $p5; echo "SNAP r5_exit=$?"
wait $pu; echo "SNAP uffd_handler=$? served=$(cat /tmp/u.count 2>/dev/null)"
tr -d '\r' </tmp/g5.out | grep '^LAB \(count\|init\)' | head -n 2 | sed "s/^/G5 /"
echo "SNAP r5_inits=$(tr -d '\r' </tmp/g5.out | grep -c 'LAB init')"
sed "s/^/H5 /" /tmp/h5.err | head -n 20; sed "s/^/U5 /" /tmp/u.err | head -n 5

# 4. bad input
$H serve --api-sock /tmp/a3.sock </dev/null >/dev/null 2>/tmp/h3.err & p3=$!
waitsock /tmp/a3.sock
head -c 3000 /tmp/s/vm.snap >/tmp/s/trunc.snap
cp /tmp/s/vm.snap /tmp/s/v2.snap; printf '\002' | dd of=/tmp/s/v2.snap bs=1 seek=8 conv=notrunc 2>/dev/null
bad() { # NAME SNAPSHOT BACKEND_TYPE
  echo "SNAP bad_$1=$(api /tmp/a3.sock PUT /snapshot/load "{\"snapshot_path\": \"$2\", \"mem_backend\": {\"backend_type\": \"$3\", \"backend_path\": \"/tmp/s/vm.mem\"}}") $(cat /tmp/resp)"
}
bad missing /tmp/s/nope.snap File
bad truncated /tmp/s/trunc.snap File
bad version /tmp/s/v2.snap File
bad uffd /tmp/s/vm.snap Uffd   # the request is checked (no drive given) before any handler is contacted
echo "SNAP bad_info=$(api /tmp/a3.sock GET /) $(cat /tmp/resp)"
api /tmp/a3.sock PUT /boot-source '{"kernel_image_path": "@KERNEL@"}' >/dev/null
bad configured /tmp/s/vm.snap File
kill -TERM $p3; wait $p3
kill $web $(cat /tmp/web2.pid); wait
echo "SNAP done=yes"
'''

ELF_SAMPLE = None


def script():
    return (SCRIPT.replace("@KERNEL@", L.L1_KERNEL).replace("@INITRD@", L1_INITRD)
            .replace("@CMDLINE@", CMDLINE).replace("@MEM@", str(MEM_MIB))
            .replace("@BLOB@", str(BLOB)).replace("@RMW_ROUNDS@", str(RMW_ROUNDS)))


def l2_script():
    """L2's loops, each writer going on a little past the rounds script() waits for (a
    placeholder left in, `left` is no number and each writer stops after one round)."""
    text = L2_SCRIPT.replace("@RMW_LEFT@", str(RMW_ROUNDS + 2))
    assert "@" not in text, "a placeholder left in L2's script"
    return text


def snap_info(r):
    out = {}
    for l in r.guest_lines:
        m = re.match(r"^SNAP (\w+)=(.*)$", l.strip())
        if m and m.group(1) not in out:
            out[m.group(1)] = m.group(2)
    return out


def counts(r, prefix):
    """[(n, uptime)] of the restored guest's counter lines, as dumped."""
    out = []
    for l in r.guest_lines:
        m = re.match(r"^%s LAB count (\d+) up=([\d.]+)" % prefix, l.strip())
        if m:
            out.append((int(m.group(1)), float(m.group(2))))
    return out


def rmw_counts(v):
    """{writer: n} from "0:12+1:15+... bad=0"."""
    return {int(w): int(n) for w, n in re.findall(r"(\d):(\d+)\+", v)}


def checks(r):
    a = snap_info(r)
    st = lambda k: (a.get(k) or "").split(" ")[0]  # noqa: E731
    yield a.get("counting") == "yes", "the guest counts on its serial line"
    yield a.get("wget_before") == "yes", "the guest fetches L1's file through --net user"
    yield "vsock-echo:ping0" in a.get("vsock_before", ""), \
        "a hybrid vsock round trip to the guest's listener (%s)" % a.get("vsock_before")
    fb = a.get("fwd_before", "")
    yield "tcp-echo:old0+" in fb and "tcp-conns:1+" in fb, \
        "a connection through hostfwd tcp:5556-:7778 carries a line both ways; the guest has it open (%s)" % fb
    yield st("create_running") == "400" and "save/restore unavailable while running" in \
        a.get("create_running", "") and "pause it first" in a.get("create_running", ""), \
        "snapshot/create on a running VM is 400 in Firecracker's words, saying to pause it " \
        "first (got %s)" % a.get("create_running")
    yield st("load_after_boot") == "400" and \
        "not supported after starting the microVM" in a.get("load_after_boot", ""), \
        "snapshot/load after boot is 400 (got %s)" % a.get("load_after_boot")
    yield st("pause") == "204", "PATCH /vm Paused is 204 (got %s)" % a.get("pause")
    yield st("create") == "204", "Full snapshot/create is 204 (got %s)" % a.get("create")
    m = re.match(r"LAB count (\d+) up=([\d.]+)", a.get("before", ""))
    before = (int(m.group(1)), float(m.group(2))) if m else None
    # VMClock: the booted guest's disruption marker is 0, each restored guest's 1.
    yield a.get("vmc_before") == "0x00000000", \
        "VMClock's page is there and its marker reads 0 before the snapshot (%r)" % a.get("vmc_before")
    for g in (1, 2):
        yield a.get("r%d_vmc" % g) == "0x00000001", \
            "restore %d: the guest sees VMClock's disruption marker moved to 1 (%r)" % (
                g, a.get("r%d_vmc" % g))
    yield before is not None, "the last counter line before the snapshot (%s)" % a.get("before")
    mb = re.match(r"(\d+) mem_kb_used=(\d+) state_bytes=(\d+)", a.get("mem_bytes", ""))
    if mb:
        print("INFO memory file %s bytes (%s KiB on disk), state file %s bytes" % mb.groups())
    yield mb is not None and int(mb.group(1)) >= MEM_MIB << 20, \
        "the memory file holds all of RAM (%s)" % a.get("mem_bytes")
    elf = [l.strip()[4:] for l in r.guest_lines if l.startswith("ELF ")]
    loads = [l for l in elf if l.strip().startswith("LOAD")]
    yield any("CORE (Core file)" in l for l in elf) and any("X86-64" in l for l in elf), \
        "readelf: an x86-64 ELF core (%s)" % [l for l in elf if "Type:" in l or "Machine:" in l]
    yield len(loads) == 1 and any(l.strip().startswith("NOTE") for l in elf), \
        "readelf: a PT_NOTE and one PT_LOAD for %d MiB of RAM (%s)" % (MEM_MIB, loads)
    notes = [l.strip()[5:] for l in r.guest_lines if l.startswith("NOTE ")]
    yield sum("NT_PRSTATUS" in l for l in notes) == 2, \
        "readelf -n: an NT_PRSTATUS note per vCPU (%s)" % notes
    rb = rmw_counts(a.get("rmw_before", ""))
    yield len(rb) == 4 and all(v >= 1 for v in rb.values()) and \
        a.get("rmw_before", "").endswith("bad=0"), \
        "four disk writers (read-modify-write counters) were busy when the VM was paused, " \
        "every read matching the last write (%s)" % a.get("rmw_before")
    for g in (1, 2):
        ra = rmw_counts(a.get("r%d_rmw" % g, ""))
        yield len(rb) == 4 and len(ra) == 4 and all(ra[w] >= rb[w] + RMW_ROUNDS for w in rb) and \
            a.get("r%d_rmw" % g, "").endswith("bad=0"), \
            "restore %d: snapshots drain first: every writer goes on %d+ rounds from its count " \
            "at the snapshot, none stuck, no write lost or done twice (%s, before %s)" % (
                g, RMW_ROUNDS, a.get("r%d_rmw" % g), a.get("rmw_before"))
        rd = rmw_counts(a.get("r%d_rmw_disk" % g, ""))
        yield len(rd) == 4 and len(ra) == 4 and all(rd[w] >= ra[w] for w in ra), \
            "restore %d: the disk copy holds each writer's last counter or later (%s)" % (
                g, a.get("r%d_rmw_disk" % g))
    yield a.get("old_open_at_create") == "yes", "that connection was open while the snapshot was taken"
    yield st("old_conn") == "closed", \
        "killing Hearth closed the connection it held (L1's end: %s)" % a.get("old_conn")
    yield a.get("kill_mid_write") == "yes", "Hearth was killed while writing the memory file"
    left = (a.get("after_kill") or "").split()
    yield "k.snap" not in left and "k.mem" not in left and "vm.snap" in left, \
        "after SIGKILL mid-create neither k.snap nor k.mem exists (dir: %s)" % left
    yield st("k_restore") == "2", "restoring the killed snapshot fails with exit 2 (got %s)" % (
        a.get("k_restore"))
    yield st("load") == "204", "PUT /snapshot/load (resume_vm) is 204 (got %s)" % a.get("load")
    br = a.get("busy_restore", "")
    yield st("busy_restore") in ("1", "2") and "cannot listen on 127.0.0.1:5556" in br, \
        "a third restore beside restore 1 cannot bind the hostfwd port: exit 1 or 2 (no crash) " \
        "naming it (got %s)" % br
    yield '"Running"' in a.get("r1_info", ""), "GET / after load says Running (%s)" % a.get("r1_info")
    yield st("load_again") == "400", "a second snapshot/load is 400 (got %s)" % a.get("load_again")
    for g in (1, 2):
        n = "restore %d (%s)" % (g, "API" if g == 1 else "hearth restore")
        c = counts(r, "G%d" % g)
        yield a.get("r%d_inits" % g) == "0", "%s: the guest did not boot again (%s LAB init)" % (
            n, a.get("r%d_inits" % g))
        yield a.get("r%d_counting" % g) == "yes", "%s: the counter goes on 40 lines past the snapshot" % n
        if before and c:
            yield before[0] < c[0][0] <= before[0] + 2, \
                "%s: the first counter line after restore continues the count (%d then %d)" % (
                    n, before[0], c[0][0])
            yield c[0][1] >= before[1], \
                "%s: /proc/uptime goes on from the snapshot (%.2f then %.2f)" % (n, before[1], c[0][1])
        else:
            yield False, "%s: counter lines after restore (%s)" % (n, c)
        disk = [l for l in r.guest_lines if l.startswith("G%d LAB disk0 " % g)]
        yield bool(disk) and all(l.endswith("before-snap-mark") for l in disk), \
            "%s: the sector written before the snapshot reads back (%s)" % (n, disk)
        s1 = a.get("r%d_sector1" % g, "")
        m = re.match(r"after-(\d{8})$", s1)
        yield m is not None and before is not None and int(m.group(1)) > before[0], \
            "%s: a write after restore landed in its own disk copy (%s)" % (n, s1)
        yield a.get("r%d_wget" % g) == "yes", "%s: a new wget through the NIC succeeds" % n
        v = a.get("r%d_vsock" % g, "")
        yield ("vsock-echo:ping%d" % g) in v, \
            "%s: the guest's vsock listener accepts again after the transport reset (%s)" % (n, v)
        f = a.get("r%d_fwd" % g, "")
        yield ("tcp-echo:new%d+" % g) in f, \
            "%s: a new connection through the hostfwd port reaches the guest's listener (%s)" % (n, f)
        m = re.search(r"tcp-conns:(\d+)", f)
        if m:
            print("INFO %s: the guest has %s :7778 connection(s) open with the new one "
                  "(2: the pre-snapshot one still counts as established)" % (n, m.group(1)))
        yield a.get("r%d_exit" % g) == "3", "%s: SIGTERM ends it with exit 3 (got %s)" % (
            n, a.get("r%d_exit" % g))
    rss = a.get("r2_rss_kb", "")
    if rss.isdigit():
        print("INFO restored RSS right after restore: %s KiB (RAM %d MiB)" % (rss, MEM_MIB))
    yield a.get("mem_unchanged") == "yes", "the memory file's sha256 is unchanged by two restores"
    yield st("diff_untracked") == "400" and "dirty page tracking" in a.get("diff_untracked", ""), \
        "a Diff without dirty tracking is 400 (got %s)" % a.get("diff_untracked")
    yield st("base") == "0", "hearth snapshot (Full) of restore 1 exits 0 (got %s)" % a.get("base")
    yield st("base_resume") == "204", "resumed after the base (got %s)" % a.get("base_resume")
    yield st("diff") == "0", "hearth snapshot --diff exits 0 (got %s)" % a.get("diff")
    m = re.match(r"(\d+) base_kb=(\d+) diff_bytes=(\d+)", a.get("diff_kb", ""))
    if m:
        print("INFO diff memory file %s KiB on disk (base %s KiB), apparent size %s" % m.groups())
    yield m is not None and 4096 <= int(m.group(1)) <= (MEM_MIB << 10) // 4, \
        "the diff holds the guest's few MiB of writes and is much smaller than RAM (%s KiB, RAM %d KiB)" % (
            m.group(1) if m else "?", MEM_MIB << 10)
    yield m is not None and int(m.group(3)) == int(mb.group(1) if mb else -1), \
        "the diff memory file has the full file's size (holes for clean pages)"
    yield st("merge") == "0", "hearth snapshot-merge folds the diff onto a copy of its base (got %s)" % (
        a.get("merge"))
    md = re.match(r"LAB count (\d+) up=([\d.]+)", a.get("diff_before", ""))
    c3 = counts(r, "G3")
    h3 = [l.strip()[3:] for l in r.guest_lines if l.startswith("H3 ")]
    g3 = [l.strip()[3:] for l in r.guest_lines if l.startswith("G3 ")]
    yield a.get("r3_inits") == "0" and a.get("r3_counting") == "yes", \
        "the merged diff restores: the guest counts on without booting again (inits %s, exit %s%s)" % (
            a.get("r3_inits"), a.get("r3_exit"),
            "" if a.get("r3_counting") == "yes" else "; guest %s, last %s; hearth %s" % (g3[:2], a.get("r3_tail"), h3[:8]))
    yield md is not None and bool(c3) and int(md.group(1)) < c3[0][0] <= int(md.group(1)) + 2, \
        "after the merged diff the count continues from the diff's moment (%s then %s)" % (
            md.group(1) if md else "?", c3[0][0] if c3 else "?")
    for k, want in (("missing", "nope.snap"), ("truncated", "trunc"), ("version", "format version"),
                    ("uffd", "needs its image in drive_overrides"),
                    ("configured", "not allowed after configuring boot-specific resources")):
        v = a.get("bad_" + k, "")
        yield st("bad_" + k) == "400" and want in v, "bad input %s: 400 naming it (got %s)" % (k, v)
    c5 = counts(r, "G5")
    yield a.get("r5_inits") == "0" and a.get("r5_counting") == "yes", \
        "a snapshot restored through the Uffd backend continues its count (no second boot)"
    if before and c5:
        yield before[0] < c5[0][0] <= before[0] + 2, \
            "Uffd restore: the first counter line continues the count (%d then %d)" % (
                before[0], c5[0][0])
    else:
        yield False, "Uffd restore: counter lines after restore (%s)" % c5
    mu = re.match(r"(\d+) served=(\d+)", a.get("uffd_handler", ""))
    yield mu is not None and mu.group(1) == "0" and 0 < int(mu.group(2)) < MEM_MIB * 256, \
        "the Uffd handler exits 0 with Hearth, having served some but not all of the RAM's " \
        "pages (got %s)" % a.get("uffd_handler")
    yield '"Not started"' in a.get("bad_info", ""), \
        "after the refused loads the instance is still Not started (%s)" % a.get("bad_info")
    yield a.get("done") == "yes", "the plan ran to its end"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hearth", help="Hearth binary (default build/hearth, or $HEARTH)")
    ap.add_argument("--stream", action="store_true", help="stream L1's console to stderr")
    a = ap.parse_args()
    if a.hearth:
        os.environ["HEARTH"] = os.path.abspath(a.hearth)
    tools = {"/bin/curl": shutil.which("curl"), "/bin/readelf": shutil.which("readelf"),
             "/bin/uffd_handler": L.uffd_handler()}
    missing = [k for k, v in tools.items() if not v]
    if missing:
        print("FAIL %s not installed (scripts/deps.sh build installs them)" % missing)
        print("0 passed, 1 failed")
        return 1
    try:
        lab = L.Lab(stream=a.stream or None)
        dhcp = os.path.join(L.LAB_DIR, "snap-dhcp.sh")
        with open(dhcp, "w") as f:
            f.write(DHCP_SCRIPT)
        os.chmod(dhcp, 0o755)
        import test_virtio_vsock as V  # Debian's socat, fetched and cached by the vsock test
        socat, libs = V.get_socat()
        files = {"/lab/dhcp.sh": dhcp, "/usr/bin/socat": socat}
        files.update(libs)
        l2 = L.build_l2_initrd(lab.kernel, name="l2snap",
                               modules=["virtio_mmio", "virtio_blk", "virtio_net",
                                        "vmw_vsock_virtio_transport"],
                               files=files, extra_sh=l2_script())
        run = L.ShellRun("snapshot", "hearth", script(), timeout=RUN_TIMEOUT)
        run.initrd = l2
        l1files = {L.L1_BIN + "/socat": socat}
        l1files.update(libs)
        res = lab.run_plan([run], tag="snapshot", binaries=tools, files=l1files)
    except L.LabError as e:
        print("LAB FAILURE: %s" % e)
        return 3
    return L.report(res, [("snapshot", checks)], tail=60)


if __name__ == "__main__":
    sys.exit(main())
