#include "sandbox/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* The host's nodes the VM may open, re-created (same numbers) inside the jail. */
static const char *const jail_nodes[] = {
	"/dev/kvm", "/dev/net/tun", "/dev/vhost-net", "/dev/vhost-vsock", "/dev/urandom",
	/* A userfaultfd for its user (a Uffd restore, post-copy's destination), as the jailer's. */
	"/dev/userfaultfd",
};

static int jail_dir(int root, const char *rel)
{
	return mkdirat(root, rel, 0755) && errno != EEXIST ? -errno : 0;
}

static int jail_node(int root, const char *host, uid_t uid, gid_t gid)
{
	const char *rel = host + 1;
	struct stat st;

	if (stat(host, &st) || !S_ISCHR(st.st_mode))
		return 0;       /* not on this host: the VM cannot use it either */
	if (mknodat(root, rel, S_IFCHR | 0600, st.st_rdev) && errno != EEXIST)
		return -errno;
	/* Ours alone: the jail's user opens it, nobody else's bits matter. */
	if (fchownat(root, rel, uid, gid, AT_SYMLINK_NOFOLLOW) ||
	    fchmodat(root, rel, 0600, 0))
		return -errno;
	return 0;
}

int jail_make_nodes(int root, const char *const *nodes, size_t n, uid_t uid, gid_t gid,
		    const char **failed)
{
	int ret = 0;

	for (size_t i = 0; !ret && i < n; i++) {
		*failed = nodes[i];
		ret = jail_node(root, nodes[i], uid, gid);
	}
	return ret;
}

int jail_drop(uid_t uid, gid_t gid, const char **what)
{
	/* Groups first: setuid would take the right to change them away. */
	*what = "dropping to --uid/--gid";
	if (setgroups(0, NULL) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid))
		return -errno;
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
	const char *what = dir;
	int root, ret = 0;

	root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		ret = -errno;
		goto err_report;
	}
	what = "dev/";
	ret = jail_dir(root, "dev");
	if (!ret)
		ret = jail_dir(root, "dev/net");
	if (!ret)
		ret = jail_make_nodes(root, jail_nodes, sizeof(jail_nodes) / sizeof(jail_nodes[0]),
				      uid, gid, &what);
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
