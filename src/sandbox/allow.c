/*
 * What each thread calls after its setup, found by reading the code that
 * runs there (and checked by the lab, which boots every device with the
 * filters on). Setup itself (opening /dev/kvm, mapping RAM, creating the
 * vCPUs and devices) happens before a thread's filter is installed, so
 * none of it is here.
 */
#include "sandbox/allow.h"

#include <asm/ioctls.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/userfaultfd.h>
#include <linux/vfio.h>
#include <linux/vhost.h>
#include <seccomp.h>
#include <stddef.h>

#define IOCTL(r) { (unsigned long)(r), #r }
#define LEN(a) (unsigned int)(sizeof(a) / sizeof((a)[0]))

/*
 * A vCPU runs the guest, hands port and MMIO exits to device models that
 * only copy bytes, raise interrupt lines and wake the io thread (eventfd
 * writes, condition variables), and sleeps on HLT without an in-kernel
 * LAPIC. A reset or power-off kicks the other vCPUs (tgkill, to Hearth's
 * own threads only: SB_TGKILL_SELF, as on every thread). On a crash
 * it dumps the registers and the code at RIP.
 */
static const int vcpu_syscalls[] = {
	SCMP_SYS(futex), SCMP_SYS(write), SCMP_SYS(rt_sigreturn), SCMP_SYS(restart_syscall),
	SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
	SCMP_SYS(sched_yield), SCMP_SYS(getpid), SCMP_SYS(gettid),
	SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(madvise), SCMP_SYS(exit), SCMP_SYS(exit_group),
};

static const struct sandbox_ioctl vcpu_ioctls[] = {
	IOCTL(KVM_RUN), IOCTL(KVM_IRQ_LINE),
	/*
	 * An MSI-X vector unmasked with its message pending goes out at once
	 * (pci/msix.c); a table or capability write moves the vector's
	 * irqfd and its MSI route with it (virtio/pci/irqfd.c), and one that
	 * moves BAR 0 the queues' ioeventfds (virtio/pci/pci.c).
	 */
	IOCTL(KVM_SIGNAL_MSI), IOCTL(KVM_IRQFD), IOCTL(KVM_SET_GSI_ROUTING), IOCTL(KVM_IOEVENTFD),
	IOCTL(KVM_GET_REGS), IOCTL(KVM_GET_SREGS), IOCTL(KVM_TRANSLATE),
};

/*
 * The event loop: every device's queue work (virtio-blk on io_uring,
 * virtio-net on libslirp's sockets or a TAP fd, hybrid vsock on Unix
 * sockets, virtio-rng on getrandom), device activation and reset (irqfd,
 * ioeventfd, vhost and TUN ioctls, eventfds), drive swaps (PATCH
 * /drives), the console, timers, metrics lines, signals, and at the end
 * the teardown of it all. libslirp reads /etc/resolv.conf when the guest
 * first asks the DNS proxy and stats it for changes; a vhost device that
 * would not stop is reopened: hence opening existing files.
 */
static const int io_syscalls[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev), SCMP_SYS(close),
	SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl), SCMP_SYS(poll),
	SCMP_SYS(futex), SCMP_SYS(rt_sigreturn), SCMP_SYS(restart_syscall), SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
	SCMP_SYS(sched_yield), SCMP_SYS(getpid), SCMP_SYS(gettid),
	SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
	/* libslirp's hostfwd listeners take connections with accept, hybrid vsock with accept4. */
	SCMP_SYS(socket), SCMP_SYS(connect), SCMP_SYS(accept), SCMP_SYS(accept4), SCMP_SYS(bind),
	SCMP_SYS(listen),
	SCMP_SYS(getsockname), SCMP_SYS(getpeername), SCMP_SYS(setsockopt), SCMP_SYS(getsockopt),
	SCMP_SYS(shutdown), SCMP_SYS(recvfrom), SCMP_SYS(sendto), SCMP_SYS(recvmsg),
	SCMP_SYS(sendmsg), SCMP_SYS(fcntl), SCMP_SYS(eventfd2), SCMP_SYS(timerfd_settime),
	SCMP_SYS(io_uring_enter), SCMP_SYS(io_uring_register), SCMP_SYS(getrandom),
	SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(unlink), SCMP_SYS(exit_group),
	/* The NICs' MMDS sockets' private directory, removed with the last (net/mmds_http.c). */
	SCMP_SYS(rmdir),
	/*
	 * A disk's image unlocked as it closes (an unplugged drive, the old
	 * image of a PATCH): io_uring keeps the file until its ring is gone.
	 */
	SCMP_SYS(flock),
	/*
	 * glib (libslirp's) reads the time with it: a real syscall where the clock source has no vDSO mode (seen
	 * nested, in the lab, when libslirp logged on this thread).
	 */
	SCMP_SYS(gettimeofday),
};

static const struct sandbox_ioctl io_ioctls[] = {
	IOCTL(KVM_IRQ_LINE), IOCTL(KVM_IRQFD), IOCTL(KVM_IOEVENTFD),
	/*
	 * virtio-pci's interrupts: MSI-X messages through irqfds on MSI
	 * routes, whose table a restore rewrites, or KVM_SIGNAL_MSI where a
	 * route failed (virtio/pci.h).
	 */
	IOCTL(KVM_SIGNAL_MSI), IOCTL(KVM_SET_GSI_ROUTING),
	IOCTL(TUNSETOFFLOAD), IOCTL(TUNSETQUEUE),
	IOCTL(VHOST_SET_OWNER), IOCTL(VHOST_GET_FEATURES), IOCTL(VHOST_SET_FEATURES),
	IOCTL(VHOST_SET_MEM_TABLE), IOCTL(VHOST_SET_VRING_NUM), IOCTL(VHOST_SET_VRING_BASE),
	IOCTL(VHOST_SET_VRING_ADDR), IOCTL(VHOST_SET_VRING_CALL), IOCTL(VHOST_SET_VRING_KICK),
	IOCTL(VHOST_VSOCK_SET_GUEST_CID), IOCTL(VHOST_VSOCK_SET_RUNNING),
	IOCTL(VHOST_NET_SET_BACKEND),
	/* Pause (for a snapshot) reads vhost's ring positions back, with vhost stopped. */
	IOCTL(VHOST_GET_VRING_BASE),
	IOCTL(BLKGETSIZE64), IOCTL(FIONREAD),
	/* A balloon's pages given back on a Uffd restore read as zeros (mem/guest_mem_discard.c). */
	IOCTL(UFFDIO_ZEROPAGE),
	/*
	 * virtio-mem's plugs and unplugs map and unmap its region's slots; after
	 * a Uffd restore an unplugged range leaves the userfaultfd, so it reads
	 * zeros when plugged again (mem/guest_mem_hotplug.c).
	 */
	IOCTL(KVM_SET_USER_MEMORY_REGION), IOCTL(UFFDIO_UNREGISTER), IOCTL(UFFDIO_WAKE),
	IOCTL(TCGETS), IOCTL(TCSETS), IOCTL(TCSETSW), IOCTL(TCSETSF),
};

/*
 * The HTTP server (util/httpd.c) on its Unix socket, driven by our poll loop, and the
 * requests it hands us: most only post work to the io thread, pause and
 * resume kick the vCPUs, Ctrl-Alt-Del raises the keyboard's interrupt,
 * and PATCH /drives opens, locks and sizes the new image here before the
 * io thread swaps it in. Snapshots: PUT /snapshot/create reads the parked
 * vCPUs' and the VM's state through KVM here and writes the two files
 * (a temporary name, ftruncate, pwrite, fsync, rename; unlink on failure);
 * PUT /snapshot/load reads the state file and the memory file's ELF
 * headers here (the VM itself is built on the io thread).
 */
static const int api_syscalls[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(writev), SCMP_SYS(close),
	SCMP_SYS(poll), SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl),
	SCMP_SYS(accept4), SCMP_SYS(recvfrom), SCMP_SYS(sendto), SCMP_SYS(sendmsg),
	SCMP_SYS(shutdown), SCMP_SYS(setsockopt), SCMP_SYS(fcntl),
	SCMP_SYS(futex), SCMP_SYS(rt_sigreturn), SCMP_SYS(restart_syscall), SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
	SCMP_SYS(sched_yield), SCMP_SYS(getpid), SCMP_SYS(gettid),
	SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
	SCMP_SYS(openat), SCMP_SYS(flock), SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(lseek),
	SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(ftruncate), SCMP_SYS(fsync),
	SCMP_SYS(rename), SCMP_SYS(unlink),
	/*
	 * PUT /fork (host/fork.c): the paused VM's state and RAM into
	 * sealed memfds, handed to the zygote (sendmsg) with the request,
	 * whose answer comes back (recvmsg). No path is opened for it.
	 */
	SCMP_SYS(memfd_create), SCMP_SYS(recvmsg),
	SCMP_SYS(exit), SCMP_SYS(exit_group),
	/* glibc's clock falls back to it where the clock source has no vDSO mode. */
	SCMP_SYS(gettimeofday),
	/*
	 * The seal's signal handler (sandbox/tsync.c) restricts this thread,
	 * which runs since before the seal, where the kernel cannot do it for
	 * every thread at once. It can only ever take rights away.
	 */
	SCMP_SYS(landlock_restrict_self),
};

static const struct sandbox_ioctl api_ioctls[] = {
	IOCTL(KVM_IRQ_LINE), IOCTL(BLKGETSIZE64),
	/*
	 * A metrics line longer than PIPE_BUF to a FIFO asks how much is
	 * queued (util/file.c); the io thread writes them, but a FlushMetrics
	 * that races the loop's stop runs here.
	 */
	IOCTL(FIONREAD),
	/* snapshot/create, on parked vCPUs and the VM */
	IOCTL(KVM_CHECK_EXTENSION), IOCTL(KVM_GET_MSR_INDEX_LIST),
	IOCTL(KVM_GET_MP_STATE), IOCTL(KVM_GET_REGS), IOCTL(KVM_GET_SREGS),
	IOCTL(KVM_GET_XSAVE), IOCTL(KVM_GET_XSAVE2), IOCTL(KVM_GET_XCRS),
	IOCTL(KVM_GET_DEBUGREGS), IOCTL(KVM_GET_LAPIC), IOCTL(KVM_GET_MSRS),
	IOCTL(KVM_GET_VCPU_EVENTS), IOCTL(KVM_GET_IRQCHIP), IOCTL(KVM_GET_PIT2),
	IOCTL(KVM_GET_CLOCK), IOCTL(KVM_GET_DIRTY_LOG),
	/*
	 * PUT /reset (snapshot/restore.c's snap_reset): the parked vCPUs and
	 * the VM given their base's state again, as a restore gives it.
	 */
	IOCTL(KVM_SET_REGS), IOCTL(KVM_SET_SREGS), IOCTL(KVM_SET_MSRS), IOCTL(KVM_SET_LAPIC),
	IOCTL(KVM_SET_MP_STATE), IOCTL(KVM_SET_VCPU_EVENTS), IOCTL(KVM_SET_XSAVE),
	IOCTL(KVM_SET_XCRS), IOCTL(KVM_SET_DEBUGREGS), IOCTL(KVM_SET_IRQCHIP),
	IOCTL(KVM_SET_PIT2), IOCTL(KVM_SET_CLOCK),
};

/*
 * Live migration's thread (host/migrate.h): idle until a
 * migration runs. The source connects to its destination's Unix socket,
 * turns the dirty log on (KVM_SET_USER_MEMORY_REGION, the same slots with
 * KVM_MEM_LOG_DIRTY_PAGES), reads it pass by pass, and at the switch-over
 * pauses the VM and saves it as snapshot/create does on the api thread.
 * The destination listens (bind, before the seal: it receives into a
 * fresh instance), reads the stream into memfds and loads the VM from
 * them as PUT /snapshot/load does, then resumes it.
 */
static const int migrate_syscalls[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(writev), SCMP_SYS(close),
	SCMP_SYS(poll), SCMP_SYS(socket), SCMP_SYS(connect), SCMP_SYS(bind), SCMP_SYS(listen),
	SCMP_SYS(accept4), SCMP_SYS(recvfrom), SCMP_SYS(sendto), SCMP_SYS(sendmsg),
	SCMP_SYS(recvmsg), SCMP_SYS(shutdown), SCMP_SYS(setsockopt), SCMP_SYS(getsockopt),
	SCMP_SYS(fcntl), SCMP_SYS(unlink),
	/* The listening socket is bound under a temporary name and renamed into place (uds.c). */
	SCMP_SYS(rename), SCMP_SYS(renameat2),
	SCMP_SYS(futex), SCMP_SYS(rt_sigreturn), SCMP_SYS(restart_syscall), SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
	SCMP_SYS(sched_yield), SCMP_SYS(getpid), SCMP_SYS(gettid),
	SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
	/* The image memfds (no path is opened), read and locked as a restore reads its files. */
	SCMP_SYS(flock), SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(lseek),
	SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(ftruncate), SCMP_SYS(fallocate),
	SCMP_SYS(memfd_create),
	SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(gettimeofday),
	/*
	 * As the api thread's: restricted by the seal's signal, having run since
	 * before it; and, when the seal keeps no network, a filter of its own
	 * stacked on this one (no socket but AF_UNIX). Both only take rights away.
	 */
	SCMP_SYS(landlock_restrict_self), SCMP_SYS(seccomp),
	/* A TLS handshake's randoms (migrate/tls.c, GnuTLS). */
	SCMP_SYS(getrandom),
};

static const struct sandbox_ioctl migrate_ioctls[] = {
	IOCTL(KVM_GET_DIRTY_LOG), IOCTL(KVM_SET_USER_MEMORY_REGION), IOCTL(FIONREAD),
	/* The switch-over's save, on parked vCPUs and the VM, as snapshot/create's. */
	IOCTL(KVM_CHECK_EXTENSION), IOCTL(KVM_GET_MSR_INDEX_LIST),
	IOCTL(KVM_GET_MP_STATE), IOCTL(KVM_GET_REGS), IOCTL(KVM_GET_SREGS),
	IOCTL(KVM_GET_XSAVE), IOCTL(KVM_GET_XSAVE2), IOCTL(KVM_GET_XCRS),
	IOCTL(KVM_GET_DEBUGREGS), IOCTL(KVM_GET_LAPIC), IOCTL(KVM_GET_MSRS),
	IOCTL(KVM_GET_VCPU_EVENTS), IOCTL(KVM_GET_IRQCHIP), IOCTL(KVM_GET_PIT2),
	IOCTL(KVM_GET_CLOCK), IOCTL(KVM_IRQ_LINE),
	/*
	 * The destination's switch-over: the VM its prelude built takes the
	 * last state's records, as PUT /reset's on the api thread.
	 */
	IOCTL(KVM_SET_REGS), IOCTL(KVM_SET_SREGS), IOCTL(KVM_SET_MSRS), IOCTL(KVM_SET_LAPIC),
	IOCTL(KVM_SET_MP_STATE), IOCTL(KVM_SET_VCPU_EVENTS), IOCTL(KVM_SET_XSAVE),
	IOCTL(KVM_SET_XCRS), IOCTL(KVM_SET_DEBUGREGS), IOCTL(KVM_SET_IRQCHIP),
	IOCTL(KVM_SET_PIT2), IOCTL(KVM_SET_CLOCK),
	/*
	 * Post-copy's destination (host/migrate_postcopy.c): the userfaultfd
	 * made before the seal, armed on RAM, its pages placed, then disarmed
	 * (each range woken after, mem/guest_mem_uffd.c says why).
	 */
	IOCTL(UFFDIO_REGISTER), IOCTL(UFFDIO_UNREGISTER), IOCTL(UFFDIO_WAKE), IOCTL(UFFDIO_COPY),
	IOCTL(UFFDIO_ZEROPAGE),
};

static const struct sandbox_list lists[THREAD_KINDS] = {
	[THREAD_VCPU] = { "vcpu", vcpu_syscalls, LEN(vcpu_syscalls), vcpu_ioctls,
			  LEN(vcpu_ioctls), SB_PRCTL_GET_NAME | SB_MAP_NO_EXEC | SB_TGKILL_SELF },
	[THREAD_IO] = { "io", io_syscalls, LEN(io_syscalls), io_ioctls, LEN(io_ioctls),
			SB_PRCTL_GET_NAME | SB_MAP_NO_EXEC | SB_OPEN_EXISTING | SB_TGKILL_SELF },
	[THREAD_API] = { "api", api_syscalls, LEN(api_syscalls), api_ioctls, LEN(api_ioctls),
			 SB_PRCTL_GET_NAME | SB_MAP_NO_EXEC | SB_TGKILL_SELF },
	[THREAD_MIGRATE] = { "migrate", migrate_syscalls, LEN(migrate_syscalls), migrate_ioctls,
			     LEN(migrate_ioctls), SB_PRCTL_GET_NAME | SB_MAP_NO_EXEC |
			     SB_TGKILL_SELF },
};

/*
 * ASan/UBSan builds only: the runtime's alternate signal stacks, and
 * LeakSanitizer's check at exit, which runs on the main thread (under the
 * io filter) and stops the world with a ptrace'd clone of itself, reading
 * /proc through open(2) and getdents(2). Never in a release build.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
static const int sanitizer_syscalls[] = {
	SCMP_SYS(sigaltstack), SCMP_SYS(clone), SCMP_SYS(prctl), SCMP_SYS(ptrace), SCMP_SYS(wait4),
	SCMP_SYS(getdents64), SCMP_SYS(read), SCMP_SYS(close), SCMP_SYS(readlink),
	SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask), SCMP_SYS(sched_yield), SCMP_SYS(getpid),
	SCMP_SYS(gettid), SCMP_SYS(exit), SCMP_SYS(kill), SCMP_SYS(tgkill),
	SCMP_SYS(munmap), SCMP_SYS(madvise), SCMP_SYS(open), SCMP_SYS(getdents), SCMP_SYS(lseek),
	SCMP_SYS(getppid),
};

const int *sandbox_list_sanitizer(unsigned int *n)
{
	*n = LEN(sanitizer_syscalls);
	return sanitizer_syscalls;
}
#else
const int *sandbox_list_sanitizer(unsigned int *n)
{
	*n = 0;
	return NULL;
}
#endif

/*
 * The io thread's, on a VM whose devices are on PCI only: a disk or pmem
 * device plugged in after the start (vmm/vm_pci_hotplug.c) gets its rate
 * limiter's timer there, a NIC its timers too. Never io_uring_setup: a
 * ring made after the seal would be one nobody fenced (blk/ring.c), whose
 * SQEs open, create, rename and link what this filter refuses as
 * syscalls. A plugged device's ring was made with the VM, before any
 * seal (vmm/vm_pci_rings.c), and no thread's list has io_uring_setup.
 * Every extension's review: docs/security.md, "What a list's extension
 * grants".
 */
static const int pci_hotplug_syscalls[] = {
	SCMP_SYS(timerfd_create),
	/*
	 * libslirp's new instance (a user-mode NIC) asks getppid (its random
	 * seed). Its frames wait in FIFOs behind an eventfd (virtio/net/slirp.c),
	 * which every io thread may make; no NIC plugged in serves the MMDS
	 * (its list names NICs that exist before boot), so none needs the
	 * MMDS stack's socket pair.
	 */
	SCMP_SYS(getppid),
};

/*
 * ...and a NIC plugged in, its TAP attached there. TUNSETIFF binds a
 * /dev/net/tun descriptor to an interface by name, as far as the tun
 * driver's own check lets this process (a TAP of its user's, or with no
 * owner; a new one only with CAP_NET_ADMIN, which the seal drops and
 * whose netlink sockets this thread has anyway). A sandbox sealed with
 * namespaces or Landlock keeps no /dev/net/tun.
 */
static const struct sandbox_ioctl pci_hotplug_ioctls[] = {
	IOCTL(TUNSETIFF), IOCTL(TUNSETVNETHDRSZ),
};

const int *sandbox_list_pci_hotplug(unsigned int *n)
{
	*n = LEN(pci_hotplug_syscalls);
	return pci_hotplug_syscalls;
}

const struct sandbox_ioctl *sandbox_list_pci_hotplug_ioctls(unsigned int *n)
{
	*n = LEN(pci_hotplug_ioctls);
	return pci_hotplug_ioctls;
}

const struct sandbox_list *sandbox_list_get(enum thread_kind kind)
{
	return (unsigned int)kind < THREAD_KINDS ? &lists[kind] : NULL;
}

bool sandbox_list_has(const struct sandbox_list *l, int nr)
{
	for (unsigned int i = 0; i < l->nsyscalls; i++)
		if (l->syscalls[i] == nr)
			return true;
	return false;
}

unsigned int sandbox_list_size(const struct sandbox_list *l)
{
	return l->nsyscalls + (l->nioctls > 0) + !!(l->args & SB_PRCTL_GET_NAME) +
	       2 * !!(l->args & SB_MAP_NO_EXEC) + !!(l->args & SB_OPEN_EXISTING) +
	       !!(l->args & SB_TGKILL_SELF);
}

/*
 * A vCPU's, on a VM with a device passed through (pci/vfio.h): its
 * trapped BAR pages and its command register are read and written
 * through the device fd, MSI-X turned on and off in the device, and a
 * BAR the guest moves takes its KVM slots with it.
 */
static const int vfio_vcpu_syscalls[] = { SCMP_SYS(pread64), SCMP_SYS(pwrite64) };

static const struct sandbox_ioctl vfio_vcpu_ioctls[] = {
	IOCTL(VFIO_DEVICE_SET_IRQS), IOCTL(KVM_SET_USER_MEMORY_REGION),
};

const int *sandbox_list_vfio(unsigned int *n)
{
	*n = LEN(vfio_vcpu_syscalls);
	return vfio_vcpu_syscalls;
}

const struct sandbox_ioctl *sandbox_list_vfio_ioctls(unsigned int *n)
{
	*n = LEN(vfio_vcpu_ioctls);
	return vfio_vcpu_ioctls;
}

/*
 * The io thread's, on the same VM, besides the vCPUs' pread64 and
 * pwrite64: a function-level reset the guest asked for, and a device
 * unplugged from the guest, are quiesced there (pci/vfio.c): its command
 * register and interrupts off, its BARs' slots away, the device reset. Nothing here opens a device: one given at start is unplugged
 * and plugged back, never a new one.
 */
static const struct sandbox_ioctl vfio_io_ioctls[] = {
	IOCTL(VFIO_DEVICE_SET_IRQS), IOCTL(VFIO_DEVICE_RESET), IOCTL(KVM_SET_USER_MEMORY_REGION),
};

const struct sandbox_ioctl *sandbox_list_vfio_io_ioctls(unsigned int *n)
{
	*n = LEN(vfio_io_ioctls);
	return vfio_io_ioctls;
}

/*
 * A firmware VM's (vmm/vm_fw.h), after sandbox_allow_firmware. Its vCPUs:
 * a write to a CFI flash takes it out of array mode, or puts it back,
 * and its array's read-only slot goes or comes with it, on the vCPU that
 * wrote, as QEMU's does (devices/pflash.h).
 */
static const struct sandbox_ioctl fw_vcpu_ioctls[] = {
	IOCTL(KVM_SET_USER_MEMORY_REGION),
};

/*
 * Its io thread: the variable store's sectors written to its file (the
 * flash's flush), and the HPET's LegacyReplacement, which stops KVM's
 * PIT (KVM_PIT_FLAGS_HPET_LEGACY) and starts it again.
 */
static const int fw_io_syscalls[] = { SCMP_SYS(pwrite64) };

static const struct sandbox_ioctl fw_io_ioctls[] = {
	IOCTL(KVM_GET_PIT2), IOCTL(KVM_SET_PIT2),
};

const int *sandbox_list_firmware_io(unsigned int *n)
{
	*n = LEN(fw_io_syscalls);
	return fw_io_syscalls;
}

const struct sandbox_ioctl *sandbox_list_firmware_ioctls(enum thread_kind kind, unsigned int *n)
{
	if (kind == THREAD_VCPU) {
		*n = LEN(fw_vcpu_ioctls);
		return fw_vcpu_ioctls;
	}
	*n = LEN(fw_io_ioctls);
	return fw_io_ioctls;
}

/*
 * A VM with a qcow2 drive, after sandbox_allow_qcow2: its io thread runs
 * the engine (virtio/blk/qdisk.h), which reads and writes the images'
 * metadata and the clusters the ring does not take, makes them durable
 * with fdatasync and punches out the clusters it lets go, every one on a
 * descriptor opened before the seal (a read of a backing file's extent
 * goes to the disk's io_uring, on the file's registered slot:
 * virtio/blk/qio.c).
 */
static const int qcow2_io_syscalls[] = {
	SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(fdatasync), SCMP_SYS(fallocate),
};

const int *sandbox_list_qcow2_io(unsigned int *n)
{
	*n = LEN(qcow2_io_syscalls);
	return qcow2_io_syscalls;
}

/*
 * Each is a way out of the sandbox a clone builds, or into another
 * process, and none is on any thread's list (allow.c) nor in a clone's
 * path to its seal: a clone is forked, never exec'd; it opens its files
 * by path beneath --fork-dir; its namespaces are new ones, never joined;
 * the device nodes a jail needs were made at the template's start.
 */
static const int zygote_denied[] = {
	/* Another program, or another process's memory. */
	SCMP_SYS(execve), SCMP_SYS(execveat), SCMP_SYS(ptrace), SCMP_SYS(process_vm_readv),
	SCMP_SYS(process_vm_writev), SCMP_SYS(pidfd_getfd), SCMP_SYS(kcmp),
	/* The kernel's own code and programs. */
	SCMP_SYS(kexec_load), SCMP_SYS(kexec_file_load), SCMP_SYS(init_module),
	SCMP_SYS(finit_module), SCMP_SYS(delete_module), SCMP_SYS(bpf), SCMP_SYS(perf_event_open),
	SCMP_SYS(uselib),
	/* Files reached other than by path, and new devices. */
	SCMP_SYS(open_by_handle_at), SCMP_SYS(name_to_handle_at), SCMP_SYS(mknod),
	SCMP_SYS(mknodat), SCMP_SYS(fanotify_init),
	/* Mounts through the new API (a clone's sandbox uses mount(2)), another's namespaces. */
	SCMP_SYS(fsopen), SCMP_SYS(fsmount), SCMP_SYS(fsconfig), SCMP_SYS(fspick),
	SCMP_SYS(move_mount), SCMP_SYS(open_tree), SCMP_SYS(mount_setattr), SCMP_SYS(setns),
	/* Faults served by user code: the classic way to widen a kernel race. */
	SCMP_SYS(userfaultfd),
	/* Keys, the host's clock, swap, power, logs, accounting, quotas, raw ports. */
	SCMP_SYS(keyctl), SCMP_SYS(add_key), SCMP_SYS(request_key), SCMP_SYS(settimeofday),
	SCMP_SYS(clock_settime), SCMP_SYS(clock_adjtime), SCMP_SYS(adjtimex), SCMP_SYS(swapon),
	SCMP_SYS(swapoff), SCMP_SYS(reboot), SCMP_SYS(syslog), SCMP_SYS(acct), SCMP_SYS(quotactl),
	SCMP_SYS(quotactl_fd), SCMP_SYS(iopl), SCMP_SYS(ioperm), SCMP_SYS(vhangup),
	SCMP_SYS(lookup_dcookie),
};

static int zygote_list[LEN(zygote_denied)];

static bool sanitizer_needs(int nr)
{
	unsigned int n;
	const int *san = sandbox_list_sanitizer(&n);

	for (unsigned int i = 0; i < n; i++)
		if (san[i] == nr)
			return true;
	return false;
}

const int *sandbox_list_zygote_denied(unsigned int *n)
{
	unsigned int k = 0;

	for (unsigned int i = 0; i < LEN(zygote_denied); i++)
		if (!sanitizer_needs(zygote_denied[i]))
			zygote_list[k++] = zygote_denied[i];
	*n = k;
	return zygote_list;
}
