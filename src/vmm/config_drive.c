/*
 * The model's drives (config.h): put, found, dropped; and Hearth's
 * format fields, an image's format and a qcow2 image's backing chain as
 * the request names it (virtio/blk/chain.h opens it by the trust rule).
 */
#include "vmm/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool path_ok(const char *path)
{
	return path && *path && strlen(path) < 4096;
}

void vm_drive_free_chain(struct vm_drive *d)
{
	for (unsigned int i = 0; i < d->nbacking; i++) {
		free(d->backing_files[i]);
		d->backing_files[i] = NULL;
	}
	d->nbacking = 0;
	d->backing_from_header = false;
}

int vm_drive_set_chain(struct vm_drive *d, const char *const *files, unsigned int n,
		       bool from_header, struct err *err)
{
	char *copy[BLK_BACKING_MAX];

	if (n > BLK_BACKING_MAX)
		return err_set(err, true, -EINVAL, "drive '%s': %u backing files, more than %u (a "
			       "chain of 16 images at most)", d->id, n, BLK_BACKING_MAX);
	for (unsigned int i = 0; i < n; i++) {
		copy[i] = strdup(files[i]);
		if (!copy[i]) {
			while (i--)
				free(copy[i]);
			return err_set(err, false, -ENOMEM, "out of memory");
		}
	}
	vm_drive_free_chain(d);
	memcpy(d->backing_files, copy, n * sizeof(copy[0]));
	d->nbacking = n;
	d->backing_from_header = from_header;
	return 0;
}

/* The format fields against each other: a chain is a qcow2 image's, named or from its headers. */
static int check_format(const struct vm_drive *d, struct err *err)
{
	if (d->format != BLK_FORMAT_RAW && d->format != BLK_FORMAT_QCOW2)
		return err_set(err, true, -EINVAL, "drive '%s': an unknown format", d->id);
	if (d->socket && d->format != BLK_FORMAT_RAW)
		return err_set(err, true, -EINVAL, "drive '%s': a vhost-user drive's image is its "
			       "backend's: no format", d->id);
	if (d->format != BLK_FORMAT_QCOW2 && (d->nbacking || d->backing_from_header))
		return err_set(err, true, -EINVAL, "drive '%s': backing files are a qcow2 image's "
			       "(format \"qcow2\"); a raw image has none", d->id);
	if (d->nbacking && d->backing_from_header)
		return err_set(err, true, -EINVAL, "drive '%s': backing_files and "
			       "backing_from_header: name the chain, or let the headers name it, "
			       "not both", d->id);
	if (d->nbacking > BLK_BACKING_MAX)
		return err_set(err, true, -EINVAL, "drive '%s': %u backing files, more than %u (a "
			       "chain of 16 images at most)", d->id, d->nbacking, BLK_BACKING_MAX);
	for (unsigned int i = 0; i < d->nbacking; i++)
		if (!path_ok(d->backing_files[i]))
			return err_set(err, true, -EINVAL, "drive '%s': backing file %u is empty or "
				       "too long", d->id, i + 1);
	return 0;
}

bool vm_config_has_qcow2(const struct vm_config *c)
{
	for (unsigned int i = 0; i < c->ndrives; i++)
		if (c->drives[i].format == BLK_FORMAT_QCOW2)
			return true;
	return false;
}

static int find_drive(const struct vm_config *c, const char *id)
{
	for (unsigned int i = 0; i < c->ndrives; i++)
		if (!strcmp(c->drives[i].id, id))
			return (int)i;
	return -1;
}

const struct vm_drive *vm_config_find_drive(const struct vm_config *c, const char *id)
{
	int i = find_drive(c, id);

	return i < 0 ? NULL : &c->drives[i];
}

int vm_config_put_drive(struct vm_config *c, const struct vm_drive *d, bool replace,
			struct err *err)
{
	struct vm_drive copy = *d;
	int at = find_drive(c, d->id);
	char what[VM_ID_MAX + 16];
	int ret;

	ret = vm_config_check_id("drive_id", d->id, err);
	if (ret)
		return ret;
	if (!d->path_on_host == !d->socket)
		return err_set(err, true, -EINVAL, "drive '%s': give path_on_host or socket (a "
			       "vhost-user backend), one of the two", d->id);
	if (!path_ok(d->socket ? d->socket : d->path_on_host))
		return err_set(err, true, -EINVAL, "drive '%s': %s is empty or too long", d->id,
			       d->socket ? "socket" : "path_on_host");
	ret = check_format(d, err);
	if (ret)
		return ret;
	if (d->queues > 16)
		return err_set(err, true, -EINVAL, "drive '%s': num_queues %u is out of range (1 "
			       "to 16)", d->id, d->queues);
	if (d->socket && d->queues > 1)
		return err_set(err, true, -EINVAL, "drive '%s': a vhost-user drive has its "
			       "backend's queues, not num_queues", d->id);
	/* The backend decides: its export is read-only or not, and the guest is told. */
	if (d->socket && d->is_read_only)
		return err_set(err, true, -EINVAL, "drive '%s': a vhost-user drive is read-only "
			       "when its backend exports it so, not by is_read_only", d->id);
	if (d->socket && rl_config_enabled(&d->rate_limiter))
		return err_set(err, true, -EINVAL, "drive '%s': a vhost-user drive's requests never "
			       "pass through Hearth: no rate limiter", d->id);
	if (at >= 0 && !replace)
		return err_set(err, true, -EINVAL, "drive '%s' is given twice", d->id);
	if (at < 0 && c->ndrives == VM_MAX_DRIVES)
		return err_set(err, true, -EINVAL, "drive '%s': at most %u drives", d->id,
			       VM_MAX_DRIVES);
	/* Firecracker's BlockBuilder::insert, before its own root check. */
	if (d->is_root_device && vm_config_pmem_root(c))
		return err_set(err, true, -EINVAL, "Attempt to add block as a root device while "
			       "the root device defined as a pmem device");
	if (d->is_root_device) {
		for (unsigned int i = 0; i < c->ndrives; i++)
			if ((int)i != at && c->drives[i].is_root_device)
				return err_set(err, true, -EINVAL, "A root block device already "
					       "exists! ('%s' is the root device, not '%s')",
					       c->drives[i].id, d->id);
	}
	/*
	 * It goes on the kernel command line as one argument: printable, no
	 * space (Firecracker takes a space too, and with it more arguments).
	 */
	for (const char *p = d->partuuid; *p; p++)
		if (*p <= ' ' || *p > '~')
			return err_set(err, true, -EINVAL, "drive '%s': partuuid '%.64s' has a "
				       "space or a character that is not printable ASCII", d->id,
				       d->partuuid);
	if (strlen(d->serial) > 20)
		return err_set(err, true, -EINVAL, "drive '%s': the serial is longer than 20 bytes",
			       d->id);
	snprintf(what, sizeof(what), "drive '%s'", d->id);
	ret = vm_config_check_limiter(what, "rate_limiter", &d->rate_limiter, err);
	if (!ret && c->probe && c->probe->drive)
		ret = c->probe->drive(c->probe_ctx, d, err);
	if (ret)
		return ret;
	copy.path_on_host = d->path_on_host ? strdup(d->path_on_host) : NULL;
	copy.socket = d->socket ? strdup(d->socket) : NULL;
	copy.nbacking = 0;
	if ((!copy.path_on_host && !copy.socket) ||
	    vm_drive_set_chain(&copy, (const char *const *)d->backing_files, d->nbacking,
			       d->backing_from_header, err)) {
		free(copy.path_on_host);
		free(copy.socket);
		return err_set(err, false, -ENOMEM, "out of memory");
	}
	if (at >= 0) {
		free(c->drives[at].path_on_host);
		free(c->drives[at].socket);
		vm_drive_free_chain(&c->drives[at]);
		c->drives[at] = copy;
	} else {
		at = (int)c->ndrives++;
		c->drives[at] = copy;
	}
	/* The root device comes first, so the guest sees it as /dev/vda. */
	if (copy.is_root_device && at > 0) {
		memmove(&c->drives[1], &c->drives[0], (size_t)at * sizeof(c->drives[0]));
		c->drives[0] = copy;
	}
	return 0;
}

bool vm_config_drop_drive(struct vm_config *c, const char *id)
{
	int at = find_drive(c, id);

	if (at < 0)
		return false;
	free(c->drives[at].path_on_host);
	free(c->drives[at].socket);
	vm_drive_free_chain(&c->drives[at]);
	memmove(&c->drives[at], &c->drives[at + 1],
		(c->ndrives - (unsigned int)at - 1) * sizeof(c->drives[0]));
	c->ndrives--;
	return true;
}

