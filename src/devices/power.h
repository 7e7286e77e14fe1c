/* Power events that devices raise and the VM lifecycle acts on. */
#ifndef HEARTH_DEVICES_POWER_H
#define HEARTH_DEVICES_POWER_H

#include <stdint.h>

enum power_event {
	POWER_OFF,   /* ACPI S5 */
	POWER_RESET, /* i8042 pulse, ACPI reset register, port 0xcf9 */
};

struct power_sink {
	void (*event)(void *ctx, enum power_event ev);
	void *ctx;
};

/* isa-debug-exit's: the guest's verdict, told of the first write on the vCPU thread that made it. */
struct debug_exit_sink {
	void (*exit)(void *ctx, uint32_t value);
	void *ctx;
};

static inline void power_sink_raise(const struct power_sink *sink, enum power_event ev)
{
	if (sink && sink->event)
		sink->event(sink->ctx, ev);
}

#endif
