/*
 * The virtio families a VM's devices are made from (devices_virtio.c),
 * for the assembly that lays them out and attaches them (devices.c): how
 * many of each the config asks for, and how one is made, transport-free.
 */
#ifndef HEARTH_VMM_DEVICES_PRIV_H
#define HEARTH_VMM_DEVICES_PRIV_H

#include "virtio/device.h"
#include "vmm/devices.h"
#include "vmm/vm.h"

/* One virtio device being made: what its maker is given, and what it names. */
struct virtio_build {
	struct vm *vm;
	const struct virtio_env *env;
	const struct vm_config *cfg;
	const struct blk_config *drives;
	const struct vm_pmem_map *pmem;   /* the windows, vm_pmem.c's */
	unsigned int i;               /* which of its family */
	const char *id;               /* set by the maker */
	char what[96];                /* set by the maker: before its errors */
};

struct virtio_family {
	const char *type;
	unsigned int (*count)(const struct vm_config *cfg);
	int (*create)(struct virtio_build *b, struct virtio_dev **out, struct err *err);
};

/* In layout order (devices_virtio.c says why). */
extern const struct virtio_family vm_virtio_families[];
extern const unsigned int vm_virtio_nfamilies;

/* The id the i-th device of family f gets (what its maker sets as b->id). */
const char *vm_virtio_family_id(const struct virtio_family *f, const struct vm_config *cfg,
				unsigned int i);

/* The counts the budget's refusal names. */
unsigned int vm_count_rng(const struct vm_config *cfg);
unsigned int vm_count_vsock(const struct vm_config *cfg);
unsigned int vm_count_balloon(const struct vm_config *cfg);
unsigned int vm_count_mem(const struct vm_config *cfg);

#endif
