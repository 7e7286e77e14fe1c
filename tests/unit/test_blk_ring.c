/*
 * virtio-blk's io_uring is fenced (src/virtio/blk/ring.c): only its own
 * opcodes, only on the registered image slots, and no registration but
 * swapping those files. Whatever else an SQE asks for fails with EACCES,
 * so the ring is no way around the io thread's seccomp filter. A spare
 * (made at start for a disk plugged in later, its image put in its empty
 * slots then: virtio/spare_ring.h) is fenced the same: every test runs
 * on both.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <unistd.h>

#include <cmocka.h>

#include "virtio/blk/image.h"
#include "virtio/blk/ring.h"
#include "virtio/spare_ring.h"

struct rig {
	struct io_uring *ring;    /* &own, or &spare.ring */
	struct io_uring own;
	struct spare_ring spare;
	bool is_spare;
	int fd;                   /* the image in slot 0 */
	int efd;
	char path[2][64];
	int fds[2];
};

static int make_file(char *path, size_t len, char fill)
{
	char buf[4096];
	int fd;

	snprintf(path, len, "/tmp/hearth-ring-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	memset(buf, fill, sizeof(buf));
	assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	return fd;
}

static struct rig *rig_files(void)
{
	struct rig *r = calloc(1, sizeof(*r));

	r->fds[0] = make_file(r->path[0], sizeof(r->path[0]), 'a');
	r->fds[1] = make_file(r->path[1], sizeof(r->path[1]), 'b');
	r->fd = r->fds[0];
	return r;
}

static int setup(void **state)
{
	struct rig *r = rig_files();

	r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(r->efd >= 0);
	r->ring = &r->own;
	assert_int_equal(blk_ring_init(r->ring, 8, r->fd, -1, r->efd), 0);
	*state = r;
	return 0;
}

/* A spare, its slots empty until the image goes in, as a plugged disk puts it. */
static int setup_spare(void **state)
{
	struct rig *r = rig_files();

	assert_int_equal(blk_ring_spare_make(&r->spare), 0);
	r->is_spare = true;
	r->ring = &r->spare.ring;
	r->efd = r->spare.efd;
	assert_int_equal(blk_ring_set_files(r->ring, r->fd, -1), 0);
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	struct rig *r = *state;

	if (r->is_spare) {
		spare_ring_retire(&r->spare);
	} else {
		io_uring_queue_exit(r->ring);
		close(r->efd);
	}
	for (int i = 0; i < 2; i++) {
		close(r->fds[i]);
		unlink(r->path[i]);
	}
	free(r);
	return 0;
}

/* Submits the one queued SQE and returns its CQE's result. */
static int complete_one(struct rig *r)
{
	struct io_uring_cqe *cqe;
	int res;

	assert_int_equal(io_uring_submit(r->ring), 1);
	assert_int_equal(io_uring_wait_cqe(r->ring, &cqe), 0);
	res = cqe->res;
	io_uring_cqe_seen(r->ring, cqe);
	return res;
}

static int read_first(struct rig *r, bool fixed, char *c)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(r->ring);
	struct iovec iov = { c, 1 };

	io_uring_prep_readv(sqe, r->fd, &iov, 1, 0);
	if (fixed)
		blk_ring_fix_sqe(sqe, r->fd, -1);
	return complete_one(r);
}

static void test_own_ops_pass(void **state)
{
	struct rig *r = *state;
	struct io_uring_sqe *sqe;
	char c = 0;

	assert_int_equal(read_first(r, true, &c), 1);
	assert_int_equal(c, 'a');
	sqe = io_uring_get_sqe(r->ring);
	io_uring_prep_fsync(sqe, r->fd, IORING_FSYNC_DATASYNC);
	blk_ring_fix_sqe(sqe, r->fd, -1);
	assert_int_equal(complete_one(r), 0);
	sqe = io_uring_get_sqe(r->ring);
	io_uring_prep_nop(sqe);
	blk_ring_fix_sqe(sqe, r->fd, -1);
	assert_int_equal(complete_one(r), 0);
}

/* IOSQE_ASYNC (large copies, on io_uring's workers) is allowed; other SQE flags are not. */
static void test_sqe_flags(void **state)
{
	struct rig *r = *state;
	struct io_uring_sqe *sqe;
	char c = 0;
	struct iovec iov = { &c, 1 };

	sqe = io_uring_get_sqe(r->ring);
	io_uring_prep_readv(sqe, r->fd, &iov, 1, 0);
	blk_ring_fix_sqe(sqe, r->fd, -1);
	sqe->flags |= IOSQE_ASYNC;
	assert_int_equal(complete_one(r), 1);
	assert_int_equal(c, 'a');
	sqe = io_uring_get_sqe(r->ring);
	io_uring_prep_readv(sqe, r->fd, &iov, 1, 0);
	blk_ring_fix_sqe(sqe, r->fd, -1);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	assert_int_equal(complete_one(r), -EACCES);
}

static void test_raw_fd_refused(void **state)
{
	struct rig *r = *state;
	char c = 0;

	/* The same read on the process's descriptor, not the registered slot. */
	assert_int_equal(read_first(r, false, &c), -EACCES);
	assert_int_equal(c, 0);
}

static void test_other_ops_refused(void **state)
{
	struct rig *r = *state;
	struct io_uring_sqe *sqe = io_uring_get_sqe(r->ring);

	/* Opening a file is what the io thread's filter forbids; the ring must too. */
	io_uring_prep_openat(sqe, AT_FDCWD, "/etc/hostname", O_RDONLY, 0);
	sqe->flags |= IOSQE_FIXED_FILE;
	assert_int_equal(complete_one(r), -EACCES);
	sqe = io_uring_get_sqe(r->ring);
	io_uring_prep_socket(sqe, AF_INET, SOCK_STREAM, 0, 0);
	sqe->flags |= IOSQE_FIXED_FILE;
	assert_int_equal(complete_one(r), -EACCES);
	/* Nor a connect on a registered slot (the third audit's example). */
	{
		static struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0x5000,
						 .sin_addr.s_addr = 0x0100007f };

		sqe = io_uring_get_sqe(r->ring);
		io_uring_prep_connect(sqe, 0, (struct sockaddr *)&sa, sizeof(sa));
		sqe->flags |= IOSQE_FIXED_FILE;
		assert_int_equal(complete_one(r), -EACCES);
	}
}

static void test_registration_closed(void **state)
{
	struct rig *r = *state;

	assert_int_equal(io_uring_register_eventfd(r->ring, r->efd), -EACCES);
	assert_int_equal(io_uring_register_buffers(r->ring, &(struct iovec){ r, 8 }, 1),
			 -EACCES);
	assert_int_equal(io_uring_unregister_files(r->ring), -EACCES);
}

/* A drive swap puts the new image in the same slot. */
static void test_swap_files(void **state)
{
	struct rig *r = *state;
	char c = 0;

	assert_int_equal(blk_ring_set_files(r->ring, r->fds[1], -1), 0);
	r->fd = r->fds[1];
	assert_int_equal(read_first(r, true, &c), 1);
	assert_int_equal(c, 'b');
}

/*
 * A VM killed with SIGKILL closes its descriptors at exit, but its ring
 * holds its registered files until the ring's teardown runs, later. The
 * image's lock must go with the descriptors, not with the ring: closing
 * the image's own descriptors as exit does (no LOCK_UN) while the ring
 * still holds its files leaves the image free for the next VM. Failed
 * on the old code, whose lock was on the registered description.
 */
static void test_lock_not_held_by_ring(void **state)
{
	struct rig *r = *state;
	struct blk_config cfg = { .path = r->path[1] };
	struct blk_image img;
	struct err err = { 0 };
	struct io_uring own;
	int probe;

	assert_int_equal(blk_image_open(&img, &cfg, &err), 0);
	/* A spare holds a plugged disk's files the same way. */
	if (r->is_spare)
		assert_int_equal(blk_ring_set_files(r->ring, img.fd, img.fd_buffered), 0);
	else
		assert_int_equal(blk_ring_init(&own, 8, img.fd, img.fd_buffered, r->efd), 0);
	probe = open(r->path[1], O_RDONLY | O_CLOEXEC);
	assert_true(probe >= 0);
	assert_int_equal(flock(probe, LOCK_SH | LOCK_NB), -1);   /* locked: in use */
	assert_int_equal(errno, EWOULDBLOCK);
	close(img.fd);
	if (img.fd_buffered >= 0)
		close(img.fd_buffered);
	close(img.lock_fd);
	assert_int_equal(flock(probe, LOCK_EX | LOCK_NB), 0);    /* the ring still lives */
	close(probe);
	if (!r->is_spare)
		io_uring_queue_exit(&own);
	free(img.path);
}

/*
 * A spare before a disk took it: its slots hold nothing (a read on slot 0
 * finds no file), its eventfd is registered (a completion signals it),
 * and once the disk lets go of it (both slots emptied) its image is out.
 */
static void test_spare_empty_then_filled(void **state)
{
	struct spare_ring s;
	struct rig *r = *state;
	struct io_uring_sqe *sqe;
	struct iovec iov;
	uint64_t v = 0;
	char c = 0;

	assert_int_equal(blk_ring_spare_make(&s), 0);
	assert_false(s.in_use);
	r->ring = &s.ring;
	iov = (struct iovec){ &c, 1 };
	sqe = io_uring_get_sqe(r->ring);
	io_uring_prep_readv(sqe, 0, &iov, 1, 0);
	sqe->flags |= IOSQE_FIXED_FILE;
	assert_int_equal(complete_one(r), -EBADF);
	assert_int_equal(read(s.efd, &v, sizeof(v)), (ssize_t)sizeof(v));
	assert_true(v >= 1);
	assert_int_equal(blk_ring_set_files(r->ring, r->fds[1], -1), 0);
	r->fd = r->fds[1];
	assert_int_equal(read_first(r, true, &c), 1);
	assert_int_equal(c, 'b');
	assert_int_equal(blk_ring_set_files(r->ring, -1, -1), 0);
	c = 0;
	assert_int_equal(read_first(r, true, &c), -EBADF);
	spare_ring_retire(&s);
	assert_int_equal(s.efd, -1);
	r->ring = &r->own;
}

#define BOTH(t) cmocka_unit_test_setup_teardown(t, setup, teardown), \
		cmocka_unit_test_setup_teardown(t, setup_spare, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_own_ops_pass),
		BOTH(test_raw_fd_refused),
		BOTH(test_sqe_flags),
		BOTH(test_other_ops_refused),
		BOTH(test_registration_closed),
		BOTH(test_swap_files),
		BOTH(test_lock_not_held_by_ring),
		cmocka_unit_test_setup_teardown(test_spare_empty_then_filled, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
