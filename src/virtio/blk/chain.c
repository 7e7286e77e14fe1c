/*
 * Opening a qcow2 image's backing chain by the trust rule (chain.h): the
 * request's names, or under backing_from_header the headers' own, each
 * beneath its image's directory.
 */
#include "virtio/blk/chain.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "disk/qcow2.h"
#include "util/file.h"
#include "util/log.h"

_Static_assert(BLK_BACKING_MAX + 1 == QCOW2_CHAIN_MAX, "a chain is the top image and its backing");

/* Whose header, in a message: the image's own ("its"), or a backing file's by name. */
#define WHO(w, level) (level) ? (w)->names[level] : "its", (level) ? "'s" : ""

/* What the walk has opened so far: level 0 is the top image. */
struct chain_walk {
	struct blk_config *cfg;
	const char *names[QCOW2_CHAIN_MAX];   /* for messages; [0] the image's path */
	char *owned[QCOW2_CHAIN_MAX];         /* the names this walk made */
	int fds[QCOW2_CHAIN_MAX];             /* [0] the top image's buffered descriptor */
	int dir;                              /* backing_from_header: this level's directory */
};

/* The header of the qcow2 image on fd, read only; the handle let go at once. */
static int chain_header(int fd, const char *name, struct qcow2_info *info, struct err *err)
{
	struct qcow2_opts o = { .writable = false };
	struct qcow2 *q = NULL;
	int ret = qcow2_open(fd, &o, &q, err);

	if (ret)
		return err_prefix(err, ret, "disk %s: ", name);
	*info = *qcow2_info(q);
	qcow2_close(q);
	return 0;
}

static int chain_openat2(int dir, const char *name, uint64_t flags)
{
	struct open_how how = {
		.flags = flags | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dir, name, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

/* A header's name under backing_from_header: relative, and no '..' anywhere in it. */
static int chain_name_ok(const struct chain_walk *w, unsigned int level, const char *name,
			 struct err *err)
{
	const char *p = name;

	if (name[0] == '/')
		return err_set(err, true, -EPERM, "disk %s: %s%s header names backing file '%s', "
			       "an absolute name: under backing_from_header a header's name must "
			       "be inside its image's own directory", w->cfg->path, WHO(w, level),
			       name);
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 2 && !strncmp(p, "..", 2))
			return err_set(err, true, -EPERM, "disk %s: %s%s header names backing file "
				       "'%s', with '..' in it: under backing_from_header a header's "
				       "name must be inside its image's own directory", w->cfg->path,
				       WHO(w, level), name);
		p += n;
		p += *p == '/';
	}
	return 0;
}

/*
 * The header's name, beneath the directory of the image at level (w->dir,
 * which moves to the new file's own). The file's descriptor, or -errno.
 */
static int chain_open_header_name(struct chain_walk *w, unsigned int level, const char *name,
				  struct err *err)
{
	const char *slash = strrchr(name, '/');
	char sub[QCOW2_NAME_MAX + 1];
	int fd, dir;

	fd = chain_name_ok(w, level, name, err);
	if (fd)
		return fd;
	fd = chain_openat2(w->dir, name, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return err_set(err, fd != -ENOMEM, fd, "disk %s: %s%s header names backing file "
			       "'%s': %s%s", w->cfg->path, WHO(w, level), name, strerror(-fd),
			       fd == -ELOOP ? " (a symbolic link on the way: never followed under "
			       "backing_from_header)" : fd == -EXDEV ? " (it leads out of its image's "
			       "directory)" : fd == -ENOSYS ? " (backing_from_header needs openat2, "
			       "Linux 5.6)" : "");
	/* The next level's names are resolved in this file's own directory. */
	if (slash) {
		snprintf(sub, sizeof(sub), "%.*s", (int)(slash - name), name);
		dir = chain_openat2(w->dir, sub, O_PATH | O_DIRECTORY);
	} else {
		dir = fcntl(w->dir, F_DUPFD_CLOEXEC, 0);
		if (dir < 0)
			dir = -errno;
	}
	if (dir < 0) {
		close(fd);
		return err_set(err, false, dir, "disk %s: the directory of backing file '%s': %s",
			       w->cfg->path, name, strerror(-dir));
	}
	close(w->dir);
	w->dir = dir;
	return fd;
}

/* The directory the top image is in, for its header's name. */
static int chain_top_dir(struct chain_walk *w, struct err *err)
{
	const char *path = w->cfg->path, *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path))
			  : strdup(".");
	int ret = 0;

	if (!dir)
		return err_set(err, false, -ENOMEM, "disk %s: out of memory", path);
	w->dir = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (w->dir < 0)
		ret = err_set(err, false, -errno, "disk %s: its directory %s: %s", path, dir,
			      strerror(errno));
	free(dir);
	return ret;
}

/* The format its parent's header gives the layer below level: qcow2 or raw, else refused. */
static int chain_format(const struct chain_walk *w, unsigned int level,
			const struct qcow2_info *info, bool *raw, struct err *err)
{
	if (!info->backing_fmt[0])
		return err_set(err, true, -EINVAL, "disk %s: %s%s header names backing file '%s' "
			       "but not its format (backing_fmt), which Hearth never guesses: "
			       "record it (qemu-img rebase -u -b '%s' -F qcow2|raw)", w->cfg->path,
			       WHO(w, level), info->backing_file, info->backing_file);
	*raw = !strcmp(info->backing_fmt, "raw");
	if (!*raw && strcmp(info->backing_fmt, "qcow2"))
		return err_set(err, true, -ENOTSUP, "disk %s: %s%s header gives backing file '%s' "
			       "the format '%s': a backing file is qcow2 or raw", w->cfg->path,
			       WHO(w, level), info->backing_file, info->backing_fmt);
	return 0;
}

/*
 * The file below level, opened: its descriptor in w and cfg, type and loop
 * checked, then locked shared. 0 or -errno with err.
 */
static int chain_take(struct chain_walk *w, unsigned int level, const struct qcow2_info *info,
		      bool raw, struct err *err)
{
	struct blk_config *cfg = w->cfg;
	struct qcow2_link links[QCOW2_CHAIN_MAX];
	struct stat st;
	char *name;
	int fd, ret;

	if (cfg->backing_from_header) {
		fd = chain_open_header_name(w, level, info->backing_file, err);
		name = strdup(info->backing_file);
	} else if (level >= cfg->nbacking) {
		return err_set(err, true, -EPERM, "disk %s: %s%s header names backing file '%s', "
			       "which the request does not name: a backing file is a host resource, "
			       "never an image's to choose (name it: backing=FILE, \"backing_files\"; "
			       "or allow the header's name within the image's own directory: "
			       "backing=header, \"backing_from_header\")", cfg->path, WHO(w, level),
			       info->backing_file);
	} else {
		fd = open(cfg->backing[level], O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			fd = err_set(err, true, -errno, "disk %s: cannot open backing file %s: %s",
				     cfg->path, cfg->backing[level], strerror(errno));
		name = strdup(cfg->backing[level]);
	}
	if (fd < 0) {
		free(name);
		return fd;
	}
	cfg->chain_fd[level] = fd;
	cfg->chain_raw[level] = raw;
	cfg->nchain = level + 1;
	w->owned[level + 1] = name;
	w->names[level + 1] = name ? name : "(a backing file)";
	w->fds[level + 1] = fd;
	ret = file_check_type(fd, true, &st, err);
	if (ret) {
		err->usage = true;
		return err_prefix(err, ret, "disk %s: backing file %s: ", cfg->path,
				  w->names[level + 1]);
	}
	/* One file twice is a loop: refused before its lock, which the image's would meet. */
	for (unsigned int i = 0; i <= level + 1; i++)
		links[i] = (struct qcow2_link){ w->fds[i], w->names[i] };
	ret = qcow2_chain_check(links, level + 2, err);
	if (ret)
		return err_prefix(err, ret, "disk %s: ", cfg->path);
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		return errno == EWOULDBLOCK
			? err_set(err, true, -EBUSY, "disk %s: backing file %s is in use by another "
				  "process (written there)", cfg->path, w->names[level + 1])
			: err_set(err, false, -errno, "disk %s: backing file %s: cannot lock: %s",
				  cfg->path, w->names[level + 1], strerror(errno));
	return 0;
}

/* The walk from level 0 down, one header at a time; at most QCOW2_CHAIN_MAX levels. */
static int chain_walk(struct chain_walk *w, struct err *err)
{
	struct blk_config *cfg = w->cfg;
	struct qcow2_info info;
	unsigned int level;
	bool raw = false;
	int ret;

	for (level = 0;; level++) {
		ret = chain_header(w->fds[level], w->names[level], &info, err);
		if (ret)
			return ret;
		/* What the device will open writable must open so (the engine's rules). */
		if (level == 0 && !cfg->readonly && (info.dirty || info.nb_snapshots))
			return err_set(err, true, -ENOTSUP, "disk %s: %s: a writable qcow2 drive "
				       "must have %s (open it read only, or settle it with qemu-img)",
				       cfg->path, info.dirty ? "its dirty bit is set" :
				       "it holds internal snapshots", info.dirty ?
				       "its refcounts settled" : "no internal snapshot");
		if (!info.has_backing)
			break;
		if (level == BLK_BACKING_MAX)
			return err_set(err, true, -ELOOP, "disk %s: its backing chain is deeper than "
				       "%u images (%s%s header names yet another, '%s')", cfg->path,
				       QCOW2_CHAIN_MAX, WHO(w, level), info.backing_file);
		ret = chain_format(w, level, &info, &raw, err);
		if (!ret)
			ret = chain_take(w, level, &info, raw, err);
		if (ret)
			return ret;
		if (raw)
			break;
	}
	/* Names the request gave past the chain's end: it meant another chain. */
	if (!cfg->backing_from_header && cfg->nchain < cfg->nbacking)
		return err_set(err, true, -EINVAL, "disk %s: the request names backing file %s "
			       "under %s, %s", cfg->path, cfg->backing[cfg->nchain],
			       w->names[cfg->nchain], raw ? "a raw layer, which has none"
			       : "whose header names no backing file");
	return 0;
}

int blk_chain_open(struct blk_config *cfg, struct err *err)
{
	struct chain_walk w = { .cfg = cfg, .dir = -1 };
	int ret = 0;

	cfg->nchain = 0;
	w.names[0] = cfg->path;
	w.fds[0] = cfg->fd_buffered >= 0 ? cfg->fd_buffered : cfg->fd;
	/*
	 * Compressed clusters need zlib, which a sealed sandbox can no longer
	 * map: loaded now. Without it only those clusters fail to read.
	 */
	if (qcow2_inflate_load(err))
		log_warn("disk %s: %s: compressed clusters will not read", cfg->path, err->msg);
	if (cfg->backing_from_header)
		ret = chain_top_dir(&w, err);
	if (!ret)
		ret = chain_walk(&w, err);
	for (unsigned int i = 0; i < QCOW2_CHAIN_MAX; i++)
		free(w.owned[i]);
	if (w.dir >= 0)
		close(w.dir);
	if (ret)
		blk_chain_close(cfg);
	return ret;
}

void blk_chain_close(struct blk_config *cfg)
{
	for (unsigned int i = 0; i < cfg->nchain; i++)
		close(cfg->chain_fd[i]);
	cfg->nchain = 0;
}
