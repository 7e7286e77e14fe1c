/*
 * QEMU's firmware configuration device, port interface only (the
 * selector, then the data byte: 0x510 and 0x511 in QEMU; no DMA), with the few items x86 test kernels and Linux's qemu_fw_cfg driver
 * read, from the machine's shape in dev_env. Unknown selectors read as
 * zeros.
 */
#ifndef HEARTH_DEVICES_FW_CFG_H
#define HEARTH_DEVICES_FW_CFG_H

#include "devices/device.h"

#define FW_CFG_PORTS 2        /* the 16-bit selector, then the data byte */

#define FW_CFG_SIGNATURE 0x00 /* "QEMU" */
#define FW_CFG_ID 0x01        /* feature bits: 1 = the port interface only */
#define FW_CFG_RAM_SIZE 0x03  /* 64-bit, bytes */
#define FW_CFG_NB_CPUS 0x05   /* 16-bit */
#define FW_CFG_MAX_CPUS 0x0f  /* 16-bit */
#define FW_CFG_MAX_RAM 0x11   /* 64-bit, bytes: the top of guest RAM */

/*
 * Record "FWCF" 1: the selector and the read offset (an offset never
 * stored is -EINVAL).
 */
#define FW_CFG_TAG "FWCF"
#define FW_CFG_STATE_VERSION 1u
int fw_cfg_create(const struct dev_env *env, const struct dev_resources *res,
		  struct component *out, struct err *err);

#endif
