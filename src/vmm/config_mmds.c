/*
 * The MMDS part of the model: its config checked as Firecracker's
 * MmdsConfig (vmm_config/mmds.rs). Its JSON is fcjson/config_json_mmds.c's.
 */
#include "vmm/config.h"
#include "mmds/stack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

/* Firecracker's VmmActionError::MmdsConfig prefix, its typo included, word for word. */
#define MMDS_CONFIG_ERROR "MMMDS config error: "

int vm_config_set_mmds(struct vm_config *c, const struct vm_mmds *m, struct err *err)
{
	if (!m->nnets)
		return err_set(err, true, -EINVAL, MMDS_CONFIG_ERROR "The list of network interface "
			       "IDs that allow forwarding MMDS requests is empty.");
	for (unsigned int i = 0; i < m->nnets; i++)
		if (!vm_config_find_net(c, m->nets[i]))
			return err_set(err, true, -EINVAL, MMDS_CONFIG_ERROR "The list of network "
				       "interface IDs provided contains at least one ID that does "
				       "not correspond to any existing network interface.");
	/* 169.254.0.0/16 */
	if ((ntohl(m->ipv4_be) & 0xffff0000u) != 0xa9fe0000u)
		return err_set(err, true, -EINVAL, MMDS_CONFIG_ERROR "The MMDS IPv4 address is not "
			       "link local.");
	/*
	 * Firecracker takes all of 169.254.0.0/16; the network's own address
	 * and its broadcast are no host's, and the NIC's stack could not be
	 * started at InstanceStart: refused here (docs/api.md).
	 */
	if (!net_mmds_addr_ok(m->ipv4_be))
		return err_set(err, true, -EINVAL, MMDS_CONFIG_ERROR "The MMDS IPv4 address is "
			       "169.254.0.0 or 169.254.255.255, the link-local network's own "
			       "address or its broadcast: no host's.");
	c->mmds = *m;
	c->mmds.on = true;
	if (c->mmds_store)
		mmds_set_version(c->mmds_store, m->version, m->imds_compat);
	return 0;
}

bool vm_config_mmds_net(const struct vm_config *c, const char *net_id)
{
	for (unsigned int i = 0; c->mmds.on && i < c->mmds.nnets; i++)
		if (!strcmp(c->mmds.nets[i], net_id))
			return true;
	return false;
}
