/* What a VM's devices rule out (refusal.h). */
#include "vmm/refusal.h"

#include <stdio.h>

const char *vm_unlogged_writer(const struct vm_config *cfg, char *buf, size_t len)
{
	if (cfg->vsock.present && !cfg->vsock.uds_path) {
		snprintf(buf, len, "vhost-vsock writes guest memory where the dirty log cannot "
			 "see it");
		return buf;
	}
	for (unsigned int i = 0; i < cfg->ndrives; i++)
		if (cfg->drives[i].socket) {
			snprintf(buf, len, "drive '%.64s' is a vhost-user backend's, whose writes to "
				 "guest memory the dirty log cannot see", cfg->drives[i].id);
			return buf;
		}
	if (vm_config_fs_any(cfg)) {
		snprintf(buf, len, "virtio-fs '%.64s': virtiofsd's writes to guest memory the "
			 "dirty log cannot see", vm_config_fs_any(cfg));
		return buf;
	}
	for (unsigned int i = 0; i < cfg->nnets; i++)
		if (!vm_config_net_no_vhost(cfg, &cfg->nets[i])) {
			snprintf(buf, len, "NIC '%.64s' may be on vhost-net, whose writes to guest "
				 "memory the dirty log cannot see", cfg->nets[i].id);
			return buf;
		}
	return NULL;
}
