/*
 * The model's pmem devices: Firecracker's PmemBuilder, its rules and its
 * words (vmm_config/pmem.rs). One root device at most, pmem or block.
 */
#include "vmm/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int find_pmem(const struct vm_config *c, const char *id)
{
	for (unsigned int i = 0; i < c->npmem; i++)
		if (!strcmp(c->pmem[i].id, id))
			return (int)i;
	return -1;
}

const struct vm_pmem *vm_config_find_pmem(const struct vm_config *c, const char *id)
{
	int i = find_pmem(c, id);

	return i < 0 ? NULL : &c->pmem[i];
}

bool vm_config_pmem_root(const struct vm_config *c)
{
	for (unsigned int i = 0; i < c->npmem; i++)
		if (c->pmem[i].root_device)
			return true;
	return false;
}

static bool block_root(const struct vm_config *c)
{
	for (unsigned int i = 0; i < c->ndrives; i++)
		if (c->drives[i].is_root_device)
			return true;
	return false;
}

int vm_config_put_pmem(struct vm_config *c, const struct vm_pmem *p, bool replace,
		       struct err *err)
{
	struct vm_pmem copy = *p;
	int at = find_pmem(c, p->id);
	char what[VM_ID_MAX + 16];
	int ret;

	ret = vm_config_check_id("id", p->id, err);
	if (ret)
		return ret;
	if (!p->path_on_host || !*p->path_on_host || strlen(p->path_on_host) >= 4096)
		return err_set(err, true, -EINVAL, "pmem '%s': path_on_host is empty or too long",
			       p->id);
	if (at >= 0 && !replace)
		return err_set(err, true, -EINVAL, "pmem '%s' is given twice", p->id);
	if (at < 0 && c->npmem == VM_MAX_PMEM)
		return err_set(err, true, -EINVAL, "pmem '%s': at most %u pmem devices", p->id,
			       VM_MAX_PMEM);
	/* Firecracker's order: the block root first, then a second pmem root. */
	if (p->root_device && block_root(c))
		return err_set(err, true, -EINVAL, "Attempt to add pmem as a root device while "
			       "the root device defined as a block device");
	if (p->root_device && vm_config_pmem_root(c) && !(at >= 0 && c->pmem[at].root_device))
		return err_set(err, true, -EINVAL, "A root pmem device already exist");
	snprintf(what, sizeof(what), "pmem '%s'", p->id);
	ret = vm_config_check_limiter(what, "rate_limiter", &p->rate_limiter, err);
	if (ret)
		return ret;
	copy.path_on_host = strdup(p->path_on_host);
	if (!copy.path_on_host)
		return err_set(err, false, -ENOMEM, "out of memory");
	if (at >= 0) {
		/* A replaced device keeps its place, so its /dev/pmemN (Firecracker's). */
		free(c->pmem[at].path_on_host);
		c->pmem[at] = copy;
	} else {
		c->pmem[c->npmem++] = copy;
	}
	return 0;
}

int vm_config_check_pmem_patch(const struct vm_config *c, const struct vm_pmem_patch *p,
			       struct err *err)
{
	char what[VM_ID_MAX + 16];
	int ret;

	snprintf(what, sizeof(what), "pmem '%s'", p->id);
	ret = vm_config_check_limiter(what, "rate_limiter", &p->rate_limiter, err);
	if (ret)
		return ret;
	/* Firecracker's with_virtio_device, through PmemConfigError::DeviceUpdate. */
	if (find_pmem(c, p->id) < 0)
		return err_set(err, true, -EINVAL, "Unable to patch the pmem device: Failed perform "
			       "action on device: Device not found Please verify the request "
			       "arguments.");
	return 0;
}

void vm_config_patch_pmem(struct vm_config *c, const struct vm_pmem_patch *p)
{
	int at = find_pmem(c, p->id);

	if (at < 0)
		return;
	if (p->rate_limiter.bandwidth.set)
		c->pmem[at].rate_limiter.bandwidth = p->rate_limiter.bandwidth;
	if (p->rate_limiter.ops.set)
		c->pmem[at].rate_limiter.ops = p->rate_limiter.ops;
}

void vm_config_drop_pmem(struct vm_config *c, const char *id)
{
	int at = find_pmem(c, id);

	if (at < 0)
		return;
	free(c->pmem[at].path_on_host);
	memmove(&c->pmem[at], &c->pmem[at + 1], (c->npmem - (unsigned int)at - 1) * sizeof(c->pmem[0]));
	c->npmem--;
}

void vm_config_pmem_release(struct vm_config *c)
{
	for (unsigned int i = 0; i < c->npmem; i++)
		free(c->pmem[i].path_on_host);
	c->npmem = 0;
}
