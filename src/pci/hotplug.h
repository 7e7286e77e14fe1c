/*
 * PCI hotplug through ACPI (Linux's acpiphp; the DSDT's side is
 * boot/acpi_pci.c's): the register block the DSDT's methods read and
 * write, and the interrupt that runs them. Three dwords at res->pio_base:
 *
 *   0x0 UP     read: the slots given a device since the last read, a bit
 *              a slot (the read clears them): PCNT notifies each with a
 *              Device Check, and the guest scans it
 *   0x4 DOWN   read: the slots the host asks the guest to give up (read
 *              clears): PCNT notifies each with an Eject Request
 *   0x8 EJECT  write: the slots the guest has given up, a bit each (a
 *              slot's _EJ0, after the guest removed its driver)
 *
 * and res->gsi, pulsed (an edge) whenever UP or DOWN gain a bit: the
 * Generic Event Device's interrupt, whose _EVT runs PCNT. Nothing here
 * adds or removes a function: the VM does (pci_root_attach/detach), then
 * tells the guest through pci_hotplug_request. Record "PCHP" 1: the
 * three bitmaps.
 */
#ifndef HEARTH_PCI_HOTPLUG_H
#define HEARTH_PCI_HOTPLUG_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"

#define PCI_HOTPLUG_PORTS 12
#define PCI_HOTPLUG_UP 0
#define PCI_HOTPLUG_DOWN 4
#define PCI_HOTPLUG_EJECT 8

struct pci_hotplug;

int pci_hotplug_create(const struct dev_env *env, const struct dev_resources *res,
		       struct component *out, struct err *err);
struct pci_hotplug *pci_hotplug_of(const struct component *c);

/*
 * Tells the guest that slot (1-31) has a new device (plug), or that the
 * host wants it back (!plug). A plug forgets an earlier eject of slot.
 */
void pci_hotplug_request(struct pci_hotplug *h, unsigned int slot, bool plug);

/*
 * Waits at most ms for the guest to have given slot up (its _EJ0),
 * then forgets that it did: 0 when it had, -ETIMEDOUT. On the api thread.
 */
int pci_hotplug_wait_eject(struct pci_hotplug *h, unsigned int slot, unsigned int ms);

/* The register block's accesses (exposed for the tests and the fuzzer). */
uint32_t pci_hotplug_read(struct pci_hotplug *h, unsigned int off, unsigned int len);
void pci_hotplug_write(struct pci_hotplug *h, unsigned int off, uint32_t v, unsigned int len);

#endif
