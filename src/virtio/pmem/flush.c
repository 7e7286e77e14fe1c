/*
 * virtio-pmem's flushes: fdatasync of the backing file on an io_uring of
 * its own, so a slow disk stalls neither a vCPU nor the I/O thread. As
 * with virtio-blk's ring (blk/ring.c), SQEs are a door seccomp cannot
 * see, so the ring is created disabled, limited to IORING_OP_FSYNC on its
 * one registered file, and only then enabled; no registration is allowed
 * after that. A spare (a ring made at start for a device plugged in
 * later, when no thread may make one: spare_ring.h) is made with its slot
 * empty and allows one registration, IORING_REGISTER_FILES_UPDATE, by
 * which the device puts its file in and takes it out again.
 */
#include "virtio/pmem/priv.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "virtio/spare_ring.h"

#define PMEM_FLUSH_TAG ((void *)(uintptr_t)1)

/*
 * Straight to io_uring_register(2), as blk/ring.c does: Debian's liburing
 * does not export these.
 */
static int pmem_ring_register(struct io_uring *ring, unsigned int op, void *arg, unsigned int nr)
{
	return syscall(__NR_io_uring_register, ring->ring_fd, op, arg, nr) < 0 ? -errno : 0;
}

static int pmem_ring_restrict(struct io_uring *ring, bool swappable)
{
	struct io_uring_restriction res[3];
	unsigned int n = 0;

	memset(res, 0, sizeof(res));
	res[n].opcode = IORING_RESTRICTION_SQE_OP;
	res[n++].sqe_op = IORING_OP_FSYNC;
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED;
	res[n++].sqe_flags = IOSQE_FIXED_FILE;
	if (swappable) {
		res[n].opcode = IORING_RESTRICTION_REGISTER_OP;
		res[n++].register_op = IORING_REGISTER_FILES_UPDATE;
	}
	return pmem_ring_register(ring, IORING_REGISTER_RESTRICTIONS, res, n);
}

/* The fenced ring with fd (-1: an empty slot) registered and efd its eventfd. */
static int pmem_ring_make(struct io_uring *ring, int fd, int efd, bool swappable)
{
	struct io_uring_params prm;
	int ret;

	memset(&prm, 0, sizeof(prm));
	prm.flags = IORING_SETUP_R_DISABLED;
	/* One flush at a time; two entries leave room for nothing else. */
	ret = io_uring_queue_init_params(2, ring, &prm);
	if (ret)
		return ret;
	ret = io_uring_register_files(ring, &fd, 1);
	if (!ret)
		ret = io_uring_register_eventfd(ring, efd);
	if (!ret)
		ret = pmem_ring_restrict(ring, swappable);
	if (!ret)
		ret = pmem_ring_register(ring, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	if (ret)
		io_uring_queue_exit(ring);
	return ret;
}

/* Puts fd (-1: none) in a spare's slot. 0 or -errno. */
static int pmem_ring_set_file(struct io_uring *ring, int fd)
{
	int ret = io_uring_register_files_update(ring, 0, &fd, 1);

	return ret < 0 ? ret : ret == 1 ? 0 : -EIO;
}

int pmem_ring_spare_make(struct spare_ring *s)
{
	int ret;

	s->in_use = false;
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->efd < 0)
		return -errno;
	ret = pmem_ring_make(&s->ring, -1, s->efd, true);
	if (ret) {
		close(s->efd);
		s->efd = -1;
	}
	return ret;
}

int pmem_flush_init(struct pmem *p)
{
	struct spare_ring *s = p->cfg.ring;
	int ret;

	if (s) {
		ret = pmem_ring_set_file(&s->ring, p->cfg.fd);
		if (ret)
			return ret;
		s->in_use = true;
		p->spare = s;
		p->ring = &s->ring;
		p->efd = s->efd;
		p->ring_ready = true;
		return 0;
	}
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->efd < 0)
		return -errno;
	p->ring = &p->own_ring;
	ret = pmem_ring_make(p->ring, p->cfg.fd, p->efd, false);
	if (ret) {
		close(p->efd);
		p->efd = -1;
		return ret;
	}
	p->ring_ready = true;
	return 0;
}

void pmem_flush_release(struct pmem *p)
{
	int res;

	if (p->ring_ready) {
		/* The file stays open until the ring lets go of it; wait, within a bound. */
		if (p->inflight && pmem_flush_reap(p, &res, PMEM_WAIT_MS) == 1)
			p->inflight = false;
		/* A spare goes back for the next plugged device, unless its flush is still out. */
		if (p->spare)
			spare_ring_let_go(p->spare, !p->inflight && !pmem_ring_set_file(p->ring, -1));
		else
			io_uring_queue_exit(p->ring);
		p->ring_ready = false;
	}
	if (!p->spare && p->efd >= 0)
		close(p->efd);
	p->spare = NULL;
	p->efd = -1;
}

int pmem_flush_submit(struct pmem *p)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(p->ring);
	int ret;

	if (!sqe)
		return -EBUSY;
	io_uring_prep_fsync(sqe, 0, IORING_FSYNC_DATASYNC);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data(sqe, PMEM_FLUSH_TAG);
	do
		ret = io_uring_submit(p->ring);
	while (ret == -EINTR);
	return ret < 0 ? ret : ret == 1 ? 0 : -EIO;
}

int pmem_flush_reap(struct pmem *p, int *res, unsigned int wait_ms)
{
	struct io_uring_cqe *cqe;
	int ret;

	if (wait_ms) {
		struct __kernel_timespec ts = { .tv_sec = wait_ms / 1000,
						.tv_nsec = (long long)(wait_ms % 1000) * 1000000 };

		do
			ret = io_uring_wait_cqe_timeout(p->ring, &cqe, &ts);
		while (ret == -EINTR);
	} else {
		ret = io_uring_peek_cqe(p->ring, &cqe);
	}
	if (ret == -EAGAIN || ret == -ETIME)
		return 0;
	if (ret < 0)
		return ret;
	*res = cqe->res;
	io_uring_cqe_seen(p->ring, cqe);
	return 1;
}
