/*
 * fw_cfg's files through the port interface (src/devices/fw_cfg.c): the
 * directory byte by byte, names and sizes refused, the selector out of
 * range, a file added after its selector was written; and the
 * "bootorder" file's paths (src/firmware/bootorder.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/bus.h"
#include "core/layout.h"
#include "dev_rig.h"
#include "devices/fw_cfg.h"
#include "firmware/bootorder.h"

struct fix {
	struct bus bus;
	struct component dev;
	struct fw_cfg *d;
};

static int setup(void **state)
{
	static struct fix f;
	struct dev_env env = { .bus = &f.bus, .ncpus = 1, .ram_size = 1 << 20, .max_ram = 1 << 20 };

	bus_init(&f.bus);
	f.d = dev_rig_make(fw_cfg_create, &env, PORT_FW_CFG, FW_CFG_PORTS, -1, &f.dev);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	bus_destroy(&f->bus);
	dev_rig_free(&f->dev);
	return 0;
}

static void sel(struct fix *f, uint16_t key)
{
	uint8_t b[2] = { (uint8_t)key, (uint8_t)(key >> 8) };

	assert_int_equal(bus_access(&f->bus, BUS_PIO, PORT_FW_CFG, b, 2, true), 0);
}

static void get(struct fix *f, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(bus_access(&f->bus, BUS_PIO, PORT_FW_CFG + 1, &out[i], 1, false), 0);
}

static void test_directory_bytes(void **state)
{
	struct fix *f = *state;
	struct err err = ERR_INIT;
	uint8_t dir[4 + 3 * 64 + 8], want[sizeof(dir)];
	char name55[56];

	memset(name55, 'n', 55);
	name55[55] = 0;
	assert_int_equal(fw_cfg_add_file(f->d, "bootorder", "x", 1, 0, NULL, &err), 0);
	assert_int_equal(fw_cfg_add_file(f->d, "etc/empty", NULL, 0, 0, NULL, &err), 0);
	assert_int_equal(fw_cfg_add_file(f->d, name55, "0123456789", 10, 0, NULL, &err), 0);
	memset(want, 0, sizeof(want));
	want[3] = 3;
	/* size BE32, select BE16, reserved, name[56] */
	want[4 + 3] = 1, want[4 + 5] = 0x20, memcpy(want + 4 + 8, "bootorder", 9);
	want[68 + 3] = 0, want[68 + 5] = 0x21, memcpy(want + 68 + 8, "etc/empty", 9);
	want[132 + 3] = 10, want[132 + 5] = 0x22, memcpy(want + 132 + 8, name55, 55);
	sel(f, FW_CFG_FILE_DIR);
	get(f, dir, sizeof(dir));
	assert_memory_equal(dir, want, sizeof(dir)); /* the last 8: zeros past the end */

	sel(f, 0x22);
	get(f, dir, 12);
	assert_memory_equal(dir, "0123456789\0\0", 12);
	sel(f, 0x21);
	get(f, dir, 2);
	assert_int_equal(dir[0] | dir[1], 0);
}

static void test_refusals(void **state)
{
	struct fix *f = *state;
	struct err err = ERR_INIT;
	char name56[57], name[16];

	memset(name56, 'n', 56);
	name56[56] = 0;
	assert_int_equal(fw_cfg_add_file(f->d, "", "x", 1, 0, NULL, &err), -EINVAL);
	assert_int_equal(fw_cfg_add_file(f->d, NULL, "x", 1, 0, NULL, &err), -EINVAL);
	assert_int_equal(fw_cfg_add_file(f->d, name56, "x", 1, 0, NULL, &err), -EINVAL);
	assert_int_equal(fw_cfg_add_file(f->d, "a", NULL, 1, 0, NULL, &err), -EINVAL);
	assert_int_equal(fw_cfg_add_file(f->d, "a", "x", 1, 0x80, NULL, &err), -EINVAL);
	assert_int_equal(fw_cfg_add_file(f->d, "a", "x", (size_t)FW_CFG_FILE_SIZE_MAX + 1, 0, NULL,
					 &err), -EFBIG);
	assert_int_equal(fw_cfg_add_file(f->d, "a", "x", 1, 0, NULL, &err), 0);
	assert_int_equal(fw_cfg_add_file(f->d, "a", "y", 1, 0, NULL, &err), -EEXIST);
	for (unsigned int i = 1; i < FW_CFG_FILES_MAX; i++) {
		snprintf(name, sizeof(name), "f%u", i);
		assert_int_equal(fw_cfg_add_file(f->d, name, "z", 1, 0, NULL, &err), 0);
	}
	assert_int_equal(fw_cfg_add_file(f->d, "one-more", "z", 1, 0, NULL, &err), -ENOSPC);
	assert_non_null(strstr(err.msg, "files"));
	/* The directory counts them all. */
	{
		uint8_t n[4];

		sel(f, FW_CFG_FILE_DIR);
		get(f, n, 4);
		assert_int_equal(n[2] << 8 | n[3], FW_CFG_FILES_MAX);
	}
}

static void test_selector_out_of_range(void **state)
{
	struct fix *f = *state;
	struct err err = ERR_INIT;
	uint8_t b[8];
	const uint16_t keys[] = { 0x02, 0x18, 0x1f, 0x21, 0x3fff, 0x4000, 0x8000, 0xffff };

	assert_int_equal(fw_cfg_add_file(f->d, "only", "abcd", 4, 0, NULL, &err), 0);
	for (unsigned int i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		memset(b, 0xee, sizeof(b));
		sel(f, keys[i]);
		get(f, b, sizeof(b));
		assert_int_equal(b[0] | b[1] | b[2] | b[3] | b[4] | b[5] | b[6] | b[7], 0);
	}
}

/* A selector written before its file exists reads it from the start once it does. */
static void test_file_after_select(void **state)
{
	struct fix *f = *state;
	struct err err = ERR_INIT;
	uint8_t b[4];

	sel(f, FW_CFG_FILE_FIRST);
	get(f, b, 2);
	assert_int_equal(b[0] | b[1], 0);
	assert_int_equal(fw_cfg_add_file(f->d, "late", "wxyz", 4, 0, NULL, &err), 0);
	get(f, b, 4);
	assert_memory_equal(b, "wxyz", 4);
}

static void test_bootorder(void **state)
{
	struct bootorder b;
	struct err err = ERR_INIT;
	const uint8_t *p;
	size_t len;
	static const char want[] = "/pci@i0cf8/scsi@3/disk@0,0\n"
				   "/pci@i0cf8/scsi@1f,7/disk@0,0\n"
				   "/pci@i0cf8/scsi@a/disk@0,0";

	(void)state;
	bootorder_init(&b);
	p = bootorder_bytes(&b, &len);
	assert_int_equal(len, 0);
	assert_int_equal(bootorder_add_virtio_blk(&b, 3, 0, &err), 0);
	p = bootorder_bytes(&b, &len);
	assert_int_equal(len, sizeof("/pci@i0cf8/scsi@3/disk@0,0"));
	assert_string_equal((const char *)p, "/pci@i0cf8/scsi@3/disk@0,0");
	assert_int_equal(bootorder_add_virtio_blk(&b, 31, 7, &err), 0);
	assert_int_equal(bootorder_add_virtio_blk(&b, 10, 0, &err), 0);
	p = bootorder_bytes(&b, &len);
	/* Joined by newlines, the whole NUL-terminated, as QEMU's. */
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(p, want, sizeof(want));
	assert_int_equal(bootorder_add_virtio_blk(&b, 32, 0, &err), -EINVAL);
	assert_int_equal(bootorder_add_virtio_blk(&b, 1, 8, &err), -EINVAL);
	for (unsigned int i = 3; i < BOOTORDER_MAX; i++)
		assert_int_equal(bootorder_add_virtio_blk(&b, 31, 7, &err), 0);
	assert_int_equal(bootorder_add_virtio_blk(&b, 1, 0, &err), -ENOSPC);
	p = bootorder_bytes(&b, &len);
	assert_true(len <= sizeof(b.buf));
	assert_int_equal(p[len - 1], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_directory_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_selector_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_after_select, setup, teardown),
		cmocka_unit_test(test_bootorder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
