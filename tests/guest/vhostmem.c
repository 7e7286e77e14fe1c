/*
 * vhostmem: a guest that posts a receive buffer where no device may
 * write, for the lab's proof of issue 47's S1 (tests/lab/vhost_hotplug.py).
 *
 * It drives a virtio-net device (on vhost-net in L1) and a virtio-mem
 * device itself, and puts its one receive buffer at the first block of
 * the memory hotplug region: unplugged, then plugged, then unplugged
 * again. vhost may use a buffer only where its memory table reaches, and
 * the table must hold plugged blocks only: a frame L1 sends lands while
 * the block is plugged, never while it is not (and the host backs no
 * page there). The host drives the steps through the device's
 * requested_size, which the guest polls (PATCH /hotplug/memory):
 *   1 block   "go plug"     the guest reports rx_unplugged, plugs block 0,
 *                           kicks the receive queue, says "plugged"
 *   2 blocks  "go unplug"   rx_plugged; unplug block 0, a fresh buffer
 *                           there, kick, "rearmed"
 *   3 blocks  "report"      rx_after_unplug, then power off
 * Lines: "LAB vm_<key>=<value>" (the lab's key=value protocol).
 */
#include "guest.h"

#define VIRTIO_BASE 0xd0000000ull
#define VIRTIO_STRIDE 0x1000ull
#define VIRTIO_SLOTS 32

#define R_MAGIC 0x000
#define R_DEVICE_ID 0x008
#define R_DEV_FEAT 0x010
#define R_DEV_FEAT_SEL 0x014
#define R_DRV_FEAT 0x020
#define R_DRV_FEAT_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_STATUS 0x070
#define R_DESC_LO 0x080
#define R_DESC_HI 0x084
#define R_DRIVER_LO 0x090
#define R_DRIVER_HI 0x094
#define R_DEVICE_LO 0x0a0
#define R_DEVICE_HI 0x0a4
#define R_CONFIG 0x100

#define S_ACK 1u
#define S_DRIVER 2u
#define S_DRIVER_OK 4u
#define S_FEATURES_OK 8u

#define ID_NET 1u
#define ID_MEM 24u

/* virtio-mem's config (VIRTIO 1.2, 5.15.4) and requests (5.15.6). */
#define MEM_BLOCK_SIZE 0
#define MEM_ADDR 16
#define MEM_REQUESTED 48
#define MEM_F_UNPLUGGED_INACCESSIBLE 1u
#define MEM_REQ_PLUG 0
#define MEM_REQ_UNPLUG 1

#define QSIZE 8
#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2

/* Rings and requests in RAM well above the image (loaded at 2 MiB). */
#define SCRATCH 0x1000000ull

struct ring {
	uint64_t base, desc, avail, used;
	uint16_t avail_idx;
};

static uint64_t find(uint32_t id)
{
	for (unsigned int s = 0; s < VIRTIO_SLOTS; s++) {
		uint64_t b = VIRTIO_BASE + s * VIRTIO_STRIDE;

		if (mmio_read32(b + R_MAGIC) == 0x74726976 && mmio_read32(b + R_DEVICE_ID) == id)
			return b;
	}
	return 0;
}

/* Status up to FEATURES_OK with VERSION_1 and the low feature bits given. */
static void negotiate(uint64_t b, uint32_t low)
{
	mmio_write32(b + R_STATUS, 0);
	mmio_write32(b + R_STATUS, S_ACK);
	mmio_write32(b + R_STATUS, S_ACK | S_DRIVER);
	mmio_write32(b + R_DRV_FEAT_SEL, 0);
	mmio_write32(b + R_DRV_FEAT, low);
	mmio_write32(b + R_DRV_FEAT_SEL, 1);
	mmio_write32(b + R_DRV_FEAT, 1);    /* VIRTIO_F_VERSION_1 */
	mmio_write32(b + R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	GUEST_ASSERT(mmio_read32(b + R_STATUS) & S_FEATURES_OK);
}

static void setup_queue(uint64_t b, unsigned int q, struct ring *r, uint64_t at)
{
	memset((void *)at, 0, 0x1000);
	r->base = b;
	r->desc = at;
	r->avail = at + 16 * QSIZE;
	r->used = at + 0x800;
	r->avail_idx = 0;
	mmio_write32(b + R_QUEUE_SEL, q);
	mmio_write32(b + R_QUEUE_NUM, QSIZE);
	mmio_write32(b + R_DESC_LO, (uint32_t)r->desc);
	mmio_write32(b + R_DESC_HI, (uint32_t)(r->desc >> 32));
	mmio_write32(b + R_DRIVER_LO, (uint32_t)r->avail);
	mmio_write32(b + R_DRIVER_HI, (uint32_t)(r->avail >> 32));
	mmio_write32(b + R_DEVICE_LO, (uint32_t)r->used);
	mmio_write32(b + R_DEVICE_HI, (uint32_t)(r->used >> 32));
	mmio_write32(b + R_QUEUE_READY, 1);
}

static void put_desc(struct ring *r, unsigned int i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	volatile uint8_t *d = (volatile uint8_t *)(r->desc + 16 * i);

	*(volatile uint64_t *)d = addr;
	*(volatile uint32_t *)(d + 8) = len;
	*(volatile uint16_t *)(d + 12) = flags;
	*(volatile uint16_t *)(d + 14) = next;
}

/* Makes head available and tells the device. */
static void publish(struct ring *r, unsigned int q, uint16_t head)
{
	*(volatile uint16_t *)(r->avail + 4 + 2 * (r->avail_idx % QSIZE)) = head;
	__asm__ volatile("" ::: "memory");
	r->avail_idx++;
	*(volatile uint16_t *)(r->avail + 2) = r->avail_idx;
	__asm__ volatile("mfence" ::: "memory");
	mmio_write32(r->base + R_QUEUE_NOTIFY, q);
}

static uint16_t used_idx(const struct ring *r)
{
	return *(volatile uint16_t *)(r->used + 2);
}

/* A 64-bit config field as two 32-bit reads, as virtio-mmio's config takes them. */
static uint64_t cfg64(uint64_t b, unsigned int off)
{
	uint32_t lo = mmio_read32(b + R_CONFIG + off), hi = mmio_read32(b + R_CONFIG + off + 4);

	return lo | (uint64_t)hi << 32;
}

static uint64_t mem_requested(uint64_t mem)
{
	return cfg64(mem, MEM_REQUESTED);
}

/* Waits (polling the device's config) until the host asks for at least want bytes. */
static void wait_requested(uint64_t mem, uint64_t want)
{
	while (mem_requested(mem) < want)
		for (volatile uint32_t d = 0; d < 20000; d++)
			;
}

/* One request to virtio-mem; its response type (0: ACK). */
static uint16_t mem_request(struct ring *r, uint16_t type, uint64_t addr, uint16_t nb)
{
	uint64_t req = SCRATCH + 0x10000, resp = SCRATCH + 0x10100;
	uint16_t before = used_idx(r);

	memset((void *)req, 0, 24);
	memset((void *)resp, 0xff, 16);
	*(volatile uint16_t *)req = type;
	*(volatile uint64_t *)(req + 8) = addr;
	*(volatile uint16_t *)(req + 16) = nb;
	put_desc(r, 0, req, 24, VRING_DESC_F_NEXT, 1);
	put_desc(r, 1, resp, 10, VRING_DESC_F_WRITE, 0);
	publish(r, 0, 0);
	while (used_idx(r) == before)
		;
	return *(volatile uint16_t *)resp;
}

void guest_main(uint64_t zp)
{
	uint64_t net = find(ID_NET), mem = find(ID_MEM), hp, block;
	struct ring rx, tx, mq;
	uint16_t seen;

	(void)zp;
	GUEST_ASSERT(net && mem);
	/* virtio-mem first: the driver must take UNPLUGGED_INACCESSIBLE. */
	negotiate(mem, 1u << MEM_F_UNPLUGGED_INACCESSIBLE);
	setup_queue(mem, 0, &mq, SCRATCH + 0x4000);
	mmio_write32(mem + R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	hp = cfg64(mem, MEM_ADDR);
	block = cfg64(mem, MEM_BLOCK_SIZE);
	/* virtio-net: no offloads, no MAC; both queues, as vhost-net wants. */
	negotiate(net, 0);
	setup_queue(net, 0, &rx, SCRATCH);
	setup_queue(net, 1, &tx, SCRATCH + 0x2000);
	mmio_write32(net + R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	/* The receive buffer at the region's first block, which nothing plugged. */
	put_desc(&rx, 0, hp, 2048, VRING_DESC_F_WRITE, 0);
	publish(&rx, 0, 0);
	serial_puts("LAB vm_hp=");
	serial_put_hex(hp);
	serial_puts("\nLAB vm_block=");
	serial_put_hex(block);
	serial_puts("\nLAB vm_armed=yes\n");

	wait_requested(mem, block);
	seen = used_idx(&rx);
	serial_puts("LAB vm_rx_unplugged=");
	serial_put_dec(seen);
	serial_puts("\n");
	serial_puts("LAB vm_plug=");
	serial_put_dec(mem_request(&mq, MEM_REQ_PLUG, hp, 1));
	serial_puts("\n");
	/* The same buffer, looked at again now that the block is the guest's. */
	mmio_write32(net + R_QUEUE_NOTIFY, 0);
	serial_puts("LAB vm_plugged=yes\n");

	wait_requested(mem, 2 * block);
	seen = used_idx(&rx);
	serial_puts("LAB vm_rx_plugged=");
	serial_put_dec(seen);
	serial_puts("\nLAB vm_unplug=");
	serial_put_dec(mem_request(&mq, MEM_REQ_UNPLUG, hp, 1));
	serial_puts("\n");
	put_desc(&rx, 1, hp, 2048, VRING_DESC_F_WRITE, 0);
	publish(&rx, 0, 1);
	serial_puts("LAB vm_rearmed=yes\n");

	wait_requested(mem, 3 * block);
	serial_puts("LAB vm_rx_after_unplug=");
	serial_put_dec((uint16_t)(used_idx(&rx) - seen));
	serial_puts("\n");
	guest_poweroff();
}
