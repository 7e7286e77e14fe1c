/*
 * The guest's virtio driver for the device targets (fuzz_blk, fuzz_net,
 * fuzz_vsock): the device sits on virtio-mmio on a bus as in
 * tests/unit/mmio_attach.h, with no I/O thread (status writes and
 * QueueNotify run inline), and the input is a program for a hostile
 * driver. After the device's feature bits and queue sizes, each step is
 * an opcode byte and its operands:
 *
 *   0 DESC   q, index, addr, len, flags, next: one descriptor
 *   1 AVAIL  q, head: publish it (head is not checked)
 *   2 KICK   value written to QueueNotify (queue index, stray bits too)
 *   3 POKE   offset, n, bytes: write guest RAM
 *   4 RACE   at, offset, byte: write RAM at the at-th device read from now
 *   5 DEVICE the target's own step (backend frames, host sockets, ...)
 *   6 REINIT features, sizes: reset and set the device up again
 *   7 IDX    q, value: store the avail index as is
 *   8 CONFIG offset, width, value, write?: the config space
 *   9 ACK    read InterruptStatus and acknowledge it
 *
 * Queue q's rings live at q * 16 KiB: descriptors, avail at +4 KiB, used
 * at +8 KiB. Buffers go anywhere in the 256 KiB of RAM, rings included;
 * flag 0x80 on a descriptor keeps its raw 32-bit address (outside RAM).
 */
#ifndef HEARTH_FUZZ_FZ_DRV_H
#define HEARTH_FUZZ_FZ_DRV_H

#include "core/bus.h"
#include "fz.h"
#include "mem/guest_mem.h"
#include "virtio/mmio.h"
#include "virtio/virtio.h"

#define FZ_BASE 0xd0000000ull
#define FZ_RAM (256u * 1024u)
#define FZ_QSTRIDE 0x4000u
#define FZ_STEPS 256      /* per input, so a long input cannot run for ever */

struct fz_drv {
	struct bus *bus;          /* the target's; devices may share one */
	struct guest_mem gm;
	uint8_t *ram;
	struct virtio_dev *dev;
	struct virtio_mmio *t;
	uint64_t base;            /* of the device's register window */
	uint16_t qsize[VIRTIO_MAX_QUEUES];
	uint16_t avail_idx[VIRTIO_MAX_QUEUES];
	/* The target's: a device step, and what follows every kick (completions). */
	void (*dev_step)(struct fz_drv *d, struct fz *in);
	void (*settle)(struct fz_drv *d);
};

static inline uint32_t fz_rd(struct fz_drv *d, uint64_t off)
{
	uint8_t b[4];

	bus_access(d->bus, BUS_MMIO, d->base + off, b, 4, false);
	return (uint32_t)bus_data_get(b, 4);
}

static inline void fz_wr(struct fz_drv *d, uint64_t off, uint32_t v)
{
	uint8_t b[4];

	bus_data_put(b, 4, v);
	bus_access(d->bus, BUS_MMIO, d->base + off, b, 4, true);
}

/* Once per process: dev attached at FZ_BASE on a bus of its own. */
static inline void fz_drv_attach(struct fz_drv *d, struct virtio_dev *dev)
{
	static struct bus bus;
	struct virtio_host host = { .vm_fd = -1, .bus = &bus };

	d->dev = dev;
	d->base = FZ_BASE;
	d->bus = &bus;
	bus_init(&bus);
	CHECK(virtio_mmio_create(dev, &host, FZ_BASE, 5, &d->t) == 0);
}

static inline void fz_drv_ram(struct fz_drv *d)
{
	static uint8_t ram[FZ_RAM] __attribute__((aligned(4096)));

	d->ram = ram;
	d->gm.regions[0] = (struct guest_region){ 0, FZ_RAM, ram };
	d->gm.nregions = 1;
	d->gm.ram_bytes = FZ_RAM;
}

/*
 * Reset, then initialisation (3.1.1) taking the offered features in
 * accept (VERSION_1 unless asked not to) and each queue at 1 << (log % 9)
 * entries; a log of 0xff leaves the queue off.
 */
static inline void fz_drv_init(struct fz_drv *d, struct fz *in)
{
	uint32_t accept = fz_u32(in), flo, fhi;
	uint8_t bits = fz_u8(in);

	fz_wr(d, 0x070, 0);
	fz_wr(d, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	fz_wr(d, 0x014, 0);
	flo = fz_rd(d, 0x010) & accept;
	fz_wr(d, 0x014, 1);
	fhi = fz_rd(d, 0x010);
	/* VERSION_1 is bit 32: refusing it exercises the FEATURES_OK refusal. */
	if (bits & 1)
		fhi &= ~1u;
	/* Sometimes more than offered, which FEATURES_OK must refuse. */
	if (bits & 2)
		fhi |= fz_u32(in);
	fz_wr(d, 0x024, 0);
	fz_wr(d, 0x020, flo);
	fz_wr(d, 0x024, 1);
	fz_wr(d, 0x020, fhi);
	fz_wr(d, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			       VIRTIO_STATUS_FEATURES_OK);
	memset(d->qsize, 0, sizeof(d->qsize));
	memset(d->avail_idx, 0, sizeof(d->avail_idx));
	for (unsigned int q = 0; q < d->dev->num_queues; q++) {
		uint8_t lg = fz_u8(in);
		uint64_t ring = (uint64_t)q * FZ_QSTRIDE;

		if (lg == 0xff)
			continue;
		d->qsize[q] = (uint16_t)(1u << (lg % 9));
		fz_wr(d, 0x030, q);
		fz_wr(d, 0x038, d->qsize[q]);
		fz_wr(d, 0x080, (uint32_t)ring);
		fz_wr(d, 0x084, 0);
		fz_wr(d, 0x090, (uint32_t)ring + 0x1000);
		fz_wr(d, 0x094, 0);
		fz_wr(d, 0x0a0, (uint32_t)ring + 0x2000);
		fz_wr(d, 0x0a4, 0);
		fz_wr(d, 0x044, 1);
	}
	fz_wr(d, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			       VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

static inline void fz_drv_step(struct fz_drv *d, struct fz *in)
{
	uint8_t op = fz_u8(in) % 10, q = (uint8_t)(fz_u8(in) % VIRTIO_MAX_QUEUES);
	uint16_t qs = d->qsize[q] ? d->qsize[q] : 1;
	uint64_t ring = (uint64_t)q * FZ_QSTRIDE;

	switch (op) {
	case 0: {
		uint16_t i = fz_u16(in) % qs;
		uint32_t addr = fz_u32(in), len = fz_u16(in);
		uint8_t flags = fz_u8(in);
		struct virtq_desc desc;

		if (!(flags & 0x80))
			addr %= FZ_RAM;
		if (flags & 0x40)
			len |= (uint32_t)fz_u16(in) << 16;
		desc = (struct virtq_desc){ addr, len, flags & 7, fz_u16(in) };
		memcpy(d->ram + ring + 16u * i, &desc, sizeof(desc));
		break;
	}
	case 1: {
		uint16_t head = fz_u16(in), idx = d->avail_idx[q];

		memcpy(d->ram + ring + 0x1000 + 4 + 2u * (idx % qs), &head, 2);
		d->avail_idx[q] = ++idx;
		memcpy(d->ram + ring + 0x1000 + 2, &idx, 2);
		break;
	}
	case 2:
		/* Mostly the queue picked above; sometimes stray high bits. */
		fz_wr(d, 0x050, (q & 8) ? fz_u32(in) : (uint32_t)(q & 7));
		if (d->settle)
			d->settle(d);
		break;
	case 3: {
		uint32_t off = fz_u32(in) % FZ_RAM;
		uint8_t n = fz_u8(in);

		if (n > FZ_RAM - off)
			n = (uint8_t)(FZ_RAM - off);
		fz_take(in, d->ram + off, n);
		break;
	}
	case 4: {
		uint16_t at = fz_u16(in);
		uint32_t off = fz_u32(in);

		fz_race_add(at % 512, off, fz_u8(in));
		break;
	}
	case 5:
		if (d->dev_step)
			d->dev_step(d, in);
		break;
	case 6:
		fz_drv_init(d, in);
		if (d->settle)
			d->settle(d);
		break;
	case 7: {
		uint16_t v = fz_u16(in);

		d->avail_idx[q] = v;
		memcpy(d->ram + ring + 0x1000 + 2, &v, 2);
		break;
	}
	case 8: {
		uint8_t off = fz_u8(in), w = (uint8_t)(1u << (fz_u8(in) % 4)), b[8];
		uint64_t v = fz_u64(in);

		bus_data_put(b, w, v);
		bus_access(d->bus, BUS_MMIO, d->base + 0x100 + off, b, w, q & 1);
		break;
	}
	default:
		fz_wr(d, 0x064, fz_rd(d, 0x060));
		break;
	}
}

/*
 * One input: RAM cleared, the device reset and set up from the input's
 * head, then its steps, racing writes armed from the start.
 */
static inline void fz_drv_run(struct fz_drv *d, struct fz *in)
{
	memset(d->ram, 0, FZ_RAM);
	fz_race_begin(d->ram, FZ_RAM);
	fz_drv_init(d, in);
	for (int i = 0; i < FZ_STEPS && in->n; i++)
		fz_drv_step(d, in);
	if (d->settle)
		d->settle(d);
	fz_race_end();
}

#endif
