#include "vmm/vm_flat.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "boot/flat.h"
#include "vcpu/regs.h"
#include "vmm/devices.h"
#include "vmm/vm_ram.h"

int vm_prepare_flat(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	const struct vm_flat *f = &cfg->flat;
	struct flat_spec spec = { .path = f->path, .addr = f->addr, .entry = f->entry,
				  .entry_set = f->entry_set, .mode = f->mode };
	int ret;

	ret = vm_ram_init(vm, cfg, err);
	if (ret)
		return ret;
	ret = vm_devices_layout(vm, cfg, err);
	if (ret)
		return ret;
	err->msg[0] = '\0';
	ret = flat_load(&spec, &vm->mem, &vm->entry, err);
	if (ret) {
		if (!err->msg[0])
			err_set(err, true, ret, "%s", strerror(-ret));
		return err_prefix(err, ret, "--flat %s: ", f->path);
	}
	if (vm->entry.mode != CPU_ENTRY_REAL16 &&
	    regs_setup_tables(&vm->mem, vm->entry.tables, vm->entry.mode == CPU_ENTRY_LONG64))
		return err_set(err, false, -EFAULT, "cannot write the boot tables");
	return 0;
}

int vm_open_debugcon(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	const char *path = cfg->debugcon.out_path;

	if (!cfg->debugcon.present || !path)
		return 0;
	/* As QEMU's file chardev: a fresh file; non-blocking, so a FIFO needs its reader. */
	vm->debugcon_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_CLOEXEC |
			       O_NOCTTY, 0600);
	if (vm->debugcon_fd < 0)
		return err_set(err, true, -errno, "--debugcon out=%s: %s%s", path, strerror(errno),
			       errno == ENXIO ? " (a FIFO needs its reader first)" : "");
	return 0;
}
