/*
 * Guest RAM in 2 MiB huge pages (mem/guest_mem_huge.h): the size rule,
 * the reservation at the mmap, and a memory file read into RAM, holes
 * left untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "mem/guest_mem.h"
#include "mem/guest_mem_huge.h"

#define MiB (1ull << 20)
#define DATA_OFF (2 * MiB)     /* where the region's data starts in the file */
#define RAM (16 * MiB)

static long read_long(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static void test_size_not_huge(void **state)
{
	struct guest_mem gm;

	(void)state;
	/* 17 MiB: not a whole number of 2 MiB pages. */
	assert_int_equal(guest_mem_init_huge(&gm, 17 * MiB), -EINVAL);
	assert_null(gm.regions[0].hva);
}

/*
 * The pool is reserved at the mmap: with fewer free pages than the RAM
 * needs (and no overcommit) the mapping itself fails, where a
 * MAP_NORESERVE mapping would succeed and SIGBUS at first touch.
 */
static void test_reserved_up_front(void **state)
{
	long nfree = guest_mem_huge_free();
	long over = read_long("/proc/sys/vm/nr_overcommit_hugepages");
	struct guest_mem gm;
	int ret;

	(void)state;
	if (nfree < 0) {
		skip();   /* no 2 MiB hugetlbfs on this host */
		return;
	}
	ret = guest_mem_init_huge(&gm, RAM);
	if ((uint64_t)nfree < RAM / GUEST_HUGE_PAGE_SIZE && over == 0) {
		assert_int_equal(ret, -ENOMEM);
		assert_null(gm.regions[0].hva);
		return;
	}
	assert_int_equal(ret, 0);
	memset(gm.regions[0].hva, 0xa5, RAM);
	guest_mem_destroy(&gm);
}

static int make_file(char *path, uint64_t size)
{
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static void put(int fd, uint64_t off, uint8_t v, size_t len)
{
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	memset(buf, v, len);
	assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	free(buf);
}

static bool resident(const void *p)
{
	unsigned char v = 0;

	assert_int_equal(mincore((void *)p, 4096, &v), 0);
	return v & 1;
}

/*
 * The file's data lands at the right guest addresses; a page in one of
 * its holes is never touched (still not resident), and the header before
 * the region is not read into RAM.
 */
static void test_fill_from_file(void **state)
{
	char path[] = "/tmp/hearth-huge-XXXXXX";
	uint64_t off[1] = { DATA_OFF };
	struct guest_mem gm;
	uint8_t *ram;
	int fd;

	(void)state;
	fd = make_file(path, DATA_OFF + RAM);
	put(fd, 0, 0xee, 4096);                          /* the header: not RAM */
	put(fd, DATA_OFF, 0x11, 8192);                   /* guest pages 0 and 1 */
	put(fd, DATA_OFF + 5 * MiB + 4096, 0x22, 4096);  /* one page in the middle */
	put(fd, DATA_OFF + RAM - 4096, 0x33, 4096);      /* the last page */
	assert_int_equal(guest_mem_init(&gm, RAM), 0);
	ram = gm.regions[0].hva;
	assert_int_equal(guest_mem_fill_from_file(&gm, fd, off, 1), 0);
	assert_int_equal(ram[0], 0x11);
	assert_int_equal(ram[8191], 0x11);
	assert_int_equal(ram[8192], 0);
	assert_int_equal(ram[5 * MiB + 4096], 0x22);
	assert_int_equal(ram[5 * MiB + 8191], 0x22);
	assert_int_equal(ram[RAM - 1], 0x33);
	/* A page deep in a hole (on a filesystem with holes) stayed untouched. */
	if (lseek(fd, DATA_OFF + 10 * MiB, SEEK_DATA) != (off_t)(DATA_OFF + 10 * MiB))
		assert_false(resident(ram + 10 * MiB));
	assert_int_equal(ram[10 * MiB], 0);
	guest_mem_destroy(&gm);
	close(fd);
}

/* A file that ends inside RAM, and a region count that is not RAM's, are refused. */
static void test_fill_refusals(void **state)
{
	char path[] = "/tmp/hearth-huge-XXXXXX";
	uint64_t off[2] = { DATA_OFF, 0 };
	struct guest_mem gm;
	int fd;

	(void)state;
	fd = make_file(path, DATA_OFF + RAM - 4096);
	put(fd, DATA_OFF, 0x11, 4096);
	assert_int_equal(guest_mem_init(&gm, RAM), 0);
	assert_int_equal(guest_mem_fill_from_file(&gm, fd, off, 1), -ENODATA);
	assert_int_equal(guest_mem_fill_from_file(&gm, fd, off, 2), -EINVAL);
	off[0] = UINT64_MAX - 4095;
	assert_int_equal(guest_mem_fill_from_file(&gm, fd, off, 1), -EINVAL);
	guest_mem_destroy(&gm);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_not_huge),
		cmocka_unit_test(test_reserved_up_front),
		cmocka_unit_test(test_fill_from_file),
		cmocka_unit_test(test_fill_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
