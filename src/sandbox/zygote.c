/* The zygote's own filter (zygote.h), as the build compiled it (compile.h). */
#include "sandbox/zygote.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/compile.h"

int sandbox_zygote_confine(struct err *err)
{
	/*
	 * Copied from the binary, not compiled here: libseccomp's heap would
	 * stay in the zygote, and every clone's first allocations would land
	 * on its pages and make them its own (about 16 kB a clone, measured).
	 */
	struct sock_fprog prog = { sandbox_precompiled_zygote.len,
				   (struct sock_filter *)sandbox_precompiled_zygote.insns };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return err_set(err, false, -errno, "the zygote's filter: no_new_privs: %s",
			       strerror(errno));
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
		return err_set(err, false, -errno, "the zygote's filter: %s", strerror(errno));
	return 0;
}
