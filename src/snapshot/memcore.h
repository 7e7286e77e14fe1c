/*
 * A snapshot's memory file, which is also an ELF core (docs/snapshot-format.md,
 * "The memory file"): an ELF64 ET_CORE header, a PT_NOTE with one
 * NT_PRSTATUS "CORE" note per vCPU (its general registers), then one
 * PT_LOAD per guest RAM region in GPA order with p_paddr = p_vaddr = GPA
 * and its data at a 2 MiB-aligned offset. gdb, crash and readelf open it
 * as a core; a restore maps each region MAP_PRIVATE from its offset.
 */
#ifndef HEARTH_SNAPSHOT_MEMCORE_H
#define HEARTH_SNAPSHOT_MEMCORE_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/guest_mem.h"
#include "util/err.h"

#define MEMCORE_ALIGN (2ull << 20)
#define MEMCORE_PAGE 4096u
#define MEMCORE_MAX_VCPUS 256u
/* RAM's regions, then the memory hotplug region where there is one. */
#define MEMCORE_MAX_REGIONS (GUEST_MEM_MAX_REGIONS + 1)

struct memcore_layout {
	unsigned int nregions;           /* RAM's, plus one with a hotplug region (last) */
	uint64_t gpa[MEMCORE_MAX_REGIONS];
	uint64_t size[MEMCORE_MAX_REGIONS];
	uint64_t offset[MEMCORE_MAX_REGIONS];
	uint64_t file_size;              /* the end of the last region's data */
};

/* A vCPU's registers for its NT_PRSTATUS note. */
struct memcore_vcpu {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
};

/*
 * Where gm's regions go in a file with nvcpus notes: RAM's in GPA order,
 * then the memory hotplug region (whole, at its GPA, above RAM) when gm
 * has one. 0 or -EINVAL.
 */
int memcore_plan(const struct guest_mem *gm, unsigned int nvcpus, struct memcore_layout *l);

/*
 * The ELF header, program headers and notes (the bytes before the first
 * region's data, which is at l->offset[0]); *buf is malloc'ed.
 */
int memcore_header(const struct memcore_layout *l, const struct memcore_vcpu *v,
		   unsigned int nvcpus, uint8_t **buf, size_t *len);

/*
 * Writes gm to path atomically (a hidden temporary name in the same
 * directory, fsync, rename, directory fsync): a writer killed midway
 * leaves no file at path that loads. dirty NULL: a full file, in which
 * all-zero pages stay holes, and so do the hotplug region's unplugged
 * blocks (its plugged ones are written as RAM is). dirty[i]: RAM region
 * i's bitmap (one bit per 4 KiB page), dirty[GUEST_MEM_HP_MAP] the
 * hotplug region's (needed when gm has one); only those pages are
 * written, zero or not, the rest are holes: a diff for
 * `hearth-snap-merge`. 0 or -errno with one line in err.
 */
int memcore_write(const char *path, const struct guest_mem *gm, const struct memcore_vcpu *v,
		  unsigned int nvcpus, const uint64_t *const *dirty, struct err *err);
/*
 * A full file's layout written into fd (a memfd for a fork: sized, then
 * its non-zero pages; nothing synced or renamed). 0 or -errno with err.
 */
int memcore_write_fd(int fd, const struct guest_mem *gm, const struct memcore_vcpu *v,
		     unsigned int nvcpus, struct err *err);

/* The reader is snap-dev's memfile_layout_read (memfile_layout.h). */

#endif
