/*
 * The jail of every VM, with --jail-uids and --jail-gid (priv.h,
 * docs/sandboxes.md "Jailed"): each `hearth serve` the server starts (a
 * template's, a restore's) runs under Hearth's --jail in a directory of
 * its own, as a user of its own from the range. A clone is its
 * template's fork, so it shares that jail and user. Its files are
 * placed in the jail, never made its user's: the images are links of
 * world-readable files, or copies only the group may read. What a jailed
 * VM wrote (its snapshots, its whole directory) is handled without
 * following a link it may have planted there.
 */
#include "sandboxd/priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "util/log.h"

/* A VM's directory holds dev/ and vm/, vm/ its files and snap/: no deeper. */
#define TREE_DEPTH_MAX 4

int sbx_jail_init(struct sbx_jail *j, const struct sbx_config *cfg)
{
	*j = (struct sbx_jail){ .on = cfg->jail_uid_count > 0, .first = cfg->jail_uid_first,
				.count = cfg->jail_uid_count, .gid = cfg->jail_gid };
	pthread_mutex_init(&j->lock, NULL);
	if (!j->on)
		return 0;
	j->used = calloc(j->count, 1);
	return j->used ? 0 : -ENOMEM;
}

void sbx_jail_fini(struct sbx_jail *j)
{
	free(j->used);
	j->used = NULL;
	pthread_mutex_destroy(&j->lock);
}

int sbx_jail_check_run(const struct sbx *s, struct err *e)
{
	struct statvfs st;

	if (!s->jail.on)
		return 0;
	if (statvfs(s->run, &st))
		return err_set(e, false, -errno, "%s: %s", s->run, strerror(errno));
	/* Each jail's /dev/kvm is a node made beneath it: nodev would refuse its open. */
	if (st.f_flag & ST_NODEV)
		return err_set(e, true, -EINVAL, "--run-dir %s: its file system is mounted nodev, "
			       "where a jail's /dev/kvm cannot be opened; give --run-dir on one that "
			       "is not (with --jail-uids)", s->run);
	return 0;
}

static int take_uid(struct sbx_jail *j, uid_t *out)
{
	int ret = -EAGAIN;

	pthread_mutex_lock(&j->lock);
	for (unsigned int i = 0; i < j->count; i++)
		if (!j->used[i]) {
			j->used[i] = 1;
			*out = j->first + i;
			ret = 0;
			break;
		}
	pthread_mutex_unlock(&j->lock);
	return ret;
}

void sbx_jail_give(struct sbx_vm *vm)
{
	struct sbx_jail *j = vm->jail;

	if (!j)
		return;
	pthread_mutex_lock(&j->lock);
	if (vm->uid >= j->first && vm->uid - j->first < j->count)
		j->used[vm->uid - j->first] = 0;
	pthread_mutex_unlock(&j->lock);
	vm->jail = NULL;
}

int sbx_vm_dir(struct sbx *s, const char *kind, struct sbx_vm *vm, struct err *e)
{
	char *where = s->jail.on ? vm->root : vm->dir;
	size_t len = s->jail.on ? sizeof(vm->root) : sizeof(vm->dir);
	int ret = sbx_new_dir(s, kind, where, len);

	if (ret)
		return err_set(e, false, ret, "%s/%s: a VM's directory: %s", s->run, kind,
			       strerror(-ret));
	vm->own_dir = true;
	if (!s->jail.on)
		return 0;
	if (snprintf(vm->dir, sizeof(vm->dir), "%s/vm", vm->root) >= (int)sizeof(vm->dir))
		return err_set(e, false, -ENAMETOOLONG, "%s: path too long", vm->root);
	if (take_uid(&s->jail, &vm->uid))
		return err_set(e, false, -EAGAIN, "every uid of --jail-uids (%u) runs a VM",
			       s->jail.count);
	vm->jail = &s->jail;
	/* Its root is root's (its user may not replace vm/); vm/ is its user's. */
	if (chmod(vm->root, 0711) || mkdir(vm->dir, 0700) ||
	    chown(vm->dir, vm->uid, s->jail.gid))
		return err_set(e, false, -errno, "%s: %s", vm->dir, strerror(errno));
	return 0;
}

const char *sbx_vm_in(const struct sbx_vm *vm, const char *host)
{
	size_t n = strlen(vm->root);

	/* Every path the server gives a jailed VM is beneath its root. */
	if (n && !strncmp(host, vm->root, n) && host[n] == '/')
		return host + n;
	return host;
}

int sbx_jail_own(const struct sbx *s, const struct sbx_vm *vm, const char *path,
		 struct err *e)
{
	if (!s->jail.on)
		return 0;
	if (lchown(path, vm->uid, s->jail.gid))
		return err_set(e, false, -errno, "chown %s: %s", path, strerror(errno));
	return 0;
}

/* to: a copy of from, a reflink where the file system has them. 0 or -errno. */
static int copy_file(int in, const char *to, mode_t mode, gid_t gid, bool set_gid)
{
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat st;
	int ret = 0;

	if (out < 0)
		return -errno;
	if (fstat(in, &st))
		ret = -errno;
	else if (ioctl(out, FICLONE, in)) {
		/* Another file system: a copy, once per template boot or restore. */
		for (off_t left = st.st_size; left > 0;) {
			ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);

			if (n <= 0) {
				ret = n < 0 ? -errno : -EIO;
				break;
			}
			left -= n;
		}
	}
	if (!ret && set_gid && (fchown(out, 0, gid) || fchmod(out, mode)))
		ret = -errno;
	close(out);
	if (ret)
		unlink(to);
	return ret;
}

int sbx_jail_place(const struct sbx *s, const char *from, const char *to, struct err *e)
{
	struct stat st;
	int in, ret;

	/*
	 * A link where the VM's user may read it anyway, or one of the jails'
	 * own read-only files (a copy or a sealed snapshot): nothing more given.
	 */
	if (!link(from, to)) {
		if (!s->jail.on || (!stat(to, &st) && ((st.st_mode & S_IROTH) ||
			(st.st_uid == 0 && st.st_gid == s->jail.gid && (st.st_mode & 0660) == 0440))))
			return 0;
		unlink(to);
	}
	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return err_set(e, false, -errno, "open %s: %s", from, strerror(errno));
	ret = copy_file(in, to, 0440, s->jail.gid, s->jail.on);
	close(in);
	return ret ? err_set(e, false, ret, "copy %s to %s: %s", from, to, strerror(-ret)) : 0;
}

int sbx_jail_seal(const struct sbx *s, int dir, const char *name, struct err *e)
{
	struct stat st;
	int fd, ret = 0;

	if (!s->jail.on)
		return 0;
	/* Written by a jailed user: a regular file of its own, not a link to one of anybody's. */
	fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, false, -errno, "snapshot file %s: %s", name, strerror(errno));
	if (fstat(fd, &st))
		ret = -errno;
	else if (!S_ISREG(st.st_mode) || st.st_nlink != 1)
		ret = -EPERM;
	else if (fchown(fd, 0, s->jail.gid) || fchmod(fd, 0440))
		ret = -errno;
	close(fd);
	if (ret == -EPERM)
		return err_set(e, false, ret, "snapshot file %s: not a regular file of the VM's "
			       "own (%o, %u links)", name, (unsigned int)st.st_mode,
			       (unsigned int)st.st_nlink);
	return ret ? err_set(e, false, ret, "snapshot file %s: %s", name, strerror(-ret)) : 0;
}

/* Everything in dir (an fd, closed here), nothing followed, depth levels down at most. */
static void remove_in(int dfd, int depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;

	if (!d) {
		close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		int sub;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!unlinkat(dfd, de->d_name, 0) || errno != EISDIR)
			continue;
		sub = depth < TREE_DEPTH_MAX ? openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY |
						      O_NOFOLLOW | O_CLOEXEC) : -1;
		if (sub >= 0)
			remove_in(sub, depth + 1);
		if (unlinkat(dfd, de->d_name, AT_REMOVEDIR))
			log_warn("sandboxes: cannot remove %s: %s", de->d_name, strerror(errno));
	}
	closedir(d);
}

void sbx_remove_tree(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return;
	remove_in(fd, 1);
	if (rmdir(dir))
		log_warn("sandboxes: cannot remove %s: %s", dir, strerror(errno));
}
