/* Between guest_mem.c, guest_mem_hotplug.c and dirty.c only. */
#ifndef HEARTH_MEM_DIRTY_PRIV_H
#define HEARTH_MEM_DIRTY_PRIV_H

#include "mem/guest_mem.h"

/* Frees the bitmaps and turns tracking off (guest_mem_destroy). */
void guest_mem_dirty_release(struct guest_mem *gm);
/*
 * The hotplug region's bitmap, once gm has both tracking and the region
 * (whichever came second calls it). 0 or -ENOMEM.
 */
int guest_mem_dirty_hp_attach(struct guest_mem *gm);

#endif
