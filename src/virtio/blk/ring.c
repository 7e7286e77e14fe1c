/*
 * The disk's io_uring, fenced in. Submissions are a second door into the
 * kernel that seccomp cannot see (io_uring_enter is one allowed syscall,
 * whatever the SQEs ask for), so the ring is created disabled and
 * restricted before it is enabled: only the opcodes virtio-blk uses, and
 * only on the registered image descriptors (slot 0 the image, slot 1 its
 * buffered twin for unaligned O_DIRECT requests, then a qcow2 image's
 * backing files, read only, which its overlay's unwritten clusters are
 * read from). After that the only registration allowed is swapping those
 * files (PATCH /drives, and a spare made at start taking a plugged disk's
 * image: spare_ring.h).
 */
#include "virtio/blk/ring.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "virtio/blk.h"
#include "virtio/blk/disk.h"
#include "virtio/spare_ring.h"

#define BLK_SLOT_FD 0
#define BLK_SLOT_BUFFERED 1
#define BLK_RING_SLOTS (BLK_RING_SLOT_LAYER(0) + BLK_BACKING_MAX)

static const unsigned char blk_ring_ops[] = {
	IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC, IORING_OP_FALLOCATE,
	IORING_OP_NOP,           /* queued SQEs neutered by a reset (disk.c) */
	IORING_OP_ASYNC_CANCEL,  /* a reset cancelling what is in flight */
};

/*
 * Straight to io_uring_register(2): Debian's liburing 2.3 declares
 * io_uring_register_restrictions and io_uring_enable_rings but does not
 * export them.
 */
static int blk_ring_register(struct io_uring *ring, unsigned int op, void *arg,
			     unsigned int nr)
{
	return syscall(__NR_io_uring_register, ring->ring_fd, op, arg, nr) < 0 ? -errno : 0;
}

static int blk_ring_restrict(struct io_uring *ring)
{
	struct io_uring_restriction res[sizeof(blk_ring_ops) + 3];
	unsigned int n = 0;

	memset(res, 0, sizeof(res));
	for (unsigned int i = 0; i < sizeof(blk_ring_ops); i++) {
		res[n].opcode = IORING_RESTRICTION_SQE_OP;
		res[n++].sqe_op = blk_ring_ops[i];
	}
	/* Every SQE names a registered slot, never a raw descriptor of the process. */
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED;
	res[n++].sqe_flags = IOSQE_FIXED_FILE;
	/* And may go to io_uring's workers (disk.c: large page-cache copies). */
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	res[n++].sqe_flags = IOSQE_ASYNC;
	res[n].opcode = IORING_RESTRICTION_REGISTER_OP;
	res[n++].register_op = IORING_REGISTER_FILES_UPDATE;
	return blk_ring_register(ring, IORING_REGISTER_RESTRICTIONS, res, n);
}

int blk_ring_init(struct io_uring *ring, unsigned int entries, int fd, int fd_buffered, int efd)
{
	struct io_uring_params p;
	int fds[BLK_RING_SLOTS];
	int ret;

	fds[BLK_SLOT_FD] = fd;
	fds[BLK_SLOT_BUFFERED] = fd_buffered;
	for (unsigned int i = 0; i < BLK_BACKING_MAX; i++)
		fds[BLK_RING_SLOT_LAYER(i)] = -1;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_R_DISABLED;
	ret = io_uring_queue_init_params(entries, ring, &p);
	if (ret)
		return ret;
	ret = io_uring_register_files(ring, fds, BLK_RING_SLOTS);
	if (!ret)
		ret = io_uring_register_eventfd(ring, efd);
	if (!ret)
		ret = blk_ring_restrict(ring);
	if (!ret)
		ret = blk_ring_register(ring, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	if (ret) {
		io_uring_queue_exit(ring);
		return ret;
	}
	return 0;
}

int blk_ring_spare_make(struct spare_ring *s)
{
	int ret;

	s->in_use = false;
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->efd < 0)
		return -errno;
	/* Both slots empty (-1): the disk that takes it puts its image in (FILES_UPDATE). */
	ret = blk_ring_init(&s->ring, BLK_INFLIGHT, -1, -1, s->efd);
	if (ret) {
		close(s->efd);
		s->efd = -1;
	}
	return ret;
}

int blk_ring_set_files(struct io_uring *ring, int fd, int fd_buffered)
{
	int fds[2] = { fd, fd_buffered };
	int ret = io_uring_register_files_update(ring, 0, fds, 2);

	return ret < 0 ? ret : ret == 2 ? 0 : -EIO;
}

void blk_ring_fix_sqe(struct io_uring_sqe *sqe, int fd, int fd_buffered)
{
	if (sqe->fd >= 0 && sqe->fd == fd)
		sqe->fd = BLK_SLOT_FD;
	else if (sqe->fd >= 0 && sqe->fd == fd_buffered)
		sqe->fd = BLK_SLOT_BUFFERED;
	sqe->flags |= IOSQE_FIXED_FILE;
}

int blk_ring_set_layers(struct io_uring *ring, const int *fds, unsigned int n)
{
	int slots[BLK_BACKING_MAX];
	int ret;

	for (unsigned int i = 0; i < BLK_BACKING_MAX; i++)
		slots[i] = i < n ? fds[i] : -1;
	ret = io_uring_register_files_update(ring, BLK_RING_SLOT_LAYER(0), slots, BLK_BACKING_MAX);
	return ret < 0 ? ret : ret == (int)BLK_BACKING_MAX ? 0 : -EIO;
}
