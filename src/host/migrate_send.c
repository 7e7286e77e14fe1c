/*
 * Live migration, the source's side and the thread both sides share
 * (host_mig_out.h; docs/migration.md).
 *
 * The source: the api thread hands the request over and waits only for
 * the connection. The thread turns the dirty log on where it was off,
 * sends the layout and every non-zero page while the guest runs, then
 * pass after pass what the log says was written since, until the pages
 * left would go within the downtime budget at the last pass's rate (or
 * the pass limit is reached). The switch-over is an action
 * (CTL_MIGRATE_SWITCH, under the handler's lock): the VM paused, the last
 * pages with the state, then READY awaited, GO sent, RUNNING awaited.
 * Until GO the source owns the VM and resumes it on any failure; from GO
 * on it never runs it again.
 */
#include "host/migrate.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host/host.h"
#include "migrate/postcopy.h"
#include "migrate/wire.h"
#include "snapshot/snapshot.h"
#include "util/log.h"
#include "vmm/vm_patch.h"

#define DEFAULT_DOWNTIME_MS 300
#define DEFAULT_MAX_ITERATIONS 30

/* The dirty log on, from now: KVM's flag on every RAM slot (a flags-only change). */
static int tracking_on(struct host_mig *m, struct err *err)
{
	struct guest_mem *gm = &m->h->run.vm.mem;
	int ret;

	m->source.had_tracking = guest_mem_dirty_enabled(gm);
	/* Its pages leave the log with the passes: a reset of this VM then drops all of RAM. */
	m->h->base_stale = true;
	if (m->source.had_tracking)
		return 0;
	ret = guest_mem_dirty_start(gm, m->h->run.vm.fd);
	return ret ? err_set(err, false, ret, "turning the dirty log on: %s", strerror(-ret)) : 0;
}

int host_mig_prelude(void *ctx, const struct vm_config *cfg, struct err *err)
{
	struct host *h = ctx;
	struct host_mig *m = h->mig;
	uint64_t *maps[GUEST_MEM_DIRTY_MAPS] = { NULL };
	uint64_t t0 = host_mig_now_us();
	int ret;

	if (!m || m->link.fd < 0 || !m->status.role || strcmp(m->status.role, "source"))
		return err_set(err, false, -EINVAL, "migrate: no migration to begin");
	free(m->source.prelude);
	m->source.prelude = NULL;
	/* The log's pages it takes need no giving back: the first pass reads all of RAM after. */
	ret = snap_state(&h->run.vm, cfg, &m->source.prelude, &m->source.prelude_len, maps, err);
	mig_maps_free(maps);
	m->status.prelude_us = host_mig_now_us() - t0;
	return ret;
}

/*
 * Pre-copy: the layout and the prelude (the state now, which the
 * destination builds the VM from while RAM comes), then the first pass and
 * the next ones, until the rest fits the budget and stops shrinking.
 */
static int precopy(struct host_mig *m, uint64_t **maps, struct err *err)
{
	struct ctl_action a = { .type = CTL_MIGRATE_PRELUDE };
	struct guest_mem *gm = &m->h->run.vm.mem;
	int vm_fd = m->h->run.vm.fd;
	uint64_t n = 0, prev = UINT64_MAX;
	int ret;

	ret = ctl_handle(&m->h->ctl, &a, NULL, err);
	if (!ret)
		ret = mig_send_begin(m->link.fd, gm, m->h->run.vm.ncpus, &m->status.p, err);
	if (!ret) {
		ret = mig_wire_send_buf(m->link.fd, MIG_PRELUDE, m->source.prelude, m->source.prelude_len);
		if (ret)
			err_set(err, false, ret, "sending the prelude: %s", strerror(-ret));
		else
			__atomic_fetch_add(&m->status.p.bytes, MIG_REC_SIZE + m->source.prelude_len,
					   __ATOMIC_RELAXED);
	}
	free(m->source.prelude);
	m->source.prelude = NULL;
	/* What was dirty before the first pass is in it. */
	if (!ret)
		ret = mig_collect(gm, vm_fd, maps, &n);
	for (uint64_t it = 0; !ret; it++) {
		uint64_t t0 = host_mig_now_us(), b0 = __atomic_load_n(&m->status.p.bytes, __ATOMIC_RELAXED);
		uint64_t dt, bw, expect;

		ret = mig_send_pass(m->link.fd, gm, it ? maps : NULL, &m->status.p, err);
		if (ret)
			break;
		__atomic_store_n(&m->status.p.iteration, it + 1, __ATOMIC_RELAXED);
		if (!it)
			__atomic_store_n(&m->status.p.first_pass_pages,
					 __atomic_load_n(&m->status.p.pages, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
		dt = host_mig_now_us() - t0;
		bw = (__atomic_load_n(&m->status.p.bytes, __ATOMIC_RELAXED) - b0) * 1000000 / (dt ? dt : 1);
		ret = mig_collect(gm, vm_fd, maps, &n);
		if (ret) {
			err_set(err, false, ret, "reading the dirty log: %s", strerror(-ret));
			break;
		}
		/* Capped: a pass that moved nothing says "long", never a number JSON cannot take. */
		expect = bw ? n * MIG_PAGE * 1000 / bw : 1000000000;
		__atomic_store_n(&m->status.p.pages_left, n, __ATOMIC_RELAXED);
		__atomic_store_n(&m->status.p.bandwidth, bw, __ATOMIC_RELAXED);
		__atomic_store_n(&m->status.p.expected_downtime_ms, expect, __ATOMIC_RELAXED);
		/*
		 * Post-copy switches over after the first pass: the rest comes as
		 * asked for. Pre-copy: an idle guest's set shrinks pass by pass to
		 * the few pages it keeps writing (in the lab, a last pass of
		 * thousands of pages was most of a 40 ms downtime); a busy one's
		 * stops shrinking, and it switches over once the rest fits.
		 */
		if (m->source.postcopy || it + 1 >= m->source.max_iterations ||
		    mig_precopy_done(expect, m->source.downtime_ms, n, prev))
			break;
		prev = n;
	}
	/* The last collection's pages go with the switch-over: back into the log for it. */
	for (unsigned int i = 0; !ret && i < gm->nregions; i++)
		guest_mem_dirty_putback(gm, i, maps[i]);
	return ret;
}

/* The destination's answer to what we sent: want, or FAIL's reason, or its silence. */
static int await(struct host_mig *m, uint32_t want, struct err *err)
{
	uint8_t *buf = NULL;
	size_t cap = 0;
	struct mig_rec r;
	int ret = mig_wire_recv(m->link.fd, &r, &buf, &cap, err);

	/*
	 * Post-copy: the destination asks for pages while it builds and starts
	 * the VM; the answer it owes is still due within one deadline.
	 */
	uint64_t t0 = host_mig_now_us();

	while (!ret && r.type == MIG_PAGE_REQ && m->source.to_come[0]) {
		ret = host_mig_postcopy_answer(m, buf, err);
		if (!ret && host_mig_now_us() - t0 > MIG_IO_TIMEOUT_MS * 1000ull)
			ret = err_set(err, false, -ETIMEDOUT, "the destination asked for pages for "
				      "%d s without answering %s", MIG_IO_TIMEOUT_MS / 1000,
				      mig_type_name(want));
		if (!ret)
			ret = mig_wire_recv(m->link.fd, &r, &buf, &cap, err);
	}
	if (!ret && r.type == MIG_FAIL) {
		/* Its words, one printable line: they go to the log and the API. */
		for (uint64_t i = 0; i < r.len; i++)
			if (buf[i] < 0x20 || buf[i] > 0x7e)
				buf[i] = '?';
		ret = err_set(err, true, -EPROTO, "the destination refused the VM: %.*s",
			      (int)r.len, buf ? (char *)buf : "");
	}
	else if (!ret && r.type != want)
		ret = err_set(err, false, -EPROTO, "the destination answered %s, not %s",
			      mig_type_name(r.type), mig_type_name(want));
	else if (ret)
		err_prefix(err, ret, "waiting for the destination's %s: ", mig_type_name(want));
	free(buf);
	return ret;
}

/*
 * A send that failed: a destination that refused the stream said why
 * (FAIL) before it closed the connection, and its words are still there
 * to read; they replace the broken pipe's.
 */
static void why_closed(struct host_mig *m, struct err *err)
{
	struct pollfd p = { m->link.fd, POLLIN, 0 };
	struct err said = ERR_INIT;

	if (m->link.fd >= 0 && poll(&p, 1, 1000) > 0 &&
	    await(m, MIG_RUNNING, &said) == -EPROTO && said.usage)
		*err = said;
}

/* The source's job, on the thread. */
static void send_job(struct host_mig *m)
{
	uint64_t *maps[GUEST_MEM_DIRTY_MAPS] = { NULL };
	struct ctl_action a = { .type = CTL_MIGRATE_SWITCH };
	struct err err = ERR_INIT;
	int ret = mig_link_connect(&m->link, &err);

	if (!ret)
		ret = tracking_on(m, &err);
	host_mig_answer(m, ret, &err);
	if (ret)
		return;
	log_info("migration: sending to %s", m->link.uri);
	ret = precopy(m, maps, &err);
	if (ret == -EPIPE)
		why_closed(m, &err);
	mig_maps_free(maps);
	if (!ret) {
		host_mig_set(m, "switching", NULL);
		ret = ctl_handle(&m->h->ctl, &a, NULL, &err);
	}
	if (ret) {
		/* Pages the passes took out of the log are its again, for a later snapshot. */
		mig_mark_all(&m->h->run.vm.mem);
		host_mig_set(m, ctl_migrate_outgoing_end(&m->h->ctl) ? "unconfirmed" : "failed",
			     &err);
	} else if (m->source.postcopy) {
		host_mig_set(m, "postcopy", NULL);
		log_info("migration: the VM runs on %s (downtime %llu us); sending its last %llu "
			 "pages", m->link.uri, (unsigned long long)m->status.downtime_us,
			 (unsigned long long)m->source.left);
		ret = host_mig_postcopy_serve(m, &err);
		if (ret) {
			err_prefix(&err, ret, "post-copy to %s (the VM ran there on pages still "
				   "here: it stays paused here, and ends there): ", m->link.uri);
			host_mig_set(m, "failed", &err);
		} else {
			host_mig_set(m, "completed", NULL);
		}
	} else {
		host_mig_set(m, "completed", NULL);
		log_info("migration: the VM runs on %s (downtime %llu us)", m->link.uri,
			 (unsigned long long)m->status.downtime_us);
	}
	mig_maps_free(m->source.to_come);
}

/*
 * The disks' locks again, after a refusal: the destination lets them go
 * as it ends, so they are tried for a while. False when one stays
 * another's: the VM then must not run here (two writers).
 */
static bool take_back(struct host *h, const struct vm_config *cfg)
{
	struct err e = ERR_INIT;

	/*
	 * Cut first: a destination still loading, or waiting for GO, sees the
	 * end and exits, letting its locks go. A load is bounded by its own
	 * work, so a minute covers it.
	 */
	shutdown(h->mig->link.fd, SHUT_RDWR);
	for (unsigned int i = 0; i < 1200; i++) {
		if (!vm_drives_hold(&h->run.vm, cfg, true, &e))
			return true;
		usleep(50000);
	}
	log_err("migration: %s; the VM stays paused here", e.msg);
	return false;
}

int host_mig_switch(void *ctx, const struct vm_config *cfg, bool *sent_go, struct err *err)
{
	struct host *h = ctx;
	struct host_mig *m = h->mig;
	uint64_t *maps[GUEST_MEM_DIRTY_MAPS] = { NULL };
	uint64_t t0 = host_mig_now_us();
	void *state = NULL;
	bool let_go = false;
	size_t len = 0;
	int ret;

	if (!m || m->link.fd < 0 || !m->status.role || strcmp(m->status.role, "source"))
		return err_set(err, false, -EINVAL, "migrate: no migration to switch over");
	/* The action paused the VM just before this. */
	host_mig_stamp(m, &m->status.paused_at_us);
	ret = snap_state(&h->run.vm, cfg, &state, &len, maps, err);
	m->status.sw_us[0] = host_mig_now_us() - t0;

	/* Post-copy: the pages written since the first pass are named, and come later. */
	if (!ret && m->source.postcopy) {
		ret = mig_postcopy_send_map(m->link.fd, &h->run.vm.mem, maps, &m->source.left, &m->status.p, err);
		for (unsigned int i = 0; !ret && i < GUEST_MEM_DIRTY_MAPS; i++) {
			m->source.to_come[i] = maps[i];
			maps[i] = NULL;
		}
		__atomic_store_n(&m->status.p.pages_left, m->source.left, __ATOMIC_RELAXED);
	} else if (!ret) {
		ret = mig_send_pass(m->link.fd, &h->run.vm.mem, maps, &m->status.p, err);
	}
	if (!ret && (ret = mig_wire_send_buf(m->link.fd, MIG_STATE, state, len)) != 0)
		err_set(err, false, ret, "sending the state: %s", strerror(-ret));
	/* The disks' locks go, for the destination to take on shared storage. */
	if (!ret) {
		ret = vm_drives_hold(&h->run.vm, cfg, false, err);
		let_go = true;
	}
	if (!ret && (ret = mig_wire_send_buf(m->link.fd, MIG_END, NULL, 0)) != 0)
		err_set(err, false, ret, "sending the state: %s", strerror(-ret));
	if (!ret)
		__atomic_fetch_add(&m->status.p.bytes, 2 * MIG_REC_SIZE + len, __ATOMIC_RELAXED);
	mig_maps_free(maps);
	free(state);
	m->status.sw_us[1] = host_mig_now_us() - t0 - m->status.sw_us[0];
	if (!ret)
		ret = await(m, MIG_READY, err);
	m->status.sw_us[2] = host_mig_now_us() - t0 - m->status.sw_us[0] - m->status.sw_us[1];
	/* Its pages left the log with snap_state: a failure gives all of RAM back to it. */
	if (ret) {
		mig_mark_all(&h->run.vm.mem);
		mig_maps_free(m->source.to_come);
	}
	if (ret && let_go)
		*sent_go = !take_back(h, cfg);
	if (ret)
		return ret;
	ret = mig_wire_send_buf(m->link.fd, MIG_GO, NULL, 0);
	/* Sent or not, the destination may have it now: never run here again. */
	*sent_go = true;
	if (ret)
		return err_set(err, false, ret, "sending GO: %s; the VM stays paused here, and "
			       "may be running on the destination", strerror(-ret));
	ret = await(m, MIG_RUNNING, err);
	if (ret)
		return err_prefix(err, ret, "the destination did not confirm the VM runs there "
				  "(it stays paused here, never to run twice): ");
	m->status.downtime_us = host_mig_now_us() - t0;
	m->status.sw_us[3] = m->status.downtime_us - m->status.sw_us[0] - m->status.sw_us[1] - m->status.sw_us[2];
	return 0;
}

int host_mig_out(void *ctx, const struct vm_config *cfg, const struct ctl_migrate_req *r,
		 struct err *err)
{
	struct host *h = ctx;
	struct host_mig *m = h->mig;
	int ret;

	if (!m)
		return err_set(err, true, -EOPNOTSUPP, "migrate: this instance has no migration "
			       "thread (a fork's clone, or no API)");
	if (host_mig_busy(m))
		return err_set(err, true, -EBUSY, "migrate: a migration is under way");
	ret = mig_link_uri(&m->link, r->uri, err);
	if (!ret)
		ret = mig_link_tls(&m->link, r->tls, r->tls_hostname, false, err);
	if (ret)
		return err_prefix(err, ret, "migrate: ");
	m->source.downtime_ms = r->downtime_ms ? r->downtime_ms : DEFAULT_DOWNTIME_MS;
	m->source.max_iterations = r->max_iterations ? r->max_iterations : DEFAULT_MAX_ITERATIONS;
	m->source.postcopy = r->postcopy;
	return host_mig_hand_over(m, HOST_MIG_SEND, send_job, "source", err);
}
