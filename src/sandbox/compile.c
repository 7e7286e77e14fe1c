#include "sandbox/compile.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "sandbox/allow.h"

/*
 * libseccomp's SCMP_An() leave datum_b to the compiler, which clang (the
 * fuzz build) refuses under -Wmissing-field-initializers: spelled out here.
 */
static struct scmp_arg_cmp arg_cmp(unsigned int arg, enum scmp_compare op, scmp_datum_t a,
				   scmp_datum_t b)
{
	return (struct scmp_arg_cmp){ .arg = arg, .op = op, .datum_a = a, .datum_b = b };
}

static int add_arg_rules(scmp_filter_ctx ctx, unsigned int args, uint32_t pid)
{
	int ret = 0;

	if (args & SB_PRCTL_GET_NAME)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				       arg_cmp(0, SCMP_CMP_EQ, PR_GET_NAME, 0));
	if (!ret && (args & SB_MAP_NO_EXEC))
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				       arg_cmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (!ret && (args & SB_MAP_NO_EXEC))
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				       arg_cmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (!ret && (args & SB_OPEN_EXISTING))
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
				       SCMP_A2(SCMP_CMP_MASKED_EQ,
					       O_CREAT | O_TRUNC | __O_TMPFILE, 0));
	/*
	 * A thread signals only its own process's threads (a vCPU kick, the
	 * seal's Landlock signal, the SIGSYS hand-off): Landlock scopes
	 * signals only from ABI 6 on and the PID namespace is opt-in, so
	 * without this a sealed Hearth could signal any process of its user.
	 * The pid is the one the filters are built in (sandbox.c): Hearth's
	 * for its life, except across --new-pid-ns's fork, after which
	 * sandbox_repin builds them again for pid 1 (the sandbox probe's
	 * forked children are meant to be refused).
	 */
	if (!ret && (args & SB_TGKILL_SELF))
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
				       arg_cmp(0, SCMP_CMP_EQ, (scmp_datum_t)pid, 0));
	return ret;
}

/* The syscalls and ioctl requests of a list pair, allowed whatever their arguments. */
static int add_extension(scmp_filter_ctx ctx, const int *nr, unsigned int n,
			 const struct sandbox_ioctl *io, unsigned int nio)
{
	int ret = 0;

	for (unsigned int i = 0; !ret && i < n; i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr[i], 0);
	for (unsigned int i = 0; !ret && i < nio; i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       arg_cmp(1, SCMP_CMP_EQ, (scmp_datum_t)io[i].req, 0));
	return ret;
}

/* A firmware VM's extension (allow.c): its vCPUs' ioctls, its io thread's. */
static int add_firmware(scmp_filter_ctx ctx, enum thread_kind kind)
{
	unsigned int ns = 0, ni;
	const int *nr = kind == THREAD_IO ? sandbox_list_firmware_io(&ns) : NULL;
	const struct sandbox_ioctl *io = sandbox_list_firmware_ioctls(kind, &ni);

	return add_extension(ctx, nr, ns, io, ni);
}

static int build_rules(scmp_filter_ctx ctx, const struct sandbox_list *l, bool hotplug,
		       bool with_vfio, uint32_t pid)
{
	unsigned int nsan, nhp, nhpi;
	const int *san = sandbox_list_sanitizer(&nsan);
	const int *hp = sandbox_list_pci_hotplug(&nhp);
	int ret = 0;

	const struct sandbox_ioctl *hpi = sandbox_list_pci_hotplug_ioctls(&nhpi);

	if (hotplug)
		ret = add_extension(ctx, hp, nhp, hpi, nhpi);
	if (with_vfio && !ret && l == sandbox_list_get(THREAD_VCPU)) {
		unsigned int nv, nvi;
		const int *v = sandbox_list_vfio(&nv);
		const struct sandbox_ioctl *vi = sandbox_list_vfio_ioctls(&nvi);

		ret = add_extension(ctx, v, nv, vi, nvi);
	} else if (with_vfio && !ret) {
		/* The same pread64 and pwrite64 (its command register), its own ioctls. */
		unsigned int nv, nvi;
		const int *v = sandbox_list_vfio(&nv);
		const struct sandbox_ioctl *vi = sandbox_list_vfio_io_ioctls(&nvi);

		ret = add_extension(ctx, v, nv, vi, nvi);
	}
	/*
	 * A user-mode NIC plugged in reads RLIMIT_NOFILE (slirp_guard.c): its
	 * own limits, read only (getrlimit is prlimit64 with no new limit).
	 */
	if (hotplug && !ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 2,
				       arg_cmp(0, SCMP_CMP_EQ, 0, 0), arg_cmp(2, SCMP_CMP_EQ, 0, 0));
	/* A rule the list already has is merged by libseccomp. */
	for (unsigned int i = 0; !ret && i < nsan; i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, san[i], 0);

	for (unsigned int i = 0; !ret && i < l->nsyscalls; i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, l->syscalls[i], 0);
	for (unsigned int i = 0; !ret && i < l->nioctls; i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       arg_cmp(1, SCMP_CMP_EQ, (scmp_datum_t)l->ioctls[i].req, 0));
	return ret ? ret : add_arg_rules(ctx, l->args, pid);
}

/* libseccomp 2.5 exports only to an fd: through a memfd, back into memory. */
static int export_prog(scmp_filter_ctx ctx, struct sock_fprog *prog)
{
	struct sock_filter *insns = NULL;
	off_t size;
	int fd, ret;

	fd = memfd_create("hearth-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = seccomp_export_bpf(ctx, fd);
	if (ret)
		goto err_close;
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % sizeof(*insns) || size / sizeof(*insns) > BPF_MAXINSNS) {
		ret = -E2BIG;
		goto err_close;
	}
	insns = malloc((size_t)size);
	if (!insns) {
		ret = -ENOMEM;
		goto err_close;
	}
	if (pread(fd, insns, (size_t)size, 0) != size) {
		ret = -EIO;
		goto err_free;
	}
	close(fd);
	prog->filter = insns;
	prog->len = (unsigned short)(size / sizeof(*insns));
	return 0;
err_free:
	free(insns);
err_close:
	close(fd);
	return ret;
}

int sandbox_compile(enum thread_kind kind, bool hotplug, bool vfio, uint32_t pid,
		    struct sock_fprog *prog)
{
	return sandbox_compile_ext(kind, hotplug, vfio, false, false, pid, prog);
}

int sandbox_compile_ext(enum thread_kind kind, bool hotplug, bool vfio, bool firmware,
			bool qcow2, uint32_t pid, struct sock_fprog *prog)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	int ret;

	if (!ctx)
		return -ENOMEM;
	/* Another architecture's syscalls (int 0x80) trap too, rather than kill silently. */
	ret = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_TRAP);
	/*
	 * A binary tree of syscall numbers, not a list: the kernel runs the
	 * program for every syscall number when the filter goes on (its
	 * allow cache) and on every syscall the cache does not cover, so a
	 * list's length costs twice. Measured: a 50-syscall list takes
	 * 110 us to install, its tree 44 us.
	 */
	if (!ret)
		ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (!ret)
		ret = build_rules(ctx, sandbox_list_get(kind), kind == THREAD_IO && hotplug,
				  (kind == THREAD_VCPU || kind == THREAD_IO) && vfio, pid);
	if (!ret && firmware && (kind == THREAD_VCPU || kind == THREAD_IO))
		ret = add_firmware(ctx, kind);
	if (!ret && qcow2 && kind == THREAD_IO) {
		unsigned int n;
		const int *nr = sandbox_list_qcow2_io(&n);

		ret = add_extension(ctx, nr, n, NULL, 0);
	}
	if (!ret)
		ret = export_prog(ctx, prog);
	seccomp_release(ctx);
	return ret;
}

int sandbox_compile_unix_only(struct sock_fprog *prog)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int ret;

	if (!ctx)
		return -ENOMEM;
	/* The thread's own filter traps another architecture's table already. */
	ret = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 1,
			       arg_cmp(0, SCMP_CMP_NE, AF_UNIX, 0));
	if (!ret)
		ret = export_prog(ctx, prog);
	seccomp_release(ctx);
	return ret;
}

int sandbox_compile_zygote(struct sock_fprog *prog)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	unsigned int n;
	const int *nr = sandbox_list_zygote_denied(&n);
	int ret;

	if (!ctx)
		return -ENOMEM;
	/* int 0x80 and x32 would reach the same calls by other numbers: refused whole. */
	ret = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(EPERM));
	if (!ret)
		ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (unsigned int i = 0; !ret && i < n; i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr[i], 0);
	if (!ret)
		ret = export_prog(ctx, prog);
	seccomp_release(ctx);
	return ret;
}
