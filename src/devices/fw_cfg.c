/*
 * fw_cfg, the traditional port interface: a 16-bit write to the selector
 * picks an item and rewinds it, each data read returns its next byte and
 * zeros past its end. All numbers are little-endian, as on x86 QEMU.
 */
#include "devices/fw_cfg.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/bytes.h"

#define FW_CFG_ITEM_MAX 8
#define FW_CFG_NITEMS 6
#define FW_CFG_DATA_OFF 1

struct fw_cfg_item {
	uint16_t key;
	uint8_t len;
	uint8_t data[FW_CFG_ITEM_MAX];
};

struct fw_cfg {
	pthread_mutex_t lock; /* vCPUs may race on the selector */
	uint16_t key;                  /* the selector last written */
	const struct fw_cfg_item *cur; /* NULL: an unknown selector */
	uint32_t off;
	struct fw_cfg_item items[FW_CFG_NITEMS];
};

static void item_set(struct fw_cfg_item *it, uint16_t key, uint64_t v, uint8_t len)
{
	it->key = key;
	it->len = len;
	for (unsigned int i = 0; i < len; i++)
		it->data[i] = (uint8_t)(v >> (8 * i));
}

static void fw_cfg_select(struct fw_cfg *d, uint16_t key)
{
	d->key = key;
	d->cur = NULL;
	d->off = 0;
	for (unsigned int i = 0; i < FW_CFG_NITEMS; i++)
		if (d->items[i].key == key)
			d->cur = &d->items[i];
}

static uint8_t fw_cfg_next(struct fw_cfg *d)
{
	uint8_t v = 0;

	if (d->cur && d->off < d->cur->len)
		v = d->cur->data[d->off];
	/* Saturates: a guest reading forever neither wraps nor overflows. */
	if (d->off < FW_CFG_ITEM_MAX)
		d->off++;
	return v;
}

static void fw_cfg_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	struct fw_cfg *d = opaque;

	pthread_mutex_lock(&d->lock);
	/* The selector reads as 0; a wide data read takes that many bytes in turn. */
	for (unsigned int i = 0; i < len; i++)
		data[i] = offset == FW_CFG_DATA_OFF ? fw_cfg_next(d) : 0;
	pthread_mutex_unlock(&d->lock);
}

static void fw_cfg_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
	struct fw_cfg *d = opaque;

	/* Data writes are for writable items, and there are none. */
	if (offset != 0)
		return;
	pthread_mutex_lock(&d->lock);
	fw_cfg_select(d, (uint16_t)bus_data_get(data, len > 2 ? 2 : len));
	pthread_mutex_unlock(&d->lock);
}

static const struct bus_region_ops fw_cfg_ops = {
	.read = fw_cfg_read,
	.write = fw_cfg_write,
};

/*
 * The record: the selector and how far its item was read. The items come
 * from the config, which a restore rebuilds the VM from.
 */
static int fw_cfg_save(void *obj, struct bytes_out *o, struct err *err)
{
	struct fw_cfg *d = obj;

	pthread_mutex_lock(&d->lock);
	bytes_put_tag(o, FW_CFG_TAG, FW_CFG_STATE_VERSION);
	bytes_put_u16(o, d->key);
	bytes_put_u32(o, d->off);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static int fw_cfg_restore(void *obj, const void *in, size_t len, bool apply, struct err *err)
{
	struct fw_cfg *d = obj;
	struct bytes_in r = bytes_in_init(in, len);
	uint16_t key;
	uint32_t off;
	int ret = bytes_get_tag(&r, FW_CFG_TAG, FW_CFG_STATE_VERSION);

	if (ret)
		return ret;
	key = bytes_get_u16(&r);
	off = bytes_get_u32(&r);
	ret = bytes_in_finish(&r);
	if (ret)
		return ret;
	/* fw_cfg_next saturates there: a larger offset was never stored. */
	if (off > FW_CFG_ITEM_MAX)
		return -EINVAL;
	if (!apply)
		return 0;
	pthread_mutex_lock(&d->lock);
	fw_cfg_select(d, key);
	d->off = off;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static void fw_cfg_destroy(void *obj)
{
	struct fw_cfg *d = obj;

	pthread_mutex_destroy(&d->lock);
	free(d);
}

static const struct component_ops fw_cfg_component = {
	.save = fw_cfg_save,
	.restore = fw_cfg_restore,
	.destroy = fw_cfg_destroy,
};

int fw_cfg_create(const struct dev_env *env, const struct dev_resources *res,
		  struct component *out, struct err *err)
{
	struct fw_cfg *d = calloc(1, sizeof(*d));
	int ret;

	if (!d)
		return err_set(err, false, -ENOMEM, "out of memory");
	pthread_mutex_init(&d->lock, NULL);
	item_set(&d->items[0], FW_CFG_SIGNATURE, 0x554d4551, 4); /* "QEMU" */
	item_set(&d->items[1], FW_CFG_ID, 1, 4);
	item_set(&d->items[2], FW_CFG_RAM_SIZE, env->ram_size, 8);
	item_set(&d->items[3], FW_CFG_NB_CPUS, env->ncpus, 2);
	item_set(&d->items[4], FW_CFG_MAX_CPUS, env->ncpus, 2);
	item_set(&d->items[5], FW_CFG_MAX_RAM, env->max_ram, 8);
	fw_cfg_select(d, FW_CFG_SIGNATURE);
	ret = dev_claim(env, BUS_PIO, res->pio_base, res->pio_size, &fw_cfg_ops, d, "fw_cfg",
			err);
	if (ret) {
		fw_cfg_destroy(d);
		return ret;
	}
	*out = (struct component){ &fw_cfg_component, d };
	return 0;
}
