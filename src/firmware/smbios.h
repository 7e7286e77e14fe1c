/*
 * SMBIOS tables as QEMU hands them to the firmware (hw/smbios/smbios.c):
 * fw_cfg's "etc/smbios/smbios-tables" (the structures, end to end) and
 * "etc/smbios/smbios-anchor" (the entry point, its table address 0:
 * SeaBIOS and OVMF place the tables and fill it in). The structures are
 * QEMU's for a q35 machine: 0 (BIOS), 1 (system), 3 (chassis), 4 (one
 * socket per vCPU, one core, one thread), 16 (the memory array), 17 (a
 * 16 GiB DIMM per 16 GiB of RAM), 19 (one per RAM region), 32 (boot) and
 * 127 (end), with QEMU's handles. The entry point is QEMU's "auto": the
 * 2.1 (32-bit, "_SM_", SMBIOS 2.8) one when the tables fit it, else the
 * 3.0 (64-bit, "_SM3_") one; or the one the caller asks for.
 *
 * Every string is checked: printable ASCII (0x20-0x7e, so no NUL and no
 * control byte inside), at most SMBIOS_STR_MAX bytes; an empty or NULL
 * one is left out (string number 0), as QEMU leaves it. cloud-init's
 * NoCloud reads "ds=nocloud;s=http://..." from the system serial.
 */
#ifndef HEARTH_FIRMWARE_SMBIOS_H
#define HEARTH_FIRMWARE_SMBIOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/guest_mem.h"
#include "util/err.h"

#define SMBIOS_ANCHOR_FILE "etc/smbios/smbios-anchor"
#define SMBIOS_TABLES_FILE "etc/smbios/smbios-tables"

#define SMBIOS_STR_MAX 512
#define SMBIOS_CPUS_MAX 1024      /* type 4's handles, 0x400 up, stay below type 16's */
#define SMBIOS_DIMM_SIZE (16ull << 30)
#define SMBIOS_DIMMS_MAX 256      /* type 17's, 0x1100 up, stay below type 19's */
#define SMBIOS_UUID_TEXT 36       /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */

#define SMBIOS_21_ANCHOR_LEN 31
#define SMBIOS_30_ANCHOR_LEN 24
#define SMBIOS_21_TABLES_MAX 0xffff /* the 2.1 entry point's 16-bit length */

enum smbios_ep {
	SMBIOS_EP_AUTO = 0,           /* 2.1 when the tables fit, else 3.0 (QEMU's q35 default) */
	SMBIOS_EP_21,
	SMBIOS_EP_30,
};

struct smbios_config {
	enum smbios_ep ep;
	/* Type 0: the firmware's own words (SeaBIOS's or EDK II's), uefi for OVMF. */
	const char *bios_vendor, *bios_version, *bios_date;
	uint8_t bios_major, bios_minor;
	bool uefi;
	/* Type 1; manufacturer and version also name type 3's chassis, 4's CPUs, 17's DIMMs. */
	const char *manufacturer, *product, *version, *serial, *sku, *family;
	bool has_uuid;
	uint8_t uuid[16];             /* RFC 4122's byte order (smbios_uuid_parse) */
	/* Type 4: the vCPUs, and CPUID leaf 1's EAX and EDX (the processor ID). */
	unsigned int ncpus;
	uint32_t cpuid_eax, cpuid_edx;
	/* Types 16, 17 and 19: the RAM (its size and regions). */
	const struct guest_mem *mem;
};

struct smbios_blobs {
	uint8_t *anchor;              /* the entry point, free()d by smbios_blobs_release */
	size_t anchor_len;
	uint8_t *tables;
	size_t tables_len;
};

/*
 * Builds both files for cfg. 0, or -errno with one line in err
 * (-EINVAL: a string that is not printable ASCII or too long, no CPUs
 * or more than SMBIOS_CPUS_MAX, no RAM or more than SMBIOS_DIMMS_MAX
 * DIMMs of it; -E2BIG: tables too large for the 2.1 entry point asked
 * for; -ENOMEM).
 */
int smbios_build(const struct smbios_config *cfg, struct smbios_blobs *out, struct err *err);
void smbios_blobs_release(struct smbios_blobs *b);

/*
 * A UUID's canonical text (36 characters, either case) into RFC 4122's
 * 16 bytes, which the tables store SMBIOS's way (the first three fields
 * little-endian). 0 or -EINVAL.
 */
int smbios_uuid_parse(const char *text, uint8_t uuid[16]);
/* The 16 bytes back to their canonical text, lower case. */
void smbios_uuid_format(const uint8_t uuid[16], char out[SMBIOS_UUID_TEXT + 1]);

#endif
