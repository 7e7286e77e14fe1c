/*
 * The smallest machines in the model: a raw image (--flat), the debug
 * console port (--debugcon) and QEMU's debug-exit port (--debug-exit).
 * All are Hearth's own, set from the command line only, so the messages
 * name its flags.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/layout.h"
#include "vmm/config.h"

int vm_config_set_flat(struct vm_config *c, const struct vm_flat *f, struct err *err)
{
	char *path;

	if (!f->path || !*f->path)
		return err_set(err, true, -EINVAL, "the image path is empty");
	if (strlen(f->path) >= 4096)
		return err_set(err, true, -EINVAL, "the image path is longer than 4095 bytes");
	if ((unsigned int)f->mode > FLAT_LONG)
		return err_set(err, true, -EINVAL, "unknown mode");
	path = strdup(f->path);
	if (!path)
		return err_set(err, false, -ENOMEM, "out of memory");
	free(c->flat.path);
	c->flat = *f;
	c->flat.path = path;
	c->flat.present = true;
	return 0;
}

/* Ports KVM answers in the kernel when it has its irqchip and PIT (core/layout.h). */
static const struct { uint16_t base, len; const char *what; } kvm_ports[] = {
	{ PORT_KVM_PIC1, 2, "KVM's in-kernel PIC" },
	{ PORT_KVM_PIT, 4, "KVM's in-kernel PIT" },
	{ PORT_KVM_SPEAKER, 1, "KVM's in-kernel PIT (the speaker port)" },
	{ PORT_KVM_PIC2, 2, "KVM's in-kernel PIC" },
};

int vm_config_set_debugcon(struct vm_config *c, const struct vm_debugcon *d, struct err *err)
{
	char *out = NULL;

	for (size_t i = 0; i < sizeof(kvm_ports) / sizeof(kvm_ports[0]); i++)
		if (d->port >= kvm_ports[i].base && d->port < kvm_ports[i].base + kvm_ports[i].len)
			return err_set(err, true, -EINVAL, "port=0x%x is taken by %s", d->port,
				       kvm_ports[i].what);
	if (d->out_path && (!*d->out_path || strlen(d->out_path) >= 4096))
		return err_set(err, true, -EINVAL, "out= wants a path of 1 to 4095 bytes");
	if (d->out_path && !(out = strdup(d->out_path)))
		return err_set(err, false, -ENOMEM, "out of memory");
	free(c->debugcon.out_path);
	c->debugcon = *d;
	c->debugcon.out_path = out;
	c->debugcon.present = true;
	return 0;
}

/*
 * Without the in-kernel irqchip nothing interrupts the guest: one vCPU
 * (no INIT/SIPI to wake others), no virtio device (its interrupts would
 * go nowhere), and no kernel beside the image.
 */
int vm_config_check_flat(const struct vm_config *c, struct err *err)
{
	const char *virtio = c->ndrives ? "--disk" : c->nnets ? "--net"
			     : c->vsock.present ? "--vsock" : c->entropy ? "--rng" : NULL;

	if (!c->flat.present)
		return 0;
	if (c->boot.kernel_image_path)
		return err_set(err, true, -EINVAL, "--flat and --kernel exclude each other: boot a "
			       "kernel or a raw image, not both");
	if (c->machine.vcpu_count != 1)
		return err_set(err, true, -EINVAL, "--flat runs one vCPU (it has no interrupt "
			       "controller to start others); drop --cpus %u",
			       c->machine.vcpu_count);
	if (virtio)
		return err_set(err, true, -EINVAL, "--flat has no interrupt controller for virtio "
			       "devices; drop %s", virtio);
	return 0;
}

int vm_config_set_debug_exit(struct vm_config *c, const struct vm_debug_exit *d, struct err *err)
{
	if (d->iosize != 1 && d->iosize != 2 && d->iosize != 4)
		return err_set(err, true, -EINVAL, "iosize=%u: the debug-exit port is 1, 2 or 4 "
			       "bytes wide", d->iosize);
	if ((unsigned int)d->iobase + d->iosize > 0x10000)
		return err_set(err, true, -EINVAL, "iobase=0x%x with iosize=%u runs past port "
			       "0xffff", d->iobase, d->iosize);
	c->debug_exit = *d;
	c->debug_exit.present = true;
	return 0;
}
