/* The exec file, and a dynamic one's loader and libraries, copied into the jail (jailer_copy.h). */
#include "jailer/copy.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jailer/args.h"
#include "sandbox/jail_fs.h"
#include "util/trim.h"

#define RUNTIME_MAX 64      /* the loader, libc, and the lazy libraries with theirs (~20) */

/* Every byte of in to out, from where each stands. 0 or -errno. */
static int copy_bytes(int in, int out)
{
	char buf[16384];

	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		for (ssize_t off = 0; off < n; ) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return -errno;
			off += w;
		}
	}
}

/*
 * src to name in the directory dir (shown as shown/name), owned by uid:gid
 * (-1: left as made). The entry is never followed: jail_file_at refuses
 * a symlink, FIFO, node or hard link there.
 */
static int copy_file(const char *src, int dir, const char *shown, const char *name, uid_t uid,
		     gid_t gid, struct err *e)
{
	const char *why;
	char eb[128];
	struct stat st;
	int in, out, ret;

	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return err_set(e, false, -errno, "Failed to open %s: %s", src,
			       jailer_os_error(errno, eb, sizeof(eb)));
	if (fstat(in, &st)) {
		ret = err_set(e, false, -errno, "Cannot get metadata for a file: %s: %s", src,
			      jailer_os_error(errno, eb, sizeof(eb)));
		goto err_in;
	}
	out = jail_file_at(dir, name, st.st_mode, &why);
	if (out < 0 && why && !strcmp(why, "a hard link")) {
		ret = err_set(e, true, -EMLINK, "Detected hard link at: %s/%s", shown, name);
		goto err_in;
	}
	if (out < 0 && why) {
		ret = err_set(e, true, out, "Failed to open %s/%s: %s in the jail, not the "
			      "jailer's copy", shown, name, why);
		goto err_in;
	}
	if (out < 0) {
		ret = err_set(e, false, out, "Failed to open %s/%s: %s", shown, name,
			      jailer_os_error(-out, eb, sizeof(eb)));
		goto err_in;
	}
	if (uid != (uid_t)-1 && fchown(out, uid, gid)) {
		ret = err_set(e, false, -errno, "Failed to change owner for %s/%s: %s", shown, name,
			      jailer_os_error(errno, eb, sizeof(eb)));
		goto err_out;
	}
	ret = copy_bytes(in, out);
	if (ret) {
		err_set(e, false, ret, "Failed to copy %s to %s/%s: %s", src, shown, name,
			jailer_os_error(-ret, eb, sizeof(eb)));
		goto err_out;
	}
	close(out);
	close(in);
	return 0;
err_out:
	close(out);
err_in:
	close(in);
	return ret;
}

int jailer_copy_exec(const char *src, int root, const char *shown, const char *name, uid_t uid,
		     gid_t gid, struct err *e)
{
	return copy_file(src, root, shown, name, uid, gid, e);
}

/* The exec file's PT_INTERP into interp (size n): 1 found, 0 none (static, or not ELF). */
static int elf_interp(const char *path, char *interp, size_t n)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	int fd, found = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(ph))
		goto out;
	for (unsigned int i = 0; !found && i < eh.e_phnum; i++) {
		off_t at = (off_t)(eh.e_phoff + (uint64_t)i * sizeof(ph));
		ssize_t got;

		if (pread(fd, &ph, sizeof(ph), at) != sizeof(ph))
			break;
		if (ph.p_type != PT_INTERP || ph.p_filesz == 0 || ph.p_filesz >= n)
			continue;
		got = pread(fd, interp, ph.p_filesz, (off_t)ph.p_offset);
		if (got == (ssize_t)ph.p_filesz && interp[got - 1] == '\0')
			found = 1;
	}
out:
	close(fd);
	return found;
}

struct runtime {
	char names[RUNTIME_MAX][PATH_MAX];
	size_t n;
};

static void runtime_add(struct runtime *r, const char *name)
{
	if (name[0] != '/' || r->n == RUNTIME_MAX)
		return;     /* the program itself (""), the vDSO: nothing on disk */
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->names[i], name))
			return;
	snprintf(r->names[r->n++], PATH_MAX, "%s", name);
}

static int runtime_each(struct dl_phdr_info *info, size_t size, void *opaque)
{
	(void)size;
	if (info->dlpi_name)
		runtime_add(opaque, info->dlpi_name);
	return 0;
}

/*
 * The libraries Hearth opens only when a VM needs one (slirp/slirp_lib.c,
 * boot/decompress.c, boot/kcache.c): inside the jail a dlopen finds only
 * what is there, so a VM with a user-mode NIC or an MMDS, or a compressed
 * kernel, would fail there though it works outside. Opened here, in the
 * jailer about to exec, only to learn them and what they need in turn:
 * the VM's process still opens each lazily, so its RSS is what it was.
 * A library the host lacks is skipped, as outside the jail.
 */
static const char *const lazy_libs[] = {
	"libslirp.so.0", "liblz4.so.1", "libz.so.1", "liblzma.so.5", "libzstd.so.1",
	"libbz2.so.1.0", "liblzo2.so.2", "libnettle.so.8",
};

int jailer_copy_runtime(int root, const char *shown, const char *exec, struct err *e)
{
	static struct runtime r TRIM_COLD;    /* 256 KiB: not on the stack */
	char interp[PATH_MAX], dir[PATH_MAX], where[PATH_MAX * 2], eb[128];
	const char *bad;
	int ret;

	if (!elf_interp(exec, interp, sizeof(interp)))
		return 0;
	r.n = 0;
	runtime_add(&r, interp);
	for (size_t i = 0; i < sizeof(lazy_libs) / sizeof(lazy_libs[0]); i++)
		dlopen(lazy_libs[i], RTLD_NOW | RTLD_LOCAL);
	dl_iterate_phdr(runtime_each, &r);
	for (size_t i = 0; i < r.n; i++) {
		const char *base = strrchr(r.names[i], '/');
		int dfd;

		snprintf(dir, sizeof(dir), "%.*s", (int)(base - r.names[i]), r.names[i]);
		/* Made root's, 0755, one component at a time: a link its user planted is refused. */
		dfd = jail_dir_at(root, dir, 0755, &bad);
		if (dfd < 0)
			return err_set(e, dfd == -ELOOP || dfd == -ENOTDIR || dfd == -EXDEV, dfd,
				       "Failed to create directory %s%s: %s%s", shown, dir,
				       jailer_os_error(-dfd, eb, sizeof(eb)),
				       dfd == -ELOOP ? " (a symlink in the jail is never followed)" :
				       dfd == -EXDEV ? " (a mount in the jail is never entered)" : "");
		snprintf(where, sizeof(where), "%s%s", shown, dir);
		ret = copy_file(r.names[i], dfd, where, base + 1, (uid_t)-1, (gid_t)-1, e);
		close(dfd);
		if (ret)
			return ret;
	}
	return 0;
}
