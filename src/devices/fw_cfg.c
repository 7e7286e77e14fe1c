/*
 * fw_cfg's items and its port interface: a write to the selector picks
 * an item and rewinds it, each data read returns its next byte and zeros
 * past its end. The file directory is rebuilt whole at each file added,
 * so a read of it never sees half an entry.
 */
#include "devices/fw_cfg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/fw_cfg_priv.h"
#include "util/bytes.h"

#define FW_CFG_DATA_OFF 1

static void legacy_set(struct fw_cfg *d, unsigned int i, uint16_t key, uint64_t v, uint32_t len)
{
	struct fw_cfg_item *it = &d->legacy[i];

	it->key = key;
	it->len = len;
	it->data = d->legacy_bytes[i];
	for (uint32_t b = 0; b < len; b++)
		it->data[b] = (uint8_t)(v >> (8 * b));
}

struct fw_cfg_item *fw_cfg_find(struct fw_cfg *d, uint16_t key)
{
	if (key >= FW_CFG_FILE_FIRST && (unsigned int)(key - FW_CFG_FILE_FIRST) < d->nfiles)
		return &d->files[key - FW_CFG_FILE_FIRST];
	if (key == FW_CFG_FILE_DIR)
		return d->nfiles ? &d->dir : NULL;
	for (unsigned int i = 0; i < FW_CFG_NLEGACY; i++)
		if (d->legacy[i].key == key)
			return &d->legacy[i];
	return NULL;
}

void fw_cfg_select(struct fw_cfg *d, uint16_t key)
{
	d->key = key;
	d->cur = fw_cfg_find(d, key);
	d->off = 0;
}

static uint8_t fw_cfg_next(struct fw_cfg *d)
{
	/* The offset stops at the item's end: reading on forever neither wraps nor grows it. */
	if (!d->cur || d->off >= d->cur->len)
		return 0;
	return d->cur->data[d->off++];
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

	/* Data port writes went with QEMU 2.4; writable items take DMA writes only. */
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

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* The directory for d's files as they are now, in a fresh buffer; d->lock held. */
static int dir_build(struct fw_cfg *d, unsigned int n, uint8_t **out, uint32_t *len)
{
	uint32_t size = 4 + n * FW_CFG_DIR_ENTRY;
	uint8_t *p = calloc(1, size);

	if (!p)
		return -ENOMEM;
	put_be32(p, n);
	for (unsigned int i = 0; i < n; i++) {
		uint8_t *e = p + 4 + i * FW_CFG_DIR_ENTRY;
		uint16_t key = (uint16_t)(FW_CFG_FILE_FIRST + i);

		put_be32(e, d->files[i].len);
		e[4] = (uint8_t)(key >> 8);
		e[5] = (uint8_t)key;
		memcpy(e + 8, d->names[i], FW_CFG_NAME_MAX);
	}
	*out = p;
	*len = size;
	return 0;
}

static int check_file(struct fw_cfg *d, const char *name, size_t len, unsigned int flags,
		      struct err *err)
{
	size_t n = name ? strnlen(name, FW_CFG_NAME_MAX) : 0;

	if (n == 0 || n == FW_CFG_NAME_MAX)
		return err_set(err, false, -EINVAL, "fw_cfg: a file name is 1 to %d bytes",
			       FW_CFG_NAME_MAX - 1);
	if (flags & ~FW_CFG_FILE_WRITABLE)
		return err_set(err, false, -EINVAL, "fw_cfg: '%s': unknown flags 0x%x", name, flags);
	if (len > FW_CFG_FILE_SIZE_MAX)
		return err_set(err, false, -EFBIG, "fw_cfg: '%s': %zu bytes, more than %u", name,
			       len, FW_CFG_FILE_SIZE_MAX);
	if (d->nfiles == FW_CFG_FILES_MAX)
		return err_set(err, false, -ENOSPC, "fw_cfg: '%s': already %d files", name,
			       FW_CFG_FILES_MAX);
	for (unsigned int i = 0; i < d->nfiles; i++)
		if (!strcmp(d->names[i], name))
			return err_set(err, false, -EEXIST, "fw_cfg: '%s' is there already", name);
	return 0;
}

int fw_cfg_add_file(struct fw_cfg *d, const char *name, const void *data, size_t len,
		    unsigned int flags, uint16_t *key, struct err *err)
{
	uint8_t *copy = NULL, *dir = NULL;
	uint32_t dir_len;
	unsigned int i;
	int ret;

	if (len && !data)
		return err_set(err, false, -EINVAL, "fw_cfg: a file without its bytes");
	pthread_mutex_lock(&d->lock);
	ret = check_file(d, name, len, flags, err);
	if (ret)
		goto err_unlock;
	if (len) {
		copy = malloc(len);
		if (!copy) {
			ret = err_set(err, false, -ENOMEM, "out of memory");
			goto err_unlock;
		}
		memcpy(copy, data, len);
	}
	i = d->nfiles;
	d->files[i] = (struct fw_cfg_item){ .key = (uint16_t)(FW_CFG_FILE_FIRST + i),
					    .writable = flags & FW_CFG_FILE_WRITABLE,
					    .len = (uint32_t)len, .data = copy };
	memset(d->names[i], 0, FW_CFG_NAME_MAX);
	memcpy(d->names[i], name, strlen(name));
	ret = dir_build(d, i + 1, &dir, &dir_len);
	if (ret) {
		ret = err_set(err, false, ret, "out of memory");
		goto err_copy;
	}
	/* The directory's bytes move: a reader in it goes on in the new ones. */
	free(d->dir.data);
	d->dir = (struct fw_cfg_item){ .key = FW_CFG_FILE_DIR, .len = dir_len, .data = dir };
	d->nfiles = i + 1;
	/* A selector written before the item existed finds it now, rewound as it was. */
	d->cur = fw_cfg_find(d, d->key);
	if (!d->cur)
		d->off = 0;
	pthread_mutex_unlock(&d->lock);
	if (key)
		*key = (uint16_t)(FW_CFG_FILE_FIRST + i);
	return 0;

err_copy:
	free(copy);
	d->files[i] = (struct fw_cfg_item){ 0 };
err_unlock:
	pthread_mutex_unlock(&d->lock);
	return ret;
}

int fw_cfg_file_get(struct fw_cfg *d, const char *name, void *dst, size_t max, size_t *len)
{
	int ret = -ENOENT;

	pthread_mutex_lock(&d->lock);
	for (unsigned int i = 0; name && i < d->nfiles; i++) {
		if (strcmp(d->names[i], name))
			continue;
		*len = d->files[i].len;
		if (d->files[i].len)
			memcpy(dst, d->files[i].data, max < *len ? max : *len);
		ret = 0;
		break;
	}
	pthread_mutex_unlock(&d->lock);
	return ret;
}

static void fw_cfg_destroy(void *obj)
{
	struct fw_cfg *d = obj;

	for (unsigned int i = 0; i < d->nfiles; i++)
		free(d->files[i].data);
	free(d->dir.data);
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
	bool dma = res->pio_size == FW_CFG_PORTS_DMA;
	struct fw_cfg *d;
	int ret;

	if (res->pio_size != FW_CFG_PORTS && !dma)
		return err_set(err, false, -EINVAL, "fw_cfg: %u ports, not %d or %d",
			       res->pio_size, FW_CFG_PORTS, FW_CFG_PORTS_DMA);
	if (dma && !env->mem)
		return err_set(err, false, -EINVAL, "fw_cfg: DMA without guest memory");
	d = calloc(1, sizeof(*d));
	if (!d)
		return err_set(err, false, -ENOMEM, "out of memory");
	pthread_mutex_init(&d->lock, NULL);
	d->mem = dma ? env->mem : NULL;
	legacy_set(d, 0, FW_CFG_SIGNATURE, 0x554d4551, 4); /* "QEMU" */
	legacy_set(d, 1, FW_CFG_ID, FW_CFG_VERSION | (dma ? FW_CFG_VERSION_DMA : 0), 4);
	legacy_set(d, 2, FW_CFG_RAM_SIZE, env->ram_size, 8);
	legacy_set(d, 3, FW_CFG_NB_CPUS, env->ncpus, 2);
	legacy_set(d, 4, FW_CFG_MAX_CPUS, env->ncpus, 2);
	legacy_set(d, 5, FW_CFG_MAX_RAM, env->max_ram, 8);
	fw_cfg_select(d, FW_CFG_SIGNATURE);
	ret = dev_claim(env, BUS_PIO, res->pio_base, FW_CFG_PORTS, &fw_cfg_ops, d, "fw_cfg", err);
	if (ret) {
		fw_cfg_destroy(d);
		return ret;
	}
	/*
	 * QEMU leaves the two ports between unclaimed. The bus cannot take
	 * a region back: past the first claim a failure leaves d to it.
	 */
	if (dma) {
		ret = dev_claim(env, BUS_PIO, res->pio_base + FW_CFG_DMA_OFF,
				FW_CFG_PORTS_DMA - FW_CFG_DMA_OFF, &fw_cfg_dma_ops, d, "fw_cfg-dma",
				err);
		if (ret)
			return ret;
	}
	*out = (struct component){ &fw_cfg_component, d };
	return 0;
}
