/* Power events that devices raise and the VM lifecycle acts on. */
#ifndef HEARTH_DEVICES_POWER_H
#define HEARTH_DEVICES_POWER_H

enum power_event {
	POWER_OFF,   /* ACPI S5 */
	POWER_RESET, /* i8042 pulse, ACPI reset register, port 0xcf9 */
};

struct power_sink {
	void (*event)(void *ctx, enum power_event ev);
	void *ctx;
};

static inline void power_sink_raise(const struct power_sink *sink, enum power_event ev)
{
	if (sink && sink->event)
		sink->event(sink->ctx, ev);
}

#endif
