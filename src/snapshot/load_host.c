/*
 * A restored VM's host resources come from the load request, never from
 * the state file (issue 18, item 2). The file's config record says what
 * the VM had: its drives, NICs and vsock, each drive's read-only setting
 * (which the device's own record checks against the new image, with its
 * size and geometry), each NIC's backend. Where that device meets the
 * host, the request decides: every drive's image and a qcow2 drive's
 * backing chain (drive_overrides),
 * every pmem device's file and whether it is writable (pmem_overrides),
 * every NIC's TAP or user-mode forwards (network_overrides), the hybrid
 * vsock socket (vsock_override), and from the restoring process the KVM
 * device and COM1's output. A device the request leaves out is refused,
 * not taken from the file: platforms restore snapshots they did not make.
 */
#include "snapshot/snapshot.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/net.h"

/* The request and the snapshot do not fit: a usage error (400, exit 2). */
#define refuse(err, ...) err_set(err, true, -EINVAL, __VA_ARGS__)

static int set_path(char **dst, const char *src, struct err *err)
{
	char *p = src ? strdup(src) : NULL;

	if (src && !p)
		return err_set(err, false, -ENOMEM, "out of memory");
	free(*dst);
	*dst = p;
	return 0;
}

static int load_drives(struct vm_config *cfg, const struct snap_load_req *req, struct err *err)
{
	for (unsigned int i = 0; i < req->n_drive_overrides; i++) {
		const struct snap_drive_override *ov = &req->drive_overrides[i];
		unsigned int d;

		for (d = 0; d < cfg->ndrives && strcmp(cfg->drives[d].id, ov->drive_id); d++)
			;
		if (d == cfg->ndrives)
			return refuse(err, "drive_overrides: the snapshot has no drive '%.64s'",
				      ov->drive_id);
		if (!ov->path_on_host || !*ov->path_on_host)
			return refuse(err, "drive_overrides: drive '%.64s' has an empty "
				      "path_on_host", ov->drive_id);
		for (unsigned int j = 0; j < i; j++)
			if (!strcmp(req->drive_overrides[j].drive_id, ov->drive_id))
				return refuse(err, "drive_overrides names '%.64s' twice",
					      ov->drive_id);
	}
	for (unsigned int d = 0; d < cfg->ndrives; d++) {
		const struct snap_drive_override *ov = NULL;
		int ret;

		for (unsigned int i = 0; i < req->n_drive_overrides; i++)
			if (!strcmp(req->drive_overrides[i].drive_id, cfg->drives[d].id))
				ov = &req->drive_overrides[i];
		if (!ov)
			return refuse(err, "drive '%s' needs its image in drive_overrides "
				      "(hearth restore: --drive-override %s=ro:PATH or rw:PATH): a "
				      "restore opens no path the state file names", cfg->drives[d].id,
				      cfg->drives[d].id);
		/* Issue 47: the record's read-only setting could open the request's image for writing. */
		if (ov->is_read_only != cfg->drives[d].is_read_only)
			return refuse(err, "drive_overrides: drive '%s' was %s in the snapshot, and "
				      "the request makes it %s", cfg->drives[d].id,
				      cfg->drives[d].is_read_only ? "read-only" : "writable",
				      ov->is_read_only ? "read-only" : "writable");
		/* A qcow2 drive's chain is the request's too; the record's is never opened. */
		if (cfg->drives[d].format != BLK_FORMAT_QCOW2 &&
		    (ov->n_backing || ov->backing_from_header))
			return refuse(err, "drive_overrides: drive '%s' is a raw image in the "
				      "snapshot: it has no backing files", cfg->drives[d].id);
		if (ov->n_backing && ov->backing_from_header)
			return refuse(err, "drive_overrides: drive '%s': backing_files and "
				      "backing_from_header: name the chain, or let the headers name "
				      "it, not both", cfg->drives[d].id);
		ret = set_path(&cfg->drives[d].path_on_host, ov->path_on_host, err);
		if (!ret)
			ret = vm_drive_set_chain(&cfg->drives[d], ov->backing_files, ov->n_backing,
						 ov->backing_from_header, err);
		if (ret)
			return ret;
		cfg->drives[d].is_read_only = ov->is_read_only;
	}
	return 0;
}

/*
 * Each pmem device's file and access from the request (issue 47, F2): a
 * state file that named any host file had it opened read-write and
 * mapped shared into the guest. read_only is the request's; the record's
 * is only compared, since the guest's memslot was read-only or not.
 */
static int load_pmem(struct vm_config *cfg, const struct snap_load_req *req, struct err *err)
{
	for (unsigned int i = 0; i < req->n_pmem_overrides; i++) {
		const struct snap_pmem_override *ov = &req->pmem_overrides[i];

		if (!vm_config_find_pmem(cfg, ov->id))
			return refuse(err, "pmem_overrides: the snapshot has no pmem device '%.64s'",
				      ov->id);
		if (!ov->path_on_host || !*ov->path_on_host)
			return refuse(err, "pmem_overrides: pmem '%.64s' has an empty path_on_host",
				      ov->id);
		for (unsigned int j = 0; j < i; j++)
			if (!strcmp(req->pmem_overrides[j].id, ov->id))
				return refuse(err, "pmem_overrides names '%.64s' twice", ov->id);
	}
	for (unsigned int d = 0; d < cfg->npmem; d++) {
		struct vm_pmem *p = &cfg->pmem[d];
		const struct snap_pmem_override *ov = NULL;
		int ret;

		for (unsigned int i = 0; i < req->n_pmem_overrides; i++)
			if (!strcmp(req->pmem_overrides[i].id, p->id))
				ov = &req->pmem_overrides[i];
		if (!ov)
			return refuse(err, "pmem '%s' needs its file in pmem_overrides (hearth "
				      "restore: --pmem-override %s=ro:PATH or rw:PATH): a restore "
				      "opens no path the state file names", p->id, p->id);
		if (ov->read_only != p->read_only)
			return refuse(err, "pmem_overrides: pmem '%s' was %s in the snapshot, and "
				      "the request makes it %s", p->id,
				      p->read_only ? "read-only" : "writable",
				      ov->read_only ? "read-only" : "writable");
		ret = set_path(&p->path_on_host, ov->path_on_host, err);
		if (ret)
			return ret;
		p->read_only = ov->read_only;
	}
	return 0;
}

/* One NIC's host side from ov, of the backend the snapshot's NIC had. */
static int load_net(struct vm_net *n, const struct snap_net_override *ov, struct err *err)
{
	struct net_config *d = &n->dev;
	struct net_config user;
	int ret;

	if (d->backend == NET_TAP) {
		if (!ov->host_dev_name || ov->backend)
			return refuse(err, "network_overrides: '%s' is a TAP interface: give its "
				      "host_dev_name", n->id);
		if (!*ov->host_dev_name || strlen(ov->host_dev_name) >= sizeof(d->ifname))
			return refuse(err, "network_overrides: host_dev_name '%.64s' is empty or "
				      "longer than 15 bytes", ov->host_dev_name);
		snprintf(d->ifname, sizeof(d->ifname), "%s", ov->host_dev_name);
		return 0;
	}
	if (!ov->backend || ov->host_dev_name)
		return refuse(err, "network_overrides: '%s' is a user-mode interface: give its "
			      "backend (\"user[,host-loopback=on][,hostfwd=...]\")", n->id);
	memset(&user, 0, sizeof(user));
	ret = virtio_net_parse(ov->backend, &user, err);
	if (ret) {
		err->usage = true;
		return err_prefix(err, ret, "network_overrides: '%s': ", n->id);
	}
	if (user.backend != NET_USER)
		return refuse(err, "network_overrides: '%s' is a user-mode interface, and '%.64s' "
			      "is not user-mode", n->id, ov->backend);
	/*
	 * The guest's side (MAC) is the snapshot's; the host's comes from here,
	 * the cap on the host sockets the guest can have libslirp open included.
	 */
	d->host_loopback = user.host_loopback;
	d->max_sockets = user.max_sockets;
	d->nfwd = user.nfwd;
	memcpy(d->fwd, user.fwd, sizeof(d->fwd));
	return 0;
}

static int load_nets(struct vm_config *cfg, const struct snap_load_req *req, struct err *err)
{
	for (unsigned int i = 0; i < req->n_overrides; i++) {
		unsigned int k;

		for (k = 0; k < cfg->nnets && strcmp(cfg->nets[k].id, req->overrides[i].iface_id);
		     k++)
			;
		if (k == cfg->nnets)
			return refuse(err, "network_overrides: the snapshot has no network "
				      "interface '%.64s'", req->overrides[i].iface_id);
	}
	for (unsigned int k = 0; k < cfg->nnets; k++) {
		struct vm_net *n = &cfg->nets[k];
		const struct snap_net_override *ov = NULL;
		int ret;

		/* Nothing of the record's host side survives, whatever the override says. */
		memset(n->dev.ifname, 0, sizeof(n->dev.ifname));
		n->dev.nfwd = 0;
		n->dev.host_loopback = false;
		for (unsigned int i = 0; i < req->n_overrides; i++)
			if (!strcmp(req->overrides[i].iface_id, n->id))
				ov = &req->overrides[i];
		if (!ov)
			return refuse(err, "network interface '%s' needs its host side in "
				      "network_overrides (hearth restore: --net-override %s=...): a "
				      "restore takes no TAP name or forward from the state file",
				      n->id, n->id);
		ret = load_net(n, ov, err);
		if (ret)
			return ret;
	}
	return 0;
}

static int load_vsock(struct vm_config *cfg, const struct snap_load_req *req, struct err *err)
{
	struct vm_vsock *v = &cfg->vsock;

	if (!v->present && (req->vsock_uds_path || req->vsock_cid))
		return refuse(err, "vsock_override: the snapshot has no vsock device");
	if (!v->present)
		return 0;
	/*
	 * vhost-vsock claims its CID on the whole host (VHOST_VSOCK_SET_GUEST_CID):
	 * the request names it (issue 47), and it must be the guest's.
	 */
	if (!v->uds_path && req->vsock_uds_path)
		return refuse(err, "vsock_override: the snapshot's vsock is vhost-vsock, which "
			      "has no socket: give its guest_cid");
	if (!v->uds_path && !req->vsock_cid)
		return refuse(err, "the vhost-vsock device needs its CID in vsock_override "
			      "(\"guest_cid\"; hearth restore: --vsock-cid %" PRIu64 "): a restore "
			      "claims no CID the state file names", v->guest_cid);
	if (!v->uds_path && req->vsock_cid != v->guest_cid)
		return refuse(err, "vsock_override: the snapshot's guest has CID %" PRIu64 ", and "
			      "the request gives %" PRIu64, v->guest_cid, req->vsock_cid);
	if (!v->uds_path)
		return 0;
	if (req->vsock_cid)
		return refuse(err, "vsock_override: the snapshot's vsock is hybrid (a Unix "
			      "socket), which claims no CID: give its uds_path");
	if (!req->vsock_uds_path || !*req->vsock_uds_path)
		return refuse(err, "the vsock device needs its socket in vsock_override "
			      "(hearth restore: --vsock-override PATH): a restore binds no path "
			      "the state file names");
	return set_path(&v->uds_path, req->vsock_uds_path, err);
}

/*
 * A firmware VM's image and store: the request's, never the state
 * file's (the image's record then checks it is the snapshot's image).
 */
static int load_firmware(struct vm_config *cfg, const struct snap_load_req *req, struct err *err)
{
	bool vars = cfg->firmware.vars_path != NULL;

	if (!cfg->firmware.path) {
		if (req->firmware_path || req->firmware_vars_path)
			return refuse(err, "firmware_override: the snapshot's VM booted no firmware");
		return 0;
	}
	if (!req->firmware_path || !*req->firmware_path)
		return refuse(err, "the snapshot's VM booted through firmware: name its image in "
			      "firmware_override (hearth restore: --firmware FILE): a restore opens "
			      "no path the state file names");
	if (vars != (req->firmware_vars_path != NULL))
		return refuse(err, "firmware_override: the snapshot's VM had %s variable store, "
			      "the request %s", vars ? "a" : "no", req->firmware_vars_path ?
			      "names one" : "none (firmware_vars_path, --firmware-vars FILE)");
	if (vars && !*req->firmware_vars_path)
		return refuse(err, "firmware_override: an empty firmware_vars_path");
	return vm_config_set_firmware(cfg, req->firmware_path, req->firmware_vars_path, err);
}

int snap_load_host(struct vm_config *cfg, const struct snap_load_req *req, struct err *err)
{
	int ret = load_drives(cfg, req, err);

	if (!ret)
		ret = load_nets(cfg, req, err);
	if (!ret)
		ret = load_vsock(cfg, req, err);
	if (!ret)
		ret = load_pmem(cfg, req, err);
	if (!ret)
		ret = load_firmware(cfg, req, err);
	/* The record may name a KVM path; the process's own (--kvm) is used, or /dev/kvm. */
	if (!ret)
		ret = req->kvm_path ? vm_config_set_kvm_path(cfg, req->kvm_path, err)
				    : set_path(&cfg->kvm_path, NULL, err);
	if (!ret)
		ret = vm_config_set_serial(cfg, req->serial_out_path, req->serial_rl, err);
	return ret;
}
