/* The zygote's deny list (zygote.h). */
#include "sandbox/zygote.h"

#include <errno.h>
#include <seccomp.h>
#include <stdbool.h>
#include <string.h>
#include <sys/prctl.h>

#include "sandbox/allow.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

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

const int *sandbox_zygote_denied(unsigned int *n)
{
	unsigned int k = 0;

	for (unsigned int i = 0; i < LEN(zygote_denied); i++)
		if (!sanitizer_needs(zygote_denied[i]))
			zygote_list[k++] = zygote_denied[i];
	*n = k;
	return zygote_list;
}

int sandbox_zygote_confine(struct err *err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	unsigned int n;
	const int *nr = sandbox_zygote_denied(&n);
	int ret;

	if (!ctx)
		return err_set(err, false, -ENOMEM, "the zygote's filter: out of memory");
	/* int 0x80 and x32 would reach the same calls by other numbers: refused whole. */
	ret = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(EPERM));
	for (unsigned int i = 0; !ret && i < n; i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr[i], 0);
	/* libseccomp sets no_new_privs first (its default), as a filter without CAP_SYS_ADMIN needs. */
	if (!ret)
		ret = seccomp_load(ctx);
	seccomp_release(ctx);
	if (ret)
		return err_set(err, false, ret, "the zygote's filter: %s", strerror(-ret));
	return 0;
}
