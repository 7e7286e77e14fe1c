/*
 * The small legacy devices a stock kernel expects on a PC: i8042 (reset
 * and Ctrl-Alt-Del), CMOS RTC, the ACPI power registers and the ports
 * that are probed and must answer harmlessly. Each is built the one way
 * devices/device.h describes; its state is saved and restored through
 * its component, whose ops take its lock (any thread).
 */
#ifndef HEARTH_DEVICES_PLATFORM_H
#define HEARTH_DEVICES_PLATFORM_H

#include "devices/device.h"

struct i8042;

/*
 * The data port at res->pio_base, the status and command port four above
 * it (0x60 and 0x64 on a PC; the one between is KVM's speaker), the
 * keyboard's interrupt on res->gsi. Command 0xfe asks env's power sink
 * for a reset. Record "KBDC" 1 (docs/snapshot-format.md).
 */
#define I8042_PORTS 5
#define I8042_STATE_VERSION 1u
int i8042_create(const struct dev_env *env, const struct dev_resources *res,
		 struct component *out, struct err *err);
/*
 * Queues Ctrl, Alt and Del pressed and released for the guest's keyboard
 * driver (any thread). 0, or -ENOSPC when the keyboard's queue has no room
 * for it (the guest is not reading its keyboard).
 */
int i8042_send_ctrl_alt_del(struct i8042 *dev);

/*
 * The index and data ports at res->pio_base, the host's UTC time. Record
 * "CMOS" 1: the index register and NVRAM; the clock is the host's.
 */
#define RTC_PORTS 2
#define RTC_STATE_VERSION 1u
int rtc_create(const struct dev_env *env, const struct dev_resources *res,
	       struct component *out, struct err *err);

/*
 * The FADT's sleep control, sleep status and reset registers, one byte
 * each from res->pio_base (core/layout.h's PORT_ACPI_*). No register holds
 * state: the record is "ACPI" 1 and nothing else.
 */
#define ACPI_PM_PORTS 3
#define ACPI_PM_STATE_VERSION 1u
int acpi_pm_create(const struct dev_env *env, const struct dev_resources *res,
		   struct component *out, struct err *err);

/*
 * Quiet handlers for the legacy ports a kernel probes (a fixed PC set of
 * their own: res is unused), plus resets through port 0x92 (0xcf9 is
 * the PCI root's, pci/root.h).
 * Record "LGCY" 1, no fields.
 */
int legacy_create(const struct dev_env *env, const struct dev_resources *res,
		  struct component *out, struct err *err);

#endif
