/*
 * vm.c's guest RAM: 4 KiB pages or, with huge_pages "2M", 2 MiB
 * hugetlbfs pages, for a boot and for a restore (vm_ram.c).
 */
#ifndef HEARTH_VMM_VM_RAM_H
#define HEARTH_VMM_VM_RAM_H

#include "util/err.h"
#include "vmm/config.h"
#include "vmm/vm.h"

/* Fresh RAM for a boot, of the config's size and page size. */
int vm_ram_init(struct vm *vm, const struct vm_config *cfg, struct err *err);

/*
 * RAM for a restore from vm->mem_file: 4 KiB pages map the file
 * privately (pages load on first touch); 2 MiB pages are fresh huge
 * pages the file's data is read into now (hugetlbfs cannot map an
 * ordinary file), after which the file no longer backs anything.
 */
int vm_ram_restore(struct vm *vm, const struct vm_config *cfg, struct err *err);

#endif
