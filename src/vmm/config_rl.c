/*
 * The machine model's rate limiters and live changes: the limiter checks
 * every front end shares, the entropy device's limiter, and Firecracker's
 * partial drives and network interfaces (PATCH), checked before anything
 * is changed.
 */
#include "vmm/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vm_config_check_limiter(const char *what, const char *field, const struct rl_config *rl,
			    struct err *err)
{
	int ret = rl_config_check(rl, err);

	return ret ? err_prefix(err, ret, "%s: %s: ", what, field) : 0;
}

int vm_config_put_entropy(struct vm_config *c, const struct rl_config *rl, struct err *err)
{
	static const struct rl_config none;
	int ret;

	if (!rl)
		rl = &none;
	ret = vm_config_check_limiter("entropy", "rate_limiter", rl, err);
	if (ret)
		return ret;
	c->entropy = true;
	c->entropy_rate_limiter = *rl;
	return 0;
}

static int drive_index(const struct vm_config *c, const char *id)
{
	for (unsigned int i = 0; i < c->ndrives; i++)
		if (!strcmp(c->drives[i].id, id))
			return (int)i;
	return -1;
}

int vm_config_check_drive_patch(const struct vm_config *c, const struct vm_drive_patch *p,
				struct err *err)
{
	char what[VM_ID_MAX + 16];

	if (drive_index(c, p->id) < 0)
		return err_set(err, true, -EINVAL, "drive '%.*s' does not exist", VM_ID_MAX, p->id);
	/*
	 * Firecracker's: a virtio drive's PATCH changes its file, its limiter
	 * or both; a vhost-user drive's neither (it reads the backend's
	 * config again).
	 */
	if (!c->drives[drive_index(c, p->id)].socket != (p->path_on_host || p->has_rate_limiter))
		return err_set(err, true, -EINVAL, "Unable to patch the block device: Block: Running "
			       "method expected different backend. Please verify the request "
			       "arguments.");
	snprintf(what, sizeof(what), "drive '%s'", p->id);
	if (p->path_on_host && (!*p->path_on_host || strlen(p->path_on_host) >= 4096))
		return err_set(err, true, -EINVAL, "%s: path_on_host is empty or too long", what);
	/* Its chain was opened by the trust rule at boot; a PATCH names no chain. */
	if (p->path_on_host && c->drives[drive_index(c, p->id)].format == BLK_FORMAT_QCOW2)
		return err_set(err, true, -EINVAL, "%s: a qcow2 drive's image is not swapped or "
			       "resized by PATCH /drives (its format, backing chain and size are "
			       "fixed when the VM starts); its rate_limiter may change", what);
	return vm_config_check_limiter(what, "rate_limiter", &p->rate_limiter, err);
}

int vm_config_patch_drive(struct vm_config *c, const struct vm_drive_patch *p, struct err *err)
{
	struct vm_drive *d;
	char *path = NULL;
	int ret;

	ret = vm_config_check_drive_patch(c, p, err);
	if (ret)
		return ret;
	if (p->path_on_host) {
		path = strdup(p->path_on_host);
		if (!path)
			return err_set(err, false, -ENOMEM, "out of memory");
	}
	d = &c->drives[drive_index(c, p->id)];
	if (path) {
		free(d->path_on_host);
		d->path_on_host = path;
	}
	rl_config_merge(&d->rate_limiter, &p->rate_limiter);
	return 0;
}

static int net_index(const struct vm_config *c, const char *id)
{
	for (unsigned int i = 0; i < c->nnets; i++)
		if (!strcmp(c->nets[i].id, id))
			return (int)i;
	return -1;
}

int vm_config_check_net_patch(const struct vm_config *c, const struct vm_net_patch *p,
			      struct err *err)
{
	char what[VM_ID_MAX + 32];
	int ret;

	if (net_index(c, p->id) < 0)
		return err_set(err, true, -EINVAL, "network interface '%.*s' does not exist",
			       VM_ID_MAX, p->id);
	snprintf(what, sizeof(what), "network interface '%s'", p->id);
	ret = vm_config_check_limiter(what, "rx_rate_limiter", &p->rx_rate_limiter, err);
	if (!ret)
		ret = vm_config_check_limiter(what, "tx_rate_limiter", &p->tx_rate_limiter, err);
	return ret;
}

int vm_config_patch_net(struct vm_config *c, const struct vm_net_patch *p, struct err *err)
{
	struct vm_net *n;
	int ret;

	ret = vm_config_check_net_patch(c, p, err);
	if (ret)
		return ret;
	n = &c->nets[net_index(c, p->id)];
	rl_config_merge(&n->rx_rate_limiter, &p->rx_rate_limiter);
	rl_config_merge(&n->tx_rate_limiter, &p->tx_rate_limiter);
	return 0;
}
