/*
 * Guest RAM whose pages another process serves (the snapshot restore's
 * Uffd memory backend, Firecracker's): the regions are mapped anonymous
 * (guest_mem_init) and registered with a userfaultfd for missing-page
 * faults, so the first touch of every page, by a vCPU, by Hearth or by
 * the kernel on Hearth's behalf, waits until the handler has filled it
 * (UFFDIO_COPY). The userfaultfd stays open here as long as the RAM is
 * mapped: were the handler's copy the last one, a handler that died
 * would leave the guest silently reading zero pages; with this one held,
 * a fault waits instead.
 */
#ifndef HEARTH_MEM_GUEST_MEM_UFFD_H
#define HEARTH_MEM_GUEST_MEM_UFFD_H

#include "mem/guest_mem.h"

/*
 * Creates a userfaultfd (close-on-exec, non-blocking; kernel faults
 * included, so not UFFD_USER_MODE_ONLY), does the UFFDIO_API handshake
 * with no extra features, and registers each of gm's regions (mapped by
 * guest_mem_init, not yet touched), and its memory hotplug region when
 * it has one, for missing-page faults. gm then
 * holds it (gm->uffd) until guest_mem_destroy has unmapped the RAM.
 * Returns the userfaultfd (gm's: the caller duplicates it or passes it
 * on, and never closes it) or -errno: -EPERM when the kernel refuses it
 * to this process (userfaultfd(2) needs CAP_SYS_PTRACE or
 * vm.unprivileged_userfaultfd = 1; /dev/userfaultfd, tried next, needs
 * read-write access), -ENOSYS without userfaultfd, -EOPNOTSUPP when a
 * region cannot be served by UFFDIO_COPY, -EBUSY when gm has one already.
 */
int guest_mem_uffd_register(struct guest_mem *gm);

/*
 * gm keeps fd open until its RAM is unmapped, then closes it: the
 * handler's socket, whose end of file tells the handler that the RAM it
 * served is gone. Needs guest_mem_uffd_register first (-EINVAL).
 */
int guest_mem_uffd_keep(struct guest_mem *gm, int fd);

/*
 * Live migration's post-copy (migrate/postcopy.h): a userfaultfd made
 * ahead (before the sandbox seals) and armed on RAM later, when the
 * pages still to come are known. Not held by gm: its other paths (the
 * balloon, memory hotplug) never see it, and it is disarmed once every
 * page is in.
 *
 * guest_mem_uffd_open: a userfaultfd (as guest_mem_uffd_register makes
 * it) after the UFFDIO_API handshake; the fd or -errno.
 * guest_mem_uffd_arm / _disarm: gm's RAM regions registered for missing
 * pages, or registered no more (disarming wakes every fault still
 * waiting, which then reads zeros: only once no page is to come). 0 or
 * -errno (-EOPNOTSUPP where UFFDIO_COPY cannot serve a region).
 * guest_mem_uffd_unregister: [hva, hva + len) registered no more, and
 * every fault on it woken, one that raced the unregistering included
 * (what _disarm does per region). 0 or -errno.
 * guest_mem_uffd_place / _zero: len bytes (whole pages) at hva filled
 * from src, or with zeros, and whoever waits on them woken; a page there
 * already is -EEXIST. 0 or -errno.
 */
int guest_mem_uffd_open(void);
int guest_mem_uffd_arm(const struct guest_mem *gm, int fd);
int guest_mem_uffd_disarm(const struct guest_mem *gm, int fd);
int guest_mem_uffd_unregister(int fd, void *hva, uint64_t len);
int guest_mem_uffd_place(int fd, void *hva, const void *src, uint64_t len);
int guest_mem_uffd_zero(int fd, void *hva, uint64_t len);

#endif
