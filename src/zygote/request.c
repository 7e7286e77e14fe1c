/*
 * The zygote's checks of a fork request (zygote_priv.h): the template is
 * sealed and may be a compromised guest's, so what it sends is read again
 * in full, its memfds must be sealed, each clone's overrides must match
 * the template's devices, and every path must resolve beneath --fork-dir.
 */
#include "zygote/priv.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "control/control.h"
#include "snapshot/config_rec.h"
#include "snapshot/file.h"
#include "snapshot/format.h"
#include "snapshot/snapshot.h"
#include "util/file.h"
#include "virtio/net.h"

static int beneath(int dir, const char *path, int flags, struct err *err, const char *what)
{
	struct open_how how = { .flags = (uint64_t)flags | O_CLOEXEC,
				.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS };
	int fd = (int)syscall(SYS_openat2, dir, path, &how, sizeof(how));

	if (fd < 0)
		return err_set(err, true, -errno, "%s '%.64s': %s%s", what, path, strerror(errno),
			       errno == EXDEV ? " (it leads out of --fork-dir)" : "");
	return fd;
}

/* A socket or output the clone makes: its directory beneath --fork-dir, nothing there yet. */
static int check_new(int dir, const char *path, bool may_exist, struct err *err,
		     const char *what)
{
	char *copy = strdup(path), *slash;
	const char *base = path;
	struct stat st;
	int d, ret = 0;

	if (!copy)
		return err_set(err, false, -ENOMEM, "out of memory");
	slash = strrchr(copy, '/');
	if (slash) {
		*slash = '\0';
		base = slash + 1;
	}
	d = beneath(dir, slash ? copy : ".", O_PATH | O_DIRECTORY, err, what);
	if (d < 0) {
		free(copy);
		return d;
	}
	if (!fstatat(d, base, &st, AT_SYMLINK_NOFOLLOW) &&
	    (!may_exist || !S_ISREG(st.st_mode)))
		ret = err_set(err, true, -EEXIST, "%s '%.64s': %s", what, path,
			      may_exist ? "not a regular file" : "already exists");
	close(d);
	free(copy);
	return ret;
}

/* A file a device of the request holds: which it is, and whether it is written. */
struct held {
	dev_t dev;
	ino_t ino;
	bool writable;
	char what[96];
};

/* The files the request's devices hold, so far (n of room). */
struct held_set {
	struct held *v;
	size_t n, room;
};

/*
 * fd's file, held by what: refused when a device of the request holds it
 * already and either writes it (two clones' disks, a disk and a pmem, two
 * pmem mapped shared: one file written by two devices). Names given in
 * the request may differ for one file; its inode may not.
 */
static int held_add(struct held_set *h, int fd, bool writable, const char *what,
		    struct err *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return err_set(err, false, -errno, "%s: %s", what, strerror(errno));
	for (size_t i = 0; i < h->n; i++)
		if (h->v[i].dev == st.st_dev && h->v[i].ino == st.st_ino &&
		    (writable || h->v[i].writable))
			return err_set(err, true, -EBUSY, "%s: the same file as %s, written by one "
				       "of them: each clone's writable files are its own", what,
				       h->v[i].what + strlen("fork: "));
	if (h->n == h->room) {
		size_t room = h->room ? 2 * h->room : 16;
		struct held *v = realloc(h->v, room * sizeof(*v));

		if (!v)
			return err_set(err, false, -ENOMEM, "fork: out of memory");
		h->v = v;
		h->room = room;
	}
	h->v[h->n] = (struct held){ st.st_dev, st.st_ino, writable, "" };
	snprintf(h->v[h->n++].what, sizeof(h->v[0].what), "%s", what);
	return 0;
}

/* A firmware VM's image (read) and variable store (written: the clone's own), beneath --fork-dir. */
static int check_firmware(const struct zygote *z, const struct fork_clone *c, unsigned int i,
			  struct held_set *h, struct err *err)
{
	const char *paths[2] = { c->load.firmware_path, c->load.firmware_vars_path };
	char what[96];
	int ret = 0;

	for (unsigned int k = 0; !ret && k < 2; k++) {
		int fd;

		if (!paths[k])
			continue;
		snprintf(what, sizeof(what), "fork: clone %u: firmware %s", i,
			 k ? "variable store" : "image");
		fd = beneath(z->dir, paths[k], k ? O_RDWR : O_RDONLY, err, what);
		ret = fd < 0 ? fd : held_add(h, fd, k == 1, what, err);
		if (fd >= 0)
			close(fd);
	}
	return ret;
}

/* Every device path of clone i, before any clone exists; the files they hold go into h. */
static int check_paths(const struct zygote *z, const struct fork_clone *c, unsigned int i,
		       struct held_set *h, struct err *err)
{
	char what[96];
	int ret, fd;

	snprintf(what, sizeof(what), "fork: clone %u: api_sock", i);
	ret = check_new(z->dir, c->api_sock, false, err, what);
	if (!ret && c->load.vsock_uds_path) {
		snprintf(what, sizeof(what), "fork: clone %u: vsock_override uds_path", i);
		ret = check_new(z->dir, c->load.vsock_uds_path, false, err, what);
	}
	for (unsigned int d = 0; !ret && d < c->load.n_drive_overrides; d++) {
		const struct snap_drive_override *o = &c->load.drive_overrides[d];

		snprintf(what, sizeof(what), "fork: clone %u: drive '%s'", i, o->drive_id);
		fd = beneath(z->dir, o->path_on_host, o->is_read_only ? O_RDONLY : O_RDWR, err,
			     what);
		ret = fd < 0 ? fd : held_add(h, fd, !o->is_read_only, what, err);
		if (fd >= 0)
			close(fd);
		/* A qcow2 drive's backing files: read, never written, beneath --fork-dir too. */
		for (unsigned int b = 0; !ret && b < o->n_backing; b++) {
			snprintf(what, sizeof(what), "fork: clone %u: drive '%s' backing file %u", i,
				 o->drive_id, b + 1);
			fd = beneath(z->dir, o->backing_files[b], O_RDONLY, err, what);
			ret = fd < 0 ? fd : held_add(h, fd, false, what, err);
			if (fd >= 0)
				close(fd);
		}
	}
	for (unsigned int d = 0; !ret && d < c->load.n_pmem_overrides; d++) {
		const struct snap_pmem_override *o = &c->load.pmem_overrides[d];

		snprintf(what, sizeof(what), "fork: clone %u: pmem '%s'", i, o->id);
		fd = beneath(z->dir, o->path_on_host, o->read_only ? O_RDONLY : O_RDWR, err, what);
		ret = fd < 0 ? fd : held_add(h, fd, !o->read_only, what, err);
		if (fd >= 0)
			close(fd);
	}
	return ret ? ret : check_firmware(z, c, i, h, err);
}

/*
 * Clone i's NICs against the template's command line: a clone's request
 * passes through the template, which may be a compromised guest's, and
 * could otherwise put a clone on any TAP of this namespace (another
 * tenant's) or give its user-mode NIC the host's loopback and ports.
 */
static int check_net(const struct zygote *z, const struct fork_clone *c, unsigned int i,
		     struct err *err)
{
	const char *taps = z->sb.fork_taps;

	for (unsigned int k = 0; k < c->load.n_overrides; k++) {
		const struct snap_net_override *o = &c->load.overrides[k];
		struct net_config user;
		int ret;

		if (o->host_dev_name && (!taps || strncmp(o->host_dev_name, taps, strlen(taps))))
			return err_set(err, true, -EPERM, "fork: clone %u: NIC '%s' on TAP '%.32s': "
				       "%s", i, o->iface_id, o->host_dev_name, taps ?
				       "not a TAP this template's --fork-taps allows" :
				       "this template gives clones no TAP (start it with --fork-taps "
				       "PREFIX)");
		if (!o->backend || z->sb.fork_hostfwd)
			continue;
		ret = virtio_net_parse(o->backend, &user, err);
		if (ret)
			return err_prefix(err, ret, "fork: clone %u: NIC '%s': ", i, o->iface_id);
		if (user.host_loopback || user.nfwd)
			return err_set(err, true, -EPERM, "fork: clone %u: NIC '%s': %s needs the "
				       "template's --fork-hostfwd", i, o->iface_id,
				       user.nfwd ? "a hostfwd" : "host-loopback");
	}
	return 0;
}

/*
 * Clone i's serial_out: new, or an existing regular file that is no
 * device's: none of the request's (h), and none a running VM holds (a
 * disk's or pmem's lock: the template's own image, an earlier clone's).
 * The clone appends to it; it must never append to someone's disk.
 */
static int check_serial_out(const struct zygote *z, const struct fork_clone *c, unsigned int i,
			    const struct held_set *h, struct err *err)
{
	char what[96];
	struct stat st;
	int fd, ret;

	if (!c->serial_out)
		return 0;
	snprintf(what, sizeof(what), "fork: clone %u: serial_out", i);
	ret = check_new(z->dir, c->serial_out, true, err, what);
	if (ret)
		return ret;
	fd = beneath(z->dir, c->serial_out, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, err, what);
	if (fd == -ENOENT)
		return 0;       /* made by the clone */
	if (fd < 0)
		return fd;
	ret = fstat(fd, &st) < 0 ? err_set(err, false, -errno, "%s: %s", what, strerror(errno))
				 : 0;
	for (size_t k = 0; !ret && k < h->n; k++)
		if (h->v[k].dev == st.st_dev && h->v[k].ino == st.st_ino)
			ret = err_set(err, true, -EBUSY, "%s '%.64s' is %s's file", what,
				      c->serial_out, h->v[k].what + strlen("fork: "));
	if (!ret && flock(fd, LOCK_EX | LOCK_NB) < 0)
		ret = errno == EWOULDBLOCK
		      ? err_set(err, true, -EBUSY, "%s '%.64s' is a running VM's disk or pmem file "
				"(it holds its lock)", what, c->serial_out)
		      : err_set(err, false, -errno, "%s: %s", what, strerror(errno));
	close(fd);
	return ret;
}

/* The template's config against each clone's overrides: the rules a restore applies. */
static int check_overrides(const void *cfgrec, size_t len, const struct fork_req *f,
			   struct err *err)
{
	for (unsigned int i = 0; i < f->n; i++) {
		struct vm_config cfg;
		int ret;

		vm_config_init(&cfg);
		ret = snap_config_restore(&cfg, cfgrec, len, err);
		if (!ret)
			ret = snap_load_host(&cfg, &f->clones[i].load, err);
		vm_config_release(&cfg);
		if (ret)
			return err_prefix(err, ret, "fork: clone %u: ", i);
	}
	return 0;
}

static int check_sealed(int fd, const char *what, struct err *err)
{
	int seals = fcntl(fd, F_GET_SEALS);
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || seals < 0 ||
	    !(seals & F_SEAL_WRITE) || !(seals & F_SEAL_SHRINK))
		return err_set(err, false, -EINVAL, "fork: the template's %s is not a sealed memfd",
			       what);
	return 0;
}

/* A clone's MMDS contents fit the store it starts with (the default limit): refused up front. */
static int check_mmds(const struct fork_clone *c, unsigned int i, struct err *err)
{
	size_t n = c->mmds ? json_dumpb(c->mmds, NULL, 0, JSON_COMPACT) : 0;

	if (n > CTL_MMDS_DEFAULT_LIMIT)
		return err_set(err, true, -EFBIG, "fork: clone %u: mmds is %zu bytes, past the "
			       "store's %d", i, n, CTL_MMDS_DEFAULT_LIMIT);
	return 0;
}

/* The request: the body read and parsed, the state's config checked against it. */
int zygote_read_request(const struct zygote *z, const int fds[3], struct fork_req *f,
			json_t **body, struct err *err)
{
	const struct snap_section *s;
	struct held_set held = { NULL, 0, 0 };
	struct snap_file sf;
	struct stat st;
	void *state = NULL;
	char *buf = NULL;
	int ret = 0;

	for (unsigned int i = 0; i < 3 && !ret; i++)
		ret = check_sealed(fds[i], i == 0 ? "request" : i == 1 ? "state" : "memory", err);
	if (ret)
		return ret;
	if (fstat(fds[0], &st) < 0 || (uint64_t)st.st_size > ZYGOTE_BODY_MAX)
		return err_set(err, false, -EFBIG, "fork: the request is too large");
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return err_set(err, false, -ENOMEM, "fork: out of memory");
	if (file_pread_full(fds[0], buf, (size_t)st.st_size, 0) != st.st_size) {
		free(buf);
		return err_set(err, false, -EIO, "fork: cannot read the request");
	}
	*body = json_loadb(buf, (size_t)st.st_size, 0, NULL);
	free(buf);
	if (!json_is_object(*body))
		return err_set(err, true, -EINVAL, "fork: the request is not a JSON object");
	ret = json_fork_parse(*body, f, err);
	if (ret)
		return ret;
	ret = snap_file_load_fd(fds[1], "(fork)", &sf, &state, err);
	if (ret)
		return ret;
	s = snap_find(&sf, SNAP_SEC_CONFIG, "config");
	ret = s ? check_overrides(s->data, s->len, f, err)
		: err_set(err, false, -EINVAL, "fork: the template's state has no config");
	snap_file_release(&sf);
	free(state);
	for (unsigned int i = 0; !ret && i < f->n; i++)
		ret = check_paths(z, &f->clones[i], i, &held, err);
	for (unsigned int i = 0; !ret && i < f->n; i++)
		ret = check_serial_out(z, &f->clones[i], i, &held, err);
	for (unsigned int i = 0; !ret && i < f->n; i++)
		ret = check_net(z, &f->clones[i], i, err);
	free(held.v);
	for (unsigned int i = 0; !ret && i < f->n; i++)
		ret = check_mmds(&f->clones[i], i, err);
	return ret;
}
