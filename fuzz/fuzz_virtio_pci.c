/*
 * libFuzzer target for virtio-pci (src/virtio/pci/pci.c, src/pci/msix.c)
 * with virtio-rng as function 00:01.0 of a PCI root (src/pci/root.c) on
 * a bus, no I/O thread (status writes and notifications run inline).
 * Guest RAM is 256 KiB at 0.
 *
 * The input is a list of records, an opcode byte then its operands:
 *   0 configuration access  u16 offset, u8 width, u8 write, u32 value
 *   1 BAR access            u16 offset into the 32 KiB BAR, u8 width, u8 write, u64 value
 *   2 RAM poke              u32 offset, u8 n, n bytes
 *   3 a whole driver bring-up: decoding on, features, MSI-X on with one
 *     unmasked entry, queue 0 at fixed rings, DRIVER_OK
 *   4 the host's side: pause, a save restored into itself and a copy with
 *     one byte flipped (u16 at, u8 xor), resume
 *
 * Checked besides ASan/UBSan: the ids never change, the BAR answers only
 * while decoding, num_queues reads 1, the pending bits name only the
 * table's vectors, a save restores into the function it came from, and
 * a record that passes its check applies and saves again.
 */
#include "core/bus.h"
#include "core/layout.h"
#include "fz_drv.h"
#include "pci/root.h"
#include "util/log.h"
#include "virtio/pci.h"
#include "virtio/rng.h"

#define RAM_SIZE FZ_RAM
#define BAR 0xe8008000ull
#define DEVFN_CFG (LAYOUT_PCI_ECAM + (1u << 15))

static unsigned int width(uint8_t w)
{
	static const unsigned int widths[] = { 1, 2, 4, 8 };

	return widths[w & 3];
}

static uint64_t access(struct bus *bus, uint64_t addr, unsigned int w, bool write, uint64_t v)
{
	uint8_t d[8];

	bus_data_put(d, w, v);
	if (bus_access(bus, BUS_MMIO, addr, d, w, write))
		return ~0ull;
	return bus_data_get(d, w);
}

static void bring_up(struct bus *bus, int msix_cap)
{
	static const struct { uint32_t off, w; uint64_t v; } steps[] = {
		{ 0x14, 1, 3 }, { 0x00, 4, 1 }, { 0x08, 4, 1 }, { 0x0c, 4, 1 }, { 0x14, 1, 11 },
		{ 0x4000, 4, 0xfee00000u }, { 0x4008, 4, 0x41 }, { 0x400c, 4, 0 },
		{ 0x16, 2, 0 }, { 0x1a, 2, 0 }, { 0x18, 2, 16 }, { 0x20, 8, 0x10000 },
		{ 0x28, 8, 0x10100 }, { 0x30, 8, 0x11000 }, { 0x1c, 2, 1 }, { 0x14, 1, 15 },
	};

	access(bus, DEVFN_CFG + 4, 2, true, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	access(bus, DEVFN_CFG + 0x10, 4, true, BAR);
	if (msix_cap > 0)
		access(bus, DEVFN_CFG + (unsigned int)msix_cap + 2, 2, true, 0x8000);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		access(bus, BAR + steps[i].off, steps[i].w, true, steps[i].v);
}

static int find_msix(struct bus *bus)
{
	unsigned int n = 0;

	for (uint64_t c = access(bus, DEVFN_CFG + 0x34, 1, false, 0); c && n < 16; n++) {
		if (access(bus, DEVFN_CFG + c, 1, false, 0) == 0x11)
			return (int)c;
		c = access(bus, DEVFN_CFG + c + 1, 1, false, 0);
	}
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct fz_drv drv;
	struct bus bus;
	struct component root;
	struct virtio_dev *dev;
	struct virtio_pci *t;
	struct dev_env denv;
	struct dev_resources res = { .pio_base = PORT_PCI_CONF1, .pio_size = PCI_CONF1_PORTS,
				     .mmio_base = LAYOUT_PCI_ECAM,
				     .mmio_size = LAYOUT_PCI_ECAM_SIZE, .gsi = -1 };
	struct err err = ERR_INIT;
	int msix_cap;

	log_set_level(LOG_ERR);
	memset(&drv, 0, sizeof(drv));
	fz_drv_ram(&drv);
	memset(drv.ram, 0, FZ_RAM);
	bus_init(&bus);
	denv = (struct dev_env){ .bus = &bus, .console_fd = -1 };
	CHECK(pci_root_create(&denv, &res, &root, &err) == 0);
	CHECK(virtio_rng_create(&(struct virtio_env){ .mem = &drv.gm }, &dev, &err) == 0);
	CHECK(virtio_pci_create(dev, &(struct virtio_host){ .vm_fd = -1, .bus = &bus },
				pci_root_of(&root), 1, &t) == 0);
	msix_cap = find_msix(&bus);
	CHECK(msix_cap > 0);

	for (unsigned int steps = 0; f.n && steps < 2048; steps++) {
		uint8_t op = fz_u8(&f) % 5;

		switch (op) {
		case 0: {
			uint16_t off = fz_u16(&f) % PCI_CFG_SIZE;
			unsigned int w = width(fz_u8(&f));
			bool wr = fz_u8(&f) & 1;

			access(&bus, DEVFN_CFG + off, w, wr, fz_u32(&f));
			break;
		}
		case 1: {
			uint16_t off = fz_u16(&f) % VIRTIO_PCI_BAR_SIZE;
			unsigned int w = width(fz_u8(&f));
			bool wr = fz_u8(&f) & 1;

			access(&bus, BAR + off, w, wr, fz_u64(&f));
			break;
		}
		case 2: {
			uint32_t off = fz_u32(&f) % RAM_SIZE;
			uint8_t n = fz_u8(&f);

			for (unsigned int i = 0; i < n && off + i < RAM_SIZE; i++)
				drv.ram[off + i] = fz_u8(&f);
			break;
		}
		case 3:
			bring_up(&bus, msix_cap);
			break;
		default: {
			struct bytes_out o = bytes_out_growing(), again = bytes_out_growing();
			uint16_t at = fz_u16(&f);
			uint8_t x = fz_u8(&f);
			size_t len, len2;

			CHECK(virtio_pci_component.pause(t) == 0);
			CHECK(virtio_pci_component.save(t, &o, &err) == 0);
			CHECK(bytes_out_finish(&o, &len) == 0);
			CHECK(virtio_pci_component.restore(t, o.buf, len, false, &err) == 0);
			CHECK(virtio_pci_component.restore(t, o.buf, len, true, &err) == 0);
			o.buf[at % len] ^= x;
			if (virtio_pci_component.restore(t, o.buf, len, false, &err) == 0) {
				virtio_pci_component.restore(t, o.buf, len, true, &err);
				CHECK(virtio_pci_component.save(t, &again, &err) == 0);
				CHECK(bytes_out_finish(&again, &len2) == 0 && len2 == len);
			}
			CHECK(virtio_pci_component.resume(t) == 0);
			free(o.buf);
			free(again.buf);
			break;
		}
		}
		CHECK(access(&bus, DEVFN_CFG, 4, false, 0) == 0x10441af4u);
		if (access(&bus, DEVFN_CFG + 4, 2, false, 0) & PCI_COMMAND_MEMORY &&
		    access(&bus, DEVFN_CFG + 0x10, 4, false, 0) == BAR) {
			CHECK(access(&bus, BAR + 0x12, 2, false, 0) == 1);
			CHECK((access(&bus, BAR + 0x5000, 8, false, 0) >> 2) == 0);
		} else if (!(access(&bus, DEVFN_CFG + 4, 2, false, 0) & PCI_COMMAND_MEMORY)) {
			CHECK(access(&bus, BAR + 0x12, 2, false, 0) == 0xffff);
		}
	}
	virtio_pci_component.destroy(t);
	root.ops->destroy(root.obj);
	bus_destroy(&bus);
	return 0;
}
