/*
 * The kernel payload decompressed on the host (boot/decompress.h,
 * bzimage_unpack): each format round-trips; truncated, corrupt and
 * oversized streams and bombs (a stream that expands past its declared
 * size) are refused in words; a bzImage whose payload is an ELF with a
 * PVH note becomes that ELF, one without the note or with no ELF at all
 * stays a bzImage. The streams are made here with the same libraries.
 */
#include <asm/bootparam.h>
#include <dirent.h>
#include <fcntl.h>
#include <dlfcn.h>
#include <errno.h>
#include <lzma.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "boot/decompress.h"
#include "boot/kcache.h"
#include "boot/loader.h"
#include "decompress_fixture.h"
#include "elf_fixture.h"
#include "util/file.h"

static struct buf gzip(const uint8_t *in, size_t n)
{
	z_stream z = { 0 };
	size_t cap = compressBound((uLong)n) + 64;
	uint8_t *out = malloc(cap);

	assert_non_null(out);
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
			 Z_OK);
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	deflateEnd(&z);
	return with_size(out, cap - z.avail_out, n, 0);
}

static struct buf xz(const uint8_t *in, size_t n)
{
	size_t cap = n + n / 2 + 4096, pos = 0;
	uint8_t *out = malloc(cap);

	assert_non_null(out);
	assert_int_equal(lzma_easy_buffer_encode(1, LZMA_CHECK_CRC32, NULL, in, n, out, &pos,
						 cap), LZMA_OK);
	return with_size(out, pos, n, 1);
}

static struct buf zstd(const uint8_t *in, size_t n)
{
	size_t (*comp)(void *, size_t, const void *, size_t, int) =
		(size_t (*)(void *, size_t, const void *, size_t, int))sym("libzstd.so.1",
									    "ZSTD_compress");
	size_t cap = n + n / 2 + 4096, r;
	uint8_t *out = malloc(cap);

	assert_non_null(out);
	r = comp(out, cap, in, n, 3);
	assert_true(r < cap);
	return with_size(out, r, n, 1);
}

/* LZ4's legacy frames, blocks of 8 MiB at most, as `lz4 -l` writes them. */
static struct buf lz4(const uint8_t *in, size_t n)
{
	int (*comp)(const char *, char *, int, int) =
		(int (*)(const char *, char *, int, int))sym("liblz4.so.1",
							     "LZ4_compress_default");
	size_t cap = n + n / 2 + 4096, pos = 4;
	uint8_t *out = malloc(cap);

	assert_non_null(out);
	put_le32(out, 0x184c2102u);
	for (size_t at = 0; at < n; at += 8u << 20) {
		size_t len = n - at < (8u << 20) ? n - at : 8u << 20;
		int r = comp((const char *)in + at, (char *)out + pos + 4, (int)len,
			     (int)(cap - pos - 4));

		assert_true(r > 0);
		put_le32(out + pos, (uint32_t)r);
		pos += 4 + (size_t)r;
	}
	return with_size(out, pos, n, 1);
}

static void test_gzip(void **state)
{
	(void)state;
	round_trip(gzip, KCOMP_GZIP, 100000);
	hostile(gzip, 0);
}

static void test_xz(void **state)
{
	(void)state;
	round_trip(xz, KCOMP_XZ, 100000);
	hostile(xz, 1);
}

static void test_zstd(void **state)
{
	(void)state;
	round_trip(zstd, KCOMP_ZSTD, 100000);
	hostile(zstd, 1);
}

static void test_lz4(void **state)
{
	(void)state;
	round_trip(lz4, KCOMP_LZ4, 100000);
	round_trip(lz4, KCOMP_LZ4, (8u << 20) + 12345);   /* two blocks */
	hostile(lz4, 1);
}

/*
 * No known format: left to the guest. A known one with nothing in it (its
 * declared size 0) is refused in its own name, never handed on.
 */
static void test_left_to_the_guest(void **state)
{
	static const uint8_t bz[] = "BZh91AY&SY\0\0\0\0\0\0\0\0", lzo[] = "\x89LZO\0\0\0\0\0";
	static const uint8_t junk[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	struct err err = ERR_INIT;
	uint8_t *out;
	size_t len;

	(void)state;
	assert_int_equal(decompress_payload(bz, sizeof(bz), 0, &out, &len, &err), -EFBIG);
	assert_non_null(strstr(err.msg, "bzip2"));
	assert_int_equal(decompress_payload(lzo, sizeof(lzo), 0, &out, &len, &err), -EFBIG);
	assert_non_null(strstr(err.msg, "LZO"));
	assert_int_equal(decompress_payload(junk, sizeof(junk), 0, &out, &len, &err), -ENOTSUP);
	assert_int_equal(decompress_payload(junk, 0, 0, &out, &len, &err), -ENOTSUP);
	assert_int_equal(decompress_payload((const uint8_t *)"\x1f\x8b", 2, 0, &out, &len, &err),
			 -EINVAL);
}

static void test_unpack(void **state)
{
	struct elf pvh = make_elf(1), plain = make_elf(0);
	struct buf z = lz4(pvh.data, pvh.size), z2 = gzip(plain.data, plain.size);
	uint8_t *junk = sample(5000);
	struct buf z3 = xz(junk, 5000);
	struct kernel_image img = bzimage_with(&z);
	struct err err = ERR_INIT;

	(void)state;
	/* An ELF with the PVH note: the image becomes it. */
	if (bzimage_unpack(&img, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(img.kind, KERNEL_ELF_PVH);
	assert_true(img.unpacked);
	assert_int_equal(img.size, pvh.size);
	assert_memory_equal(img.data, pvh.data, pvh.size);
	assert_int_equal(img.entry, PVH_ENTRY);
	loader_close(&img);
	/* Without it: left a bzImage, in words. */
	img = bzimage_with(&z2);
	assert_int_equal(bzimage_unpack(&img, &err), -ENOTSUP);
	assert_non_null(strstr(err.msg, "PVH"));
	assert_int_equal(img.kind, KERNEL_BZIMAGE);
	loader_close(&img);
	/* A payload that is no ELF. */
	img = bzimage_with(&z3);
	assert_int_equal(bzimage_unpack(&img, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "no valid ELF kernel"));
	assert_int_equal(img.kind, KERNEL_BZIMAGE);
	/* A payload said to run past the file. */
	((struct setup_header *)(img.data + HDR_OFF))->payload_length = 0x7fffffff;
	assert_int_equal(bzimage_unpack(&img, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "runs past the file"));
	loader_close(&img);
	free(z.p);
	free(z2.p);
	free(z3.p);
	free(junk);
	free(pvh.data);
	free(plain.data);
}

/* ------------------------------------------------------------ the kernel cache */

static char *tmp_dir(void)
{
	char *d = strdup("/tmp/hearth-kcache-XXXXXX");

	assert_non_null(d);
	assert_non_null(mkdtemp(d));
	return d;
}

static void rm_dir(char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(dir);
}

static unsigned int count_files(const char *dir, const char *prefix)
{
	struct dirent *d;
	unsigned int n = 0;
	DIR *D = opendir(dir);

	assert_non_null(D);
	/* With a prefix, the names that start so; without, the visible ones. */
	while ((d = readdir(D)))
		if (prefix ? !strncmp(d->d_name, prefix, strlen(prefix)) : d->d_name[0] != '.')
			n++;
	closedir(D);
	return n;
}

static void test_kcache_key(void **state)
{
	char key[KCACHE_KEY_LEN + 1];
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(kcache_key((const uint8_t *)"abc", 3, key, &err), 0);
	assert_string_equal(key, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* The guest RAM an ELF image fills, for comparing two ways of loading it. */
static uint8_t *loaded(struct kernel_image *img)
{
	struct guest_mem gm;
	struct boot_plan plan;
	struct err err = ERR_INIT;
	uint8_t *copy = malloc(SEG2_PADDR + SEG2_SIZE);

	assert_non_null(copy);
	assert_int_equal(guest_mem_init(&gm, 32u << 20), 0);
	if (elf_load(img, &gm, &plan, &err))
		fail_msg("elf_load: %s", err.msg);
	memcpy(copy, guest_mem_ptr(&gm, 0, SEG2_PADDR + SEG2_SIZE), SEG2_PADDR + SEG2_SIZE);
	guest_mem_destroy(&gm);
	return copy;
}

/*
 * A miss decompresses and stores (sparse, whole, the user's alone); a hit
 * reads the same kernel from the entry, into the same guest RAM.
 */
static void test_kcache_miss_then_hit(void **state)
{
	struct elf pvh = make_elf(1);
	struct buf z;
	struct kernel_image img;
	struct err err = ERR_INIT;
	char *dir = tmp_dir(), key[KCACHE_KEY_LEN + 1], path[512];
	uint8_t *want, *got;
	struct stat st;

	(void)state;
	memset(pvh.data + SEG1_OFF + 0x1000, 0, 0x1000);   /* a page of zeros: a hole */
	z = lz4(pvh.data, pvh.size);
	img = bzimage_with(&z);
	assert_int_equal(kcache_key(img.data, img.size, key, &err), 0);
	if (kcache_unpack(&img, dir, NULL, &err))
		fail_msg("%s", err.msg);
	assert_true(img.unpacked);
	assert_false(img.cached);
	assert_memory_equal(img.data, pvh.data, pvh.size);
	want = loaded(&img);
	loader_close(&img);
	snprintf(path, sizeof(path), "%s/%s.elf", dir, key);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, pvh.size);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true((uint64_t)st.st_blocks * 512 < (uint64_t)st.st_size);
	assert_int_equal(count_files(dir, ".tmp-"), 0);

	img = bzimage_with(&z);
	if (kcache_unpack(&img, dir, NULL, &err))
		fail_msg("%s", err.msg);
	assert_true(img.cached && img.from_fd);
	assert_int_equal(img.kind, KERNEL_ELF_PVH);
	assert_int_equal(img.entry, PVH_ENTRY);
	got = loaded(&img);
	assert_memory_equal(got, want, SEG2_PADDR + SEG2_SIZE);
	loader_close(&img);
	free(want);
	free(got);
	free(z.p);
	free(pvh.data);
	rm_dir(dir);
}

/*
 * A kernel file seen before, in the same version, is found by its ref
 * without being read; once written again, it is not.
 */
static void test_kcache_known_file(void **state)
{
	struct elf pvh = make_elf(1);
	struct buf z = lz4(pvh.data, pvh.size);
	struct kernel_image img = bzimage_with(&z), known;
	struct err err = ERR_INIT;
	char *dir = tmp_dir(), path[512];
	struct stat st;
	int fd;

	(void)state;
	/* Limits of its own, which the ELF must keep, through the hash and the ref alike. */
	((struct setup_header *)(img.data + HDR_OFF))->cmdline_size = 1000;
	((struct setup_header *)(img.data + HDR_OFF))->initrd_addr_max = 0x1fffffff;
	img.cmdline_max = 1000;
	img.initrd_addr_max = 0x1fffffff;
	snprintf(path, sizeof(path), "%s/bzImage", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(file_pwrite_full(fd, img.data, img.size, 0), 0);
	close(fd);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(kcache_open_known(path, &st, dir, &known), -ENOENT);
	img.path = path;
	if (kcache_unpack(&img, dir, &st, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(img.cmdline_max, 1000);
	assert_int_equal(img.initrd_addr_max, 0x1fffffff);
	loader_close(&img);
	assert_int_equal(kcache_open_known(path, &st, dir, &known), 0);
	assert_true(known.cached && known.from_fd);
	assert_int_equal(known.kind, KERNEL_ELF_PVH);
	assert_int_equal(known.cmdline_max, 1000);
	assert_int_equal(known.initrd_addr_max, 0x1fffffff);
	loader_close(&known);
	/* Found by its hash (the bzImage read again): the same limits. */
	img = bzimage_with(&z);
	((struct setup_header *)(img.data + HDR_OFF))->cmdline_size = 1000;
	((struct setup_header *)(img.data + HDR_OFF))->initrd_addr_max = 0x1fffffff;
	img.cmdline_max = 1000;
	img.initrd_addr_max = 0x1fffffff;
	img.path = path;
	if (kcache_unpack(&img, dir, &st, &err))
		fail_msg("%s", err.msg);
	assert_true(img.cached);
	assert_int_equal(img.cmdline_max, 1000);
	assert_int_equal(img.initrd_addr_max, 0x1fffffff);
	loader_close(&img);
	/* A ref of the older form (KEY.elf alone) is a miss, never limits made up. */
	{
		char ref[600], target[600];
		struct dirent *d;
		DIR *dd = opendir(dir);
		ssize_t n = -1;

		assert_non_null(dd);
		while ((d = readdir(dd)))
			if (strstr(d->d_name, ".ref")) {
				snprintf(ref, sizeof(ref), "%s/%s", dir, d->d_name);
				n = readlink(ref, target, sizeof(target) - 1);
			}
		closedir(dd);
		assert_true(n > 64);
		target[64] = 0;
		strcat(target, ".elf");
		assert_int_equal(unlink(ref), 0);
		assert_int_equal(symlink(target, ref), 0);
		assert_int_equal(kcache_open_known(path, &st, dir, &known), -ENOENT);
	}
	/* Written again (its ctime moves): a new version, not known. */
	assert_int_equal(truncate(path, st.st_size), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(kcache_open_known(path, &st, dir, &known), -ENOENT);
	free(z.p);
	free(pvh.data);
	rm_dir(dir);
}

/* A directory others may write is not used; a bad entry is replaced. */
static void test_kcache_hostile(void **state)
{
	struct elf pvh = make_elf(1);
	struct buf z = lz4(pvh.data, pvh.size);
	struct kernel_image img = bzimage_with(&z);
	struct err err = ERR_INIT;
	char *dir = tmp_dir(), key[KCACHE_KEY_LEN + 1], path[512];
	struct stat st;
	int fd;

	(void)state;
	assert_int_equal(kcache_key(img.data, img.size, key, &err), 0);
	assert_int_equal(chmod(dir, 0777), 0);
	if (kcache_unpack(&img, dir, NULL, &err))
		fail_msg("%s", err.msg);
	assert_true(img.unpacked && !img.cached);
	loader_close(&img);
	assert_int_equal(count_files(dir, NULL), 0);

	/* An entry that is no kernel: removed, and this boot's store replaces it. */
	assert_int_equal(chmod(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/%s.elf", dir, key);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "garbage", 7), 7);
	close(fd);
	img = bzimage_with(&z);
	if (kcache_unpack(&img, dir, NULL, &err))
		fail_msg("%s", err.msg);
	assert_true(img.unpacked && !img.cached);
	loader_close(&img);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, pvh.size);
	free(z.p);
	free(pvh.data);
	rm_dir(dir);
}

/* Least recently used first, never the entry just written; stale temporaries go too. */
static void test_kcache_evict(void **state)
{
	static uint8_t data[64 * 1024];
	struct err err = ERR_INIT;
	char *dir = tmp_dir(), key[KCACHE_KEY_LEN + 1], path[512];
	struct timespec t[2] = { { 0 } };
	int dirfd, fd;

	(void)state;
	memset(data, 0x5a, sizeof(data));
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dirfd >= 0);
	for (int i = 0; i < 3; i++) {
		memset(key, 'a' + i, KCACHE_KEY_LEN);
		key[KCACHE_KEY_LEN] = 0;
		assert_int_equal(kcache_store(dirfd, key, data, sizeof(data), 1u << 30, &err), 0);
		snprintf(path, sizeof(path), "%s/%s.elf", dir, key);
		t[0].tv_sec = t[1].tv_sec = 1000000 + i;   /* a older than b older than c */
		assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
	}
	/* A writer's temporary, by the name kcache_store gives it: .tmp-KEY-PID. */
	memset(key, 'e', KCACHE_KEY_LEN);
	snprintf(path, sizeof(path), "%s/.tmp-%s-1", dir, key);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	close(fd);
	t[0].tv_sec = t[1].tv_sec = 1000;
	assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
	memset(key, 'd', KCACHE_KEY_LEN);
	assert_int_equal(kcache_store(dirfd, key, data, sizeof(data), 3 * sizeof(data) - 1, &err),
			 0);
	for (int i = 0; i < 4; i++) {
		memset(key, 'a' + i, KCACHE_KEY_LEN);
		snprintf(path, sizeof(path), "%s/%s.elf", dir, key);
		assert_int_equal(access(path, F_OK) == 0, i >= 2);
	}
	assert_int_equal(count_files(dir, ".tmp-"), 0);
	close(dirfd);
	rm_dir(dir);
}

/* An ELF file read by segment: a file cut short after it was opened is an error, not a crash. */
static void test_elf_from_file(void **state)
{
	struct elf pvh = make_elf(1);
	struct kernel_image img;
	struct guest_mem gm;
	struct boot_plan plan;
	struct err err = ERR_INIT;
	char path[] = "/tmp/hearth-elf-XXXXXX";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, pvh.data, pvh.size), (ssize_t)pvh.size);
	close(fd);
	if (loader_open(path, &img, &err))
		fail_msg("%s", err.msg);
	assert_true(img.from_fd);
	assert_int_equal(img.kind, KERNEL_ELF_PVH);
	assert_int_equal(truncate(path, SEG1_OFF + 0x800), 0);
	assert_int_equal(guest_mem_init(&gm, 32u << 20), 0);
	assert_int_equal(elf_load(&img, &gm, &plan, &err), -EIO);
	assert_non_null(strstr(err.msg, "read failed"));
	guest_mem_destroy(&gm);
	loader_close(&img);
	unlink(path);
	free(pvh.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gzip),
		cmocka_unit_test(test_xz),
		cmocka_unit_test(test_zstd),
		cmocka_unit_test(test_lz4),
		cmocka_unit_test(test_left_to_the_guest),
		cmocka_unit_test(test_unpack),
		cmocka_unit_test(test_kcache_key),
		cmocka_unit_test(test_kcache_miss_then_hit),
		cmocka_unit_test(test_kcache_known_file),
		cmocka_unit_test(test_kcache_hostile),
		cmocka_unit_test(test_kcache_evict),
		cmocka_unit_test(test_elf_from_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
