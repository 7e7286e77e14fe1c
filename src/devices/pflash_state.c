/*
 * pflash's record (pflash.h): the command state, the write buffer, and a
 * writable device's bytes. A restore takes only states the command
 * machine can reach, so a reloaded device goes on as the saved one would.
 */
#include <errno.h>
#include <string.h>

#include "devices/pflash_priv.h"
#include "util/bytes.h"

int pflash_save(void *obj, struct bytes_out *o, struct err *err)
{
	struct pflash *p = obj;

	(void)err;
	pthread_mutex_lock(&p->lock);
	bytes_put_tag(o, PFLASH_TAG, PFLASH_STATE_VERSION);
	bytes_put_u8(o, p->wcycle);
	bytes_put_u8(o, p->cmd);
	bytes_put_u8(o, p->status);
	bytes_put_u32(o, p->counter);
	bytes_put_u64(o, p->wb_base);
	bytes_put(o, p->wb, PFLASH_WB_MAX);
	bytes_put_u64(o, p->size);
	bytes_put_u8(o, !p->ro);
	if (!p->ro)
		bytes_put(o, p->mem, p->size);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* Whether cmd is one the machine can be in at wcycle. */
static bool state_valid(uint8_t wcycle, uint8_t cmd)
{
	switch (wcycle) {
	case 0:
		return cmd == PFLASH_CMD_ARRAY || cmd == PFLASH_CMD_PROGRAM ||
		       cmd == PFLASH_CMD_PROGRAM_ALT || cmd == PFLASH_CMD_ERASE ||
		       cmd == PFLASH_CMD_LOCK || cmd == PFLASH_CMD_STATUS ||
		       cmd == PFLASH_CMD_ID || cmd == PFLASH_CMD_CFI || cmd == PFLASH_CMD_BUFFER;
	case 1:
		return cmd == PFLASH_CMD_PROGRAM || cmd == PFLASH_CMD_PROGRAM_ALT ||
		       cmd == PFLASH_CMD_ERASE || cmd == PFLASH_CMD_LOCK || cmd == PFLASH_CMD_BUFFER;
	case 2:
	case 3:
		return cmd == PFLASH_CMD_BUFFER;
	default:
		return false;
	}
}

int pflash_restore(void *obj, const void *in, size_t len, bool apply, struct err *err)
{
	struct pflash *p = obj;
	struct bytes_in r = bytes_in_init(in, len);
	uint8_t wcycle, cmd, status, has_bytes;
	uint32_t counter;
	uint64_t wb_base, size;
	const uint8_t *wb, *bytes = NULL;
	int ret = bytes_get_tag(&r, PFLASH_TAG, PFLASH_STATE_VERSION);

	(void)err;
	if (ret)
		return ret;
	wcycle = bytes_get_u8(&r);
	cmd = bytes_get_u8(&r);
	status = bytes_get_u8(&r);
	counter = bytes_get_u32(&r);
	wb_base = bytes_get_u64(&r);
	if (bytes_in_left(&r) < PFLASH_WB_MAX)
		return -ENODATA;
	wb = r.p + r.off;
	r.off += PFLASH_WB_MAX;
	size = bytes_get_u64(&r);
	has_bytes = bytes_get_u8(&r);
	if (r.short_read)
		return -ENODATA;
	/* Another device's record (a code flash's for a vars flash, another size). */
	if (size != p->size || has_bytes != !p->ro)
		return -EINVAL;
	if (has_bytes) {
		if (bytes_in_left(&r) < size)
			return -ENODATA;
		bytes = r.p + r.off;
		r.off += size;
	}
	ret = bytes_in_finish(&r);
	if (ret)
		return ret;
	/* Only what the machine reaches: its buffer inside the array, its count inside the buffer. */
	if (!state_valid(wcycle, cmd) || wb_base % p->wb_size || wb_base >= p->size ||
	    ((uint64_t)counter + 1) * p->width > p->wb_size)
		return -EINVAL;
	if (!apply)
		return 0;
	pthread_mutex_lock(&p->lock);
	p->wcycle = wcycle;
	p->cmd = cmd;
	p->status = status;
	p->counter = counter;
	p->wb_base = wb_base;
	memcpy(p->wb, wb, PFLASH_WB_MAX);
	if (bytes) {
		memcpy(p->mem, bytes, size);
		/* The file is the restored VM's: it is written from the record whole. */
		pflash_mark_dirty(p, 0, size);
	}
	pflash_sync_array(p);
	pthread_mutex_unlock(&p->lock);
	if (bytes && p->efd >= 0)
		pflash_kick(p);
	else if (bytes)
		(void)pflash_flush(p);
	return 0;
}
