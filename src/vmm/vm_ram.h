/*
 * vm.c's guest RAM: 4 KiB pages or, with huge_pages "2M", 2 MiB
 * hugetlbfs pages, for a boot and for a restore (vm_ram.c).
 */
#ifndef HEARTH_VMM_VM_RAM_H
#define HEARTH_VMM_VM_RAM_H

#include "util/err.h"
#include "vmm/config.h"
#include "vmm/vm.h"

/*
 * The most RAM the config puts below 4 GiB: LAYOUT_MMIO_HOLE_START, or
 * for a firmware boot QEMU q35's (core/layout.h): up to the ECAM window
 * when all of it fits there, else 2 GiB.
 */
uint64_t vm_ram_below_4g(const struct vm_config *cfg);

/* Fresh RAM for a boot, of the config's size and page size. */
int vm_ram_init(struct vm *vm, const struct vm_config *cfg, struct err *err);

/*
 * RAM for a restore from vm->mem_file: 4 KiB pages map the file
 * privately (pages load on first touch); 2 MiB pages are fresh huge
 * pages the file's data is read into now (hugetlbfs cannot map an
 * ordinary file), after which the file backs no RAM. A memory hotplug
 * region (always 4 KiB pages) is mapped privately from the file either
 * way.
 */
int vm_ram_restore(struct vm *vm, const struct vm_config *cfg, struct err *err);

/*
 * --mem-merge (QEMU's mem-merge): the process's guest RAM is offered to
 * KSM (MADV_MERGEABLE), so pages clones wrote identically are kept once.
 * Off by default: merging costs the host's CPU, and a guest can time
 * copy-on-write faults to learn what another guest's pages hold. Set
 * before a VM is made; a host process option, not the model's.
 */
void vm_ram_set_merge(bool on);

#endif
