/*
 * Interrupt lines. Devices see only a struct irq_line, so they can be unit
 * tested with a recording setter instead of KVM.
 */
#ifndef HEARTH_CORE_IRQ_H
#define HEARTH_CORE_IRQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

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

/*
 * MSI routes (irq_route.c): GSIs above the IOAPIC's pins, each sending
 * one MSI message, so an irqfd on it (KVM_IRQFD) delivers that message
 * when its eventfd is written: by a device on the io thread, or by a
 * vhost backend with no Hearth thread in between. KVM takes the whole
 * table at once (KVM_SET_GSI_ROUTING), the PC's pins included, so every
 * change commits all of it. Any thread, under the table's own lock.
 */
#define IRQ_ROUTES_MSI_MAX 1024u
#define IRQ_ROUTES_FIRST_GSI 24u   /* past the IOAPIC's 24 pins */

struct kvm_irq_routing;

struct irq_routes {
	int vm_fd;                       /* < 0: build the table, commit nothing (tests) */
	pthread_mutex_t lock;
	struct irq_msi_route {
		uint32_t addr_lo, addr_hi, data;
		bool taken;              /* the GSI is someone's */
		bool routed;             /* and has a message in the table */
	} msi[IRQ_ROUTES_MSI_MAX];
	unsigned long commits;
};

void irq_routes_init(struct irq_routes *r, int vm_fd);
void irq_routes_destroy(struct irq_routes *r);
/* A free MSI GSI, with no route yet. 0, or -ENOSPC. */
int irq_routes_alloc(struct irq_routes *r, uint32_t *gsi);
/* Routes gsi to the message (commits only when it changed). 0 or -errno. */
int irq_routes_set_msi(struct irq_routes *r, uint32_t gsi, uint64_t addr, uint32_t data);
/* Gives gsi back, its route gone from the table. */
void irq_routes_free(struct irq_routes *r, uint32_t gsi);
/*
 * The table as KVM_SET_GSI_ROUTING takes it: the PC's pins, then each
 * routed MSI GSI. Allocated; NULL when out of memory. r->lock held.
 */
struct kvm_irq_routing *irq_routes_table(const struct irq_routes *r);

#endif
