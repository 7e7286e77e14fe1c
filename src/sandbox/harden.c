#include "sandbox/harden.h"

#include <dirent.h>
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/policy.h"

/* The highest fd open now: /proc may be gone later, so this runs before the pivot. */
static unsigned long highest_fd(void)
{
	unsigned long hi = 2;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	if (!d)
		return 256;     /* a guess with room: the limit still has its spare */
	while ((e = readdir(d))) {
		char *end;
		unsigned long fd = strtoul(e->d_name, &end, 10);

		if (!*end && e->d_name[0] != '.' && fd > hi)
			hi = fd;
	}
	closedir(d);
	return hi;
}

static int set_limit(int res, rlim_t v)
{
	struct rlimit rl = { v, v };

	return setrlimit(res, &rl) ? -errno : 0;
}

int harden_process(unsigned int vcpus, bool nproc_own, struct err *err)
{
	struct rlimit old;
	const char *what = "RLIMIT_CORE";
	int ret;

	ret = set_limit(RLIMIT_CORE, 0);
	if (!ret) {
		what = "RLIMIT_NOFILE";
		ret = getrlimit(RLIMIT_NOFILE, &old) ? -errno : 0;
	}
	if (!ret)
		ret = set_limit(RLIMIT_NOFILE, sandbox_nofile_limit(highest_fd(), old.rlim_max));
	if (!ret && nproc_own) {
		what = "RLIMIT_NPROC";
		ret = set_limit(RLIMIT_NPROC, sandbox_nproc_limit(vcpus));
	}
#if !defined(__SANITIZE_ADDRESS__)
	/* LeakSanitizer's exit check ptraces the process from a clone: dumpable there. */
	if (!ret) {
		what = "PR_SET_DUMPABLE";
		ret = prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) ? -errno : 0;
	}
#endif
	if (ret)
		err_set(err, false, ret, "cannot set %s: %s", what, strerror(-ret));
	return ret;
}

int harden_thread(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	/*
	 * The bounding set needs CAP_SETPCAP, which goes last (capset). The
	 * kernel's caps are numbered from 0 without a gap: EINVAL is the one
	 * past its last. EPERM (no CAP_SETPCAP) is every cap's answer; the
	 * no_new_privs above already keeps an exec from gaining any of them.
	 */
	for (unsigned long cap = 0; cap <= 63; cap++) {
		if (!prctl(PR_CAPBSET_DROP, cap, 0, 0, 0))
			continue;
		if (errno == EINVAL || errno == EPERM)
			break;
		return -errno;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		return -errno;
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data))
		return -errno;
	return 0;
}
