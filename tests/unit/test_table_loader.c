/*
 * The linker/loader script (src/firmware/table_loader.c) byte for byte
 * against commands written out by hand from QEMU's BiosLinkerLoaderEntry,
 * the blobs patched as QEMU patches them, and every misuse refused.
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

#include "firmware/table_loader.h"

/* A command as its bytes: type, then fields at their offsets in the 128. */
static void cmd_name(uint8_t *c, unsigned int off, const char *name)
{
	memcpy(c + off, name, strlen(name));
}

static void cmd_u32(uint8_t *c, unsigned int off, uint32_t v)
{
	c[off] = (uint8_t)v;
	c[off + 1] = (uint8_t)(v >> 8);
	c[off + 2] = (uint8_t)(v >> 16);
	c[off + 3] = (uint8_t)(v >> 24);
}

static void test_commands_byte_exact(void **state)
{
	struct table_loader tl;
	struct err err = ERR_INIT;
	uint8_t a[64], b[32], want[5][128];

	(void)state;
	memset(a, 0xaa, sizeof(a));
	memset(b, 0xbb, sizeof(b));
	memset(want, 0, sizeof(want));
	table_loader_init(&tl);
	assert_int_equal(table_loader_allocate(&tl, "etc/acpi/rsdp", b, sizeof(b), 16,
					       TL_ZONE_FSEG, &err), 0);
	assert_int_equal(table_loader_allocate(&tl, "etc/acpi/tables", a, sizeof(a), 64,
					       TL_ZONE_HIGH, &err), 0);
	assert_int_equal(table_loader_add_pointer(&tl, "etc/acpi/rsdp", 16, 4, "etc/acpi/tables",
						  0x24, &err), 0);
	assert_int_equal(table_loader_add_checksum(&tl, "etc/acpi/rsdp", 0, 20, 8, &err), 0);
	assert_int_equal(table_loader_write_pointer(&tl, "etc/vmgenid_addr", 0, 8,
						    "etc/acpi/tables", 40, &err), 0);
	assert_int_equal(table_loader_len(&tl), 5 * 128);

	/* ALLOCATE: file at 4, align at 60, zone at 64. */
	want[0][0] = 1;
	cmd_name(want[0], 4, "etc/acpi/rsdp");
	cmd_u32(want[0], 60, 16);
	want[0][64] = 2;
	want[1][0] = 1;
	cmd_name(want[1], 4, "etc/acpi/tables");
	cmd_u32(want[1], 60, 64);
	want[1][64] = 1;
	/* ADD_POINTER: dest at 4, src at 60, offset at 116, size at 120. */
	want[2][0] = 2;
	cmd_name(want[2], 4, "etc/acpi/rsdp");
	cmd_name(want[2], 60, "etc/acpi/tables");
	cmd_u32(want[2], 116, 16);
	want[2][120] = 4;
	/* ADD_CHECKSUM: file at 4, offset at 60, start at 64, length at 68. */
	want[3][0] = 3;
	cmd_name(want[3], 4, "etc/acpi/rsdp");
	cmd_u32(want[3], 60, 8);
	cmd_u32(want[3], 64, 0);
	cmd_u32(want[3], 68, 20);
	/* WRITE_POINTER: dest at 4, src at 60, dst_offset at 116, src_offset at 120, size at 124. */
	want[4][0] = 4;
	cmd_name(want[4], 4, "etc/vmgenid_addr");
	cmd_name(want[4], 60, "etc/acpi/tables");
	cmd_u32(want[4], 116, 0);
	cmd_u32(want[4], 120, 40);
	want[4][124] = 8;
	assert_memory_equal(tl.cmds, want, sizeof(want));

	/* The pointer's field holds the offset it points at, the checksum's byte 0. */
	assert_int_equal(b[16], 0x24);
	assert_int_equal(b[17] | b[18] | b[19], 0);
	assert_int_equal(b[8], 0);
	assert_int_equal(b[7], 0xbb);
	assert_int_equal(b[20], 0xbb);
	table_loader_release(&tl);
	assert_int_equal(table_loader_len(&tl), 0);
}

static void test_refusals(void **state)
{
	struct table_loader tl;
	struct err err = ERR_INIT;
	uint8_t a[64], b[16];
	char name56[57];

	(void)state;
	memset(name56, 'n', 56);
	name56[56] = 0;
	table_loader_init(&tl);
	assert_int_equal(table_loader_allocate(&tl, "", a, 4, 16, TL_ZONE_HIGH, &err), -EINVAL);
	assert_int_equal(table_loader_allocate(&tl, name56, a, 4, 16, TL_ZONE_HIGH, &err),
			 -EINVAL);
	assert_int_equal(table_loader_allocate(&tl, "a", a, 4, 24, TL_ZONE_HIGH, &err), -EINVAL);
	assert_int_equal(table_loader_allocate(&tl, "a", a, 4, 0, TL_ZONE_HIGH, &err), -EINVAL);
	assert_int_equal(table_loader_allocate(&tl, "a", a, 4, 16, (enum tl_zone)3, &err), -EINVAL);
	assert_int_equal(table_loader_allocate(&tl, "a", NULL, 4, 16, TL_ZONE_HIGH, &err), -EINVAL);
	assert_int_equal(table_loader_allocate(&tl, "a", a, sizeof(a), 16, TL_ZONE_HIGH, &err), 0);
	assert_int_equal(table_loader_allocate(&tl, "a", a, sizeof(a), 16, TL_ZONE_HIGH, &err),
			 -EEXIST);
	assert_int_equal(table_loader_allocate(&tl, "b", b, sizeof(b), 1, TL_ZONE_FSEG, &err), 0);
	/* Pointers: unallocated files, bad sizes, outside either blob, too narrow. */
	assert_int_equal(table_loader_add_pointer(&tl, "c", 0, 4, "a", 0, &err), -EINVAL);
	assert_int_equal(table_loader_add_pointer(&tl, "a", 0, 4, "c", 0, &err), -EINVAL);
	assert_int_equal(table_loader_add_pointer(&tl, "a", 0, 3, "b", 0, &err), -EINVAL);
	assert_int_equal(table_loader_add_pointer(&tl, "b", 13, 4, "a", 0, &err), -EINVAL);
	assert_int_equal(table_loader_add_pointer(&tl, "b", 0xfffffffe, 4, "a", 0, &err), -EINVAL);
	assert_int_equal(table_loader_add_pointer(&tl, "b", 0, 4, "a", 64, &err), -EINVAL);
	assert_int_equal(table_loader_add_pointer(&tl, "b", 0, 1, "a", 63, &err), 0);
	assert_int_equal(table_loader_add_pointer(&tl, "b", 8, 8, "a", 63, &err), 0);
	/* Checksums: outside the blob, the byte outside the range. */
	assert_int_equal(table_loader_add_checksum(&tl, "c", 0, 4, 0, &err), -EINVAL);
	assert_int_equal(table_loader_add_checksum(&tl, "b", 0, 17, 0, &err), -EINVAL);
	assert_int_equal(table_loader_add_checksum(&tl, "b", 16, 0, 16, &err), -EINVAL);
	assert_int_equal(table_loader_add_checksum(&tl, "b", 4, 4, 8, &err), -EINVAL);
	assert_int_equal(table_loader_add_checksum(&tl, "b", 4, 4, 3, &err), -EINVAL);
	assert_int_equal(table_loader_add_checksum(&tl, "b", 0xfffffff0, 0x20, 0xfffffff0, &err),
			 -EINVAL);
	assert_int_equal(table_loader_add_checksum(&tl, "b", 4, 4, 7, &err), 0);
	assert_int_equal(table_loader_write_pointer(&tl, "", 0, 8, "a", 0, &err), -EINVAL);
	assert_int_equal(table_loader_write_pointer(&tl, "d", 0, 5, "a", 0, &err), -EINVAL);
	assert_int_equal(table_loader_write_pointer(&tl, "d", 0, 8, "a", 64, &err), -EINVAL);
	assert_int_equal(tl.ncmds, 5);
	table_loader_release(&tl);

	/* The file and command limits. */
	table_loader_init(&tl);
	for (unsigned int i = 0; i < TL_FILES_MAX; i++) {
		char name[8];

		snprintf(name, sizeof(name), "f%u", i);
		assert_int_equal(table_loader_allocate(&tl, name, a, 4, 1, TL_ZONE_HIGH, &err), 0);
	}
	assert_int_equal(table_loader_allocate(&tl, "more", a, 4, 1, TL_ZONE_HIGH, &err), -ENOSPC);
	while (tl.ncmds < TL_CMDS_MAX)
		assert_int_equal(table_loader_add_checksum(&tl, "f0", 0, 4, 0, &err), 0);
	assert_int_equal(table_loader_add_checksum(&tl, "f0", 0, 4, 0, &err), -ENOSPC);
	table_loader_release(&tl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commands_byte_exact),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
