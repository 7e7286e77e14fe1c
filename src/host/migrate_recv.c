/*
 * Live migration, the destination's side (host_mig_out.h;
 * docs/migration.md). PUT /migrate/incoming on a fresh instance: the api
 * thread copies the request (its host resources: every override, as a
 * restore's) and waits while the migration thread listens at the uri.
 * The thread then takes one connection, reads the stream into memfds
 * (the memory image and the state), loads the VM from them paused, as a
 * fork's clone is loaded, with the request's resources, answers READY,
 * and runs the VM on GO, answering RUNNING. Any failure (a stream cut,
 * refused or silent, a load refused, no GO) answers FAIL where it still
 * can, logs why, and ends the process: its VM never ran.
 */
#include "host/migrate.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "host/host.h"
#include "migrate/recv.h"
#include "migrate/wire.h"
#include "util/log.h"
#include "snapshot/snapshot.h"
#include "util/uds.h"
#include "vmm/vm_patch.h"

/* The prelude's VM's RAM, handed over as the load maps it (snapshot/request.h's mem_attach). */
static int attach_ram(void *ctx, struct guest_mem *gm, struct err *err)
{
	struct host_mig *m = ctx;

	m->dest.gm = gm;
	/* Here, before the seal: post-copy's userfaultfd and thread, should the stream want them. */
	host_mig_postcopy_prepare(m);
	if (m->dest.im) {
		m->dest.im->postcopy.uffd = m->postcopy.uffd;
		m->dest.im->postcopy.uffd_why = m->postcopy.uffd_why;
	}
	return 0;
}

/*
 * PRELUDE (stream.h's mig_image.prelude): the VM built, paused, from the
 * migration's first state, with the request's resources, its RAM
 * anonymous for the stream to fill and its disks opened without their
 * locks, which the source still holds; the sandbox seals with it. All of
 * this while the source still runs, out of the downtime.
 */
static int prelude(void *ctx, int fd, struct guest_mem **gm, struct err *err)
{
	struct ctl_action a = { .type = CTL_SNAPSHOT_LOAD };
	struct host_mig *m = ctx;
	uint64_t t0 = host_mig_now_us();
	int ret;

	a.load = m->dest.load;
	a.load.from_fds = true;
	a.load.state_fd = fd;
	a.load.mem_fd = -1;
	a.load.mem_attach = attach_ram;
	a.load.mem_attach_ctx = m;
	a.load.drives_unlocked = true;
	a.load.mem_layout = &m->dest.im->l;
	a.load.snapshot_path = "(the migration's prelude)";
	a.load.mem_path = "(migration)";
	a.load.mem_uffd = false;
	a.load.resume_vm = false;
	m->dest.gm = NULL;
	host_mig_set(m, "building", NULL);
	ret = ctl_handle(&m->h->ctl, &a, NULL, err);
	m->status.prelude_us = host_mig_now_us() - t0;
	if (ret) {
		m->dest.gm = NULL;
		return err_prefix(err, ret, "building the VM from the prelude: ");
	}
	host_mig_set(m, "receiving", NULL);
	*gm = m->dest.gm;
	return 0;
}

/*
 * The switch-over's share here, on the VM the prelude built: the last
 * state's records (every one checked first), then the disks' locks, which
 * the source let go before its END; no request may act meanwhile.
 */
struct finish_call {
	struct host *h;
	struct mig_image *im;
	struct err *err;
};

static int finish_locked(void *ctx, struct vm_config *cfg, enum ctl_state state)
{
	struct finish_call *c = ctx;
	int ret = snap_apply(&c->h->run.vm, c->im->state_fd, c->err);

	(void)state;
	if (!ret) {
		ret = vm_drives_hold(&c->h->run.vm, cfg, true, c->err);
		if (ret)
			err_prefix(c->err, ret, "taking the disks' locks: ");
		/* A drive plugged in from now on is locked as it opens. */
		cfg->drives_unlocked = false;
	}
	return ret;
}

static int finish(struct host_mig *m, struct mig_image *im, struct err *err)
{
	struct finish_call c = { m->h, im, err };

	return ctl_with_model(&m->h->ctl, finish_locked, &c);
}

/* The stream's VM loaded, paused, from the image's memfds with the request's resources. */
static int load(struct host_mig *m, struct mig_image *im, struct err *err)
{
	struct ctl_action a = { .type = CTL_SNAPSHOT_LOAD };

	a.load = m->dest.load;
	a.load.from_fds = true;
	a.load.state_fd = im->state_fd;
	a.load.mem_fd = im->fd;
	a.load.snapshot_path = "(migration)";
	a.load.mem_path = "(migration)";
	a.load.mem_uffd = false;
	a.load.resume_vm = false;
	return ctl_handle(&m->h->ctl, &a, NULL, err);
}

static void fail(struct host_mig *m, struct err *err)
{
	/* Post-copy's thread ends first: whoever waits on a page is let go (the VM never ran). */
	host_mig_postcopy_stop(m);
	/* Best effort: the source may be gone already. */
	if (m->link.fd >= 0)
		mig_wire_send_buf(m->link.fd, MIG_FAIL, err->msg, strlen(err->msg));
	/* The instance stays the migration's (refusing all but reads) until it ends. */
	host_mig_set(m, "failed", err);
	log_err("migration: the VM never ran here; the instance ends");
	ctl_exit(&m->h->ctl, HEARTH_EXIT_FAILURE);
}

/*
 * The guest's MACs on their new wire, five times over 350 ms (a frame may
 * be lost while a bridge's port comes up), as QEMU's announce-self. The model is read under the handler's lock: a PUT may
 * change it now that the instance takes actions again.
 */
static int announce_locked(void *ctx, struct vm_config *cfg, enum ctl_state state)
{
	struct host *h = ctx;

	return state == CTL_RUNNING ? vm_nets_announce(&h->run.vm, cfg) : 0;
}

static void announce(struct host_mig *m)
{
	static const unsigned int gap_ms[] = { 0, 50, 100, 100, 100 };

	for (unsigned int i = 0; i < sizeof(gap_ms) / sizeof(gap_ms[0]); i++) {
		int ret;

		usleep(gap_ms[i] * 1000);
		ret = ctl_with_model(&m->h->ctl, announce_locked, m->h);
		if (ret)
			log_warn("migration: a NIC's MAC could not be announced");
	}
}

static void running(struct host_mig *m)
{
	int ret = host_mig_write(m, MIG_RUNNING, NULL, 0);

	if (ret)
		log_warn("migration: the source did not hear RUNNING (%s); the VM runs here",
			 strerror(-ret));
}

/* The destination's job, on the thread. */
static void recv_job(struct host_mig *m)
{
	struct ctl_action resume = { .type = CTL_RESUME };
	struct err err = ERR_INIT;
	struct mig_image im;
	uint8_t *buf = NULL;
	size_t cap = 0;
	struct mig_rec r;
	int ret = mig_link_listen(&m->link, &err);

	host_mig_answer(m, ret, &err);
	if (ret)
		return;
	mig_image_init(&im);
	im.ram_limit = m->dest.ram_limit;
	im.prelude = prelude;
	im.prelude_ctx = m;
	m->dest.im = &im;
	ret = mig_link_accept(&m->link, &err);
	mig_link_unlisten(&m->link);
	if (!ret) {
		host_mig_set(m, "receiving", NULL);
		ret = mig_recv_stream(m->link.fd, &im, &m->status.p, &err);
		if (ret)
			err_prefix(&err, ret, "the stream from %s: ", m->link.uri);
	}
	/* Post-copy: the second thread reads on, with the faults; END first. */
	if (!ret && im.postcopy.on) {
		ret = host_mig_postcopy_run(m);
		if (ret)
			err_set(&err, false, ret, "post-copy: no thread to serve it");
		else
			ret = host_mig_postcopy_wait(m, HOST_MIG_POSTCOPY_END, &err);
	}
	if (!ret) {
		uint64_t t0 = host_mig_now_us();

		/* Built from the prelude already: its last state only. Else built now, whole. */
		ret = im.gm ? finish(m, &im, &err) : load(m, &im, &err);
		if (ret)
			err_prefix(&err, ret, "loading the VM: ");
		/* The destination's share of the downtime. */
		m->status.load_us = host_mig_now_us() - t0;
	}
	/* Marked first: the source's GO may be read the moment READY is out. */
	pthread_mutex_lock(&m->lock);
	m->postcopy.ready = !ret;
	pthread_mutex_unlock(&m->lock);
	if (!ret && (ret = host_mig_write(m, MIG_READY, NULL, 0)) != 0)
		err_set(&err, false, ret, "sending READY: %s", strerror(-ret));
	if (!ret && im.postcopy.on) {
		host_mig_set(m, "ready", NULL);
		ret = host_mig_postcopy_wait(m, HOST_MIG_POSTCOPY_GO, &err);
	} else if (!ret) {
		host_mig_set(m, "ready", NULL);
		ret = mig_wire_recv(m->link.fd, &r, &buf, &cap, &err);
		if (!ret && r.type != MIG_GO)
			ret = err_set(&err, false, -EPROTO, "the source sent %s, not GO",
				      mig_type_name(r.type));
		else if (ret)
			err_prefix(&err, ret, "waiting for GO: ");
		free(buf);
	}
	if (ret) {
		fail(m, &err);
		mig_image_release(&im);
		m->dest.im = NULL;
		return;
	}
	/* Post-copy: RUNNING first, so the source reads no page request before it. */
	if (im.postcopy.on)
		running(m);
	ctl_migrate_incoming_done(&m->h->ctl);
	if (m->dest.load.resume_vm && ctl_handle(&m->h->ctl, &resume, NULL, &err))
		log_warn("migration: resuming: %s", err.msg);
	else if (m->dest.load.resume_vm)
		host_mig_stamp(m, &m->status.resumed_at_us);
	if (!im.postcopy.on) {
		running(m);
		host_mig_set(m, "completed", NULL);
		log_info("migration: the VM from %s runs here", m->link.uri);
	} else {
		host_mig_set(m, "postcopy", NULL);
		log_info("migration: the VM from %s runs here; its last pages come as it asks",
			 m->link.uri);
	}
	announce(m);
	if (im.postcopy.on) {
		/* A failure from here ends the process (migrate_postcopy.c): only success returns. */
		if (!host_mig_postcopy_wait(m, HOST_MIG_POSTCOPY_DONE, &err)) {
			host_mig_set(m, "completed", NULL);
			log_info("migration: every page from %s is in", m->link.uri);
		}
		host_mig_postcopy_stop(m);
	}
	mig_image_release(&im);
	m->dest.im = NULL;
}

/* A copy of s kept with the job (NULL stays NULL); false when out of memory. */
static bool keep(struct host_mig *m, const char **s)
{
	char *c;

	if (!*s)
		return true;
	if (m->dest.nstrs >= sizeof(m->dest.strs) / sizeof(m->dest.strs[0]) || !(c = strdup(*s)))
		return false;
	m->dest.strs[m->dest.nstrs++] = c;
	*s = c;
	return true;
}

static int copy_load(struct host_mig *m, const struct snap_load_req *in, struct err *err)
{
	struct snap_load_req *l = &m->dest.load;
	bool ok = true;

	for (unsigned int i = 0; i < m->dest.nstrs; i++)
		free(m->dest.strs[i]);
	m->dest.nstrs = 0;
	*l = *in;
	for (unsigned int i = 0; i < l->n_overrides; i++)
		ok = ok && keep(m, &l->overrides[i].iface_id) &&
		     keep(m, &l->overrides[i].host_dev_name) && keep(m, &l->overrides[i].backend);
	for (unsigned int i = 0; i < l->n_drive_overrides; i++) {
		ok = ok && keep(m, &l->drive_overrides[i].drive_id) &&
		     keep(m, &l->drive_overrides[i].path_on_host);
		for (unsigned int b = 0; b < l->drive_overrides[i].n_backing; b++)
			ok = ok && keep(m, &l->drive_overrides[i].backing_files[b]);
	}
	for (unsigned int i = 0; i < l->n_pmem_overrides; i++)
		ok = ok && keep(m, &l->pmem_overrides[i].id) &&
		     keep(m, &l->pmem_overrides[i].path_on_host);
	ok = ok && keep(m, &l->vsock_uds_path) && keep(m, &l->firmware_path) &&
	     keep(m, &l->firmware_vars_path);
	return ok ? 0 : err_set(err, false, -ENOMEM, "migrate/incoming: too many overrides "
				"or out of memory");
}

int host_mig_in(void *ctx, const struct ctl_migrate_req *r, struct err *err)
{
	struct host *h = ctx;
	struct host_mig *m = h->mig;
	int ret;

	if (!m)
		return err_set(err, true, -EOPNOTSUPP, "migrate/incoming: this instance has no "
			       "migration thread");
	pthread_mutex_lock(&m->lock);
	ret = m->job != HOST_MIG_NONE || m->status.role ? -EBUSY : 0;
	pthread_mutex_unlock(&m->lock);
	if (ret)
		return err_set(err, true, ret, "migrate/incoming: this instance received one "
			       "already");
	ret = mig_link_uri(&m->link, r->uri, err);
	if (!ret)
		ret = mig_link_tls(&m->link, r->tls, NULL, true, err);
	if (!ret)
		ret = copy_load(m, &r->load, err);
	if (ret)
		return err_prefix(err, ret, "migrate/incoming: ");
	/* The request's bound, within this host's RAM (the job thread reads it once it runs). */
	if (r->max_mem_mib && (uint64_t)r->max_mem_mib << 20 < m->dest.ram_limit)
		m->dest.ram_limit = (uint64_t)r->max_mem_mib << 20;
	return host_mig_hand_over(m, HOST_MIG_RECV, recv_job, "destination", err);
}
