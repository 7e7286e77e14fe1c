#include "sandbox/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <string.h>
#include <unistd.h>

#include "sandbox/jail_fs.h"

int jail_drop(uid_t uid, gid_t gid, const char **what)
{
	pid_t parent = getppid();
	int death = 0;

	/* Groups first: setuid would take the right to change them away. */
	*what = "dropping to --uid/--gid";
	if (prctl(PR_GET_PDEATHSIG, &death) || setgroups(0, NULL) ||
	    setresgid(gid, gid, gid) || setresuid(uid, uid, uid))
		return -errno;
	/*
	 * The kernel clears a parent-death signal when the credentials change:
	 * one the caller set (`hearth sandboxes` does) is set again, and a
	 * parent that went meanwhile is honoured as it would have been.
	 */
	if (death && (prctl(PR_SET_PDEATHSIG, death) || getppid() != parent)) {
		*what = "the parent-death signal";
		return getppid() != parent ? -ESRCH : -errno;
	}
	/*
	 * A uid change from root clears the capabilities; check it did (the
	 * jailer's --uid 0 asks to stay root: nothing to check).
	 */
	if (uid != 0 && setuid(0) == 0) {
		*what = "root could be regained";
		return -EPERM;
	}
	return 0;
}

int jail_enter(const char *dir, uid_t uid, gid_t gid, bool netns, bool pidns, struct err *err)
{
	struct jail_node nodes[JAIL_NODES_MAX];
	const char *what = dir;
	int root, ret = 0;

	root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		ret = -errno;
		goto err_report;
	}
	/* Its nodes as the jailer makes them: nothing in DIR is followed, whoever wrote it. */
	ret = jail_make_nodes(root, nodes, jail_nodes(nodes), uid, gid, &what);
	close(root);
	if (ret)
		goto err_report;
	what = "unshare";
	if (unshare(CLONE_NEWIPC | CLONE_NEWUTS | (netns ? CLONE_NEWNET : 0) |
		    (pidns ? CLONE_NEWPID : 0))) {
		ret = -errno;
		goto err_report;
	}
	what = "chroot";
	if (chdir(dir) || chroot(".") || chdir("/")) {
		ret = -errno;
		goto err_report;
	}
	ret = jail_drop(uid, gid, &what);
	if (ret)
		goto err_report;
	return 0;
err_report:
	return err_set(err, false, ret, "--jail: %s: %s", what, strerror(-ret));
}
