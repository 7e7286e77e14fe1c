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
#include "sandbox/compile.h"

/*
 * Each filter is made once, before a thread of its kind enters service
 * (sandbox_build_all, or that thread's own sandbox_enter, still
 * unfiltered), where a failure is an ordinary error; entering then needs
 * a single seccomp(2) call, which cannot run out of memory halfway. Made
 * is mostly copied: the build compiled each kind's plain program
 * (compile.h), and only a thread kind with an extension (PCI hotplug's on
 * the io thread, VFIO's on the vCPUs and the io thread) is compiled here.
 */
static struct sock_fprog progs[THREAD_KINDS];
static int built[THREAD_KINDS];   /* 0: not yet; 1: built; -errno: failed */
static pthread_mutex_t build_lock = PTHREAD_MUTEX_INITIALIZER;
static bool ready;
static bool pci_hotplug;   /* under build_lock */
static bool vfio;          /* under build_lock */
static bool firmware;      /* under build_lock */
static bool qcow2;         /* under build_lock */

int sandbox_precompiled_get(enum thread_kind kind, uint32_t pid, struct sock_fprog *prog)
{
	const struct sandbox_precompiled *pre;
	struct sock_filter *insns;

	if ((unsigned int)kind >= THREAD_KINDS)
		return -EINVAL;
	pre = &sandbox_precompiled[kind];
	insns = malloc(pre->len * sizeof(*insns));
	if (!insns)
		return -ENOMEM;
	memcpy(insns, pre->insns, pre->len * sizeof(*insns));
	if (pre->pid_at >= 0)
		insns[pre->pid_at].k = pid;
	prog->filter = insns;
	prog->len = pre->len;
	return 0;
}

/* For the pid the process has now (sandbox_repin's reason to build again). */
static int build_filter(enum thread_kind kind, struct sock_fprog *prog)
{
	bool hp = kind == THREAD_IO && pci_hotplug;
	bool with_vfio = (kind == THREAD_VCPU || kind == THREAD_IO) && vfio;
	bool with_fw = (kind == THREAD_VCPU || kind == THREAD_IO) && firmware;
	bool with_q = kind == THREAD_IO && qcow2;

	if (!hp && !with_vfio && !with_fw && !with_q)
		return sandbox_precompiled_get(kind, (uint32_t)getpid(), prog);
	return sandbox_compile_ext(kind, hp, with_vfio, with_fw, with_q, (uint32_t)getpid(),
				   prog);
}

int sandbox_export(enum thread_kind kind, struct sock_fprog *prog)
{
	bool hp, with_vfio, with_fw, with_q;

	if ((unsigned int)kind >= THREAD_KINDS)
		return -EINVAL;
	pthread_mutex_lock(&build_lock);
	hp = kind == THREAD_IO && pci_hotplug;
	with_vfio = (kind == THREAD_VCPU || kind == THREAD_IO) && vfio;
	with_fw = (kind == THREAD_VCPU || kind == THREAD_IO) && firmware;
	with_q = kind == THREAD_IO && qcow2;
	pthread_mutex_unlock(&build_lock);
	return sandbox_compile_ext(kind, hp, with_vfio, with_fw, with_q, (uint32_t)getpid(),
				   prog);
}

/* kind's filter, made on first use; 0 or the build's -errno (kept). */
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

int sandbox_build_all(struct err *err)
{
	if (!ready)
		return 0;
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

/* An extension both the vCPU and io threads gain from: the io thread's program is made again too. */
static void io_program_again(void)
{
	pthread_mutex_lock(&build_lock);
	if (built[THREAD_IO] == 1)
		free(progs[THREAD_IO].filter);
	progs[THREAD_IO] = (struct sock_fprog){ 0 };
	built[THREAD_IO] = 0;
	pthread_mutex_unlock(&build_lock);
}

void sandbox_allow_vfio(void)
{
	allow_extension(&vfio, THREAD_VCPU);
	io_program_again();
}

void sandbox_allow_firmware(void)
{
	allow_extension(&firmware, THREAD_VCPU);
	io_program_again();
}

void sandbox_allow_qcow2(void)
{
	allow_extension(&qcow2, THREAD_IO);
}

static int cmp_none(const void *a, const void *b)
{
	(void)a;
	(void)b;
	return 0;
}

/*
 * glibc's qsort asks the kernel for the machine's memory (sysinfo) the
 * first time it sorts more than 1 KiB, and keeps the answer: ask it now,
 * while any thread may. Found in the lab: the MMDS sorting a large
 * object's keys, or the balloon its page numbers, on the io thread,
 * whose filter has no sysinfo. One element of 1 KiB is such a sort, and
 * compares nothing.
 */
static void libc_warm_qsort(void)
{
	char one[1024] = { 0 };

	qsort(one, 1, sizeof(one), cmp_none);
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
	ret = filter_get(kind);
	if (ret)
		return ret;
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
