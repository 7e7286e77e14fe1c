/*
 * The kernel command line a VM boots with (devices.h): the config's boot
 * arguments, Firecracker's root= and ro/rw, and the virtio-mmio devices
 * for kernels that read them there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/devices.h"

int vm_virtio_cmdline(const char *base, const struct acpi_mmio_dev *devs, unsigned int n,
		      char *out, size_t outlen)
{
	size_t len = strlen(base);

	if (len >= outlen)
		return -E2BIG;
	memcpy(out, base, len + 1);
	for (unsigned int i = 0; i < n; i++) {
		/* The kernel's memparse reads the 0x prefixes. */
		int w = snprintf(out + len, outlen - len, "%svirtio_mmio.device=%#x@%#llx:%u",
				 len ? " " : "", devs[i].size, (unsigned long long)devs[i].base,
				 devs[i].gsi);
		if (w < 0 || (size_t)w >= outlen - len) {
			out[len] = '\0';
			return -E2BIG;
		}
		len += (size_t)w;
	}
	return 0;
}

/*
 * Where the init's arguments begin: the kernel passes what follows its
 * "--" word to init, so nothing Hearth adds may land there (Firecracker's
 * loader keeps them last too). NULL: none.
 */
static const char *init_args(const char *args)
{
	const char *p;

	if (!strncmp(args, "--", 2) && (args[2] == ' ' || !args[2]))
		return args;
	for (p = strstr(args, " --"); p; p = strstr(p + 1, " --"))
		if (p[3] == ' ' || !p[3])
			return p + 1;
	return NULL;
}

int vm_kernel_cmdline(const struct vm_config *cfg, bool multiboot,
		      const struct acpi_mmio_dev *devs, unsigned int n, char *out, size_t len)
{
	const char *base = cfg->boot.boot_args ? cfg->boot.boot_args : VM_DEFAULT_CMDLINE;
	const char *init;
	char *root = NULL, *head = NULL;
	size_t used;
	int ret = 0;

	if (multiboot && !strcmp(base, VM_DEFAULT_CMDLINE))
		base = "";
	init = init_args(base);
	if (init) {
		size_t hl = (size_t)(init - base);

		while (hl && base[hl - 1] == ' ')
			hl--;
		head = strndup(base, hl);
		if (!head)
			return -ENOMEM;
		base = head;
	}
	/*
	 * Firecracker's, after the boot args: root=PARTUUID= for a root drive
	 * with a partuuid, else root=/dev/vda (the root drive is the first
	 * disk), then ro or rw as the drive is.
	 */
	if (cfg->ndrives && cfg->drives[0].is_root_device) {
		const struct vm_drive *d = &cfg->drives[0];

		if (asprintf(&root, "%s%sroot=%s%s %s", base, *base ? " " : "",
			     d->partuuid[0] ? "PARTUUID=" : "/dev/vda", d->partuuid,
			     d->is_read_only ? "ro" : "rw") < 0)
			return -ENOMEM;
		base = root;
	}
	/* Firecracker's attach_pmem_devices: root=/dev/pmemN, then rw or ro. */
	for (unsigned int i = 0; !root && i < cfg->npmem; i++) {
		if (!cfg->pmem[i].root_device)
			continue;
		if (asprintf(&root, "%s%sroot=/dev/pmem%u %s", base, *base ? " " : "", i,
			     cfg->pmem[i].read_only ? "ro" : "rw") < 0)
			return -ENOMEM;
		base = root;
	}
	if (cfg->virtio_cmdline)
		ret = vm_virtio_cmdline(base, devs, n, out, len);
	else if (strlen(base) >= len)
		ret = -E2BIG;
	else
		memcpy(out, base, strlen(base) + 1);
	/* The init's arguments last, as given. */
	used = strlen(out);
	if (!ret && init && used + (used ? 1 : 0) + strlen(init) >= len)
		ret = -E2BIG;
	else if (!ret && init)
		snprintf(out + used, len - used, "%s%s", used ? " " : "", init);
	free(root);
	free(head);
	return ret;
}
