/*
 * The small legacy devices a stock kernel expects on a PC: i8042 (reset
 * only), CMOS RTC, the ACPI power registers and the ports that are probed
 * and must answer harmlessly.
 */
#ifndef HEARTH_DEVICES_PLATFORM_H
#define HEARTH_DEVICES_PLATFORM_H

#include <stddef.h>

#include "core/bus.h"
#include "core/irq.h"
#include "devices/power.h"

struct i8042;
struct rtc;
struct acpi_pm;

/* Ports 0x60 and 0x64, keyboard interrupt on irq. Command 0xfe raises POWER_RESET. */
struct i8042 *i8042_create(struct bus *bus, struct power_sink sink, struct irq_line irq);
/*
 * Queues Ctrl, Alt and Del pressed and released for the guest's keyboard
 * driver (any thread). 0, or -ENOSPC when the keyboard's queue has no room
 * for it (the guest is not reading its keyboard).
 */
int i8042_send_ctrl_alt_del(struct i8042 *dev);
void i8042_destroy(struct i8042 *dev);

/*
 * Each device's guest-visible state to and from a versioned buffer, as
 * util/bytes.h describes: save gives 0 or -ENOSPC with the size needed
 * in *len; restore gives 0, -ENODATA, -EPROTO or -EINVAL and changes
 * nothing on failure. Any thread; they take the device's lock.
 */
#define I8042_STATE_VERSION 1u
int i8042_save(struct i8042 *dev, void *out, size_t *len);
int i8042_restore(struct i8042 *dev, const void *in, size_t len);

/* Ports 0x70-0x71, the host's UTC time. */
struct rtc *rtc_create(struct bus *bus);
void rtc_destroy(struct rtc *dev);
/* The index register and NVRAM; the clock is the host's and is not saved. */
#define RTC_STATE_VERSION 1u
int rtc_save(struct rtc *dev, void *out, size_t *len);
int rtc_restore(struct rtc *dev, const void *in, size_t len);

/* The FADT sleep control/status and reset registers (boot/layout.h). */
struct acpi_pm *acpi_pm_create(struct bus *bus, struct power_sink sink);
void acpi_pm_destroy(struct acpi_pm *dev);
/* No registers hold state; the record is only its tag and version. */
#define ACPI_PM_STATE_VERSION 1u
int acpi_pm_save(struct acpi_pm *dev, void *out, size_t *len);
int acpi_pm_restore(struct acpi_pm *dev, const void *in, size_t len);

/* Quiet handlers for probed legacy ports, plus resets through ports 0xcf9 and 0x92. */
int legacy_create(struct bus *bus, struct power_sink sink);
/* Frees legacy_create's state for bus; call before bus_destroy. Optional. */
void legacy_destroy(struct bus *bus);

#endif
