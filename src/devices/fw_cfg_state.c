/*
 * fw_cfg's record. The items come from the config, which a restore
 * rebuilds the VM from; the record holds where the guest was in them,
 * the DMA latch and what the guest wrote into writable files. Version 1
 * is still written whenever it says it all, so the records of VMs that
 * have neither DMA nor writable files stay what they always were.
 */
#include <errno.h>
#include <string.h>

#include "devices/fw_cfg_priv.h"
#include "util/bytes.h"

#define V1_OFF_MAX 8 /* version 1's offset stopped at its widest item */

static unsigned int writable_count(const struct fw_cfg *d)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < d->nfiles; i++)
		n += d->files[i].writable;
	return n;
}

int fw_cfg_save(void *obj, struct bytes_out *o, struct err *err)
{
	struct fw_cfg *d = obj;
	unsigned int nw;

	(void)err;
	pthread_mutex_lock(&d->lock);
	nw = writable_count(d);
	if (!d->dma_hi && d->off <= V1_OFF_MAX && !nw) {
		bytes_put_tag(o, FW_CFG_TAG, FW_CFG_STATE_VERSION);
		bytes_put_u16(o, d->key);
		bytes_put_u32(o, d->off);
		pthread_mutex_unlock(&d->lock);
		return 0;
	}
	bytes_put_tag(o, FW_CFG_TAG, FW_CFG_STATE_VERSION_2);
	bytes_put_u16(o, d->key);
	bytes_put_u32(o, d->off);
	bytes_put_u32(o, d->dma_hi);
	bytes_put_u32(o, nw);
	for (unsigned int i = 0; i < d->nfiles; i++) {
		if (!d->files[i].writable)
			continue;
		bytes_put_u32(o, d->files[i].len);
		bytes_put(o, d->files[i].data, d->files[i].len);
	}
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/*
 * Version 2's writable files: checked against d's (same count, same
 * sizes), and copied in when apply. r is past the latch; d->lock held.
 */
static int restore_files(struct fw_cfg *d, struct bytes_in *r, bool apply)
{
	uint32_t nw = bytes_get_u32(r);

	if (r->short_read)
		return -ENODATA;
	if (nw != writable_count(d))
		return -EINVAL;
	for (unsigned int i = 0; i < d->nfiles; i++) {
		struct fw_cfg_item *it = &d->files[i];
		uint32_t len;

		if (!it->writable)
			continue;
		len = bytes_get_u32(r);
		if (r->short_read)
			return -ENODATA;
		if (len != it->len)
			return -EINVAL;
		if (bytes_in_left(r) < len)
			return -ENODATA;
		if (apply && len)
			memcpy(it->data, r->p + r->off, len);
		r->off += len;
	}
	return 0;
}

static int restore_v2(struct fw_cfg *d, const void *in, size_t len, bool apply)
{
	struct bytes_in r = bytes_in_init(in, len);
	struct fw_cfg_item *it;
	uint16_t key;
	uint32_t off, hi;
	int ret = bytes_get_tag(&r, FW_CFG_TAG, FW_CFG_STATE_VERSION_2);

	if (ret)
		return ret;
	key = bytes_get_u16(&r);
	off = bytes_get_u32(&r);
	hi = bytes_get_u32(&r);
	if (r.short_read)
		return -ENODATA;
	pthread_mutex_lock(&d->lock);
	it = fw_cfg_find(d, key);
	/* The offset never passes its item's end (nowhere without an item). */
	ret = off > (it ? it->len : 0) ? -EINVAL : 0;
	/* The files are checked whole before any is written. */
	if (!ret)
		ret = restore_files(d, &r, false);
	if (!ret)
		ret = bytes_in_finish(&r);
	if (!ret && apply) {
		r = bytes_in_init(in, len);
		r.off = BYTES_HDR_SIZE + 2 + 4 + 4;
		(void)restore_files(d, &r, true);
		fw_cfg_select(d, key);
		d->off = off;
		d->dma_hi = hi;
	}
	pthread_mutex_unlock(&d->lock);
	return ret;
}

int fw_cfg_restore(void *obj, const void *in, size_t len, bool apply, struct err *err)
{
	struct fw_cfg *d = obj;
	struct bytes_in r = bytes_in_init(in, len);
	uint16_t key;
	uint32_t off;
	int ret = bytes_get_tag(&r, FW_CFG_TAG, FW_CFG_STATE_VERSION);

	(void)err;
	if (ret == -EPROTO)
		return restore_v2(d, in, len, apply);
	if (ret)
		return ret;
	key = bytes_get_u16(&r);
	off = bytes_get_u32(&r);
	ret = bytes_in_finish(&r);
	if (ret)
		return ret;
	if (off > V1_OFF_MAX)
		return -EINVAL;
	if (!apply)
		return 0;
	pthread_mutex_lock(&d->lock);
	fw_cfg_select(d, key);
	/* Version 1 counted on to 8 past a shorter item's end: the same zeros follow. */
	d->off = d->cur && off < d->cur->len ? off : (d->cur ? d->cur->len : 0);
	d->dma_hi = 0;
	pthread_mutex_unlock(&d->lock);
	return 0;
}
