/*
 * The kernel cache's directory (boot/kcache.h): reached with no symbolic
 * link on its path, the cache itself or any component before it (another
 * user may plant one where they can write: audit finding S2); a real
 * directory, absolute or relative, still works; and the eviction removes
 * only the cache's own names, never what a link inside names.
 */
#include <asm/bootparam.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "boot/kcache.h"
#include "boot/loader.h"
#include "decompress_fixture.h"
#include "elf_fixture.h"

/* Names as the cache writes them: a ref (stat_ref's form), and a key's entry. */
#define REF_LIVE "fd00-11-2000-3e8.000000000-3e8.000000000.ref"
#define REF_GONE "fd00-12-2000-3e8.000000000-3e8.000000000.ref"
#define LIMITS ":00000800:7fffffff"

/* LZ4's legacy frame (one block), as `lz4 -l` writes it. */
static struct buf lz4(const uint8_t *in, size_t n)
{
	int (*comp)(const char *, char *, int, int) =
		(int (*)(const char *, char *, int, int))sym("liblz4.so.1",
							     "LZ4_compress_default");
	size_t cap = n + n / 2 + 4096;
	uint8_t *out = malloc(cap);
	int r;

	assert_non_null(out);
	assert_true(n < (8u << 20));
	put_le32(out, 0x184c2102u);
	r = comp((const char *)in, (char *)out + 8, (int)n, (int)(cap - 8));
	assert_true(r > 0);
	put_le32(out + 4, (uint32_t)r);
	return with_size(out, 8 + (size_t)r, n, 1);
}

struct fixture {
	char base[64];   /* a fresh directory of this user's, removed after */
	struct elf pvh;
	struct buf z;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->base, sizeof(f->base), "/tmp/hearth-kcdir-XXXXXX");
	assert_non_null(mkdtemp(f->base));
	f->pvh = make_elf(1);
	f->z = lz4(f->pvh.data, f->pvh.size);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->base);
	assert_int_equal(system(cmd), 0);
	free(f->z.p);
	free(f->pvh.data);
	free(f);
	return 0;
}

static const char *at(const struct fixture *f, const char *rel)
{
	static char bufs[4][1024];
	static unsigned int i;
	char *p = bufs[i++ % 4];

	snprintf(p, sizeof(bufs[0]), "%s/%s", f->base, rel);
	return p;
}

static void key_of(char key[KCACHE_KEY_LEN + 1], char c)
{
	memset(key, c, KCACHE_KEY_LEN);
	key[KCACHE_KEY_LEN] = 0;
}

/* A symlink made long ago: its own mtime, as lstat sees it. */
static void old_link(const char *target, const char *path)
{
	struct timespec t[2] = { { .tv_sec = 1000 }, { .tv_sec = 1000 } };

	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW), 0);
}

/* What the eviction would remove in dir, were it ever run there: a stale temporary, a dead ref. */
static void plant(const char *dir)
{
	struct timespec t[2] = { { .tv_sec = 1000 }, { .tv_sec = 1000 } };
	char path[600], key[KCACHE_KEY_LEN + 1];
	int fd;

	key_of(key, 'e');
	snprintf(path, sizeof(path), "%s/.tmp-%s-1", dir, key);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
	snprintf(path, sizeof(path), "%s/" REF_GONE, dir);
	assert_int_equal(symlink("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
				 ".elf" LIMITS, path), 0);
}

/* dir holds the planted names and nothing else: no entry made, none removed. */
static void still_planted(const char *dir)
{
	struct dirent *d;
	unsigned int n = 0;
	DIR *D = opendir(dir);

	assert_non_null(D);
	while ((d = readdir(D)))
		if (strcmp(d->d_name, ".") && strcmp(d->d_name, ".."))
			n++;
	closedir(D);
	assert_int_equal(n, 2);
}

/* kcache_unpack through dir: the kernel is decompressed either way; whether it was a hit. */
static bool unpack(struct fixture *f, const char *dir)
{
	struct kernel_image img = bzimage_with(&f->z);
	struct err err = ERR_INIT;
	bool hit;

	if (kcache_unpack(&img, dir, NULL, &err))
		fail_msg("%s", err.msg);
	assert_true(img.unpacked);
	hit = img.cached;
	loader_close(&img);
	return hit;
}

/* (a) DIR itself a link to a directory of this user's, mode 0700: refused, the target untouched. */
static void test_kcache_dir_is_link(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(mkdir(at(f, "target"), 0700), 0);
	plant(at(f, "target"));
	assert_int_equal(symlink("target", at(f, "cache")), 0);
	assert_false(unpack(f, at(f, "cache")));
	assert_false(unpack(f, at(f, "cache")));
	still_planted(at(f, "target"));
	/* A trailing slash resolves the link in a plain open: not here. */
	assert_false(unpack(f, at(f, "cache/")));
	still_planted(at(f, "target"));
}

/* (b) A component before DIR a link: refused, and a missing DIR not made through it. */
static void test_kcache_dir_under_link(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	assert_int_equal(mkdir(at(f, "real"), 0700), 0);
	assert_int_equal(mkdir(at(f, "real/cache"), 0700), 0);
	plant(at(f, "real/cache"));
	assert_int_equal(symlink("real", at(f, "hop")), 0);
	assert_false(unpack(f, at(f, "hop/cache")));
	assert_false(unpack(f, at(f, "hop/./cache")));
	still_planted(at(f, "real/cache"));
	assert_false(unpack(f, at(f, "hop/new")));
	assert_int_equal(stat(at(f, "real/new"), &st), -1);
	assert_int_equal(errno, ENOENT);
}

/* (c) A real directory: absolute or relative, made when missing (0700), stored then hit. */
static void test_kcache_dir_real(void **state)
{
	struct fixture *f = *state;
	char cwd[512];
	struct stat st;

	assert_false(unpack(f, at(f, "made")));
	assert_int_equal(stat(at(f, "made"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_true(unpack(f, at(f, "made")));
	assert_true(unpack(f, at(f, "./made//")));
	/* Relative to the working directory, a bind mount or a jail's root alike: no link on the way. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(f->base), 0);
	assert_true(unpack(f, "made"));
	assert_false(unpack(f, "rel/"));
	assert_true(unpack(f, "rel"));
	assert_int_equal(chdir(cwd), 0);
}

/* The refusal names the link, absolute or relative, and DIR itself or a component before it. */
static void test_kcache_dir_says_which(void **state)
{
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	char want[1200], cwd[512];

	assert_int_equal(mkdir(at(f, "real"), 0700), 0);
	assert_int_equal(symlink("real", at(f, "hop")), 0);
	assert_int_equal(kcache_open_dir(at(f, "hop/cache"), &err), -ELOOP);
	snprintf(want, sizeof(want), "'%s' is a symbolic link; give the real directory",
		 at(f, "hop"));
	assert_string_equal(err.msg, want);
	assert_int_equal(kcache_open_dir(at(f, "hop"), &err), -ELOOP);
	assert_string_equal(err.msg, want);
	assert_int_equal(symlink("/nonexistent", at(f, "real/dead")), 0);
	assert_int_equal(kcache_open_dir(at(f, "real/dead"), &err), -ELOOP);
	assert_non_null(strstr(err.msg, "real/dead' is a symbolic link"));
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(f->base), 0);
	assert_int_equal(kcache_open_dir("hop/x/y", &err), -ELOOP);
	assert_string_equal(err.msg, "'hop' is a symbolic link; give the real directory");
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(kcache_open_dir(at(f, "real/none/x"), &err), -ENOENT);
	assert_non_null(strstr(err.msg, "real/none'"));
}

/*
 * (d) Links inside the cache: the eviction unlinks only the cache's own
 * names (a dead ref, a stale ref being written), never anything a link
 * names, and neither a live ref nor a link under another name.
 */
static void test_kcache_evict_links(void **state)
{
	static uint8_t data[64 * 1024];
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	char key[KCACHE_KEY_LEN + 1], name[256], target[256];
	struct stat st;
	int dirfd, fd;

	memset(data, 0x5a, sizeof(data));
	assert_int_equal(mkdir(at(f, "victim"), 0700), 0);
	fd = open(at(f, "victim/data"), O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "precious", 8), 8);
	close(fd);
	fd = open(at(f, "victim/.tmp-x"), O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(mkdir(at(f, "cache"), 0700), 0);
	dirfd = open(at(f, "cache"), O_RDONLY | O_DIRECTORY);
	assert_true(dirfd >= 0);
	key_of(key, 'a');
	assert_int_equal(kcache_store(dirfd, key, data, sizeof(data), 1u << 30, &err), 0);
	/* A live ref to KEY a's entry; planted links, under other names and the cache's own. */
	snprintf(target, sizeof(target), "%s.elf" LIMITS, key);
	assert_int_equal(symlink(target, at(f, "cache/" REF_LIVE)), 0);
	old_link(at(f, "victim/data"), at(f, "cache/planted"));
	old_link("/nonexistent/hearth-kcache", at(f, "cache/gone"));
	old_link(at(f, "victim/.tmp-x"), at(f, "cache/.tmp-x"));
	old_link(at(f, "victim"), at(f, "cache/.tmp-dir"));
	key_of(key, 'b');
	snprintf(name, sizeof(name), "cache/%s.elf", key);
	old_link(at(f, "victim/data"), at(f, name));
	snprintf(name, sizeof(name), "cache/.tmp-%s-1", key);
	old_link(at(f, "victim/data"), at(f, name));
	old_link("cccc.elf" LIMITS, at(f, "cache/.tmp-" REF_GONE "-7"));
	/* Room for one entry: KEY a's goes, KEY d's (just written) stays. */
	key_of(key, 'd');
	assert_int_equal(kcache_store(dirfd, key, data, sizeof(data), sizeof(data) + 4096, &err),
			 0);
	close(dirfd);
	/* The targets, as they were. */
	fd = open(at(f, "victim/data"), O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, name, sizeof(name)), 8);
	assert_memory_equal(name, "precious", 8);
	close(fd);
	assert_int_equal(stat(at(f, "victim/.tmp-x"), &st), 0);
	/* The links under other names, and those named as entries but no files, stay. */
	assert_int_equal(lstat(at(f, "cache/planted"), &st), 0);
	assert_int_equal(lstat(at(f, "cache/gone"), &st), 0);
	assert_int_equal(lstat(at(f, "cache/.tmp-x"), &st), 0);
	assert_int_equal(lstat(at(f, "cache/.tmp-dir"), &st), 0);
	key_of(key, 'b');
	snprintf(name, sizeof(name), "cache/%s.elf", key);
	assert_int_equal(lstat(at(f, name), &st), 0);
	snprintf(name, sizeof(name), "cache/.tmp-%s-1", key);
	assert_int_equal(lstat(at(f, name), &st), 0);
	/* KEY a's entry went, over the budget; a stale ref's temporary too. */
	key_of(key, 'a');
	snprintf(name, sizeof(name), "cache/%s.elf", key);
	assert_int_equal(lstat(at(f, name), &st), -1);
	assert_int_equal(lstat(at(f, "cache/.tmp-" REF_GONE "-7"), &st), -1);
	key_of(key, 'd');
	snprintf(name, sizeof(name), "cache/%s.elf", key);
	assert_int_equal(lstat(at(f, name), &st), 0);
}

/* A ref whose entry is there stays: a store elsewhere must not cost the next boot its ref. */
static void test_kcache_evict_keeps_live_ref(void **state)
{
	static uint8_t data[4096];
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	char key[KCACHE_KEY_LEN + 1], target[256];
	struct stat st;
	int dirfd;

	memset(data, 0x5a, sizeof(data));
	assert_int_equal(mkdir(at(f, "cache"), 0700), 0);
	dirfd = open(at(f, "cache"), O_RDONLY | O_DIRECTORY);
	assert_true(dirfd >= 0);
	key_of(key, 'a');
	assert_int_equal(kcache_store(dirfd, key, data, sizeof(data), 1u << 30, &err), 0);
	snprintf(target, sizeof(target), "%s.elf" LIMITS, key);
	assert_int_equal(symlink(target, at(f, "cache/" REF_LIVE)), 0);
	plant(at(f, "cache"));
	key_of(key, 'b');
	assert_int_equal(kcache_store(dirfd, key, data, sizeof(data), 1u << 30, &err), 0);
	close(dirfd);
	assert_int_equal(lstat(at(f, "cache/" REF_LIVE), &st), 0);
	assert_int_equal(lstat(at(f, "cache/" REF_GONE), &st), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kcache_dir_is_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kcache_dir_under_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kcache_dir_real, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kcache_dir_says_which, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kcache_evict_links, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kcache_evict_keeps_live_ref, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
