/*
 * `hearth run`'s firmware boot (docs/firmware.md): --firmware and
 * --firmware-vars, checked against the kernel's flags once all are
 * read, and --smbios's spec.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/run.h"

/*
 * The value of key=VALUE at *p up to the next lone ',' (',,' is a ','
 * of the value), unescaped into out (len bytes). 0, or -E2BIG.
 */
static int spec_value(const char **p, char *out, size_t len)
{
	size_t n = 0;
	const char *s = *p;

	for (; *s; s++) {
		if (*s == ',' && s[1] != ',')
			break;
		if (*s == ',')
			s++;
		if (n + 1 >= len)
			return -E2BIG;
		out[n++] = *s;
	}
	out[n] = '\0';
	*p = *s ? s + 1 : s;
	return 0;
}

int cli_run_smbios(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct cli_config *cfg = ctx;
	static const char *const keys[] = { "serial=", "uuid=", "product=" };
	char *vals[3] = { NULL, NULL, NULL };
	const char *p = val;
	int ret = 0;

	while (!ret && *p) {
		unsigned int k;

		for (k = 0; k < 3 && strncmp(p, keys[k], strlen(keys[k])); k++)
			;
		if (k == 3 || vals[k]) {
			ret = err_set(e, true, -EINVAL, "%s '%.200s': %s", o->name, val, k == 3 ?
				      "want serial=, uuid= or product= items" : "an item twice");
			break;
		}
		p += strlen(keys[k]);
		vals[k] = malloc(VM_SMBIOS_STR_MAX + 2);
		if (!vals[k])
			ret = err_set(e, false, -ENOMEM, "out of memory");
		else if (spec_value(&p, vals[k], VM_SMBIOS_STR_MAX + 2))
			ret = err_set(e, true, -EINVAL, "%s: a value longer than %d bytes", o->name,
				      VM_SMBIOS_STR_MAX);
	}
	if (!ret)
		ret = vm_config_set_smbios(&cfg->vm, vals[0], vals[2], vals[1], e);
	for (unsigned int k = 0; k < 3; k++)
		free(vals[k]);
	return ret;
}

int cli_run_firmware_finish(struct cli_config *cfg, struct err *e)
{
	const char *kernel_flag = cfg->kernel ? "--kernel" : cfg->initrd ? "--initrd"
				  : cfg->cmdline ? "--cmdline" : cfg->vm.flat.present ? "--flat" : NULL;
	int ret;

	if (!cfg->firmware)
		return err_set(e, true, -EINVAL, "--firmware-vars needs --firmware");
	if (kernel_flag)
		return err_set(e, true, -EINVAL, "--firmware and %s exclude each other: %s",
			       kernel_flag, cfg->kernel || cfg->vm.flat.present
			       ? "boot through firmware or a kernel, not both"
			       : "the firmware boots what is on the disk");
	if (cfg->kernel_cache)
		return err_set(e, true, -EINVAL, "--kernel-cache is for kernels, not --firmware");
	ret = vm_config_set_firmware(&cfg->vm, cfg->firmware, cfg->firmware_vars, e);
	if (ret)
		return ret;
	/* The firmware finds its disks on PCI, as QEMU's q35 has them. */
	cfg->vm.pci = true;
	return vm_config_check_firmware(&cfg->vm, e);
}
