/* vm.c's steps for a --flat VM and for --debugcon's output (vm_flat.c). */
#ifndef HEARTH_VMM_VM_FLAT_H
#define HEARTH_VMM_VM_FLAT_H

#include "util/err.h"
#include "vmm/config.h"
#include "vmm/vm.h"

/*
 * Guest RAM with the image in it and, for prot32 and long, the boot tables
 * (boot/flat.h); nothing else is written (no ACPI, no boot parameters).
 * vm->entry is the BSP's. A bad image or value is a usage error naming
 * --flat and the file.
 */
int vm_prepare_flat(struct vm *vm, const struct vm_config *cfg, struct err *err);

/* --debugcon out=PATH, opened (created, truncated) before the sandbox seals. */
int vm_open_debugcon(struct vm *vm, const struct vm_config *cfg, struct err *err);

#endif
