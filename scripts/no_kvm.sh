#!/usr/bin/env bash
# Runs a command as on a host whose /dev has no kvm node (the kvm modules
# may stay loaded, as on the machines where this was seen): a mount
# namespace of its own whose /dev is a tmpfs holding every entry of this
# host's /dev but kvm, each bound to the original. scripts/test.sh uses it
# for HEARTH_TEST_HOST=none on a host that has /dev/kvm, so that the tests,
# Hearth and the placement rule all see what such a host shows them.
#   scripts/no_kvm.sh CMD [ARGS...]
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }
if [ ! -e /dev/kvm ]; then
  exec "$@"
fi
exec unshare --mount --propagation private -- bash -c '
  set -euo pipefail
  orig=$(mktemp -d /tmp/hearth-dev.XXXXXX)
  mount --rbind /dev "$orig"
  mount -t tmpfs -o mode=0755,nosuid dev /dev
  for e in "$orig"/* "$orig"/.[!.]*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    n=${e##*/}
    [ "$n" = kvm ] && continue
    # A pty comes from the devpts instance beside the ptmx opened: its own.
    [ "$n" = ptmx ] && { ln -s pts/ptmx /dev/ptmx; continue; }
    if [ -L "$e" ]; then
      cp -P "$e" "/dev/$n"
    elif [ -d "$e" ]; then
      mkdir "/dev/$n" && mount --rbind "$e" "/dev/$n"
    else
      : >"/dev/$n" && mount --bind "$e" "/dev/$n"
    fi
  done
  umount -l "$orig" && rmdir "$orig"
  [ ! -e /dev/kvm ] || { echo "no_kvm.sh: /dev/kvm is still there" >&2; exit 1; }
  exec "$@"' no_kvm "$@"
