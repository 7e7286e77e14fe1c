/*
 * QEMU's firmware configuration device, port interface only (selector
 * 0x510, data 0x511, no DMA), with the few items x86 test kernels and
 * Linux's qemu_fw_cfg driver read. Unknown selectors read as zeros.
 */
#ifndef HEARTH_DEVICES_FW_CFG_H
#define HEARTH_DEVICES_FW_CFG_H

#include <stddef.h>
#include <stdint.h>

#include "core/bus.h"

#define FW_CFG_PORT 0x510     /* 16-bit selector; 0x511 is the data byte */
#define FW_CFG_PORT_LEN 2

#define FW_CFG_SIGNATURE 0x00 /* "QEMU" */
#define FW_CFG_ID 0x01        /* feature bits: 1 = the port interface only */
#define FW_CFG_RAM_SIZE 0x03  /* 64-bit, bytes */
#define FW_CFG_NB_CPUS 0x05   /* 16-bit */
#define FW_CFG_MAX_CPUS 0x0f  /* 16-bit */
#define FW_CFG_MAX_RAM 0x11   /* 64-bit, bytes: the top of guest RAM */

struct fw_cfg_info {
	unsigned int ncpus;
	uint64_t ram_size;
	uint64_t max_ram;
};

struct fw_cfg;

/* Registers the ports on bus; NULL with errno set on failure. */
struct fw_cfg *fw_cfg_create(struct bus *bus, const struct fw_cfg_info *info);
void fw_cfg_destroy(struct fw_cfg *dev);

/* Snapshot record (util/bytes.h's conventions): "FWCF" 1, the selector and the read offset. */
#define FW_CFG_TAG "FWCF"
#define FW_CFG_STATE_VERSION 1u
int fw_cfg_save(struct fw_cfg *dev, void *out, size_t *len);
/* 0, -ENODATA, -EPROTO or -EINVAL (an offset never stored); dev unchanged on failure. */
int fw_cfg_restore(struct fw_cfg *dev, const void *in, size_t len);

#endif
