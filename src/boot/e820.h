/* The e820 memory map Hearth reports, derived from the RAM layout. */
#ifndef HEARTH_BOOT_E820_H
#define HEARTH_BOOT_E820_H

#include <asm/bootparam.h>

#include "mem/guest_mem.h"

/*
 * Fills tbl with at most max entries, sorted and non-overlapping.
 * Returns the entry count or -ENOSPC / -EINVAL.
 */
int e820_build(const struct guest_mem *gm, struct boot_e820_entry *tbl, unsigned int max);

#endif
