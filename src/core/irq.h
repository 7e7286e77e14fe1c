/*
 * Interrupt lines. Devices see only a struct irq_line, so they can be unit
 * tested with a recording setter instead of KVM.
 */
#ifndef HEARTH_CORE_IRQ_H
#define HEARTH_CORE_IRQ_H

struct irq_line {
	/* Drive the line to level (0 or 1). Returns 0 or -errno. */
	int (*set)(void *ctx, unsigned int gsi, int level);
	void *ctx;
	unsigned int gsi;
};

static inline int irq_line_set(const struct irq_line *line, int level)
{
	if (!line || !line->set)
		return 0;
	return line->set(line->ctx, line->gsi, level);
}

/* KVM backend: ctx is a pointer to the VM fd (int). */
int irq_kvm_set(void *ctx, unsigned int gsi, int level);

/* Program the GSI routing a PC has: ISA IRQ0 on IOAPIC pin 2, others 1:1. */
int irq_setup_routing(int vm_fd);

#endif
