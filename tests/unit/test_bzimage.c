#include <asm/bootparam.h>
#include <errno.h>
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

#include "boot/loader.h"

#define HDR_OFF 0x1f1
#define PAYLOAD 0x10000

/* A synthetic bzImage, per Documentation/arch/x86/boot.rst. */
struct image {
	uint8_t *data;
	size_t size;
};

static struct setup_header *hdr_of(struct image *im)
{
	return (struct setup_header *)(im->data + HDR_OFF);
}

static struct image make_image(unsigned int setup_sects, size_t payload)
{
	struct image im;
	struct setup_header h;
	size_t setup = ((setup_sects ? setup_sects : 4) + 1) * 512;

	im.size = setup + payload;
	im.data = calloc(1, im.size);
	assert_non_null(im.data);
	for (size_t i = setup; i < im.size; i++)
		im.data[i] = (uint8_t)(i * 13 + 5);

	memset(&h, 0, sizeof(h));
	h.setup_sects = (uint8_t)setup_sects;
	h.syssize = (uint32_t)((payload + 15) / 16);
	h.boot_flag = 0xaa55;
	/* Short jump at 0x200 over the header: 0x202 + disp is its end. */
	h.jump = (uint16_t)(0xeb | ((HDR_OFF + sizeof(h) - 0x202) << 8));
	h.header = 0x53726448;
	h.version = 0x020f;
	h.loadflags = LOADED_HIGH;
	h.relocatable_kernel = 1;
	h.kernel_alignment = 0x200000;
	h.min_alignment = 21;
	h.xloadflags = XLF_KERNEL_64;
	h.cmdline_size = 2047;
	h.initrd_addr_max = 0x7fffffff;
	h.pref_address = 0x1000000;
	h.init_size = 0x800000;
	memcpy(im.data + HDR_OFF, &h, sizeof(h));
	return im;
}

/* Exactly-sized heap copy, so ASan catches reads past the end. */
static int parse_prefix(const struct image *im, size_t size, struct kernel_image *img,
			struct err *err)
{
	uint8_t *copy = malloc(size ? size : 1);
	int r;

	assert_non_null(copy);
	memcpy(copy, im->data, size);
	r = bzimage_parse(copy, size, img, err);
	free(copy);
	return r;
}

static void expect_reject(struct image *im, const char *needle)
{
	struct kernel_image img;
	struct err err;

	assert_int_equal(parse_prefix(im, im->size, &img, &err), -EINVAL);
	if (!strstr(err.msg, needle))
		fail_msg("error '%s' does not mention '%s'", err.msg, needle);
}

static void test_good_image(void **state)
{
	struct image im = make_image(4, PAYLOAD);
	struct kernel_image img;
	struct err err;

	(void)state;
	memset(&img, 0xa5, sizeof(img));
	assert_int_equal(parse_prefix(&im, im.size, &img, &err), 0);
	assert_int_equal(img.kind, KERNEL_BZIMAGE);
	assert_int_equal(img.setup_size, 5 * 512);
	assert_int_equal(img.version, 0x020f);
	assert_int_equal(img.cmdline_max, 2047);
	assert_int_equal(img.initrd_addr_max, 0x7fffffff);
	assert_int_equal(img.init_size, 0x800000);
	assert_int_equal(img.kernel_alignment, 0x200000);
	assert_int_equal(img.pref_address, 0x1000000);
	assert_int_equal(img.relocatable, 1);
	free(im.data);
}

static void test_defaults_and_old_protocol(void **state)
{
	struct kernel_image img;
	struct err err;
	struct image im;

	(void)state;
	/* setup_sects 0 means 4; initrd_addr_max 0 means the old 0x37ffffff. */
	im = make_image(0, PAYLOAD);
	hdr_of(&im)->initrd_addr_max = 0;
	assert_int_equal(parse_prefix(&im, im.size, &img, &err), 0);
	assert_int_equal(img.setup_size, 5 * 512);
	assert_int_equal(img.initrd_addr_max, 0x37ffffff);
	free(im.data);

	/* More setup sectors. */
	im = make_image(30, PAYLOAD);
	assert_int_equal(parse_prefix(&im, im.size, &img, &err), 0);
	assert_int_equal(img.setup_size, 31 * 512);
	free(im.data);

	/*
	 * 2.06: no xloadflags, pref_address or init_size in the header yet;
	 * whatever bytes sit there must not be used.
	 */
	im = make_image(4, PAYLOAD);
	hdr_of(&im)->version = 0x0206;
	hdr_of(&im)->xloadflags = 0;
	assert_int_equal(parse_prefix(&im, im.size, &img, &err), 0);
	assert_int_equal(img.version, 0x0206);
	assert_int_equal(img.pref_address, 0x100000);
	assert_int_equal(img.init_size, 0);
	/* 2.10 has pref_address and init_size but no xloadflags. */
	hdr_of(&im)->version = 0x020a;
	assert_int_equal(parse_prefix(&im, im.size, &img, &err), 0);
	assert_int_equal(img.pref_address, 0x1000000);
	assert_int_equal(img.init_size, 0x800000);
	free(im.data);

	/* Not relocatable: kernel_alignment is not checked. */
	im = make_image(4, PAYLOAD);
	hdr_of(&im)->relocatable_kernel = 0;
	hdr_of(&im)->kernel_alignment = 0x300000;
	assert_int_equal(parse_prefix(&im, im.size, &img, &err), 0);
	assert_int_equal(img.relocatable, 0);
	free(im.data);
}

static void test_bad_magic(void **state)
{
	struct image im = make_image(4, PAYLOAD);

	(void)state;
	hdr_of(&im)->boot_flag = 0xaa56;
	expect_reject(&im, "HdrS");
	hdr_of(&im)->boot_flag = 0xaa55;
	hdr_of(&im)->header = 0x53726449;
	expect_reject(&im, "HdrS");
	/* An all-zero file of plausible size. */
	memset(im.data, 0, im.size);
	expect_reject(&im, "HdrS");
	free(im.data);
}

static void test_old_version(void **state)
{
	struct image im = make_image(4, PAYLOAD);

	(void)state;
	hdr_of(&im)->version = 0x0205;
	expect_reject(&im, "2.05");
	expect_reject(&im, "too old");
	hdr_of(&im)->version = 0x0100;
	expect_reject(&im, "1.00");
	free(im.data);
}

static void test_no_loaded_high(void **state)
{
	struct image im = make_image(4, PAYLOAD);

	(void)state;
	hdr_of(&im)->loadflags = CAN_USE_HEAP;
	expect_reject(&im, "zImage");
	free(im.data);
}

static void test_no_kernel64(void **state)
{
	struct image im = make_image(4, PAYLOAD);
	struct kernel_image img;
	struct err err;

	(void)state;
	hdr_of(&im)->xloadflags = XLF_CAN_BE_LOADED_ABOVE_4G;
	expect_reject(&im, "64-bit");
	hdr_of(&im)->version = 0x020c;
	expect_reject(&im, "64-bit");
	/* Before 2.12 the flag did not exist. */
	hdr_of(&im)->version = 0x020b;
	assert_int_equal(parse_prefix(&im, im.size, &img, &err), 0);
	free(im.data);
}

static void test_truncated_payload(void **state)
{
	struct image im = make_image(4, PAYLOAD);
	struct kernel_image img;
	struct err err;

	(void)state;
	/* Cut one byte off the end: syssize now promises more than is there. */
	assert_int_equal(parse_prefix(&im, im.size - 1, &img, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "truncated"));
	assert_non_null(strstr(err.msg, "65536"));
	/* Or the header lies about the size. */
	hdr_of(&im)->syssize = PAYLOAD / 16 + 1;
	expect_reject(&im, "truncated");
	hdr_of(&im)->syssize = 0xffffffff;
	expect_reject(&im, "truncated");
	/* A smaller promise is fine (trailing data). */
	hdr_of(&im)->syssize = PAYLOAD / 16 - 100;
	assert_int_equal(parse_prefix(&im, im.size, &img, &err), 0);
	free(im.data);
}

static void test_setup_beyond_file(void **state)
{
	struct image im = make_image(4, PAYLOAD);
	struct kernel_image img;
	struct err err;

	(void)state;
	hdr_of(&im)->setup_sects = 200; /* 201 * 512 > file */
	expect_reject(&im, "setup");
	hdr_of(&im)->setup_sects = 255;
	expect_reject(&im, "truncated");
	/* Setup only, no protected-mode part at all. */
	hdr_of(&im)->setup_sects = 4;
	assert_int_equal(parse_prefix(&im, 5 * 512, &img, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "truncated"));
	/* ...even when syssize claims there is nothing to load. */
	hdr_of(&im)->syssize = 0;
	assert_int_equal(parse_prefix(&im, 5 * 512, &img, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "setup is 2560 bytes"));
	free(im.data);
}

static void test_bad_alignment(void **state)
{
	struct image im = make_image(4, PAYLOAD);

	(void)state;
	hdr_of(&im)->kernel_alignment = 0x300000;
	expect_reject(&im, "0x300000");
	expect_reject(&im, "power of two");
	hdr_of(&im)->kernel_alignment = 0;
	expect_reject(&im, "kernel_alignment");
	hdr_of(&im)->kernel_alignment = 0x200001;
	expect_reject(&im, "kernel_alignment");
	free(im.data);
}

static void test_tiny_files(void **state)
{
	struct image im = make_image(4, PAYLOAD);
	struct kernel_image img;
	struct err err;
	size_t min = HDR_OFF + sizeof(struct setup_header);

	(void)state;
	assert_int_equal(parse_prefix(&im, 0, &img, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "too small"));
	assert_int_equal(parse_prefix(&im, 512, &img, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "512 bytes"));
	/* One byte short of a whole header, and a whole header but no more. */
	assert_int_equal(parse_prefix(&im, min - 1, &img, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "too small"));
	err.msg[0] = '\0';
	assert_int_equal(parse_prefix(&im, min, &img, &err), -EINVAL);
	assert_null(strstr(err.msg, "too small"));
	assert_non_null(strstr(err.msg, "truncated"));
	free(im.data);
}

/* loader_open picks the format by magic and reports file-level problems. */
static void test_loader_open_files(void **state)
{
	struct image im = make_image(4, PAYLOAD);
	struct kernel_image img;
	struct err err;
	char path[] = "/tmp/hearth-bz-XXXXXX";
	char dir[] = "/tmp/hearth-bzd-XXXXXX";
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, im.data, im.size), (ssize_t)im.size);
	assert_int_equal(loader_open(path, &img, &err), 0);
	assert_int_equal(img.kind, KERNEL_BZIMAGE);
	assert_int_equal(img.size, im.size);
	assert_non_null(img.data);
	assert_memory_equal(img.data, im.data, im.size);
	loader_close(&img);
	assert_null(img.data);

	/* Corrupt on disk: the parser's message comes through. */
	hdr_of(&im)->version = 0x0204;
	assert_int_equal(pwrite(fd, im.data, im.size, 0), (ssize_t)im.size);
	assert_int_equal(loader_open(path, &img, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "2.04"));
	assert_null(img.data);

	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(loader_open(path, &img, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "empty"));
	close(fd);
	unlink(path);

	assert_int_equal(loader_open(path, &img, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "cannot open"));

	assert_non_null(mkdtemp(dir));
	assert_int_equal(loader_open(dir, &img, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "regular"));
	rmdir(dir);
	free(im.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_image),
		cmocka_unit_test(test_defaults_and_old_protocol),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_old_version),
		cmocka_unit_test(test_no_loaded_high),
		cmocka_unit_test(test_no_kernel64),
		cmocka_unit_test(test_truncated_payload),
		cmocka_unit_test(test_setup_beyond_file),
		cmocka_unit_test(test_bad_alignment),
		cmocka_unit_test(test_tiny_files),
		cmocka_unit_test(test_loader_open_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
