/*
 * The chaos guest's shared state, and its virtqueue half (chaos_ring.c).
 * chaos.c says what the guest does and why.
 */
#ifndef HEARTH_TEST_CHAOS_H
#define HEARTH_TEST_CHAOS_H

#include "guest.h"

#define VIRTIO_BASE 0xd0000000ull
#define VIRTIO_STRIDE 0x1000ull
#define VIRTIO_SLOTS 16
#define MAX_DEVS 8
#define MAX_QUEUES 4
#define QSIZE_MAX 256

/* Scratch: rings at [SCRATCH, +RING_AREA), buffers after them. */
#define SCRATCH 0x1000000ull /* 16 MiB; the harness gives 64 MiB */
#define RING_AREA (MAX_DEVS * MAX_QUEUES * 0x4000ull)
#define BUF_AREA 0x200000ull
#define SCRATCH_END (SCRATCH + RING_AREA + BUF_AREA)

/* virtio-mmio registers (virtio 1.2, 4.2.2). */
#define R_MAGIC 0x000
#define R_VERSION 0x004
#define R_DEVICE_ID 0x008
#define R_DEV_FEAT 0x010
#define R_DEV_FEAT_SEL 0x014
#define R_DRV_FEAT 0x020
#define R_DRV_FEAT_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_INT_STATUS 0x060
#define R_INT_ACK 0x064
#define R_STATUS 0x070
#define R_DESC_LO 0x080
#define R_DRIVER_LO 0x090
#define R_DEVICE_LO 0x0a0
#define R_CONFIG 0x100
#define MMIO_MAGIC 0x74726976u

#define S_ACK 1u
#define S_DRIVER 2u
#define S_DRIVER_OK 4u
#define S_FEATURES_OK 8u
#define S_NEEDS_RESET 64u

#define D_NEXT 1u
#define D_WRITE 2u
#define D_INDIRECT 4u

#define F_INDIRECT (1ull << 28)
#define F_EVENT_IDX (1ull << 29)
#define F_VERSION_1 (1ull << 32)

struct vq {
	uint16_t size;	   /* 0: not set up by us */
	uint16_t avail_idx; /* our next avail idx */
	uint16_t used_seen;
	uint64_t desc, avail, used;
};

struct vdev {
	uint64_t base;
	uint32_t id;
	unsigned int nq;
	uint32_t qmax;
	uint64_t offered;
	struct vq q[MAX_QUEUES];
	uint64_t lives, used_moves;
};

extern struct vdev devs[MAX_DEVS];
extern unsigned int ndevs;
extern uint64_t seed, ram_end;

uint64_t rnd(void);
uint64_t below(uint64_t n);
int chance(unsigned int percent);
__attribute__((noreturn)) void chaos_fail(const char *what, uint64_t a, uint64_t b);

static inline uint32_t reg_read(const struct vdev *d, uint64_t off)
{
	return mmio_read32(d->base + off);
}

static inline void reg_write(const struct vdev *d, uint64_t off, uint32_t v)
{
	mmio_write32(d->base + off, v);
}

/* The virtqueue operations (chaos_ring.c). */
void op_setup(unsigned int di);
/*
 * The same, its ring bookkeeping (where the rings are, their sizes) into
 * qs: the second vCPU's setups keep theirs apart, since the first one
 * writes descriptors through devs[di].q without a lock, and a setup
 * caught halfway there (a ring moved outside RAM, its size not yet 0) had
 * it writing to an address nothing maps: the guest's own triple fault.
 */
void op_setup_into(unsigned int di, struct vq *qs);
void op_requests(struct vdev *d);
void op_garbage_ring(struct vdev *d);
void op_rewrite_in_use(struct vdev *d);

/* On a PCI VM ("pci=N"): configuration-space and BAR chaos (chaos_pci.c). */
unsigned int pci_probe(void);
void pci_one_op(void);
void pci_finish(void);
extern uint64_t pci_cfg_ops, pci_bar_ops, pci_hp_ops;

#endif
