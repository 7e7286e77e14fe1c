/*
 * The chaos guest's virtqueues: setups, well-formed requests, rings full
 * of garbage and rings rewritten while the device walks them.
 */
#include "chaos.h"

/* ---------------------------------------------------------- addresses */

static uint64_t ring_slot(unsigned int di, unsigned int q)
{
	return SCRATCH + (di * MAX_QUEUES + q) * 0x4000ull;
}

static uint64_t buf_addr(uint64_t maxlen)
{
	return SCRATCH + RING_AREA + below(BUF_AREA - maxlen);
}

/*
 * An address a device may write to: in scratch, or not RAM at all. The
 * mix is what a hostile driver would try.
 */
static uint64_t wild_addr(void)
{
	switch (below(10)) {
	case 0:
		return ram_end - below(0x3000);	 /* straddles the end of RAM */
	case 1:
		return 0xc0000000ull + below(0x40000000ull); /* the MMIO hole, devices too */
	case 2:
		return 0x100000000ull + below(1ull << 36); /* above 4 GiB */
	case 3:
		return 0xfffffffffffff000ull + below(0x1000); /* wraps around */
	case 4:
		return rnd() | (1ull << 40); /* anywhere, but never low RAM */
	case 5:
		return SCRATCH + below(RING_AREA); /* onto the rings themselves */
	default:
		return buf_addr(0x1000);
	}
}

static uint32_t wild_len(void)
{
	switch (below(6)) {
	case 0:
		return 0;
	case 1:
		return 0xffffffffu - (uint32_t)below(16);
	case 2:
		return (uint32_t)rnd();
	case 3:
		return 0x10000u + (uint32_t)below(0x100000);
	default:
		return (uint32_t)below(0x1000);
	}
}

/* -------------------------------------------------------------- rings */

static void put_desc(uint64_t table, unsigned int i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	volatile uint8_t *p = (volatile uint8_t *)(table + 16ull * i);

	*(volatile uint64_t *)p = addr;
	*(volatile uint32_t *)(p + 8) = len;
	*(volatile uint16_t *)(p + 12) = flags;
	*(volatile uint16_t *)(p + 14) = next;
}

/* depth: an indirect table's own entries are garbage, but never fill another table. */
static void garbage_desc(uint64_t table, unsigned int i, unsigned int qsize, int depth)
{
	uint16_t flags = (uint16_t)(chance(30) ? rnd() : below(8));
	uint16_t next = (uint16_t)(chance(20) ? rnd() : below(qsize ? qsize : 1));

	if (chance(10))
		next = (uint16_t)i; /* a loop onto itself */
	if ((flags & D_INDIRECT) && !depth) {
		/* An indirect table: in scratch, of any length, full of garbage. */
		uint64_t t = buf_addr(0x1000) & ~0xfull;
		unsigned int n = (unsigned int)below(32);

		for (unsigned int k = 0; k < n; k++)
			garbage_desc(t, k, n, 1);
		put_desc(table, i, chance(80) ? t : wild_addr(),
			 chance(70) ? n * 16 : wild_len(), flags, next);
		return;
	}
	put_desc(table, i, wild_addr(), wild_len(), flags, next);
}

static void avail_write(const struct vq *q, unsigned int slot, uint16_t head)
{
	*(volatile uint16_t *)(q->avail + 4 + 2ull * slot) = head;
}

static void avail_publish(struct vq *q, uint16_t idx)
{
	__asm__ volatile("" ::: "memory");
	*(volatile uint16_t *)(q->avail + 2) = idx;
	q->avail_idx = idx;
}

static void notify(const struct vdev *d, unsigned int qi)
{
	reg_write(d, R_QUEUE_NOTIFY, chance(5) ? (uint32_t)rnd() : qi);
}

/*
 * A request each device kind would accept, mostly: a readable header with
 * plausible fields, then device-writable buffers in scratch.
 */
static void fill_random(uint64_t addr, unsigned int len)
{
	for (unsigned int k = 0; k < len; k++)
		*(volatile uint8_t *)(addr + k) = (uint8_t)rnd();
}

/*
 * The descriptors of a request: segment k is lens[k] bytes, device-writable
 * when bit k of wmask is set; segment 0 is at hdr, the others in scratch.
 * Linked from head through consecutive slots of a table of tsize entries
 * (a power of two).
 */
static void put_chain(uint64_t table, unsigned int tsize, uint16_t head, uint64_t hdr,
		      const uint32_t *lens, unsigned int n, unsigned int wmask)
{
	unsigned int i = head;

	for (unsigned int k = 0; k < n; k++) {
		unsigned int nx = (i + 1) & (tsize - 1u);
		uint64_t addr = k == 0 ? hdr : buf_addr(lens[k]);
		uint16_t flags = (uint16_t)((k + 1 < n ? D_NEXT : 0) | ((wmask >> k) & 1 ? D_WRITE : 0));

		put_desc(table, i, addr, lens[k], flags, (uint16_t)nx);
		i = nx;
	}
}

/* An ARP request for the user-mode network's gateway: slirp answers on RX. */
static unsigned int put_arp(uint64_t f)
{
	static const uint8_t frame[] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	    /* virtio_net_hdr_v1 */
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff,	    /* to everyone */
		0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06, /* from us; ARP */
		0, 1, 8, 0, 6, 4, 0, 1,			    /* Ethernet, IPv4, request */
		0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 10, 0, 2, 15, /* we are 10.0.2.15 */
		0, 0, 0, 0, 0, 0, 10, 0, 2, 2,		    /* who has 10.0.2.2? */
	};

	for (unsigned int k = 0; k < sizeof(frame); k++)
		*(volatile uint8_t *)(f + k) = frame[k];
	return sizeof(frame);
}

/*
 * A request this device and queue would accept (most of the time, so the
 * devices do real work between the garbage): blk's header, data and
 * status; net's and vsock's transmit headers and frames; writable buffers
 * for every receive side and for rng.
 */
static void plausible_chain(const struct vdev *d, unsigned int qi, struct vq *q, uint16_t head)
{
	static const uint32_t blk_types[] = { 0, 1, 4, 8, 11, 13 }; /* IN OUT FLUSH GET_ID ... */
	uint32_t lens[4];
	uint64_t hdr = buf_addr(128);
	unsigned int n = 1 + (unsigned int)below(3), wmask = 0;

	fill_random(hdr, 64);
	if (d->id == 2) {
		uint32_t type = blk_types[below(6)];

		*(volatile uint32_t *)hdr = type;
		*(volatile uint64_t *)(hdr + 8) = below(2100); /* 1 MiB disk: some past its end */
		n = 2 + (unsigned int)below(2);
		lens[0] = 16;
		lens[1] = 512u << below(9); /* up to 128 KiB; some cross the disk's end */
		lens[n - 1] = 1;
		wmask = 1u << (n - 1);
		if (n == 3 && (type == 0 || type == 8))
			wmask |= 2; /* IN and GET_ID fill the data buffer */
		if (n == 3 && (type == 11 || type == 13))
			lens[1] = 16; /* one discard / write-zeroes segment */
	} else if ((d->id == 1 || d->id == 19) && qi == 1) {
		unsigned int hlen = d->id == 1 ? 12 : 44;

		if (d->id == 19) { /* src cid 3, dst the host, stream, a random op */
			*(volatile uint64_t *)hdr = 3;
			*(volatile uint64_t *)(hdr + 8) = 2;
			*(volatile uint16_t *)(hdr + 28) = 1;
			*(volatile uint16_t *)(hdr + 30) = (uint16_t)(1 + below(7));
		} else { /* no offloads; a broadcast frame */
			for (unsigned int k = 0; k < 12; k++)
				*(volatile uint8_t *)(hdr + k) = 0;
			for (unsigned int k = 12; k < 18; k++)
				*(volatile uint8_t *)(hdr + k) = 0xff;
		}
		lens[0] = hlen + (n == 1 ? 14 + (uint32_t)below(50) : 0);
		for (unsigned int k = 1; k < n; k++)
			lens[k] = 1 + (uint32_t)below(1500);
		if (d->id == 1 && chance(40)) {
			n = 1;
			lens[0] = put_arp(hdr);
		}
		if (d->id == 19) { /* len: what follows the header, mostly */
			uint32_t len = lens[0] - hlen;

			for (unsigned int k = 1; k < n; k++)
				len += lens[k];
			*(volatile uint32_t *)(hdr + 24) = chance(90) ? len : (uint32_t)rnd();
		}
	} else {
		for (unsigned int k = 0; k < n; k++)
			lens[k] = 64 + (uint32_t)below(2048);
		wmask = 0xf;
		hdr = buf_addr(lens[0]);
	}
	if (chance(5))
		wmask ^= 1u << below(n); /* one buffer the wrong way round */
	if (chance(15)) {
		/* The same request in an indirect table (refused unless negotiated). */
		uint64_t t = buf_addr(64) & ~0xfull;

		put_chain(t, 4, 0, hdr, lens, n, wmask);
		put_desc(q->desc, head, t, n * 16, D_INDIRECT, 0);
		return;
	}
	put_chain(q->desc, q->size, head, hdr, lens, n, wmask);
}

/* Reset, negotiate and set up every queue: mostly sane, sometimes not. */
void op_setup(unsigned int di)
{
	op_setup_into(di, devs[di].q);
}

void op_setup_into(unsigned int di, struct vq *qs)
{
	struct vdev *d = &devs[di];
	uint64_t want = d->offered & (rnd() | F_VERSION_1);

	reg_write(d, R_STATUS, 0);
	reg_write(d, R_STATUS, S_ACK);
	reg_write(d, R_STATUS, S_ACK | S_DRIVER);
	if (chance(5))
		want = rnd(); /* unoffered features: refused */
	reg_write(d, R_DRV_FEAT_SEL, 0);
	reg_write(d, R_DRV_FEAT, (uint32_t)want);
	reg_write(d, R_DRV_FEAT_SEL, 1);
	reg_write(d, R_DRV_FEAT, (uint32_t)(want >> 32));
	reg_write(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	for (unsigned int qi = 0; qi < d->nq; qi++) {
		struct vq *q = &qs[qi];
		uint32_t max = d->qmax < QSIZE_MAX ? d->qmax : QSIZE_MAX;
		uint32_t size = max >> below(4);
		uint64_t slot = ring_slot(di, qi);

		if (chance(10))
			size = 1u << below(3); /* tiny rings wrap all the time */
		if (chance(3))
			size = (uint32_t)rnd() & 0x1ff; /* not a power of two, or 0 */
		q->size = (uint16_t)(size & (size - 1) || !size ? 0 : size);
		q->desc = slot;
		q->avail = slot + 0x1000;
		q->used = slot + 0x2000;
		q->avail_idx = q->used_seen = 0;
		if (chance(4)) { /* rings outside RAM, or misaligned */
			q->desc = chance(50) ? wild_addr() : slot + 1;
			q->size = 0;
		}
		for (unsigned int k = 0; k < 0x3000; k += 8)
			*(volatile uint64_t *)(slot + k) = 0;
		if (chance(3)) /* all three rings on top of each other */
			q->avail = q->used = q->desc;
		if (chance(3)) { /* on another queue's rings, maybe another device's */
			slot = ring_slot((unsigned int)below(ndevs), (unsigned int)below(MAX_QUEUES));
			q->desc = slot;
			q->avail = slot + 0x1000;
			q->used = slot + 0x2000;
		}
		reg_write(d, R_QUEUE_SEL, chance(3) ? (uint32_t)rnd() : qi);
		reg_write(d, R_QUEUE_NUM, size);
		reg_write(d, R_DESC_LO, (uint32_t)q->desc);
		reg_write(d, R_DESC_LO + 4, (uint32_t)(q->desc >> 32));
		reg_write(d, R_DRIVER_LO, (uint32_t)q->avail);
		reg_write(d, R_DRIVER_LO + 4, 0);
		reg_write(d, R_DEVICE_LO, (uint32_t)q->used);
		reg_write(d, R_DEVICE_LO + 4, 0);
		if (!chance(3)) /* else DRIVER_OK with a queue never made ready */
			reg_write(d, R_QUEUE_READY, 1);
	}
	reg_write(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	uint32_t st = reg_read(d, R_STATUS);

	if ((st & S_DRIVER_OK) && !(st & S_NEEDS_RESET))
		d->lives++;
}

static struct vq *pick_queue(struct vdev *d, unsigned int *qi)
{
	*qi = (unsigned int)below(d->nq);
	return d->q[*qi].size ? &d->q[*qi] : 0;
}

static void note_used(struct vdev *d, struct vq *q)
{
	uint16_t idx = *(volatile uint16_t *)(q->used + 2);

	if (idx != q->used_seen) {
		q->used_seen = idx;
		d->used_moves++;
	}
}

/* Well-formed requests, so the devices do real work between the garbage. */
void op_requests(struct vdev *d)
{
	unsigned int qi;
	struct vq *q = pick_queue(d, &qi);

	if (!q)
		return;
	note_used(d, q);
	unsigned int n = 1 + (unsigned int)below(4);
	uint16_t idx = q->avail_idx;

	for (unsigned int k = 0; k < n; k++) {
		uint16_t head = (uint16_t)below(q->size);

		plausible_chain(d, qi, q, head);
		avail_write(q, (idx + k) & (q->size - 1u), head);
	}
	avail_publish(q, (uint16_t)(idx + n));
	notify(d, qi);
}

/* Rings full of garbage: descriptors, avail entries and idx. */
void op_garbage_ring(struct vdev *d)
{
	unsigned int qi;
	struct vq *q = pick_queue(d, &qi);

	if (!q)
		return;
	for (unsigned int i = 0; i < q->size; i++)
		if (chance(50))
			garbage_desc(q->desc, i, q->size, 0);
	for (unsigned int i = 0; i < q->size; i++)
		avail_write(q, i, (uint16_t)(chance(80) ? below(q->size) : rnd()));
	*(volatile uint16_t *)q->avail = (uint16_t)below(2); /* flags */
	/* Huge idx jumps (more than the ring holds) as well as small ones. */
	avail_publish(q, (uint16_t)(q->avail_idx + (chance(70) ? below(q->size + 1) : rnd())));
	notify(d, qi);
}

/* Publish, notify, then scribble while the I/O thread walks the ring. */
void op_rewrite_in_use(struct vdev *d)
{
	unsigned int qi;
	struct vq *q = pick_queue(d, &qi);

	if (!q)
		return;
	uint16_t idx = q->avail_idx;
	unsigned int n = 1 + (unsigned int)below(8);

	for (unsigned int k = 0; k < n; k++) {
		uint16_t head = (uint16_t)below(q->size);

		plausible_chain(d, qi, q, head);
		avail_write(q, (idx + k) & (q->size - 1u), head);
	}
	avail_publish(q, (uint16_t)(idx + n));
	notify(d, qi);
	for (unsigned int k = 0, rounds = 16 + (unsigned int)below(256); k < rounds; k++) {
		unsigned int i = (unsigned int)below(q->size);

		switch (below(4)) {
		case 0:
			garbage_desc(q->desc, i, q->size, 0);
			break;
		case 1:
			avail_write(q, i, (uint16_t)rnd());
			break;
		case 2:
			avail_publish(q, (uint16_t)(q->avail_idx + below(4) - 1));
			break;
		default: /* the used ring is the device's, but a bad driver writes it */
			*(volatile uint32_t *)(q->used + 4 + 8ull * i) = (uint32_t)rnd();
			break;
		}
	}
	if (chance(50))
		notify(d, qi);
}

