/*
 * The drives' images, opened and locked before the VM is built
 * (devices.h): a missing or locked image is a usage error found first.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/devices.h"

void vm_drive_what(const struct vm_config *cfg, unsigned int i, char *what, size_t len)
{
	if (cfg->cli)
		snprintf(what, len, "--disk %u", i + 1);
	else
		snprintf(what, len, "drive '%s'", cfg->drives[i].id);
}

int vm_drive_blk_config(const struct vm_drive *d, struct blk_config *bc, struct err *err)
{
	memset(bc, 0, sizeof(*bc));
	bc->readonly = d->is_read_only;
	bc->cache = d->cache_type;
	bc->queues = d->queues;
	snprintf(bc->id, sizeof(bc->id), "%s", d->serial);
	bc->format = d->format;
	bc->backing_from_header = d->backing_from_header;
	for (; bc->nbacking < d->nbacking; bc->nbacking++) {
		bc->backing[bc->nbacking] = strdup(d->backing_files[bc->nbacking]);
		if (!bc->backing[bc->nbacking])
			return err_set(err, false, -ENOMEM, "drive '%s': out of memory", d->id);
	}
	return 0;
}

int vm_devices_open_drive(const struct vm_config *cfg, unsigned int i, struct blk_config *bc,
			  struct err *err)
{
	const struct vm_drive *d = &cfg->drives[i];
	char what[96];
	int ret;

	vm_drive_what(cfg, i, what, sizeof(what));
	ret = vm_drive_blk_config(d, bc, err);
	if (ret)
		return ret;
	bc->lock_later = cfg->drives_unlocked;
	/* A vhost-user drive's backend is connected to when the device is made. */
	if (d->socket) {
		bc->socket = strdup(d->socket);
		return bc->socket ? 0 : err_set(err, false, -ENOMEM, "%s: out of memory", what);
	}
	bc->path = strdup(d->path_on_host);
	if (!bc->path)
		return err_set(err, false, -ENOMEM, "%s: out of memory", what);
	ret = virtio_blk_open(bc, err);
	if (ret) {
		err->usage = ret != -ENOMEM;
		return err_prefix(err, ret, "%s: ", what);
	}
	return 0;
}

int vm_devices_open_drives(const struct vm_config *cfg, struct blk_config *out,
			   struct err *err)
{
	memset(out, 0, sizeof(*out) * VM_MAX_DRIVES);
	for (unsigned int i = 0; i < cfg->ndrives; i++) {
		int ret = vm_devices_open_drive(cfg, i, &out[i], err);

		if (ret)
			return ret;
	}
	return 0;
}

void vm_devices_close_drives(struct blk_config *bcs)
{
	for (unsigned int i = 0; i < VM_MAX_DRIVES; i++)
		virtio_blk_config_release(&bcs[i]);
}
