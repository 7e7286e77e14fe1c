/*
 * A firmware boot in the model (config.h's struct vm_firmware and struct
 * vm_smbios): its setters and the rules the VM is built by. Messages
 * name hearth run's flags when the model came from the command line,
 * boot-source's fields otherwise.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "firmware/smbios.h"
#include "vmm/config.h"

#define PATH_MAX_LEN 4096

static int check_fw_path(const struct vm_config *c, const char *flag, const char *field,
			 const char *p, struct err *err)
{
	if (!p || !*p)
		return err_set(err, true, -EINVAL, "%s is empty", c->cli ? flag : field);
	if (strlen(p) >= PATH_MAX_LEN)
		return err_set(err, true, -EINVAL, "%s is longer than %d bytes", c->cli ? flag : field,
			       PATH_MAX_LEN - 1);
	return 0;
}

int vm_config_set_firmware(struct vm_config *c, const char *path, const char *vars,
			   struct err *err)
{
	char *p, *v = NULL;
	int ret;

	ret = check_fw_path(c, "--firmware", "firmware_path", path, err);
	if (!ret && vars)
		ret = check_fw_path(c, "--firmware-vars", "firmware_vars_path", vars, err);
	if (ret)
		return ret;
	p = strdup(path);
	if (vars)
		v = strdup(vars);
	if (!p || (vars && !v)) {
		free(p);
		free(v);
		return err_set(err, false, -ENOMEM, "out of memory");
	}
	free(c->firmware.path);
	free(c->firmware.vars_path);
	c->firmware.path = p;
	c->firmware.vars_path = v;
	return 0;
}

/* Printable ASCII, as SMBIOS strings are (firmware/smbios.h); NULL or empty: none. */
static int smbios_str(const char *what, const char *s, char **out, struct err *err)
{
	size_t n = s ? strlen(s) : 0;

	*out = NULL;
	if (!n)
		return 0;
	if (n > VM_SMBIOS_STR_MAX)
		return err_set(err, true, -EINVAL, "smbios %s: longer than %d bytes", what,
			       VM_SMBIOS_STR_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return err_set(err, true, -EINVAL, "smbios %s: byte %zu is not printable "
				       "ASCII", what, i);
	*out = strdup(s);
	return *out ? 0 : err_set(err, false, -ENOMEM, "out of memory");
}

int vm_config_set_smbios(struct vm_config *c, const char *serial, const char *product,
			 const char *uuid, struct err *err)
{
	struct vm_smbios s = { 0 };
	int ret;

	if (uuid && *uuid) {
		if (smbios_uuid_parse(uuid, s.uuid))
			return err_set(err, true, -EINVAL, "smbios uuid '%.64s': not a UUID "
				       "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", uuid);
		s.has_uuid = true;
	}
	ret = smbios_str("serial", serial, &s.serial, err);
	if (!ret)
		ret = smbios_str("product", product, &s.product, err);
	if (ret) {
		free(s.serial);
		return ret;
	}
	free(c->smbios.serial);
	free(c->smbios.product);
	c->smbios = s;
	return 0;
}

void vm_config_clear_boot(struct vm_config *c)
{
	free(c->boot.kernel_image_path);
	free(c->boot.initrd_path);
	free(c->boot.boot_args);
	memset(&c->boot, 0, sizeof(c->boot));
}

void vm_config_clear_firmware(struct vm_config *c)
{
	free(c->firmware.path);
	free(c->firmware.vars_path);
	free(c->smbios.serial);
	free(c->smbios.product);
	memset(&c->firmware, 0, sizeof(c->firmware));
	memset(&c->smbios, 0, sizeof(c->smbios));
}

/* What a firmware VM cannot have yet, each with the reason (docs/firmware.md). */
static int check_firmware_devices(const struct vm_config *c, struct err *err)
{
	if (!c->pci)
		return err_set(err, true, -EINVAL, "%s: the firmware finds its disks on PCI: %s",
			       c->cli ? "--firmware" : "firmware_path",
			       c->cli ? "add --pci" : "start hearth with --enable-pci");
	if (c->nvfio)
		return err_set(err, true, -EINVAL, "%s: passed-through devices are not supported "
			       "with a firmware boot yet", c->cli ? "--firmware" : "firmware_path");
	if (c->boot_timer)
		return err_set(err, true, -EINVAL, "%s: --boot-timer's page lies in the firmware's "
			       "PCI window", c->cli ? "--firmware" : "firmware_path");
	if (c->test_devices)
		return err_set(err, true, -EINVAL, "%s: --test-devices is for test kernels, not "
			       "firmware", c->cli ? "--firmware" : "firmware_path");
	return 0;
}

int vm_config_check_firmware(const struct vm_config *c, struct err *err)
{
	bool smbios = c->smbios.serial || c->smbios.product || c->smbios.has_uuid;

	if (!c->firmware.path) {
		if (c->firmware.vars_path)
			return err_set(err, true, -EINVAL, "%s needs %s", c->cli ? "--firmware-vars" :
				       "firmware_vars_path", c->cli ? "--firmware" : "firmware_path");
		if (smbios)
			return err_set(err, true, -EINVAL, "%s: the SMBIOS tables are the firmware's "
				       "to build: they need %s", c->cli ? "--smbios" : "smbios",
				       c->cli ? "--firmware" : "firmware_path");
		return 0;
	}
	if (c->boot.kernel_image_path)
		return err_set(err, true, -EINVAL, "%s and %s exclude each other: boot through "
			       "firmware or a kernel, not both", c->cli ? "--firmware" : "firmware_path",
			       c->cli ? "--kernel" : "kernel_image_path");
	if (c->boot.initrd_path || c->boot.boot_args)
		return err_set(err, true, -EINVAL, "%s: the firmware boots what is on the disk: "
			       "drop %s", c->cli ? "--firmware" : "firmware_path",
			       c->boot.initrd_path ? (c->cli ? "--initrd" : "initrd_path")
						   : (c->cli ? "--cmdline" : "boot_args"));
	if (c->flat.present)
		return err_set(err, true, -EINVAL, "--firmware and --flat exclude each other: boot "
			       "firmware or a raw image, not both");
	return check_firmware_devices(c, err);
}
