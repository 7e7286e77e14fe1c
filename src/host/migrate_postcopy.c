/*
 * Post-copy, the process host's side (migrate/postcopy.h; docs/migration.md
 * "Post-copy").
 *
 * The source switches over after the first pass: POSTCOPY instead of the
 * last pages, every PAGE_REQ answered while it waits for READY and
 * RUNNING, then the rest pushed, a request always first, until POSTCOPY_DONE.
 *
 * The destination needs a second thread, "migrate-pc", because a thread
 * that touches a page still to come waits until someone places it: the
 * migrate thread itself (applying the state), the vCPUs, the io thread.
 * It is made with the prelude's VM, before the seal (a sealed thread
 * makes no thread), with the userfaultfd, and filtered as the migrate
 * thread is. From POSTCOPY on it alone reads the connection: the faults
 * (a PAGE_REQ, or a zero page) and the records (pages placed through the
 * userfaultfd, STATE, END, GO, POSTCOPY_END), telling the migrate thread what
 * came. Both threads write, under wlock.
 */
#include "host/migrate.h"

#include <errno.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/host.h"
#include "mem/guest_mem_uffd.h"
#include "migrate/postcopy.h"
#include "migrate/wire.h"
#include "util/log.h"
#include "util/thread_hook.h"

/* A source silent this long while pages are still to come has failed. */
#define PC_SILENCE_S 30

int host_mig_write(struct host_mig *m, uint32_t type, const void *buf, size_t len)
{
	int ret;

	pthread_mutex_lock(&m->wlock);
	ret = mig_wire_send_buf(m->link.fd, type, buf, len);
	pthread_mutex_unlock(&m->wlock);
	return ret;
}

int host_mig_postcopy_answer(struct host_mig *m, const uint8_t *req, struct err *err)
{
	int ret = mig_postcopy_answer(m->link.fd, &m->h->run.vm.mem, m->source.to_come, req, &m->source.left, &m->status.p,
				err);

	__atomic_store_n(&m->status.p.pages_left, m->source.left, __ATOMIC_RELAXED);
	return ret;
}

int host_mig_postcopy_serve(struct host_mig *m, struct err *err)
{
	const struct guest_mem *gm = &m->h->run.vm.mem;
	uint8_t *buf = NULL;
	size_t cap = 0;
	uint64_t cursor = 0;
	bool sent_end = false;
	int ret = 0;

	while (!ret) {
		struct pollfd p = { m->link.fd, POLLIN, 0 };
		int n = poll(&p, 1, m->source.left || !sent_end ? 0 : PC_SILENCE_S * 1000);
		struct mig_rec r;

		if (n < 0 && errno != EINTR) {
			ret = err_set(err, false, -errno, "poll: %s", strerror(errno));
			break;
		}
		if (n > 0) {
			ret = mig_wire_recv(m->link.fd, &r, &buf, &cap, err);
			if (ret)
				break;
			if (r.type == MIG_PAGE_REQ)
				ret = host_mig_postcopy_answer(m, buf, err);
			else if (r.type == MIG_POSTCOPY_DONE && sent_end)
				break;
			else
				ret = err_set(err, false, -EPROTO, "the destination sent %s during "
					      "post-copy", mig_type_name(r.type));
			continue;
		}
		if (m->source.left) {
			ret = mig_postcopy_push(m->link.fd, gm, m->source.to_come, &cursor, &m->source.left, &m->status.p, err);
			__atomic_store_n(&m->status.p.pages_left, m->source.left, __ATOMIC_RELAXED);
		} else if (!sent_end) {
			ret = mig_wire_send_buf(m->link.fd, MIG_POSTCOPY_END, NULL, 0);
			if (ret)
				err_set(err, false, ret, "sending POSTCOPY_END: %s", strerror(-ret));
			else
				__atomic_fetch_add(&m->status.p.bytes, MIG_REC_SIZE, __ATOMIC_RELAXED);
			sent_end = true;
		} else if (!n) {
			ret = err_set(err, false, -ETIMEDOUT, "the destination did not say every "
				      "page is in (POSTCOPY_DONE) within %d s", PC_SILENCE_S);
		}
	}
	free(buf);
	mig_maps_free(m->source.to_come);
	return ret;
}

/* The faults the userfaultfd holds: a page still to come asked for, any other a zero one. */
static int faults(struct host_mig *m, struct err *err)
{
	struct uffd_msg msg[16];
	ssize_t n = read(m->postcopy.uffd, msg, sizeof(msg));

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0
			: err_set(err, false, -errno, "reading the userfaultfd: %s", strerror(errno));
	for (size_t i = 0; i < (size_t)n / sizeof(msg[0]); i++) {
		uint64_t gpa;
		uint8_t b[8];
		int ret;

		if (msg[i].event != UFFD_EVENT_PAGEFAULT)
			continue;
		ret = mig_postcopy_fault(&m->dest.im->postcopy, m->dest.im->gm,
					 msg[i].arg.pagefault.address & ~(uint64_t)(MIG_PAGE - 1), &gpa);
		if (ret < 0)
			return err_set(err, false, ret, "a fault at 0x%llx: %s",
				       (unsigned long long)msg[i].arg.pagefault.address,
				       strerror(-ret));
		if (ret != 1)
			continue;
		for (unsigned int k = 0; k < 8; k++)
			b[k] = (uint8_t)(gpa >> (8 * k));
		ret = host_mig_write(m, MIG_PAGE_REQ, b, sizeof(b));
		if (ret)
			return err_set(err, false, ret, "asking for GPA 0x%llx: %s",
				       (unsigned long long)gpa, strerror(-ret));
		__atomic_fetch_add(&m->status.p.requested, 1, __ATOMIC_RELAXED);
	}
	return 0;
}

static void tell(struct host_mig *m, bool *what)
{
	pthread_mutex_lock(&m->lock);
	*what = true;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

/* Until every page is in (POSTCOPY_END taken): the faults and the records, whichever comes. */
static int pc_loop(struct host_mig *m, struct err *err)
{
	struct mig_image *im = m->dest.im;
	uint64_t last = host_mig_now_us();
	uint8_t *buf = NULL;
	size_t cap = 0;
	int ret = 0;

	while (!ret && !im->postcopy.ended) {
		struct pollfd p[2] = { { m->postcopy.uffd, POLLIN, 0 }, { m->link.fd, POLLIN, 0 } };
		int n = poll(p, 2, 1000);
		struct mig_rec r;
		bool quit;

		pthread_mutex_lock(&m->lock);
		quit = m->postcopy.quit;
		pthread_mutex_unlock(&m->lock);
		if (quit)
			ret = err_set(err, false, -ECANCELED, "the migration was stopped");
		else if (n < 0 && errno != EINTR)
			ret = err_set(err, false, -errno, "poll: %s", strerror(errno));
		/* Timed from the source's last record: the guest's faults say nothing of it. */
		else if (host_mig_now_us() - last >= PC_SILENCE_S * 1000000ull)
			ret = err_set(err, false, -ETIMEDOUT, "the source sent nothing for %d s with "
				      "%llu pages still to come", PC_SILENCE_S,
				      (unsigned long long)im->postcopy.left);
		if (ret || n <= 0)
			continue;
		if (p[0].revents & POLLIN)
			ret = faults(m, err);
		if (ret || !(p[1].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		uint64_t before = im->pages + im->zero_pages;

		ret = mig_wire_recv(m->link.fd, &r, &buf, &cap, err);
		if (!ret)
			last = host_mig_now_us();
		if (!ret && r.type == MIG_GO) {
			bool ready;

			pthread_mutex_lock(&m->lock);
			ready = m->postcopy.ready;
			pthread_mutex_unlock(&m->lock);
			if (!ready) {
				ret = err_set(err, true, -EPROTO, "the source sent GO before READY");
				break;
			}
			/* The commit's words are not the stream's bytes (as without post-copy). */
			tell(m, &m->postcopy.go);
			continue;
		}
		if (!ret)
			ret = mig_image_take(im, &r, buf, err);
		if (ret)
			break;
		__atomic_fetch_add(&m->status.p.bytes, MIG_REC_SIZE + r.len, __ATOMIC_RELAXED);
		__atomic_fetch_add(&m->status.p.pages, im->pages + im->zero_pages - before,
				   __ATOMIC_RELAXED);
		__atomic_store_n(&m->status.p.pages_left, im->postcopy.left, __ATOMIC_RELAXED);
		if (r.type == MIG_END)
			tell(m, &m->postcopy.end);
	}
	free(buf);
	if (ret)
		return err_prefix(err, ret, "post-copy: ");
	/* Every page in: what is still missing now is a zero page, the kernel's to fill. */
	ret = guest_mem_uffd_disarm(im->gm, m->postcopy.uffd);
	if (ret)
		return err_set(err, false, ret, "post-copy: disarming the userfaultfd: %s",
			       strerror(-ret));
	ret = host_mig_write(m, MIG_POSTCOPY_DONE, NULL, 0);
	return ret ? err_set(err, false, ret, "post-copy: sending POSTCOPY_DONE: %s", strerror(-ret))
		   : 0;
}

static void *pc_main(void *arg)
{
	struct host_mig *m = arg;
	struct err err = ERR_INIT;
	int ret;

	pthread_setname_np(pthread_self(), "migrate-pc");
	ret = thread_hook_enter(THREAD_MIGRATE);
	pthread_mutex_lock(&m->lock);
	m->postcopy.enter_ret = ret;
	m->postcopy.idle = true;
	pthread_cond_broadcast(&m->cond);
	/* Unfiltered, it serves nothing: its maker joins it (host_mig_postcopy_prepare). */
	while (!ret && !m->postcopy.run && !m->postcopy.quit)
		pthread_cond_wait(&m->cond, &m->lock);
	bool run = !ret && m->postcopy.run && !m->postcopy.quit;

	if (!run) {
		/* Whoever waits on it hears it is gone. */
		m->postcopy.ret = -ECANCELED;
		err_set(&m->postcopy.err, false, -ECANCELED, "post-copy: the migration was stopped");
		m->postcopy.done = true;
		pthread_cond_broadcast(&m->cond);
		pthread_mutex_unlock(&m->lock);
		return NULL;
	}
	pthread_mutex_unlock(&m->lock);
	ret = pc_loop(m, &err);
	pthread_mutex_lock(&m->lock);
	if (ret && !m->postcopy.go) {
		/*
		 * The VM never ran here: whoever waits on a page is let go (zeros,
		 * in a VM that is thrown away), so the migrate thread can end it.
		 */
		guest_mem_uffd_disarm(m->dest.im->gm, m->postcopy.uffd);
	} else if (ret) {
		/*
		 * The VM ran here on pages the source still holds: it cannot go on
		 * and must not run on zeros. It ends at once (also when the instance
		 * is stopping: its vCPUs may wait on pages that will never come);
		 * the source keeps its paused copy.
		 */
		log_err("migration: %s; the VM cannot run without the source's pages, and ends "
			"here (the source keeps it, paused)", err.msg);
		_exit(HEARTH_EXIT_FAILURE);
	}
	m->postcopy.ret = ret;
	m->postcopy.err = err;
	m->postcopy.done = true;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

void host_mig_postcopy_prepare(struct host_mig *m)
{
	int fd = guest_mem_uffd_open();

	m->postcopy.uffd_why = NULL;
	if (fd < 0) {
		m->postcopy.uffd_why = fd == -EPERM ? "the kernel refuses it a userfaultfd (it needs "
			      "CAP_SYS_PTRACE, vm.unprivileged_userfaultfd=1 or /dev/userfaultfd)"
			      : fd == -ENOSYS ? "its kernel has no userfaultfd" : "no userfaultfd";
		return;
	}
	m->postcopy.run = m->postcopy.quit = m->postcopy.end = m->postcopy.go = m->postcopy.done = m->postcopy.idle = false;
	m->postcopy.ready = false;
	m->postcopy.ret = m->postcopy.enter_ret = 0;
	if (pthread_create(&m->postcopy.thread, NULL, pc_main, m)) {
		close(fd);
		m->postcopy.uffd_why = "its post-copy thread could not start";
		return;
	}
	m->postcopy.uffd = fd;
	m->postcopy.started = true;
	/* Filtered before the seal, as every thread. */
	pthread_mutex_lock(&m->lock);
	while (!m->postcopy.idle)
		pthread_cond_wait(&m->cond, &m->lock);
	int ret = m->postcopy.enter_ret;

	pthread_mutex_unlock(&m->lock);
	if (ret) {
		host_mig_postcopy_stop(m);
		m->postcopy.uffd_why = "its post-copy thread could not be filtered";
	}
}

int host_mig_postcopy_run(struct host_mig *m)
{
	if (!m->postcopy.started)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	if (m->postcopy.quit) {
		pthread_mutex_unlock(&m->lock);
		return -ECANCELED;
	}
	m->postcopy.run = true;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

int host_mig_postcopy_wait(struct host_mig *m, enum host_mig_postcopy_event what, struct err *err)
{
	int ret = 0;

	pthread_mutex_lock(&m->lock);
	for (;;) {
		bool seen = what == HOST_MIG_POSTCOPY_END ? m->postcopy.end : what == HOST_MIG_POSTCOPY_GO ? m->postcopy.go
			    : m->postcopy.done;

		if (seen && (what != HOST_MIG_POSTCOPY_DONE || !m->postcopy.ret))
			break;
		if (m->postcopy.done) {
			ret = m->postcopy.ret ? m->postcopy.ret : -EPROTO;
			if (m->postcopy.ret)
				*err = m->postcopy.err;
			else
				err_set(err, false, ret, "post-copy ended before %s",
					what == HOST_MIG_POSTCOPY_END ? "END" : "GO");
			break;
		}
		pthread_cond_wait(&m->cond, &m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

void host_mig_postcopy_stop(struct host_mig *m)
{
	if (!m->postcopy.started)
		return;
	pthread_mutex_lock(&m->lock);
	m->postcopy.quit = true;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	pthread_join(m->postcopy.thread, NULL);
	close(m->postcopy.uffd);
	m->postcopy.uffd = -1;
	m->postcopy.started = false;
}
