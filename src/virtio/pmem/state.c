/*
 * virtio-pmem's snapshot record ("VPMM" 1), nested in its transport's
 * (virtio/device.h explains the contract): where the window was in guest
 * physical space and how large, the backing file's length then, whether
 * it was read only, and the counters. The window's bytes are the user's
 * file, never the memory file's: the VMM maps the file again at the
 * address its layout gives, and the record is how the restore checks
 * that this is the address and size the guest's driver was told. The
 * device pauses with no flush in flight (pmem_pause waits for it), so
 * nothing else is pending.
 */
#include "virtio/pmem/priv.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "util/log.h"

#define PMEM_STATE_TAG "VPMM"
#define PMEM_STATE_VERSION 1u

int pmem_save(struct virtio_dev *dev, struct bytes_out *o)
{
	struct pmem *p = dev->priv;

	if (p->inflight)
		return -EBUSY;
	bytes_put_tag(o, PMEM_STATE_TAG, PMEM_STATE_VERSION);
	bytes_put_u64(o, p->cfg.gpa);
	bytes_put_u64(o, p->cfg.size);
	bytes_put_u64(o, p->cfg.file_len);
	bytes_put_u8(o, p->cfg.read_only);
	bytes_put_u32(o, PC_COUNT);
	for (unsigned int i = 0; i < PC_COUNT; i++)
		bytes_put_u64(o, p->c[i]);
	return 0;
}

int pmem_restore(struct virtio_dev *dev, const struct virtq *vq, const void *in, size_t len,
		 bool apply)
{
	struct pmem *p = dev->priv;
	struct bytes_in r = bytes_in_init(in, len);
	uint64_t gpa, size, file_len, c[PC_COUNT];
	bool read_only;
	int ret = bytes_get_tag(&r, PMEM_STATE_TAG, PMEM_STATE_VERSION);

	(void)vq; /* no ring position of its own */
	if (ret)
		return ret;
	gpa = bytes_get_u64(&r);
	size = bytes_get_u64(&r);
	file_len = bytes_get_u64(&r);
	read_only = bytes_get_bool(&r);
	if (bytes_get_u32(&r) != PC_COUNT && !r.short_read)
		return -EINVAL;
	for (unsigned int i = 0; i < PC_COUNT; i++)
		c[i] = bytes_get_u64(&r);
	ret = bytes_in_finish(&r);
	if (ret)
		return ret;
	/*
	 * The guest's driver has the window where the record says: a file
	 * whose size moves it (or a layout that does) would pull guest
	 * memory out from under it. Said here, since the caller only
	 * learns -EINVAL.
	 */
	if (gpa != p->cfg.gpa || size != p->cfg.size) {
		log_err("virtio-pmem: the snapshot has the device at %#" PRIx64 ", %" PRIu64
			" bytes; its file now maps to %#" PRIx64 ", %" PRIu64 " bytes (was the "
			"backing file resized or replaced?)", gpa, size, p->cfg.gpa, p->cfg.size);
		return -EINVAL;
	}
	if (read_only != p->cfg.read_only || file_len > size) {
		log_err("virtio-pmem: the snapshot's record does not match the device (%s)",
			file_len > size ? "file longer than its window" : "read_only differs");
		return -EINVAL;
	}
	if (file_len != p->cfg.file_len)
		log_warn("virtio-pmem: the backing file was %" PRIu64 " bytes at the snapshot, "
			 "now %" PRIu64, file_len, p->cfg.file_len);
	if (!apply)
		return 0;
	memcpy(p->c, c, sizeof(c));
	return 0;
}
