/*
 * The ACPI tables as QEMU hands them to SeaBIOS and OVMF, which place
 * them in guest memory themselves: fw_cfg's "etc/acpi/rsdp" (the RSDP
 * alone, in the F segment where SeaBIOS's scan finds it),
 * "etc/acpi/tables" (every other table, end to end) and the
 * "etc/table-loader" script (table_loader.h) that allocates both,
 * patches each pointer between tables with the address the firmware
 * chose, and then computes every checksum.
 *
 * The tables are any set: each a whole table with its header (its
 * length field its length; the RSDP's length 20 for revision 0, else
 * its own field), and the pointers between them, which tables point at
 * which and from where: the RSDP's RSDT (4 bytes at 16) and XSDT (8 at
 * 24), the RSDT's and XSDT's entries, the FADT's FACS (36, and 132 for
 * X_FIRMWARE_CTRL) and DSDT (40, and 140 for X_DSDT). Every SDT gets
 * its checksum (byte 9 over its length); the FACS has none; the RSDP
 * gets its first (byte 8 over 20 bytes) and, from revision 2, its
 * extended one (byte 32 over its length).
 */
#ifndef HEARTH_FIRMWARE_ACPI_FILES_H
#define HEARTH_FIRMWARE_ACPI_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define ACPI_FILES_TABLES "etc/acpi/tables"
#define ACPI_FILES_RSDP "etc/acpi/rsdp"
#define ACPI_FILES_TABLES_MAX 64
#define ACPI_FILES_PTRS_MAX 256
#define ACPI_FILES_SIZE_MAX (16u << 20)

struct acpi_files_table {
	const uint8_t *data;
	size_t len;
};

/* The size-byte (4 or 8) field at offset in table from points at table to. */
struct acpi_files_ptr {
	unsigned int from;
	uint32_t offset;
	uint8_t size;
	unsigned int to;
};

/* The three files, malloc'ed; acpi_files_release frees them. */
struct acpi_files {
	uint8_t *rsdp;
	size_t rsdp_len;
	uint8_t *tables;
	size_t tables_len;
	uint8_t *loader;
	size_t loader_len;
};

/*
 * The files for n tables (exactly one of them the RSDP) and np pointers
 * between them. The other tables follow each other in the order given,
 * each on an 8-byte boundary (a FACS on a 64-byte one). 0, or -errno
 * with one line in err: -EINVAL (no RSDP or two, a table whose header
 * is not its length, a pointer outside its table, of another size, to
 * the RSDP or between tables that are not there), -E2BIG (more than
 * ACPI_FILES_TABLES_MAX tables, ACPI_FILES_PTRS_MAX pointers or
 * ACPI_FILES_SIZE_MAX bytes), -ENOMEM.
 */
int acpi_files_build(const struct acpi_files_table *t, unsigned int n,
		     const struct acpi_files_ptr *p, unsigned int np, struct acpi_files *out,
		     struct err *err);

/*
 * The same from tables already laid out for guest-physical address gpa
 * (len bytes at img: what boot/acpi.h's acpi_build writes into a
 * scratch buffer), from the RSDP at rsdp_gpa: the tables and pointers
 * are found by walking RSDP, RSDT, XSDT and FADT; each pointer must be
 * 0 (none) or a table's start inside img. The same errors.
 */
int acpi_files_from_image(const uint8_t *img, size_t len, uint64_t gpa, uint64_t rsdp_gpa,
			  struct acpi_files *out, struct err *err);

void acpi_files_release(struct acpi_files *f);

#endif
