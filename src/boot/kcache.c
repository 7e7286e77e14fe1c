/* The kernel cache (kcache.h). */
#include "boot/kcache.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/file.h"
#include "util/log.h"

#define KCACHE_PAGE 4096u
#define KCACHE_TMP_PREFIX ".tmp-"
#define KCACHE_TMP_STALE_S 600   /* a writer gone this long left its temporary file */

static struct ratelimit kcache_rl = RATELIMIT_INIT(2);

int kcache_key(const uint8_t *data, size_t len, char key[KCACHE_KEY_LEN + 1], struct err *err)
{
	void (*init)(struct sha256_ctx *);
	void (*update)(struct sha256_ctx *, size_t, const uint8_t *);
	void (*digest)(struct sha256_ctx *, size_t, uint8_t *);
	uint8_t d[SHA256_DIGEST_SIZE];
	struct sha256_ctx ctx;
	void *h = dlopen("libnettle.so.8", RTLD_NOW | RTLD_LOCAL);

	if (!h)
		return err_set(err, false, -ENOTSUP, "no libnettle.so.8 for its key (%s)",
			       dlerror());
	*(void **)&init = dlsym(h, "nettle_sha256_init");
	*(void **)&update = dlsym(h, "nettle_sha256_update");
	*(void **)&digest = dlsym(h, "nettle_sha256_digest");
	if (!init || !update || !digest) {
		dlclose(h);
		return err_set(err, false, -ENOTSUP, "libnettle.so.8 lacks SHA-256");
	}
	init(&ctx);
	update(&ctx, len, data);
	digest(&ctx, sizeof(d), d);
	dlclose(h);
	for (size_t i = 0; i < sizeof(d); i++)
		snprintf(key + 2 * i, 3, "%02x", d[i]);
	return 0;
}

/* Ours alone: this user's, and nobody else may write it. */
static bool kcache_trusted(const struct stat *st)
{
	return st->st_uid == geteuid() && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

/* Why a step of the walk failed: a symbolic link named as such, else the error. */
static int walk_fail(int at, const char *comp, const char *upto, int e, struct err *err)
{
	struct stat st;

	if ((e == ELOOP || e == ENOTDIR) && !fstatat(at, comp, &st, AT_SYMLINK_NOFOLLOW)) {
		if (S_ISLNK(st.st_mode))
			return err_set(err, false, -ELOOP, "'%s' is a symbolic link; give the "
				       "real directory", upto);
		if (!S_ISDIR(st.st_mode))
			return err_set(err, false, -ENOTDIR, "'%s' is not a directory", upto);
	}
	return err_set(err, false, -e, "cannot open '%s': %s", upto, strerror(e));
}

/*
 * DIR is walked a component at a time, each opened O_NOFOLLOW relative to
 * the one before: a link on the way is refused, never followed. In a
 * directory others may write (/tmp with fs.protected_symlinks=0) another
 * user could plant one, aimed at a directory of this user's that passes
 * the checks below, and the eviction would delete in it. Mount points are
 * crossed as any walk crosses them: a bind mount is no link.
 */
int kcache_open_dir(const char *dir, struct err *err)
{
	char path[PATH_MAX], *comp, *next;
	struct stat st;
	int at, fd;

	if (!dir[0])
		return err_set(err, true, -EINVAL, "an empty path");
	if (strlen(dir) >= sizeof(path))
		return err_set(err, true, -ENAMETOOLONG, "path too long");
	memcpy(path, dir, strlen(dir) + 1);
	at = open(dir[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (at < 0)
		return err_set(err, false, -errno, "cannot open %s: %s",
			       dir[0] == '/' ? "/" : "the working directory", strerror(errno));
	for (comp = path + strspn(path, "/");; comp = next) {
		char *end = comp + strcspn(comp, "/");

		next = end + strspn(end, "/");
		*end = 0;   /* path is DIR up to this component, for the messages */
		if (!*next)
			break;
		/* O_PATH: a directory on the way needs search permission only, as in any walk. */
		fd = openat(at, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			fd = walk_fail(at, comp, path, errno, err);
			goto out;
		}
		close(at);
		at = fd;
		*end = '/';
	}
	if (!*comp)
		comp = ".";   /* DIR is / itself */
	/* Only the last component is made, as mkdir(1) would; an existing link stays EEXIST. */
	if (mkdirat(at, comp, 0700) && errno != EEXIST) {
		fd = err_set(err, false, -errno, "cannot make it: %s", strerror(errno));
		goto out;
	}
	fd = openat(at, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		fd = walk_fail(at, comp, path, errno, err);
		goto out;
	}
	if (fstat(fd, &st) || !kcache_trusted(&st)) {
		close(fd);
		fd = err_set(err, false, -EPERM, "not used: a directory others own or may "
			     "write (want this user's, mode 0700)");
	}
out:
	close(at);
	return fd;
}

/* Pages of zeros are holes: the entry takes the ELF's data alone on disk. */
static int write_sparse(int fd, const uint8_t *p, size_t len)
{
	size_t off = 0;

	while (off < len) {
		size_t n = len - off < KCACHE_PAGE ? len - off : KCACHE_PAGE, run = 0;

		if (p[off] == 0 && (n == 1 || !memcmp(p + off, p + off + 1, n - 1))) {
			off += n;
			continue;
		}
		/* A run of pages with data, written at once. */
		while (off + run < len) {
			size_t m = len - off - run < KCACHE_PAGE ? len - off - run : KCACHE_PAGE;
			const uint8_t *q = p + off + run;

			if (run && q[0] == 0 && (m == 1 || !memcmp(q, q + 1, m - 1)))
				break;
			run += m;
		}
		if (file_pwrite_full(fd, p + off, run, off))
			return -errno;
		off += run;
	}
	return ftruncate(fd, (off_t)len) ? -errno : 0;
}

static bool hex_digits(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

/*
 * A ref's target: KEY.elf, then the bzImage's setup header limits the
 * entry's ELF keeps (its cmdline_size and initrd_addr_max, in hex), which
 * a boot through the ref alone, the bzImage never read, still honours.
 */
#define REF_TARGET_LEN (KCACHE_KEY_LEN + 4 + 18)

/* The names the cache writes, which alone the eviction may remove. */
enum kcache_name {
	NAME_OTHER,        /* not the cache's: never touched */
	NAME_ENTRY,        /* KEY.elf */
	NAME_REF,          /* stat_ref's: a symlink to KEY.elf:CMDLINE:INITRD */
	NAME_TMP_ENTRY,    /* .tmp-KEY-PID, a KEY.elf being written */
	NAME_TMP_REF,      /* .tmp-REF-PID, a ref being written */
};

/* stat_ref's form: hex digits, dots and dashes, then .ref. */
static bool ref_name(const char *p, size_t n)
{
	if (n <= 4 || memcmp(p + n - 4, ".ref", 4))
		return false;
	for (size_t i = 0; i < n - 4; i++)
		if (!hex_digits(p + i, 1) && p[i] != '.' && p[i] != '-')
			return false;
	return true;
}

static enum kcache_name kcache_name_kind(const char *name)
{
	size_t len = strlen(name), plen = strlen(KCACHE_TMP_PREFIX);
	const char *p, *dash;

	if (len == KCACHE_KEY_LEN + 4 && hex_digits(name, KCACHE_KEY_LEN) &&
	    !strcmp(name + KCACHE_KEY_LEN, ".elf"))
		return NAME_ENTRY;
	if (ref_name(name, len))
		return NAME_REF;
	if (strncmp(name, KCACHE_TMP_PREFIX, plen))
		return NAME_OTHER;
	p = name + plen;
	dash = strrchr(p, '-');
	if (!dash || !dash[1] || strspn(dash + 1, "0123456789") != strlen(dash + 1))
		return NAME_OTHER;
	if (dash - p == KCACHE_KEY_LEN && hex_digits(p, KCACHE_KEY_LEN))
		return NAME_TMP_ENTRY;
	return ref_name(p, (size_t)(dash - p)) ? NAME_TMP_REF : NAME_OTHER;
}

/*
 * A ref whose entry is gone, or that names none. Its target is read and
 * the entry looked up in dirfd: never followed, which would resolve a
 * link's target anywhere.
 */
static bool ref_dangles(int dirfd, const char *ref)
{
	char target[REF_TARGET_LEN + 1], name[KCACHE_KEY_LEN + 8];
	ssize_t n = readlinkat(dirfd, ref, target, sizeof(target));
	struct stat st;

	if (n < KCACHE_KEY_LEN + 4 || !hex_digits(target, KCACHE_KEY_LEN) ||
	    memcmp(target + KCACHE_KEY_LEN, ".elf", 4))
		return true;
	snprintf(name, sizeof(name), "%.*s.elf", KCACHE_KEY_LEN, target);
	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode);
}

struct kcache_entry {
	char name[KCACHE_KEY_LEN + 8];
	struct timespec used;
	uint64_t bytes;
};

static int entry_older(const void *a, const void *b)
{
	const struct kcache_entry *x = a, *y = b;

	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	return x->used.tv_nsec < y->used.tv_nsec ? -1 : x->used.tv_nsec > y->used.tv_nsec;
}

/* Least recently used first, until the rest fit; keep (the new entry) stays. */
static void kcache_evict(int dirfd, const char *keep, uint64_t max_bytes)
{
	struct kcache_entry *e = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	struct dirent *d;
	DIR *dir;
	int fd = dup(dirfd);

	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	/* The copy shares dirfd's position, which an earlier walk left at the end. */
	rewinddir(dir);
	while ((d = readdir(dir))) {
		enum kcache_name kind = kcache_name_kind(d->d_name);
		size_t len = strlen(d->d_name);
		struct stat st;

		/* unlinkat removes a name, never what a link names; and only the cache's names. */
		if (kind == NAME_OTHER || fstatat(dirfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		if (kind == NAME_REF) {
			/* A ref whose entry is gone goes too. */
			if (S_ISLNK(st.st_mode) && ref_dangles(dirfd, d->d_name))
				unlinkat(dirfd, d->d_name, 0);
			continue;
		}
		/* A writer gone this long: its file, or its ref (a symlink), is left over. */
		if (kind == NAME_TMP_REF || kind == NAME_TMP_ENTRY) {
			if (time(NULL) - st.st_mtime > KCACHE_TMP_STALE_S &&
			    (kind == NAME_TMP_REF ? S_ISLNK(st.st_mode) : S_ISREG(st.st_mode)))
				unlinkat(dirfd, d->d_name, 0);
			continue;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		total += (uint64_t)st.st_blocks * 512u;
		if (!strcmp(d->d_name, keep))
			continue;
		if (n == cap) {
			struct kcache_entry *ne = realloc(e, (cap ? cap * 2 : 16) * sizeof(*e));

			if (!ne)
				break;
			e = ne;
			cap = cap ? cap * 2 : 16;
		}
		memcpy(e[n].name, d->d_name, len + 1);   /* KEY.elf: checked above to fit */
		e[n].used = st.st_mtim;
		e[n].bytes = (uint64_t)st.st_blocks * 512u;
		n++;
	}
	closedir(dir);
	if (n)
		qsort(e, n, sizeof(*e), entry_older);
	for (size_t i = 0; i < n && total > max_bytes; i++)
		if (!unlinkat(dirfd, e[i].name, 0))
			total -= e[i].bytes;
	free(e);
}

int kcache_store(int dirfd, const char *key, const uint8_t *elf, size_t len,
		 uint64_t max_bytes, struct err *err)
{
	char tmp[KCACHE_KEY_LEN + 32], name[KCACHE_KEY_LEN + 8];
	int fd, ret;

	snprintf(name, sizeof(name), "%s.elf", key);
	snprintf(tmp, sizeof(tmp), KCACHE_TMP_PREFIX "%s-%d", key, (int)getpid());
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return err_set(err, false, -errno, "cannot write %s: %s", tmp, strerror(errno));
	ret = write_sparse(fd, elf, len);
	/* Synced before the rename: an entry that exists is whole, after a crash too. */
	if (!ret && fdatasync(fd))
		ret = -errno;
	close(fd);
	if (!ret && renameat(dirfd, tmp, dirfd, name))
		ret = -errno;
	if (ret) {
		unlinkat(dirfd, tmp, 0);
		return err_set(err, false, ret, "cannot write %s: %s", name, strerror(-ret));
	}
	kcache_evict(dirfd, name, max_bytes);
	return 0;
}

/*
 * A kernel file's version, by what only a write (or root) changes: its
 * device, inode, size, mtime and ctime. DIR/<this>.ref names the entry its
 * content gave, so a known file's next boot reads none of it.
 */
static void stat_ref(const struct stat *st, char *out, size_t n)
{
	snprintf(out, n, "%llx-%llx-%llx-%lld.%09ld-%lld.%09ld.ref", (unsigned long long)st->st_dev,
		 (unsigned long long)st->st_ino, (unsigned long long)st->st_size,
		 (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
		 (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
}

static bool same_version(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* DIR/<ref> -> KEY.elf:CMDLINE:INITRD, replaced whole (a symlink renamed into place). */
static void kcache_write_ref(int dirfd, const struct stat *st, const char *key,
			     const struct kernel_image *img)
{
	char ref[160], tmp[200], target[REF_TARGET_LEN + 1];

	stat_ref(st, ref, sizeof(ref));
	snprintf(target, sizeof(target), "%s.elf:%08x:%08x", key, img->cmdline_max,
		 img->initrd_addr_max);
	snprintf(tmp, sizeof(tmp), KCACHE_TMP_PREFIX "%s-%d", ref, (int)getpid());
	if (symlinkat(target, dirfd, tmp))
		return;
	if (renameat(dirfd, tmp, dirfd, ref))
		unlinkat(dirfd, tmp, 0);
}

/*
 * The key DIR/<ref> names, and the limits it keeps in img: 0, or -ENOENT.
 * Only a whole KEY.elf:CMDLINE:INITRD is taken (an older ref, KEY.elf
 * alone, is a miss: the bzImage is read, and the ref written anew).
 */
static int kcache_read_ref(int dirfd, const struct stat *st, char key[KCACHE_KEY_LEN + 1],
			   struct kernel_image *img)
{
	char ref[160], target[REF_TARGET_LEN + 1];
	const char *t = target + KCACHE_KEY_LEN;
	ssize_t n;

	stat_ref(st, ref, sizeof(ref));
	n = readlinkat(dirfd, ref, target, sizeof(target));
	if (n != REF_TARGET_LEN || memcmp(t, ".elf:", 5) || t[13] != ':' ||
	    !hex_digits(target, KCACHE_KEY_LEN) || !hex_digits(t + 5, 8) || !hex_digits(t + 14, 8))
		return -ENOENT;
	target[REF_TARGET_LEN] = 0;
	img->initrd_addr_max = (uint32_t)strtoul(t + 14, NULL, 16);
	target[KCACHE_KEY_LEN + 13] = 0;
	img->cmdline_max = (uint32_t)strtoul(t + 5, NULL, 16);
	memcpy(key, target, KCACHE_KEY_LEN);
	key[KCACHE_KEY_LEN] = 0;
	return 0;
}

/*
 * The ref for path, when it is still the version stat'd before it was
 * read (st): else what was read may not be what the ref would name.
 */
static void kcache_write_known(int dirfd, const struct kernel_image *img,
			       const struct stat *st, const char *key)
{
	struct stat now;

	if (st && !stat(img->path, &now) && same_version(st, &now))
		kcache_write_ref(dirfd, st, key, img);
}

/* A hit: img becomes the cached ELF, read from its file. 0, -ENOENT (a miss) or -errno. */
static int kcache_load(int dirfd, const char *key, struct kernel_image *img, struct err *err)
{
	char name[KCACHE_KEY_LEN + 8];
	struct kernel_image elf;
	struct stat st;
	int fd, ret;

	snprintf(name, sizeof(name), "%s.elf", key);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : err_set(err, false, -errno, "cannot open "
							  "%s: %s", name, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || !kcache_trusted(&st)) {
		close(fd);
		return err_set(err, false, -EPERM, "%s: not a file of this user's alone", name);
	}
	ret = loader_open_elf_fd(fd, img->path, &elf, err);
	if (!ret && elf.kind != KERNEL_ELF_PVH)
		ret = err_set(err, true, -EINVAL, "no PVH entry note");
	if (ret) {
		if (elf.from_fd)
			loader_close(&elf);
		else
			close(fd);
		/* Not what a store writes: gone, so that this boot's store replaces it. */
		unlinkat(dirfd, name, 0);
		return err_prefix(err, -ENOENT, "%s: removed: ", name);
	}
	/* Used now: the eviction keeps the most recently used. */
	futimens(fd, NULL);
	loader_close(img);
	elf.unpacked = elf.cached = true;
	*img = elf;
	return 0;
}

int kcache_open_known(const char *path, const struct stat *st, const char *dir,
		      struct kernel_image *img)
{
	struct kernel_image limits = { 0 };
	char key[KCACHE_KEY_LEN + 1];
	struct err why = ERR_INIT;
	int dirfd, ret;

	memset(img, 0, sizeof(*img));
	dirfd = kcache_open_dir(dir, &why);
	if (dirfd < 0)
		return -ENOENT;     /* kcache_unpack says why, once */
	ret = kcache_read_ref(dirfd, st, key, &limits);
	if (!ret) {
		img->path = path;
		ret = kcache_load(dirfd, key, img, &why);
	}
	if (!ret) {
		img->cmdline_max = limits.cmdline_max;
		img->initrd_addr_max = limits.initrd_addr_max;
	}
	close(dirfd);
	if (ret)
		return -ENOENT;
	log_info("kernel %s: from the kernel cache (%s/%s.elf), not read", path, dir, key);
	return 0;
}

int kcache_unpack(struct kernel_image *img, const char *dir, const struct stat *st,
		  struct err *err)
{
	struct kernel_image limits;
	char key[KCACHE_KEY_LEN + 1];
	struct err why = ERR_INIT;
	int dirfd, ret;

	if (img->kind != KERNEL_BZIMAGE || img->version < 0x0208)
		return bzimage_unpack(img, err);
	dirfd = kcache_open_dir(dir, &why);
	if (dirfd >= 0 && kcache_key(img->data, img->size, key, &why))
		goto out_nocache;
	if (dirfd < 0)
		goto out_nocache;
	/* A hit is the ELF alone: the bzImage's limits go with it. */
	limits = *img;
	ret = kcache_load(dirfd, key, img, &why);
	if (!ret) {
		img->cmdline_max = limits.cmdline_max;
		img->initrd_addr_max = limits.initrd_addr_max;
		kcache_write_known(dirfd, img, st, key);
		close(dirfd);
		log_info("kernel %s: from the kernel cache (%s/%s.elf)", img->path, dir, key);
		return 0;
	}
	if (ret != -ENOENT || why.msg[0])
		log_ratelimited(&kcache_rl, LOG_WARN, "--kernel-cache %s: %s", dir, why.msg);
	ret = bzimage_unpack(img, err);
	if (!ret) {
		why = (struct err)ERR_INIT;
		if (kcache_store(dirfd, key, img->data, img->size, KCACHE_MAX_BYTES, &why))
			log_ratelimited(&kcache_rl, LOG_WARN, "--kernel-cache %s: %s", dir,
					why.msg);
		else
			log_info("kernel %s: decompressed, stored in the kernel cache (%s/%s.elf)",
				 img->path, dir, key);
		kcache_write_known(dirfd, img, st, key);
	}
	close(dirfd);
	return ret;

out_nocache:
	if (dirfd >= 0)
		close(dirfd);
	log_ratelimited(&kcache_rl, LOG_WARN, "--kernel-cache %s: %s; decompressing without it",
			dir, why.msg);
	return bzimage_unpack(img, err);
}
