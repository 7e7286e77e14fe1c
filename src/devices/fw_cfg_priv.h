/*
 * What fw_cfg's parts share (fw_cfg.c: the items and the ports;
 * fw_cfg_dma.c: the DMA interface; fw_cfg_state.c: the record).
 */
#ifndef HEARTH_DEVICES_FW_CFG_PRIV_H
#define HEARTH_DEVICES_FW_CFG_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/fw_cfg.h"

#define FW_CFG_NLEGACY 6
#define FW_CFG_LEGACY_MAX 8       /* the widest legacy item: 64 bits */

struct fw_cfg_item {
	uint16_t key;
	bool writable;
	uint32_t len;
	uint8_t *data;                 /* len bytes; NULL when len is 0 */
};

struct fw_cfg {
	/* vCPUs race on the selector, the offset and the DMA latch; files come from any thread. */
	pthread_mutex_t lock;
	const struct guest_mem *mem;   /* NULL: no DMA */
	uint16_t key;                  /* the selector last written */
	struct fw_cfg_item *cur;       /* its item; NULL: none */
	uint32_t off;                  /* into cur, at most its length */
	uint32_t dma_hi;               /* the DMA address's high half, until the low one */
	struct fw_cfg_item legacy[FW_CFG_NLEGACY];
	uint8_t legacy_bytes[FW_CFG_NLEGACY][FW_CFG_LEGACY_MAX];
	struct fw_cfg_item dir;        /* FW_CFG_FILE_DIR, len 0 until the first file */
	struct fw_cfg_item files[FW_CFG_FILES_MAX]; /* files[i] at FW_CFG_FILE_FIRST + i */
	char names[FW_CFG_FILES_MAX][FW_CFG_NAME_MAX];
	unsigned int nfiles;
};

/* Picks key's item and rewinds it; d->lock held. */
void fw_cfg_select(struct fw_cfg *d, uint16_t key);
/* The item key selects, NULL for none; d->lock held. */
struct fw_cfg_item *fw_cfg_find(struct fw_cfg *d, uint16_t key);

/* The DMA address register's ops (fw_cfg_dma.c), at res->pio_base + FW_CFG_DMA_OFF. */
extern const struct bus_region_ops fw_cfg_dma_ops;

/* The component's save and restore (fw_cfg_state.c). */
int fw_cfg_save(void *obj, struct bytes_out *o, struct err *err);
int fw_cfg_restore(void *obj, const void *in, size_t len, bool apply, struct err *err);

#endif
