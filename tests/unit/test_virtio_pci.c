/*
 * virtio-pci against a driver that plays by the rules and one that does
 * not: virtio-rng as function 00:01.0 of the PCI root, found through
 * ECAM, its capabilities walked, its BAR sized, features negotiated, a
 * queue set up through the common structure, a request served and
 * signalled through MSI-X (pending while masked, sent when unmasked),
 * the ISR read-to-clear, the PCI configuration access window, the
 * driver's mistakes turned into NEEDS_RESET, never into Hearth's, and
 * the function's record saved, restored and crafted.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/layout.h"
#include "mem/guest_mem.h"
#include "pci/root.h"
#include "util/log.h"
#include "virtio/pci.h"
#include "virtio/rng.h"
#include "virtio/transport.h"
#include "virtio/virtio.h"

#define RAM (16ull << 20)
#define DEVFN (1u << 3)
#define BAR 0xe8008000ull            /* slot 1's, as firmware would place it */
#define RING 0x10000ull
#define BUF 0x20000ull
#define QSIZE 16

/* BAR 0's layout and the common structure, as the driver learns them. */
#define COMMON 0x0000
#define ISR 0x1000
#define NOTIFY 0x3000
#define MSIX_TABLE 0x4000
#define MSIX_PBA 0x5000
#define CC_GF_SEL 0x08
#define CC_GF 0x0c
#define CC_DF_SEL 0x00
#define CC_DF 0x04
#define CC_MSIX 0x10
#define CC_NUMQ 0x12
#define CC_STATUS 0x14
#define CC_QSEL 0x16
#define CC_QSIZE 0x18
#define CC_QMSIX 0x1a
#define CC_QENABLE 0x1c
#define CC_QDESC 0x20
#define CC_QAVAIL 0x28
#define CC_QUSED 0x30

struct fx {
	struct bus bus;
	struct guest_mem mem;
	uint8_t *ram;
	struct component root;
	struct virtio_dev *dev;
	struct virtio_pci *t;
	int msix_cap, window_cap;
	uint16_t avail_idx;
};

static uint32_t cfg_rd(struct fx *f, unsigned int off, unsigned int len)
{
	uint8_t d[4];

	assert_int_equal(bus_access(&f->bus, BUS_MMIO, LAYOUT_PCI_ECAM + (DEVFN << 12) + off, d,
				    len, false), 0);
	return (uint32_t)bus_data_get(d, len);
}

static void cfg_wr(struct fx *f, unsigned int off, uint32_t v, unsigned int len)
{
	uint8_t d[4];

	bus_data_put(d, len, v);
	assert_int_equal(bus_access(&f->bus, BUS_MMIO, LAYOUT_PCI_ECAM + (DEVFN << 12) + off, d,
				    len, true), 0);
}

static uint64_t bar_rd(struct fx *f, unsigned int off, unsigned int len)
{
	uint8_t d[8];

	assert_int_equal(bus_access(&f->bus, BUS_MMIO, BAR + off, d, len, false), 0);
	return bus_data_get(d, len);
}

static void bar_wr(struct fx *f, unsigned int off, uint64_t v, unsigned int len)
{
	uint8_t d[8];

	bus_data_put(d, len, v);
	assert_int_equal(bus_access(&f->bus, BUS_MMIO, BAR + off, d, len, true), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct dev_resources res = { .pio_base = PORT_PCI_CONF1, .pio_size = PCI_CONF1_PORTS,
				     .mmio_base = LAYOUT_PCI_ECAM,
				     .mmio_size = LAYOUT_PCI_ECAM_SIZE, .gsi = -1 };
	struct virtio_host host = { .vm_fd = -1, .bus = &f->bus };
	struct virtio_env env = { .mem = &f->mem };
	struct dev_env denv = { .bus = &f->bus, .console_fd = -1 };
	struct err err = ERR_INIT;

	assert_non_null(f);
	log_set_level(LOG_ERR);
	f->ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(f->ram != MAP_FAILED);
	f->mem.slots_fd = -1;
	f->mem.regions[0] = (struct guest_region){ 0, RAM, f->ram };
	f->mem.nregions = 1;
	f->mem.ram_bytes = RAM;
	bus_init(&f->bus);
	assert_int_equal(pci_root_create(&denv, &res, &f->root, &err), 0);
	assert_int_equal(virtio_rng_create(&env, &f->dev, &err), 0);
	assert_int_equal(virtio_pci_create(f->dev, &host, pci_root_of(&f->root), 1, &f->t), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	virtio_pci_component.destroy(f->t);
	f->root.ops->destroy(f->root.obj);
	bus_destroy(&f->bus);
	munmap(f->ram, RAM);
	free(f);
	return 0;
}

/* The capabilities by their virtio type (0x09) or id (MSI-X): offsets, -1 for none. */
static void walk_caps(struct fx *f, int vcap[6])
{
	unsigned int n = 0;

	for (int i = 0; i < 6; i++)
		vcap[i] = -1;
	f->msix_cap = -1;
	for (unsigned int c = cfg_rd(f, 0x34, 1); c; c = cfg_rd(f, c + 1, 1)) {
		assert_true(c >= 0x40 && c < 0x100 && !(c & 3));
		assert_true(++n < 16);             /* no loop */
		if (cfg_rd(f, c, 1) == 0x11)
			f->msix_cap = (int)c;
		else if (cfg_rd(f, c, 1) == 0x09 && cfg_rd(f, c + 3, 1) < 6)
			vcap[cfg_rd(f, c + 3, 1)] = (int)c;
	}
	f->window_cap = vcap[5];
}

/* Found, sized, placed and decoding: what Linux's PCI core does first. */
static void enumerate(struct fx *f)
{
	int vcap[6];

	cfg_wr(f, 4, 0, 2);                                    /* as at power-on: not decoding */
	assert_int_equal(cfg_rd(f, 0, 4), 0x10441af4u);        /* modern virtio-rng */
	assert_int_equal(cfg_rd(f, 8, 4) >> 8, 0xff0000u);
	assert_int_equal(cfg_rd(f, 8, 1), 1);                  /* revision 1: modern */
	assert_int_equal(cfg_rd(f, 0x2c, 4), 0x10441af4u);
	assert_true(cfg_rd(f, 6, 2) & 0x10);                   /* a capability list */
	assert_int_equal(cfg_rd(f, 0x3d, 1), 0);               /* no INTx */
	walk_caps(f, vcap);
	assert_true(vcap[1] > 0 && vcap[2] > 0 && vcap[3] > 0 && vcap[5] > 0);
	assert_int_equal(vcap[4], -1);                         /* rng has no config space */
	assert_int_equal(cfg_rd(f, (unsigned int)vcap[1] + 8, 4), COMMON);
	assert_int_equal(cfg_rd(f, (unsigned int)vcap[2] + 8, 4), NOTIFY);
	assert_int_equal(cfg_rd(f, (unsigned int)vcap[2] + 16, 4), 4);  /* multiplier */
	assert_int_equal(cfg_rd(f, (unsigned int)vcap[3] + 8, 4), ISR);
	assert_true(f->msix_cap > 0);
	assert_int_equal(cfg_rd(f, (unsigned int)f->msix_cap + 2, 2) & 0x7ff, 1); /* 2 vectors */
	assert_int_equal(cfg_rd(f, (unsigned int)f->msix_cap + 4, 4), MSIX_TABLE);
	assert_int_equal(cfg_rd(f, (unsigned int)f->msix_cap + 8, 4), MSIX_PBA);
	/* BAR 0: placed where firmware would, 32 KiB, not decoding. */
	assert_int_equal(cfg_rd(f, 0x10, 4), (uint32_t)BAR);
	assert_int_equal(bar_rd(f, COMMON + CC_NUMQ, 2), 0xffff);
	cfg_wr(f, 0x10, 0xffffffffu, 4);
	assert_int_equal(cfg_rd(f, 0x10, 4), 0xffff8000u);
	cfg_wr(f, 0x10, (uint32_t)BAR, 4);
	cfg_wr(f, 4, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	assert_int_equal(bar_rd(f, COMMON + CC_NUMQ, 2), 1);
}

static void status(struct fx *f, uint8_t s)
{
	bar_wr(f, COMMON + CC_STATUS, s, 1);
}

/* Features, MSI-X on with vector 0 for the queue, the queue live, DRIVER_OK. */
static void bring_up(struct fx *f)
{
	enumerate(f);
	status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	bar_wr(f, COMMON + CC_DF_SEL, 1, 4);
	assert_true(bar_rd(f, COMMON + CC_DF, 4) & 1);         /* VERSION_1 */
	bar_wr(f, COMMON + CC_GF_SEL, 1, 4);
	bar_wr(f, COMMON + CC_GF, 1, 4);
	status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	assert_true(bar_rd(f, COMMON + CC_STATUS, 1) & VIRTIO_STATUS_FEATURES_OK);
	/* MSI-X: enabled, entry 0 a message to the LAPIC, unmasked. */
	cfg_wr(f, (unsigned int)f->msix_cap + 2, 0x8000, 2);
	bar_wr(f, MSIX_TABLE, 0xfee00000u, 4);
	bar_wr(f, MSIX_TABLE + 4, 0, 4);
	bar_wr(f, MSIX_TABLE + 8, 0x41, 4);
	bar_wr(f, MSIX_TABLE + 12, 0, 4);
	bar_wr(f, COMMON + CC_MSIX, 9, 2);                    /* no such vector */
	assert_int_equal(bar_rd(f, COMMON + CC_MSIX, 2), 0xffff);
	bar_wr(f, COMMON + CC_QSEL, 0, 2);
	assert_int_equal(bar_rd(f, COMMON + CC_QSIZE, 2), f->dev->queue_max);
	bar_wr(f, COMMON + CC_QMSIX, 0, 2);
	assert_int_equal(bar_rd(f, COMMON + CC_QMSIX, 2), 0);
	bar_wr(f, COMMON + CC_QSIZE, QSIZE, 2);
	bar_wr(f, COMMON + CC_QDESC, RING, 4);
	bar_wr(f, COMMON + CC_QDESC + 4, 0, 4);
	bar_wr(f, COMMON + CC_QAVAIL, RING + 16 * QSIZE, 8);
	bar_wr(f, COMMON + CC_QUSED, RING + 0x1000, 4);
	bar_wr(f, COMMON + CC_QUSED + 4, 0, 4);
	assert_true(bar_rd(f, COMMON + CC_QAVAIL, 8) == RING + 16 * QSIZE);
	bar_wr(f, COMMON + CC_QENABLE, 1, 2);
	assert_int_equal(bar_rd(f, COMMON + CC_QENABLE, 2), 1);
	status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		  VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(bar_rd(f, COMMON + CC_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET, 0);
}

/* One 64-byte buffer offered and notified; the used index the device reached. */
static uint16_t request(struct fx *f)
{
	uint8_t *d = f->ram + RING + 16 * (f->avail_idx % QSIZE);
	uint16_t *avail = (uint16_t *)(f->ram + RING + 16 * QSIZE);

	memset(d, 0, 16);
	bus_data_put(d, 8, BUF);
	bus_data_put(d + 8, 4, 64);
	bus_data_put(d + 12, 2, VIRTQ_DESC_F_WRITE);
	avail[2 + f->avail_idx % QSIZE] = (uint16_t)(f->avail_idx % QSIZE);
	__atomic_store_n(&avail[1], ++f->avail_idx, __ATOMIC_RELEASE);
	bar_wr(f, NOTIFY, 0, 2);                               /* queue 0's address */
	return *(uint16_t *)(f->ram + RING + 0x1000 + 2);
}

static void test_bring_up_and_serve(void **state)
{
	struct fx *f = *state;

	bring_up(f);
	assert_int_equal(request(f), 1);
	/* The queue's interrupt: ISR bit 0 (read clears it), nothing left pending. */
	assert_int_equal(bar_rd(f, ISR, 1), 1);
	assert_int_equal(bar_rd(f, ISR, 1), 0);
	assert_int_equal(bar_rd(f, MSIX_PBA, 8), 0);
}

/* A masked vector keeps its message pending; unmasking sends it. */
static void test_msix_mask(void **state)
{
	struct fx *f = *state;

	bring_up(f);
	bar_wr(f, MSIX_TABLE + 12, 1, 4);
	assert_int_equal(request(f), 1);
	assert_int_equal(bar_rd(f, MSIX_PBA, 8), 1);
	bar_wr(f, MSIX_TABLE + 12, 0, 4);
	assert_int_equal(bar_rd(f, MSIX_PBA, 8), 0);
	/* The function mask does the same for every vector. */
	cfg_wr(f, (unsigned int)f->msix_cap + 2, 0xc000, 2);
	assert_int_equal(request(f), 2);
	assert_int_equal(bar_rd(f, MSIX_PBA, 4), 1);
	cfg_wr(f, (unsigned int)f->msix_cap + 2, 0x8000, 2);
	assert_int_equal(bar_rd(f, MSIX_PBA, 4), 0);
	/* The table reads back; odd widths and offsets read all ones and change nothing. */
	assert_int_equal(bar_rd(f, MSIX_TABLE + 8, 4), 0x41);
	assert_true(bar_rd(f, MSIX_TABLE, 8) == 0xfee00000ull);
	assert_int_equal(bar_rd(f, MSIX_TABLE + 2, 2), 0xffff);
	bar_wr(f, MSIX_TABLE + 9, 0xff, 1);
	assert_int_equal(bar_rd(f, MSIX_TABLE + 8, 4), 0x41);
	assert_true(bar_rd(f, MSIX_TABLE + 0x20, 4) == 0xffffffffu);  /* past 2 vectors */
}

/* The PCI configuration access window reaches BAR 0 (4.1.4.9). */
static void test_cfg_window(void **state)
{
	struct fx *f = *state;
	unsigned int c;

	enumerate(f);
	c = (unsigned int)f->window_cap;
	cfg_wr(f, c + 4, 0, 1);
	cfg_wr(f, c + 8, COMMON + CC_NUMQ, 4);
	cfg_wr(f, c + 12, 2, 4);
	assert_int_equal(cfg_rd(f, c + 16, 2), 1);
	/* A status write through it, as through the BAR. */
	cfg_wr(f, c + 8, COMMON + CC_STATUS, 4);
	cfg_wr(f, c + 12, 1, 4);
	cfg_wr(f, c + 16, VIRTIO_STATUS_ACKNOWLEDGE, 1);
	assert_int_equal(bar_rd(f, COMMON + CC_STATUS, 1), VIRTIO_STATUS_ACKNOWLEDGE);
	/* Another BAR, an odd length or a straddle: nothing reached, nothing read. */
	cfg_wr(f, c + 4, 1, 1);
	cfg_wr(f, c + 16, 0, 1);
	assert_int_equal(bar_rd(f, COMMON + CC_STATUS, 1), VIRTIO_STATUS_ACKNOWLEDGE);
	cfg_wr(f, c + 4, 0, 1);
	cfg_wr(f, c + 12, 3, 4);
	cfg_wr(f, c + 16, 0, 1);
	assert_int_equal(bar_rd(f, COMMON + CC_STATUS, 1), VIRTIO_STATUS_ACKNOWLEDGE);
	cfg_wr(f, c + 8, VIRTIO_PCI_BAR_SIZE - 2, 4);
	cfg_wr(f, c + 12, 4, 4);
	assert_int_equal(cfg_rd(f, c + 16, 4), 0);
}

/* A driver's mistakes: NEEDS_RESET, and a reset brings the device back. */
static void test_hostile(void **state)
{
	struct fx *f = *state;

	enumerate(f);
	status(f, VIRTIO_STATUS_ACKNOWLEDGE);
	bar_wr(f, COMMON + CC_QSEL, 7, 2);                     /* no queue 7 */
	assert_int_equal(bar_rd(f, COMMON + CC_QSIZE, 2), 0);
	bar_wr(f, COMMON + CC_QSIZE, 8, 2);
	assert_true(bar_rd(f, COMMON + CC_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
	status(f, 0);
	assert_int_equal(bar_rd(f, COMMON + CC_STATUS, 1), 0);
	assert_int_equal(bar_rd(f, COMMON + CC_QSEL, 2), 0);
	/* A size that is no power of two; a live queue's layout rewritten; enable with 0. */
	bar_wr(f, COMMON + CC_QSIZE, 12, 2);
	assert_true(bar_rd(f, COMMON + CC_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
	status(f, 0);
	bring_up(f);
	bar_wr(f, COMMON + CC_QDESC, 0x30000, 4);
	assert_true(bar_rd(f, COMMON + CC_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(bar_rd(f, COMMON + CC_QDESC, 8) == RING);
	status(f, 0);
	bring_up(f);
	bar_wr(f, COMMON + CC_QENABLE, 0, 2);
	assert_true(bar_rd(f, COMMON + CC_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
	/* Bits the status does not define are not kept (a snapshot would refuse them). */
	status(f, 0xff & ~VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(bar_rd(f, COMMON + CC_STATUS, 1) & ~VIRTIO_STATUS_NEEDS_RESET,
			 VIRTIO_STATUS_DRIVER_BITS);
	/* Clearing status bits without a reset, and writes nowhere in particular. */
	status(f, 0);
	bring_up(f);
	status(f, VIRTIO_STATUS_ACKNOWLEDGE);
	assert_true(bar_rd(f, COMMON + CC_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
	bar_wr(f, 0x0800, 0xffffffffu, 4);
	bar_wr(f, COMMON + CC_NUMQ, 5, 2);
	assert_int_equal(bar_rd(f, COMMON + CC_NUMQ, 2), 1);
	bar_wr(f, NOTIFY + 4, 0, 2);                           /* no queue 1: ignored */
	assert_int_equal(bar_rd(f, 0x7ff8, 8), 0);
	/* Memory decoding off: the BAR is gone, the window answers all ones. */
	cfg_wr(f, 4, 0, 2);
	assert_int_equal(bar_rd(f, COMMON + CC_NUMQ, 2), 0xffff);
}

static uint8_t *save(struct fx *f, size_t *len)
{
	struct bytes_out o = bytes_out_growing();
	struct err err = ERR_INIT;

	assert_int_equal(virtio_pci_component.pause(f->t), 0);
	assert_int_equal(virtio_pci_component.save(f->t, &o, &err), 0);
	assert_int_equal(bytes_out_finish(&o, len), 0);
	return o.buf;
}

/*
 * Saved with a message pending on a masked vector, restored into a
 * function built afresh over the same RAM: it answers as the saved one,
 * the message goes out on unmask, and the queue carries on.
 */
static void test_record_round_trip(void **state)
{
	struct fx *f = *state, *g;
	struct err err = ERR_INIT;
	uint8_t *rec, *again;
	size_t len, len2;

	bring_up(f);
	assert_int_equal(request(f), 1);
	bar_wr(f, MSIX_TABLE + 12, 1, 4);
	assert_int_equal(request(f), 2);
	assert_int_equal(bar_rd(f, MSIX_PBA, 8), 1);
	rec = save(f, &len);

	setup((void **)&g);
	munmap(g->ram, RAM);
	g->ram = f->ram;                       /* the same guest RAM, as a restore maps it */
	g->mem.regions[0].hva = f->ram;
	assert_int_equal(virtio_pci_component.restore(g->t, rec, len, false, &err), 0);
	assert_int_equal(virtio_pci_component.restore(g->t, rec, len, true, &err), 0);
	assert_int_equal(cfg_rd(g, 4, 2) & PCI_COMMAND_MEMORY, PCI_COMMAND_MEMORY);
	assert_int_equal(bar_rd(g, COMMON + CC_STATUS, 1) & 0x0f, 0x0f);
	assert_int_equal(bar_rd(g, COMMON + CC_QENABLE, 2), 1);
	assert_int_equal(bar_rd(g, COMMON + CC_QMSIX, 2), 0);
	assert_int_equal(bar_rd(g, MSIX_PBA, 8), 1);
	bar_wr(g, MSIX_TABLE + 12, 0, 4);
	assert_int_equal(bar_rd(g, MSIX_PBA, 8), 0);
	/* Saved again: the same bytes but for what the unmask changed. */
	again = save(g, &len2);
	assert_int_equal(len2, len);
	free(again);
	virtio_pci_component.resume(g->t);
	g->avail_idx = f->avail_idx;
	assert_int_equal(request(g), 3);
	g->ram = NULL;
	{
		/* Teardown of g without unmapping f's RAM. */
		virtio_pci_component.destroy(g->t);
		g->root.ops->destroy(g->root.obj);
		bus_destroy(&g->bus);
		free(g);
	}
	free(rec);
}

/*
 * A driver that publishes an avail index past the ring breaks its
 * device, but not the snapshot: the record of the broken queue restores.
 */
static void test_record_after_avail_jump(void **state)
{
	struct fx *f = *state;
	struct err err = ERR_INIT;
	uint16_t *avail = (uint16_t *)(f->ram + RING + 16 * QSIZE);
	uint8_t *rec;
	size_t len;

	bring_up(f);
	assert_int_equal(request(f), 1);
	avail[1] = (uint16_t)(avail[1] + 3 * QSIZE);
	bar_wr(f, NOTIFY, 0, 2);
	assert_true(bar_rd(f, COMMON + CC_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
	rec = save(f, &len);
	assert_int_equal(virtio_pci_component.restore(f->t, rec, len, false, &err), 0);
	assert_int_equal(virtio_pci_component.restore(f->t, rec, len, true, &err), 0);
	free(rec);
}

/* Crafted records: refused by the check, the function unchanged. */
static void test_record_refused(void **state)
{
	struct fx *f = *state;
	struct err err = ERR_INIT;
	uint8_t *rec;
	size_t len, cfg_at = 4 + 4 + 4 + 4 + 2;   /* tag, version, id, queues, max */

	bring_up(f);
	rec = save(f, &len);
	assert_int_equal(virtio_pci_component.restore(f->t, rec, len - 1, false, &err), -ENODATA);
	rec[cfg_at] ^= 1;                      /* the vendor id: not the guest's to change */
	assert_int_equal(virtio_pci_component.restore(f->t, rec, len, false, &err), -EINVAL);
	rec[cfg_at] ^= 1;
	rec[cfg_at + 0x12] ^= 0x01;            /* BAR 0's address: the guest's to move */
	assert_int_equal(virtio_pci_component.restore(f->t, rec, len, false, &err), 0);
	rec[cfg_at + 0x12] ^= 0x01;
	rec[cfg_at + 0x11] ^= 0x01;            /* below the BAR's size: no write keeps it */
	assert_int_equal(virtio_pci_component.restore(f->t, rec, len, false, &err), -EINVAL);
	rec[cfg_at + 0x11] ^= 0x01;
	rec[4] ^= 0xff;                        /* another version */
	assert_int_equal(virtio_pci_component.restore(f->t, rec, len, true, &err), -EPROTO);
	rec[4] ^= 0xff;
	/* Unchanged: it still serves. */
	virtio_pci_component.resume(f->t);
	assert_int_equal(request(f), 1);
	free(rec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bring_up_and_serve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_mask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cfg_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_after_avail_jump, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
