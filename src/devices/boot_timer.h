/*
 * Firecracker's boot timer (--boot-timer): a guest that writes the byte
 * 123 at offset 0 of its MMIO window says its boot is done, and the log
 * gets the time since the device was made (InstanceStart), wall and CPU,
 * in Firecracker's words at Info:
 *
 *     Guest-boot-time =  82345 us 82 ms,  41020 CPU us 41 CPU ms
 *
 * Its window is res->mmio_base, one page (core/layout.h MMIO_BOOT_TIMER,
 * Firecracker's x86 address). Record "LGCY" 1, no fields, as the quiet
 * ports'. A guest writing it in a loop gets its lines rate-limited.
 */
#ifndef HEARTH_DEVICES_BOOT_TIMER_H
#define HEARTH_DEVICES_BOOT_TIMER_H

#include "devices/device.h"

#define BOOT_TIMER_MAGIC 123
#define BOOT_TIMER_SIZE 0x1000u

int boot_timer_create(const struct dev_env *env, const struct dev_resources *res,
		      struct component *out, struct err *err);

#endif
