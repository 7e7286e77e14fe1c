/* The virtio devices a VM gets, from the command line to the transport. */
#ifndef HEARTH_CORE_VM_VIRTIO_H
#define HEARTH_CORE_VM_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>

#include "boot/acpi.h"
#include "util/cli.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "virtio/vsock.h"

struct vm_device_plan {
	struct blk_config disks[CLI_MAX_DISKS];
	unsigned int ndisks;
	struct net_config nets[CLI_MAX_NETS];
	unsigned int nnets;
	bool vsock;
	struct vsock_config vsock_cfg;
	bool rng;
};

/* Parses every device spec; -EINVAL with one line in err naming the flag. */
int vm_device_plan_parse(const struct cli_config *cfg, struct vm_device_plan *plan, char *err,
			 size_t errlen);

/*
 * Writes base plus " virtio_mmio.device=SIZE@BASE:IRQ" per device into out,
 * the form a kernel built with CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES reads;
 * -E2BIG when that does not fit in outlen bytes.
 */
int vm_virtio_cmdline(const char *base, const struct acpi_mmio_dev *devs, unsigned int n,
		      char *out, size_t outlen);

/* Frees what parsing allocated. */
void vm_device_plan_release(struct vm_device_plan *plan);

#endif
