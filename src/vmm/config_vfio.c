/*
 * The model's passed-through devices (pci/vfio.h). Their RAM is pinned
 * for the devices' DMA, which rules out what gives RAM back or adds it
 * while the VM runs.
 */
#include "vmm/config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* v from id (NULL: vfio<n>) and path, checked on their own, not against the others. */
static int vfio_make(const char *id, const char *path, unsigned int n, struct vm_vfio *v,
		     struct err *err)
{
	int ret;

	memset(v, 0, sizeof(*v));
	if (!path || !path[0])
		return err_set(err, true, -EINVAL, "a VFIO device needs the path of a PCI device "
			       "(/sys/bus/pci/devices/DDDD:BB:DD.F)");
	if (strlen(path) >= sizeof(v->path))
		return err_set(err, true, -EINVAL, "VFIO device path too long (at most %zu bytes)",
			       sizeof(v->path) - 1);
	if (id) {
		ret = vm_config_check_id("VFIO device id", id, err);
		if (ret)
			return ret;
		snprintf(v->id, sizeof(v->id), "%s", id);
	} else {
		snprintf(v->id, sizeof(v->id), "vfio%u", n);
	}
	snprintf(v->path, sizeof(v->path), "%s", path);
	return 0;
}

int vm_config_add_vfio(struct vm_config *c, const char *id, const char *path, struct err *err)
{
	struct vm_vfio v;
	int ret;

	if (c->nvfio >= VM_MAX_VFIO)
		return err_set(err, true, -EINVAL, "at most %u VFIO devices", VM_MAX_VFIO);
	ret = vfio_make(id, path, c->nvfio, &v, err);
	if (ret)
		return ret;
	for (unsigned int i = 0; i < c->nvfio; i++) {
		if (!strcmp(c->vfio[i].id, v.id))
			return err_set(err, true, -EINVAL, "VFIO device id '%s' is taken", v.id);
		if (!strcmp(c->vfio[i].path, v.path))
			return err_set(err, true, -EINVAL, "VFIO device %s is given twice", v.path);
	}
	c->vfio[c->nvfio++] = v;
	return 0;
}

/* exactly n hex digits at p, into *v. */
static bool hex_digits(const char *p, size_t len, size_t n, unsigned int *v)
{
	*v = 0;
	if (len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = p[i];
		unsigned int d = ch >= '0' && ch <= '9' ? (unsigned int)(ch - '0')
				 : ch >= 'a' && ch <= 'f' ? (unsigned int)(ch - 'a' + 10)
				 : ch >= 'A' && ch <= 'F' ? (unsigned int)(ch - 'A' + 10) : 16u;

		if (d > 15)
			return false;
		*v = *v * 16 + d;
	}
	return true;
}

int vm_vfio_parse_sbdf(const char *s, char canon[VM_SBDF_LEN + 1], struct err *err)
{
	const char *c1 = strchr(s, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	const char *bus, *dev, *dot;
	unsigned int dom = 0, b, d, f;

	canon[0] = '\0';
	if (!s[0])
		return err_set(err, true, -EINVAL, "empty; want DDDD:BB:DD.F or BB:DD.F, in hex");
	if (!c1 || (c2 && strchr(c2 + 1, ':')))
		return err_set(err, true, -EINVAL, "%s; want DDDD:BB:DD.F or BB:DD.F, in hex",
			       c1 ? "too many colons" : "no colon");
	if (c2 && !hex_digits(s, (size_t)(c1 - s), 4, &dom))
		return err_set(err, true, -EINVAL, "the domain '%.*s' is not 4 hex digits",
			       (int)(c1 - s > 16 ? 16 : c1 - s), s);
	bus = c2 ? c1 + 1 : s;
	dev = (c2 ? c2 : c1) + 1;
	dot = strchr(dev, '.');
	if (!hex_digits(bus, (size_t)(dev - 1 - bus), 2, &b))
		return err_set(err, true, -EINVAL, "the bus '%.*s' is not 2 hex digits",
			       (int)(dev - 1 - bus > 16 ? 16 : dev - 1 - bus), bus);
	if (!dot)
		return err_set(err, true, -EINVAL, "no '.' before the function; want DDDD:BB:DD.F "
			       "or BB:DD.F, in hex");
	if (!hex_digits(dev, (size_t)(dot - dev), 2, &d))
		return err_set(err, true, -EINVAL, "the device '%.*s' is not 2 hex digits",
			       (int)(dot - dev > 16 ? 16 : dot - dev), dev);
	if (d > 0x1f)
		return err_set(err, true, -EINVAL, "the device %02x is past 1f", d);
	if (!(dot[1] >= '0' && dot[1] <= '7' && !dot[2]))
		return err_set(err, true, -EINVAL, "the function '%.16s' is not one digit, 0 to 7",
			       dot + 1);
	f = (unsigned int)(dot[1] - '0');
	snprintf(canon, VM_SBDF_LEN + 1, "%04x:%02x:%02x.%x", dom, b, d, f);
	return 0;
}

/* What a VM with a device passed through cannot be; c's other devices as they are now. */
static int vfio_fits(const struct vm_config *c, struct err *err)
{
	if (!c->pci)
		return err_set(err, true, -EINVAL, "a VFIO device needs PCI (--pci, "
			       "--enable-pci or the config file's \"pci\": {\"enabled\": true})");
	if (c->balloon.present)
		return err_set(err, true, -EINVAL, "a VM with a VFIO device cannot have a balloon: "
			       "its RAM is pinned for the device's DMA");
	if (c->hotplug.present)
		return err_set(err, true, -EINVAL, "a VM with a VFIO device cannot have memory "
			       "hotplug: its RAM is pinned for the device's DMA");
	return 0;
}

int vm_config_put_vfio(struct vm_config *c, const char *id, const char *path, struct err *err)
{
	const char *sbdf = strrchr(path ? path : "", '/');
	unsigned int at = c->nvfio;
	struct vm_vfio v;
	int ret;

	sbdf = sbdf ? sbdf + 1 : path;
	ret = vfio_make(id ? id : "", path, c->nvfio, &v, err);
	if (!ret)
		ret = vfio_fits(c, err);
	if (ret)
		return ret;
	for (unsigned int i = 0; i < c->nvfio; i++) {
		if (!strcmp(c->vfio[i].id, v.id))
			at = i;
		else if (!strcmp(c->vfio[i].path, v.path))
			return err_set(err, true, -EINVAL, "Duplicate device passthrough SBDF: %s "
				       "(device '%s' has it)", sbdf, c->vfio[i].id);
	}
	if (at == c->nvfio && c->nvfio >= VM_MAX_VFIO)
		return err_set(err, true, -EINVAL, "at most %u VFIO devices", VM_MAX_VFIO);
	ret = c->probe && c->probe->vfio ? c->probe->vfio(c->probe_ctx, &v, err) : 0;
	if (ret)
		return ret;
	c->vfio[at] = v;
	if (at == c->nvfio)
		c->nvfio++;
	return 0;
}

int vm_config_check_vfio(const struct vm_config *c, struct err *err)
{
	return c->nvfio ? vfio_fits(c, err) : 0;
}

int vm_config_find_vfio(const struct vm_config *c, const char *id)
{
	for (unsigned int i = 0; id && i < c->nvfio; i++)
		if (!strcmp(c->vfio[i].id, id))
			return (int)i;
	return -1;
}

void vm_config_drop_vfio(struct vm_config *c, const char *id)
{
	int at = vm_config_find_vfio(c, id);

	if (at < 0)
		return;
	memmove(&c->vfio[at], &c->vfio[at + 1], (c->nvfio - (unsigned int)at - 1) * sizeof(c->vfio[0]));
	c->nvfio--;
}
