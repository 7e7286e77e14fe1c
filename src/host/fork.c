/*
 * Fork and reset, the process host's side (docs/api.md "Fork and reset").
 *
 * PUT /fork: the paused VM's state and RAM are written into memfds, as a
 * Full snapshot is written into files, sealed so no one writes them
 * again, and handed with the request's body to the zygote this process
 * forked when it started (zygote/zygote.c). The zygote makes the clones,
 * each a process of its own that maps the RAM memfd privately: the frozen
 * base every clone shares, copy-on-write. This process is sealed and
 * opens no path for it; the clones' paths are the zygote's to resolve,
 * beneath --fork-dir.
 *
 * PUT /reset: a VM restored from a base (a clone's memfds, a File
 * restore's state file) goes back to it (snapshot.h's snap_reset).
 */
#include "host/host.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "host/fork_proto.h"
#include "snapshot/snapshot.h"
#include "vmm/refusal.h"
#include "util/log.h"
#include "util/file.h"
#include "util/uds.h"

#define FORK_ANSWER_TIMEOUT_MS 120000

static int sealed_memfd(const char *name)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);

	return fd < 0 ? -errno : fd;
}

/* No one writes, grows or shrinks it again: the clones' base is frozen. */
static int seal(int fd)
{
	return fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0
	       ? -errno : 0;
}

/* The zygote's answer to request seq; a stale one (a request that timed out) is skipped. */
static int answer(struct host *h, uint64_t seq, json_t **out, struct err *err)
{
	char *buf = malloc(FORK_ANSWER_MAX + 1);
	struct timespec t0;
	int ret = -ETIMEDOUT;

	if (!buf)
		return err_set(err, false, -ENOMEM, "fork: out of memory");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { h->zygote_fd, POLLIN, 0 };
		struct timespec t1;
		struct fork_msg m;
		unsigned int nfds = 0;
		long left;
		ssize_t got;

		clock_gettime(CLOCK_MONOTONIC, &t1);
		left = FORK_ANSWER_TIMEOUT_MS - ((t1.tv_sec - t0.tv_sec) * 1000 +
						 (t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			ret = err_set(err, false, -ETIMEDOUT, "fork: the zygote did not answer in "
				      "%d s", FORK_ANSWER_TIMEOUT_MS / 1000);
			break;
		}
		got = uds_recv_fds(h->zygote_fd, buf, FORK_ANSWER_MAX, NULL, &nfds);
		if (got <= 0) {
			ret = err_set(err, false, got ? (int)got : -EPIPE, "fork: the zygote is "
				      "gone (%s)", got ? strerror((int)-got) : "it closed its socket");
			break;
		}
		if ((size_t)got < sizeof(m))
			continue;
		memcpy(&m, buf, sizeof(m));
		if (m.magic != FORK_MAGIC || m.seq != seq)
			continue;
		buf[got] = '\0';
		if (m.kind == FORK_OK) {
			*out = json_loads(buf + sizeof(m), 0, NULL);
			ret = *out ? 0 : err_set(err, false, -EPROTO, "fork: the zygote's answer "
						 "is not JSON");
		} else {
			ret = err_set(err, m.kind == FORK_USAGE, -EINVAL, "%s", buf + sizeof(m));
		}
		break;
	}
	free(buf);
	return ret;
}

void host_fork_forget(struct host *h)
{
	for (unsigned int i = 0; i < 2; i++) {
		if (h->fork_base[i] >= 0)
			close(h->fork_base[i]);
		h->fork_base[i] = -1;
	}
}

/*
 * The frozen base, state and RAM, into fds[1] and fds[2]: the last fork's
 * again when the template has not changed since (ctl.epoch: paused
 * throughout, no action), so a paused template forked over and over
 * copies its RAM once; else written anew and kept.
 */
static int fork_base(struct host *h, const struct vm_config *cfg, int fds[3], struct err *err)
{
	struct snap_create_req req;
	int ret = 0;

	if (h->fork_base[0] >= 0 && h->fork_epoch == ctl_epoch(&h->ctl)) {
		for (unsigned int i = 0; i < 2 && !ret; i++) {
			fds[i + 1] = fcntl(h->fork_base[i], F_DUPFD_CLOEXEC, 3);
			if (fds[i + 1] < 0)
				ret = err_set(err, false, -errno, "fork: dup: %s", strerror(errno));
		}
		return ret;
	}
	host_fork_forget(h);
	for (unsigned int i = 1; i < 3 && !ret; i++) {
		fds[i] = sealed_memfd(i == 1 ? "hearth-fork-state" : "hearth-fork-ram");
		if (fds[i] < 0)
			ret = err_set(err, false, fds[i], "fork: memfd_create: %s", strerror(-fds[i]));
	}
	if (ret)
		return ret;
	req = (struct snap_create_req){ .to_fds = true, .state_fd = fds[1], .mem_fd = fds[2],
					.snapshot_path = "(fork)", .mem_file_path = "(fork)" };
	ret = snap_create(&h->run.vm, cfg, &req, err);
	/* Its pages left the dirty log with it: a reset of this VM drops all of RAM. */
	h->base_stale = true;
	for (unsigned int i = 1; i < 3 && !ret; i++) {
		ret = seal(fds[i]);
		if (ret)
			err_set(err, false, ret, "fork: sealing the memfds: %s", strerror(-ret));
	}
	for (unsigned int i = 0; i < 2 && !ret; i++) {
		h->fork_base[i] = fcntl(fds[i + 1], F_DUPFD_CLOEXEC, 3);
		if (h->fork_base[i] < 0)
			host_fork_forget(h);    /* not kept: the next fork writes its own */
	}
	h->fork_epoch = ctl_epoch(&h->ctl);
	return ret;
}

int host_fork(void *ctx, const struct vm_config *cfg, const char *body, size_t len,
	      json_t **out, struct err *err)
{
	struct host *h = ctx;
	struct fork_msg m = { FORK_MAGIC, FORK_REQUEST, ++h->fork_seq };
	int fds[3] = { -1, -1, -1 }, ret = 0;

	if (h->zygote_fd < 0)
		return err_set(err, true, -EOPNOTSUPP, "fork: this Hearth has no zygote to fork "
			       "clones from: start it with --fork-dir DIR");
	fds[0] = sealed_memfd("hearth-fork-request");
	if (fds[0] < 0)
		return err_set(err, false, fds[0], "fork: memfd_create: %s", strerror(-fds[0]));
	if (ftruncate(fds[0], (off_t)len) < 0 || file_pwrite_full(fds[0], body, len, 0))
		ret = err_set(err, false, -errno, "fork: the request: %s", strerror(errno));
	if (!ret) {
		ret = seal(fds[0]);
		if (ret)
			err_set(err, false, ret, "fork: sealing the request: %s", strerror(-ret));
	}
	if (!ret)
		ret = fork_base(h, cfg, fds, err);
	if (ret)
		goto out;
	ret = uds_send_fds(h->zygote_fd, &m, sizeof(m), fds, 3);
	if (ret) {
		err_set(err, false, ret, "fork: the zygote is gone (%s)", strerror(-ret));
		goto out;
	}
	ret = answer(h, m.seq, out, err);
out:
	for (unsigned int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return ret;
}

int host_base_open(const struct snap_load_req *req)
{
	/* A migration's VM: its RAM is no file's, nothing to go back to. */
	if (req->mem_attach)
		return -1;
	if (req->from_fds)
		return fcntl(req->state_fd, F_DUPFD_CLOEXEC, 3);
	return req->mem_uffd ? -1 : open(req->snapshot_path, O_RDONLY | O_CLOEXEC);
}

void host_base_take(struct host *h, int fd)
{
	if (h->base_fd >= 0)
		close(h->base_fd);
	h->base_fd = fd;
	h->base_stale = false;
}

int host_reset(void *ctx, json_t **out, struct err *err)
{
	struct host *h = ctx;
	struct timespec t0, t1;
	uint64_t pages = 0;
	char why[160];
	bool all;
	int ret;

	if (h->base_fd < 0)
		return err_set(err, true, -EOPNOTSUPP, "reset: this VM has no base to go back to: "
			       "only a fork's clone or a VM restored from a File snapshot has one");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/*
	 * All of RAM goes back when the dirty log may not name every page
	 * written since the base: a snapshot since took pages out of it, or
	 * a device writes guest memory where it cannot see (vhost-vsock's
	 * rings and buffers: the last tenant's data would stay).
	 */
	all = h->base_stale || !guest_mem_dirty_enabled(&h->run.vm.mem) ||
	      vm_unlogged_writer(ctl_config(&h->ctl), why, sizeof(why));
	if (all && vm_unlogged_writer(ctl_config(&h->ctl), why, sizeof(why)))
		log_debug("reset: all of RAM goes back: %s", why);
	ret = snap_reset(&h->run.vm, h->base_fd, all, &pages, err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (ret == -ENOTRECOVERABLE)
		vm_request_stop(&h->run.vm, VM_STOP_FAILURE, err->msg);
	if (ret)
		return ret;
	h->base_stale = false;
	*out = json_pack("{s:I, s:I}", "pages", (json_int_t)pages, "took_us",
			 (json_int_t)((t1.tv_sec - t0.tv_sec) * 1000000 +
				      (t1.tv_nsec - t0.tv_nsec) / 1000));
	log_info("reset: %llu pages back to the base", (unsigned long long)pages);
	return 0;
}
