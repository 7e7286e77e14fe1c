/* virtio-mem's insides, shared by its files (mem.c, state.c). */
#ifndef HEARTH_VIRTIO_MEM_PRIV_H
#define HEARTH_VIRTIO_MEM_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "util/bytes.h"
#include "virtio/mem.h"
#include "virtio/queue.h"

#define MEM_QUEUE_SIZE 256        /* Firecracker's FIRECRACKER_MAX_QUEUE_SIZE */
/*
 * What one kick may cost the I/O thread: at most MEM_KICK_CHAINS requests
 * and MEM_KICK_BLOCKS blocks' worth of plugging, unplugging or looking
 * (a request names at most 65535 blocks), then another round.
 */
#define MEM_KICK_CHAINS 256u
#define MEM_KICK_BLOCKS (256u * 1024u)

enum mem_counter {
	MC_QUEUE_EVENTS,
	MC_QUEUE_FAILS,
	MC_ACTIVATE_FAILS,
	MC_PLUG_COUNT,
	MC_PLUG_BYTES,
	MC_PLUG_FAILS,
	MC_UNPLUG_COUNT,
	MC_UNPLUG_BYTES,
	MC_UNPLUG_FAILS,
	MC_UNPLUG_ALL_COUNT,
	MC_UNPLUG_ALL_FAILS,
	MC_STATE_COUNT,
	MC_STATE_FAILS,
	MC_DISCARD_FAILS,
	MC_UNKNOWN,
	MC_COUNT
};

struct vmem {
	struct virtio_dev dev;
	struct virtio_mem_config cfg;
	uint64_t nblocks;
	/* The config space's moving parts (5.15.4), host-endian. */
	uint64_t usable, plugged, requested;
	/* The driver started it, with the features it needs (Firecracker's is_activated). */
	bool active;
	uint64_t *map;                /* one bit per block, set while plugged */
	uint64_t c[MC_COUNT];
	struct virtq_chain chain;     /* large: kept here rather than on the stack */
};

/* Block b is plugged. */
bool vmem_block_on(const struct vmem *m, uint64_t b);
/* Plugged blocks in [first, first+n), a word at a time where it can. */
uint64_t vmem_count_plugged(const struct vmem *m, uint64_t first, uint64_t n);
void vmem_set_blocks(struct vmem *m, uint64_t first, uint64_t n, bool on);
/* The usable region for a requested size: whole slots covering it. */
uint64_t vmem_usable_for(const struct vmem *m, uint64_t requested);

/* The snapshot record (state.c): virtio_dev_ops' save and restore. */
int vmem_save(struct virtio_dev *dev, struct bytes_out *o);
int vmem_restore(struct virtio_dev *dev, const struct virtq *vq, const void *in, size_t len,
		 bool apply);

#endif
