#include "sandbox/sandbox.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/allow.h"

/*
 * Each filter is compiled once, before a thread of its kind enters
 * service (sandbox_build_all, or that thread's own sandbox_enter, still
 * unfiltered), where a failure is an ordinary error; entering then needs
 * a single seccomp(2) call, which cannot run out of memory halfway. Not
 * all up front: libseccomp takes about a millisecond per filter, and the
 * API thread's is the only one `hearth serve` needs before it answers.
 */
static struct sock_fprog progs[THREAD_KINDS];
static int built[THREAD_KINDS];   /* 0: not yet; 1: built; -errno: failed */
static pthread_mutex_t build_lock = PTHREAD_MUTEX_INITIALIZER;
static bool ready;
static bool pci_hotplug;   /* under build_lock */
static bool vfio;          /* under build_lock */
static pthread_t prebuild_thread;
static bool prebuilding;   /* under join_lock */
static pthread_mutex_t join_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * libseccomp's SCMP_An() leave datum_b to the compiler, which clang (the
 * fuzz build) refuses under -Wmissing-field-initializers: spelled out here.
 */
static struct scmp_arg_cmp arg_cmp(unsigned int arg, enum scmp_compare op, scmp_datum_t a,
				   scmp_datum_t b)
{
	return (struct scmp_arg_cmp){ .arg = arg, .op = op, .datum_a = a, .datum_b = b };
}

static int add_arg_rules(scmp_filter_ctx ctx, unsigned int args)
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
	 * The pid is the one the filters are built in: Hearth's for its life,
	 * except across --new-pid-ns's fork, after which sandbox_repin builds
	 * them again for pid 1 (the sandbox probe's forked children are meant
	 * to be refused).
	 */
	if (!ret && (args & SB_TGKILL_SELF))
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
				       arg_cmp(0, SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0));
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

static int build_rules(scmp_filter_ctx ctx, const struct sandbox_list *l, bool hotplug,
		       bool with_vfio)
{
	unsigned int nsan, nhp, nhpi;
	const int *san = sandbox_list_sanitizer(&nsan);
	const int *hp = sandbox_list_pci_hotplug(&nhp);
	int ret = 0;

	const struct sandbox_ioctl *hpi = sandbox_list_pci_hotplug_ioctls(&nhpi);

	if (hotplug)
		ret = add_extension(ctx, hp, nhp, hpi, nhpi);
	if (with_vfio && !ret) {
		unsigned int nv, nvi;
		const int *v = sandbox_list_vfio(&nv);
		const struct sandbox_ioctl *vi = sandbox_list_vfio_ioctls(&nvi);

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
	return ret ? ret : add_arg_rules(ctx, l->args);
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

static int build_filter(enum thread_kind kind, struct sock_fprog *prog)
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
		ret = build_rules(ctx, sandbox_list_get(kind), kind == THREAD_IO && pci_hotplug,
				  kind == THREAD_VCPU && vfio);
	if (!ret)
		ret = export_prog(ctx, prog);
	seccomp_release(ctx);
	return ret;
}

int sandbox_export(enum thread_kind kind, struct sock_fprog *prog)
{
	if ((unsigned int)kind >= THREAD_KINDS)
		return -EINVAL;
	return build_filter(kind, prog);
}

/* kind's filter, compiled on first use; 0 or the build's -errno (kept). */
static int filter_get(enum thread_kind kind)
{
	int ret;

	pthread_mutex_lock(&build_lock);
	if (!built[kind]) {
		ret = build_filter(kind, &progs[kind]);
		built[kind] = ret ? ret : 1;
	}
	ret = built[kind] < 0 ? built[kind] : 0;
	pthread_mutex_unlock(&build_lock);
	return ret;
}

static void *prebuild_main(void *arg)
{
	pthread_setname_np(pthread_self(), "seccomp");
	/* A failure is kept in built[] and reported by whoever enters. */
	filter_get(THREAD_API);
	return arg;
}

void sandbox_prebuild_api(void)
{
	pthread_mutex_lock(&join_lock);
	if (ready && !prebuilding && !built[THREAD_API])
		prebuilding = !pthread_create(&prebuild_thread, NULL, prebuild_main, NULL);
	pthread_mutex_unlock(&join_lock);
}

static void prebuild_join(void)
{
	pthread_mutex_lock(&join_lock);
	if (prebuilding) {
		pthread_join(prebuild_thread, NULL);
		prebuilding = false;
	}
	pthread_mutex_unlock(&join_lock);
}

int sandbox_build_all(struct err *err)
{
	if (!ready)
		return 0;
	prebuild_join();
	/* Here rather than in sandbox_init: 450 lookups the API's first answer need not wait for. */
	sandbox_sigsys_names();
	for (int k = 0; k < THREAD_KINDS; k++) {
		int ret = filter_get((enum thread_kind)k);

		if (ret)
			return err_set(err, false, ret, "cannot build the %s thread's seccomp "
				       "filter: %s (--no-seccomp runs without filters)",
				       sandbox_list_get((enum thread_kind)k)->kind, strerror(-ret));
	}
	return 0;
}

/*
 * Sets *flag (an extension of kind's list) once; a filter built before the
 * VM's config was known is dropped, to be built again when kind enters.
 */
static void allow_extension(bool *flag, enum thread_kind kind)
{
	pthread_mutex_lock(&build_lock);
	if (!*flag) {
		*flag = true;
		if (built[kind] == 1)
			free(progs[kind].filter);
		progs[kind] = (struct sock_fprog){ 0 };
		built[kind] = 0;
	}
	pthread_mutex_unlock(&build_lock);
}

void sandbox_allow_pci_hotplug(void)
{
	allow_extension(&pci_hotplug, THREAD_IO);
}

void sandbox_allow_vfio(void)
{
	allow_extension(&vfio, THREAD_VCPU);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/*
 * glibc's qsort asks the kernel for the machine's memory (sysinfo) the
 * first time it sorts more than 1 KiB, and keeps the answer: ask it now,
 * while any thread may. Found in the lab: the MMDS sorting a large
 * object's keys, or the balloon its page numbers, on the io thread,
 * whose filter has no sysinfo.
 */
static void libc_warm_qsort(void)
{
	int v[512];

	for (int i = 0; i < 512; i++)
		v[i] = 512 - i;
	qsort(v, 512, sizeof(v[0]), cmp_int);
}

static int sandbox_hook(enum thread_kind kind)
{
	return sandbox_enter(kind);
}

int sandbox_init(struct err *err)
{
	int ret = 0;

	if (ready)
		return 0;
	/*
	 * glibc reads /etc/localtime on the first gmtime_r (the RTC on a vCPU,
	 * log file lines): read it now, while every thread may still open files.
	 */
	tzset();
	libc_warm_qsort();
	/*
	 * libseccomp only compiles here; seccomp(2) is Hearth's own call. Its
	 * first use would probe the kernel's seccomp features (~0.2 ms of
	 * syscalls, on the first answer's path) for a level that changes no
	 * exported program: the base level, stated (test_sandbox checks both
	 * export the same programs).
	 */
	seccomp_api_set(1);
	ret = sandbox_sigsys_install();
	if (ret)
		return err_set(err, false, ret, "cannot install the SIGSYS handler: %s",
			       strerror(-ret));
	ready = true;
	thread_hook_set(sandbox_hook);
	return 0;
}

int sandbox_repin(struct err *err)
{
	struct sock_fprog fresh[THREAD_KINDS] = { { 0 } };
	int k, ret = 0;

	if (!ready)
		return 0;
	prebuild_join();
	for (k = 0; k < THREAD_KINDS; k++) {
		ret = build_filter((enum thread_kind)k, &fresh[k]);
		if (ret)
			break;
	}
	if (ret) {
		err_set(err, false, ret, "cannot build the %s thread's seccomp filter again: %s",
			sandbox_list_get(k)->kind, strerror(-ret));
		for (k = 0; k < THREAD_KINDS; k++)
			free(fresh[k].filter);
		return ret;
	}
	pthread_mutex_lock(&build_lock);
	for (k = 0; k < THREAD_KINDS; k++) {
		free(progs[k].filter);
		progs[k] = fresh[k];
		built[k] = 1;
	}
	pthread_mutex_unlock(&build_lock);
	return 0;
}

int sandbox_enter(enum thread_kind kind)
{
	char name[16] = "?";
	int ret;

	if (!ready || (unsigned int)kind >= THREAD_KINDS)
		return -EINVAL;
	prebuild_join();
	ret = filter_get(kind);
	if (ret)
		return ret;
	/* The API thread alone may enter before them: its first answer does not wait. */
	if (kind != THREAD_API)
		sandbox_sigsys_names();
	/* Named now: the filter lets prctl read the name, but the handler cannot call it. */
	if (prctl(PR_GET_NAME, name, 0, 0, 0))
		snprintf(name, sizeof(name), "?");
	sandbox_sigsys_name_thread(name, sandbox_list_has(sandbox_list_get(kind), SCMP_SYS(unlink)));
	/* Unprivileged seccomp needs it; per thread, and inherited by its children. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &progs[kind]))
		return -errno;
	return 0;
}

void sandbox_report(FILE *out)
{
	for (int k = 0; k < THREAD_KINDS; k++) {
		const struct sandbox_list *l = sandbox_list_get((enum thread_kind)k);

		fprintf(out, "%s: %u syscalls:", l->kind, sandbox_list_size(l));
		for (unsigned int i = 0; i < l->nsyscalls; i++) {
			char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE,
								      l->syscalls[i]);

			fprintf(out, " %s", name ? name : "?");
			free(name);
		}
		if (l->args & SB_PRCTL_GET_NAME)
			fprintf(out, " prctl(PR_GET_NAME)");
		if (l->args & SB_MAP_NO_EXEC)
			fprintf(out, " mmap(no PROT_EXEC) mprotect(no PROT_EXEC)");
		if (l->args & SB_OPEN_EXISTING)
			fprintf(out, " openat(no O_CREAT/O_TRUNC/O_TMPFILE)");
		if (l->args & SB_TGKILL_SELF)
			fprintf(out, " tgkill(this process's threads)");
		if (l->nioctls) {
			fprintf(out, " ioctl(");
			for (unsigned int i = 0; i < l->nioctls; i++)
				fprintf(out, "%s%s", i ? " " : "", l->ioctls[i].name);
			fprintf(out, ")");
		}
		fprintf(out, "\n");
	}
}
