/* The "bootorder" file (bootorder.h). */
#include "firmware/bootorder.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void bootorder_init(struct bootorder *b)
{
	memset(b, 0, sizeof(*b));
}

int bootorder_add_virtio_blk(struct bootorder *b, unsigned int slot, unsigned int fn,
			     struct err *err)
{
	char path[BOOTORDER_PATH_MAX], dev[8];
	int n;

	if (slot > 31 || fn > 7)
		return err_set(err, false, -EINVAL, "bootorder: PCI %x.%x is not a device", slot,
			       fn);
	if (b->n == BOOTORDER_MAX)
		return err_set(err, false, -ENOSPC, "bootorder: more than %d devices",
			       BOOTORDER_MAX);
	/* Function 0 goes unsaid, as QEMU writes it. */
	if (fn)
		snprintf(dev, sizeof(dev), "%x,%x", slot, fn);
	else
		snprintf(dev, sizeof(dev), "%x", slot);
	n = snprintf(path, sizeof(path), "/pci@i0cf8/scsi@%s/disk@0,0", dev);
	/* The previous path's NUL becomes its newline; this one ends the file. */
	if (b->len)
		b->buf[b->len - 1] = '\n';
	memcpy(b->buf + b->len, path, (size_t)n + 1);
	b->len += (size_t)n + 1;
	b->n++;
	return 0;
}

const uint8_t *bootorder_bytes(const struct bootorder *b, size_t *len)
{
	*len = b->len;
	return (const uint8_t *)b->buf;
}
