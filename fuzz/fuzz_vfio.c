/*
 * A passed-through function (pci/vfio.h) against a hostile device and a
 * hostile guest. The "device" is a memfd laid out as VFIO lays out a
 * device fd; its configuration space comes from the input (any ids, BAR
 * flags, capability list, MSI-X table and pending-bit locations and
 * sizes, loops included), and so do its regions' sizes. Then the guest's
 * program of steps, each an opcode byte then its operands:
 *   0 configuration read   (u16 offset, u8 width)
 *   1 configuration write  (u16 offset, u8 width, u32 value)
 *   2 window access        (u32 offset into the 32-bit BAR window, u8 width, u8 write,
 *                           u64 value)
 *
 * Invariants: building it either succeeds or fails with a message and
 * nothing attached; the guest sees the device's vendor id, never its
 * other capabilities, and only MSI-X in the list (and, for a device VFIO
 * can reset, the PCI Express capability whose FLR a write may ask for:
 * the reset then runs in place, as no loop is given); the MSI-X table and
 * pending bits in the device's fd are never written; a BAR's address
 * is a multiple of its size; the I/O bit in the device's command register
 * is never set by the guest.
 */
#include "fz.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/bus.h"
#include "core/layout.h"
#include "pci/config.h"
#include "pci/root.h"
#include "pci/vfio.h"

#define CFG_OFF 0x0u
#define FD_SIZE 0x80000u
#define SLOT 2u
#define MAX_BAR 0x10000u

static uint8_t fd_snapshot[FD_SIZE], fd_now[FD_SIZE];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };
	struct dev_resources rr = { .pio_base = PORT_PCI_CONF1, .pio_size = PCI_CONF1_PORTS,
				    .mmio_base = LAYOUT_PCI_ECAM,
				    .mmio_size = LAYOUT_PCI_ECAM_SIZE, .gsi = -1 };
	struct vfio_env env = { .vm_fd = -1 };
	struct vfio_handles h = { .container = -1, .group = -1 };
	struct err err = ERR_INIT;
	struct vfio_pci *f = NULL;
	struct component root;
	struct dev_env denv;
	struct bus bus;
	struct vfio_bar_space space = { LAYOUT_PCI_VFIO_BARS, LAYOUT_PCI_MMIO32_END, 0, 0 };
	uint8_t cfg[256];
	uint64_t table = 0, pba = 0, tsize = 0, bar_end = 0, pba_end = 0;
	int fd;

	fd = memfd_create("fuzz-vfio", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, FD_SIZE))
		abort();
	memset(cfg, 0, sizeof(cfg));
	(void)fz_take(&in, cfg, sizeof(cfg));
	if (pwrite(fd, cfg, sizeof(cfg), CFG_OFF) != (ssize_t)sizeof(cfg))
		abort();
	h.device = fd;
	/* A device VFIO can reset: a PCI Express capability, whose FLR the guest may ask for. */
	h.resettable = cfg[PCI_CFG_STD_SIZE - 1] & 1;
	snprintf(h.name, sizeof(h.name), "0000:05:00.0");
	h.region[VFIO_REGION_CONFIG] = (struct vfio_region){ .size = 256, .offset = CFG_OFF };
	for (unsigned int i = 0; i < 6; i++) {
		uint32_t sz = fz_u32(&in) % (MAX_BAR + 1);

		h.region[i] = (struct vfio_region){ .size = sz, .offset = 0x1000u + i * MAX_BAR,
						    .mmap = true };
	}
	bus_init(&bus);
	denv = (struct dev_env){ .bus = &bus, .console_fd = -1 };
	if (pci_root_create(&denv, &rr, &root, &err))
		abort();
	if (vfio_pci_create(&h, &env, pci_root_of(&root), SLOT, &space, &f, &err)) {
		CHECK(err.msg[0] && !f);
		CHECK(pci_root_cfg_read(pci_root_of(&root), 0, SLOT << 3, 0, 4) == 0xffffffffu);
		goto out;
	}
	/* Where the device's own MSI-X table and PBA are, from its capability. */
	for (unsigned int off = pci_root_cfg_read(pci_root_of(&root), 0, SLOT << 3,
						 PCI_CFG_CAP_PTR, 1); off;) {
		if (pci_root_cfg_read(pci_root_of(&root), 0, SLOT << 3, off, 1) == PCI_CAP_ID_MSIX) {
			uint32_t t = pci_root_cfg_read(pci_root_of(&root), 0, SLOT << 3, off + 4, 4);
			uint32_t p = pci_root_cfg_read(pci_root_of(&root), 0, SLOT << 3, off + 8, 4);

			/*
			 * Each in its own BAR (BIR), in 64 bits: an offset near 4 GiB
			 * must not wrap around onto the configuration space at 0.
			 */
			table = 0x1000ull + (t & 7) * MAX_BAR + (t & ~7u);
			bar_end = 0x1000ull + (t & 7) * MAX_BAR + h.region[t & 7].size;
			pba = 0x1000ull + (p & 7) * MAX_BAR + (p & ~7u);
			pba_end = 0x1000ull + (p & 7) * MAX_BAR + h.region[p & 7].size;
			tsize = 16 * ((pci_root_cfg_read(pci_root_of(&root), 0, SLOT << 3, off + 2,
							 2) & 0x7ff) + 1);
		}
		CHECK(pci_root_cfg_read(pci_root_of(&root), 0, SLOT << 3, off, 1) ==
		      PCI_CAP_ID_MSIX || (h.resettable && pci_root_cfg_read(pci_root_of(&root), 0,
									SLOT << 3, off, 1) == 0x10));
		off = pci_root_cfg_read(pci_root_of(&root), 0, SLOT << 3, off + 1, 1);
	}
	CHECK(tsize);
	if (pread(fd, fd_snapshot, FD_SIZE, 0) != FD_SIZE)
		abort();
	while (in.n) {
		uint8_t op = fz_u8(&in) % 3;

		if (op == 0) {
			unsigned int off = fz_u16(&in) % 4200, len = fz_u8(&in) % 5;

			(void)pci_root_cfg_read(pci_root_of(&root), 0, SLOT << 3, off, len);
		} else if (op == 1) {
			unsigned int off = fz_u16(&in) % 4200, len = fz_u8(&in) % 5;

			pci_root_cfg_write(pci_root_of(&root), 0, SLOT << 3, off, fz_u32(&in), len);
		} else {
			uint64_t addr = LAYOUT_PCI_MMIO32 + fz_u32(&in) % 0x2000000u;
			unsigned int len = 1u << (fz_u8(&in) % 4);
			bool wr = fz_u8(&in) & 1;
			uint8_t d[8];

			bus_data_put(d, len, fz_u64(&in));
			(void)bus_access(&bus, BUS_MMIO, addr, d, len, wr);
		}
	}
	CHECK((pci_root_cfg_read(pci_root_of(&root), 0, SLOT << 3, 0, 2)) ==
	      (uint32_t)(cfg[0] | cfg[1] << 8));
	for (unsigned int i = 0, upper = 0; i < 6; i++) {
		uint32_t lo = pci_root_cfg_read(pci_root_of(&root), 0, SLOT << 3,
						PCI_CFG_BAR0 + 4 * i, 4);
		uint64_t sz = h.region[i].size;
		bool was_upper = upper;

		/* The upper half of a 64-bit BAR is all address. */
		upper = !was_upper && (lo & 7) == 4;
		if (was_upper || (lo & 1) || !(lo & ~0xfu) || !sz || (sz & (sz - 1)))
			continue;
		CHECK(((lo & ~0xfu) & ((sz < 16 ? 16 : sz) - 1)) == 0);
	}
	{
		uint16_t cmd;

		if (pread(fd, fd_now, FD_SIZE, 0) != FD_SIZE)
			abort();
		/* Inside the BAR (a table past its end spills into the next BAR's region). */
		for (uint64_t a = table; a < table + tsize && a < bar_end && a < FD_SIZE; a++)
			CHECK(fd_now[a] == fd_snapshot[a]);
		for (uint64_t a = pba; a < pba + 8 && a < pba_end && a < FD_SIZE; a++)
			CHECK(fd_now[a] == fd_snapshot[a]);
		memcpy(&cmd, fd_now + CFG_OFF + PCI_CFG_COMMAND, 2);
		CHECK(!(cmd & PCI_COMMAND_IO) || (cfg[PCI_CFG_COMMAND] & PCI_COMMAND_IO));
	}
	/* Closes the device's fd (a failed create closed it already). */
	vfio_pci_destroy(f);
out:
	root.ops->destroy(root.obj);
	bus_destroy(&bus);
	return 0;
}
