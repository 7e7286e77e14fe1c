/*
 * --flat: a raw image (no header, no format) copied to guest-physical
 * address addr, the BSP entering it at entry in real mode, 32-bit
 * protected mode or 64-bit long mode. The smallest guests: a boot
 * sector, firmware, the few bytes of every KVM introduction.
 *
 * Entry state (docs/running.md, "Flat images"):
 *   real    CS = DS = ES = FS = GS = SS = (entry >> 4) & 0xf000, IP =
 *           entry & 0xffff, so entry < 1 MiB; CR0.PE off; the rest as
 *           after reset
 *   prot32  flat 4 GiB code and data segments (the boot GDT), paging off
 *   long    64-bit code segment, identity page tables for the first 4 GiB
 *           (2 MiB pages)
 * Every mode: interrupts off, every other general register 0, SP 0 (no
 * stack is set up). In prot32 and long the boot tables (the GDT, and for
 * long the page tables above it: core/layout.h's block) go at LAYOUT_GDT
 * when the image leaves that room free, else at the first page above
 * the image. Hearth writes nothing else into a flat VM's RAM.
 */
#ifndef HEARTH_BOOT_FLAT_H
#define HEARTH_BOOT_FLAT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/cpu_entry.h"
#include "mem/guest_mem.h"
#include "util/err.h"

enum flat_mode { FLAT_REAL, FLAT_PROT32, FLAT_LONG };

struct flat_spec {
	const char *path;
	uint64_t addr;            /* where the image goes */
	uint64_t entry;           /* where the BSP starts */
	bool entry_set;           /* false: entry is addr */
	enum flat_mode mode;
};

/* "real", "prot32", "long"; -EINVAL for anything else. */
int flat_mode_parse(const char *s, enum flat_mode *out);
const char *flat_mode_name(enum flat_mode m);

/* Real mode's CS:IP for entry (rule above); -ERANGE at or above 1 MiB. */
int flat_real_cs_ip(uint64_t entry, uint16_t *cs, uint16_t *ip);

/*
 * Where the boot tables go for an image at [start, end) (rule above):
 * 0 and *base, or -ENOSPC when neither place is free RAM below 4 GiB.
 * *size is what is written there (0 in real mode: nothing).
 */
int flat_tables_place(const struct guest_mem *gm, enum flat_mode mode, uint64_t start,
		      uint64_t end, uint64_t *base, uint64_t *size);

/*
 * Reads spec->path into gm at spec->addr and fills the BSP's entry (with
 * e->tables: where the caller writes the boot tables, regs_setup_tables).
 * The file must be a non-empty regular file that fits in RAM at addr,
 * the entry inside it; -errno with one line (without the file name) in
 * err, usage set when the file or the values are at fault. RAM is
 * untouched unless it succeeds.
 */
int flat_load(const struct flat_spec *spec, struct guest_mem *gm, struct cpu_entry *e,
	      struct err *err);

#endif
