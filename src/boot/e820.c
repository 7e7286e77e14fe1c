#include "boot/e820.h"

#include <errno.h>

#include "core/layout.h"

#define E820_RAM 1
#define E820_RESERVED 2

static int e820_add(struct boot_e820_entry *tbl, unsigned int max, unsigned int *n,
		    uint64_t addr, uint64_t size, uint32_t type)
{
	if (size == 0)
		return 0;
	if (*n >= max)
		return -ENOSPC;
	tbl[*n] = (struct boot_e820_entry){ .addr = addr, .size = size, .type = type };
	(*n)++;
	return 0;
}

int e820_build(const struct guest_mem *gm, struct boot_e820_entry *tbl, unsigned int max)
{
	uint64_t low_end = guest_mem_low_end(gm);
	unsigned int n = 0;
	int ret = 0;

	/* The loader's own structures sit below 1 MiB, so demand at least that. */
	if (gm->nregions == 0 || low_end <= LAYOUT_KERNEL_LOAD)
		return -EINVAL;

	/*
	 * Conventional memory ends where the EBDA would start, and the BIOS
	 * area holding the ACPI tables is reserved, as on a PC.
	 */
	ret |= e820_add(tbl, max, &n, 0, LAYOUT_EBDA, E820_RAM);
	ret |= e820_add(tbl, max, &n, LAYOUT_EBDA, 0xa0000 - LAYOUT_EBDA, E820_RESERVED);
	ret |= e820_add(tbl, max, &n, LAYOUT_ACPI_BASE, LAYOUT_ACPI_SIZE, E820_RESERVED);
	ret |= e820_add(tbl, max, &n, LAYOUT_KERNEL_LOAD, low_end - LAYOUT_KERNEL_LOAD, E820_RAM);
	for (unsigned int i = 1; i < gm->nregions; i++)
		ret |= e820_add(tbl, max, &n, gm->regions[i].gpa, gm->regions[i].size, E820_RAM);
	return ret ? -ENOSPC : (int)n;
}
