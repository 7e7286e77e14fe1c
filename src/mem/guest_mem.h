/*
 * Guest RAM: one anonymous mapping per region, bounds-checked GPA<->HVA
 * translation. RAM above 3 GiB continues at 4 GiB, past the MMIO hole.
 */
#ifndef HEARTH_MEM_GUEST_MEM_H
#define HEARTH_MEM_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MAX_REGIONS 2

struct guest_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
};

struct guest_mem {
	struct guest_region regions[GUEST_MEM_MAX_REGIONS];
	unsigned int nregions;
	uint64_t ram_bytes;
};

/* Lays out ram_bytes around the hole. Does not map anything. */
int guest_mem_layout(struct guest_mem *gm, uint64_t ram_bytes);
/* Lays out and mmaps. */
int guest_mem_init(struct guest_mem *gm, uint64_t ram_bytes);
void guest_mem_destroy(struct guest_mem *gm);
/* KVM_SET_USER_MEMORY_REGION for each region. */
int guest_mem_register(struct guest_mem *gm, int vm_fd);

/*
 * Host pointer for [gpa, gpa+len) when the whole range lies in one region,
 * else NULL. Overflowing ranges are rejected.
 */
void *guest_mem_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);
int guest_mem_read(const struct guest_mem *gm, uint64_t gpa, void *dst, uint64_t len);
int guest_mem_write(const struct guest_mem *gm, uint64_t gpa, const void *src, uint64_t len);

/* Highest RAM address + 1 below the hole. */
uint64_t guest_mem_low_end(const struct guest_mem *gm);

#endif
