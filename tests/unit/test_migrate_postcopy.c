/*
 * Post-copy (src/migrate/postcopy.c) without a VM: a source that switches
 * over after its first pass, naming the pages written since (POSTCOPY),
 * and a destination whose "guest" (a thread) touches pages while they are
 * still to come. A page still to come reads the source's bytes, never the
 * first pass's or zeros; a page never written reads zeros; the first of
 * them is asked for (PAGE_REQ) before the source pushes any. Then the
 * records out of order, a bitmap of the wrong size, and a destination
 * without a userfaultfd, each refused by name. Last, the disarm against
 * a fault in flight, which it must wake.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mem/guest_mem.h"
#include "mem/guest_mem_uffd.h"
#include "migrate/postcopy.h"
#include "migrate/recv.h"
#include "migrate/send.h"
#include "migrate/image.h"
#include "migrate/wire.h"
#include "util/err.h"
#include "util/file.h"

#define RAM (8ull << 20)
#define PAGE 4096ull

static void fill(struct guest_mem *gm, uint64_t pg, int v)
{
	uint8_t page[PAGE];

	memset(page, v, sizeof(page));
	guest_mem_write(gm, pg * PAGE, page, sizeof(page));
}

static int fake_prelude(void *ctx, int fd, struct guest_mem **gm, struct err *err)
{
	*gm = ctx;
	return 0;
}

struct src {
	int fd;
	struct guest_mem *gm;
	int ret;
	struct err err;
	struct mig_progress p;
	uint64_t asked;         /* PAGE_REQs answered */
};

/* The source: a first pass, writes behind it, POSTCOPY, STATE, END, then answers and pushes. */
static void *source(void *arg)
{
	struct src *s = arg;
	uint64_t *maps[GUEST_MEM_DIRTY_MAPS] = { NULL };
	uint64_t n = 0, left = 0, cursor = 0;
	uint8_t *buf = NULL;
	size_t cap = 0;
	bool sent_end = false;
	int ret = mig_send_begin(s->fd, s->gm, 1, &s->p, &s->err);

	if (!ret)
		ret = mig_wire_send_buf(s->fd, MIG_PRELUDE, "prelude", 7);
	if (!ret)
		ret = mig_collect(s->gm, -1, maps, &n);
	if (!ret)
		ret = mig_send_pass(s->fd, s->gm, NULL, &s->p, &s->err);
	/* Behind the first pass: 3 rewritten, 5 zeroed, 100 and 700 written (were zero). */
	fill(s->gm, 3, 0x33);
	fill(s->gm, 5, 0);
	fill(s->gm, 100, 0x77);
	fill(s->gm, 700, 0x70);
	if (!ret)
		ret = mig_collect(s->gm, -1, maps, &n);
	if (!ret && n != 4)
		ret = -EINVAL;
	if (!ret)
		ret = mig_postcopy_send_map(s->fd, s->gm, maps, &left, &s->p, &s->err);
	if (!ret && left != 4)
		ret = -EINVAL;
	if (!ret)
		ret = mig_wire_send_buf(s->fd, MIG_STATE, "state", 5);
	if (!ret)
		ret = mig_wire_send_buf(s->fd, MIG_END, NULL, 0);
	while (!ret) {
		/* Nothing is pushed before the first request: the request path is what is tried. */
		struct pollfd p = { s->fd, POLLIN, 0 };
		int k = poll(&p, 1, (left && s->asked) || (!left && !sent_end) ? 0 : 10000);
		struct mig_rec r;

		if (k > 0) {
			ret = mig_wire_recv(s->fd, &r, &buf, &cap, &s->err);
			if (!ret && r.type == MIG_PAGE_REQ) {
				ret = mig_postcopy_answer(s->fd, s->gm, maps, buf, &left, &s->p, &s->err);
				s->asked++;
			} else if (!ret && r.type == MIG_POSTCOPY_DONE && sent_end) {
				break;
			} else if (!ret) {
				ret = -EPROTO;
			}
		} else if (k == 0 && left) {
			ret = mig_postcopy_push(s->fd, s->gm, maps, &cursor, &left, &s->p, &s->err);
		} else if (k == 0 && !sent_end) {
			ret = mig_wire_send_buf(s->fd, MIG_POSTCOPY_END, NULL, 0);
			sent_end = true;
		} else {
			ret = -ETIMEDOUT;
		}
	}
	free(buf);
	mig_maps_free(maps);
	s->ret = ret;
	return NULL;
}

struct guest {
	struct guest_mem *gm;
	uint8_t b3, b5, b100, b700, b0, b50;
};

/* Reads through the mapping, as a vCPU would: each read may wait on its page. */
static void *guest(void *arg)
{
	struct guest *g = arg;
	volatile uint8_t *ram = guest_mem_ptr(g->gm, 0, RAM);

	g->b3 = ram[3 * PAGE + 17];
	g->b5 = ram[5 * PAGE + 9];
	g->b100 = ram[100 * PAGE];
	g->b50 = ram[50 * PAGE + 1];
	g->b0 = ram[0];
	g->b700 = ram[700 * PAGE + 4095];
	return NULL;
}

static void test_round_trip(void **state)
{
	struct guest_mem src, dst;
	struct mig_image im;
	struct mig_progress p = { 0 };
	struct err err = ERR_INIT;
	struct src s = { .err = ERR_INIT };
	struct guest g = { .gm = &dst };
	uint8_t *buf = NULL;
	size_t cap = 0;
	pthread_t ts, tg;
	int sv[2], uffd = guest_mem_uffd_open();

	if (uffd == -EPERM)
		skip();
	assert_true(uffd >= 0);
	assert_int_equal(guest_mem_init(&src, RAM), 0);
	assert_int_equal(guest_mem_dirty_enable(&src), 0);
	assert_int_equal(guest_mem_init(&dst, RAM), 0);
	for (unsigned int i = 0; i < 16; i++)
		fill(&src, i, 0x40 + i);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	s.fd = sv[0];
	s.gm = &src;
	assert_int_equal(pthread_create(&ts, NULL, source, &s), 0);
	mig_image_init(&im);
	im.prelude = fake_prelude;
	im.prelude_ctx = &dst;
	im.postcopy.uffd = uffd;
	/* Up to POSTCOPY: the first pass's pages landed, four pages are to come. */
	assert_int_equal(mig_recv_stream(sv[1], &im, &p, &err), 0);
	assert_true(im.postcopy.on && !im.ended);
	assert_int_equal(im.postcopy.left, 4);
	assert_int_equal(pthread_create(&tg, NULL, guest, &g), 0);
	while (!im.postcopy.ended) {
		struct pollfd pf[2] = { { uffd, POLLIN, 0 }, { sv[1], POLLIN, 0 } };
		struct mig_rec r;

		assert_true(poll(pf, 2, 10000) > 0);
		if (pf[0].revents & POLLIN) {
			struct uffd_msg msg;
			uint64_t gpa;

			if (read(uffd, &msg, sizeof(msg)) == (ssize_t)sizeof(msg) &&
			    mig_postcopy_fault(&im.postcopy, im.gm,
					       msg.arg.pagefault.address & ~(PAGE - 1), &gpa) == 1) {
				uint8_t b[8];

				for (unsigned int k = 0; k < 8; k++)
					b[k] = (uint8_t)(gpa >> (8 * k));
				assert_int_equal(mig_wire_send_buf(sv[1], MIG_PAGE_REQ, b, 8), 0);
			}
		}
		if (pf[1].revents & POLLIN) {
			assert_int_equal(mig_wire_recv(sv[1], &r, &buf, &cap, &err), 0);
			assert_int_equal(mig_image_take(&im, &r, buf, &err), 0);
		}
	}
	assert_int_equal(guest_mem_uffd_disarm(&dst, uffd), 0);
	assert_int_equal(mig_wire_send_buf(sv[1], MIG_POSTCOPY_DONE, NULL, 0), 0);
	pthread_join(tg, NULL);
	pthread_join(ts, NULL);
	assert_int_equal(s.ret, 0);
	assert_true(s.asked >= 1);
	assert_int_equal(im.postcopy.left, 0);
	assert_int_equal(g.b3, 0x33);
	assert_int_equal(g.b5, 0);
	assert_int_equal(g.b100, 0x77);
	assert_int_equal(g.b700, 0x70);
	assert_int_equal(g.b0, 0x40);
	assert_int_equal(g.b50, 0);
	assert_memory_equal(guest_mem_ptr(&dst, 0, RAM), guest_mem_ptr(&src, 0, RAM), RAM);
	free(buf);
	mig_image_release(&im);
	close(uffd);
	close(sv[0]);
	close(sv[1]);
	guest_mem_destroy(&src);
	guest_mem_destroy(&dst);
}

static int take(struct mig_image *im, uint32_t type, const void *data, uint64_t len,
		struct err *err)
{
	struct mig_rec r = { type, len };

	err->msg[0] = '\0';
	return mig_image_take(im, &r, data, err);
}

static void test_refused(void **state)
{
	struct guest_mem dst;
	struct mig_image im;
	struct err err = ERR_INIT;
	uint64_t map[RAM / PAGE / 64];
	uint8_t rec[MIG_REC_SIZE];
	struct mig_rec r;

	assert_int_equal(guest_mem_init(&dst, RAM), 0);
	memset(map, 0, sizeof(map));
	mig_rec_put(rec, MIG_POSTCOPY, 12);
	assert_int_equal(mig_rec_check(rec, &r, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "record POSTCOPY of 12 bytes"));
	mig_rec_put(rec, MIG_PAGE_REQ, 16);
	assert_int_equal(mig_rec_check(rec, &r, &err), -EPROTO);
	mig_rec_put(rec, MIG_POSTCOPY_DONE, 1);
	assert_int_equal(mig_rec_check(rec, &r, &err), -EPROTO);

	/* Without a VM built from PRELUDE (the image's own path): refused. */
	mig_image_init(&im);
	assert_int_equal(take(&im, MIG_POSTCOPY, map, sizeof(map), &err), -EPROTO);
	assert_non_null(strstr(err.msg, "without a VM built from PRELUDE"));
	/* A destination with no userfaultfd says so. */
	im.have_layout = im.have_prelude = true;
	im.l.nregions = 1;
	im.l.r[0].size = RAM;
	im.gm = &dst;
	im.postcopy.uffd_why = "no userfaultfd here";
	assert_int_equal(take(&im, MIG_POSTCOPY, map, sizeof(map), &err), -EOPNOTSUPP);
	assert_non_null(strstr(err.msg, "cannot take post-copy: no userfaultfd here"));
	/* A bitmap of another size than RAM's. */
	im.postcopy.uffd = guest_mem_uffd_open();
	if (im.postcopy.uffd == -EPERM) {
		mig_image_release(&im);
		guest_mem_destroy(&dst);
		skip();
	}
	assert_true(im.postcopy.uffd >= 0);
	assert_int_equal(take(&im, MIG_POSTCOPY, map, sizeof(map) - 8, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "RAM's bitmaps are"));
	/* POSTCOPY_END before END, and before POSTCOPY. */
	assert_int_equal(take(&im, MIG_POSTCOPY_END, NULL, 0, &err), -EPROTO);
	/* A real one; then the pages still to come are waited for, POSTCOPY_END too early refused. */
	map[0] = 1ull << 9;
	assert_int_equal(take(&im, MIG_POSTCOPY, map, sizeof(map), &err), 0);
	assert_int_equal(im.postcopy.left, 1);
	assert_int_equal(take(&im, MIG_POSTCOPY, map, sizeof(map), &err), -EPROTO);
	assert_non_null(strstr(err.msg, "a second one"));
	assert_int_equal(take(&im, MIG_STATE, "state", 5, &err), 0);
	assert_int_equal(take(&im, MIG_END, NULL, 0, &err), 0);
	assert_int_equal(take(&im, MIG_POSTCOPY_END, NULL, 0, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "1 pages POSTCOPY named never came"));
	/* ZERO for it after END (post-copy's), then POSTCOPY_END; anything after that is refused. */
	uint8_t z[16] = { 0 };

	z[1] = 0x90; /* GPA 0x9000: page 9 */
	z[8] = 1;
	assert_int_equal(take(&im, MIG_ZERO, z, 16, &err), 0);
	assert_int_equal(im.postcopy.left, 0);
	assert_int_equal(take(&im, MIG_POSTCOPY_END, NULL, 0, &err), 0);
	assert_int_equal(take(&im, MIG_ZERO, z, 16, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "after POSTCOPY_END"));
	close(im.postcopy.uffd);
	mig_image_release(&im);
	guest_mem_destroy(&dst);
}

struct toucher {
	volatile uint8_t *ram;
	uint64_t pages;
	uint64_t sum;
};

/* A thread of ours reading RAM page after page, each missing one a fault (not KVM's). */
static void *touch(void *arg)
{
	struct toucher *t = arg;

	for (uint64_t pg = 0; pg < t->pages; pg++)
		t->sum += t->ram[pg * PAGE];
	return NULL;
}

/*
 * The disarm against a fault in flight: the thread faults page after
 * page, each served with zeros at once, and after a few the RAM is
 * disarmed while the thread is on its way into its next fault. Every
 * run's thread must end; one that sleeps on a fault nobody woke is
 * stopped after 10 s (an idle wait, never a timing) and fails the test.
 * Without the wake after UNREGISTER (mem/guest_mem_uffd.c) every one of
 * ten runs of this test failed on 6.18, at its 9th to 215th disarm.
 */
static void test_disarm_wakes_racing_fault(void **state)
{
	struct guest_mem dst;
	int uffd = guest_mem_uffd_open();
	unsigned int stuck = 0;

	(void)state;
	if (uffd == -EPERM)
		skip();
	assert_true(uffd >= 0);
	for (unsigned int run = 0; run < 400 && !stuck; run++) {
		struct toucher t = { .pages = 64 };
		struct timespec until;
		pthread_t th;

		assert_int_equal(guest_mem_init(&dst, 64 * PAGE), 0);
		t.ram = guest_mem_ptr(&dst, 0, 64 * PAGE);
		assert_int_equal(guest_mem_uffd_arm(&dst, uffd), 0);
		assert_int_equal(pthread_create(&th, NULL, touch, &t), 0);
		for (unsigned int served = 0; served < 1 + run % 16;) {
			struct pollfd pf = { uffd, POLLIN, 0 };
			struct uffd_msg msg;

			assert_true(poll(&pf, 1, 10000) > 0);
			if (read(uffd, &msg, sizeof(msg)) != (ssize_t)sizeof(msg))
				continue;
			assert_int_equal(guest_mem_uffd_zero(uffd, (void *)(uintptr_t)
							     (msg.arg.pagefault.address & ~(PAGE - 1)),
							     PAGE), 0);
			served++;
		}
		/* A different moment each run, to meet the thread's next fault midway (0 to 40 us). */
		struct timespec from, now;

		clock_gettime(CLOCK_MONOTONIC, &from);
		do
			clock_gettime(CLOCK_MONOTONIC, &now);
		while ((now.tv_sec - from.tv_sec) * 1000000000l + now.tv_nsec - from.tv_nsec <
		       (long)(run % 41) * 1000);
		assert_int_equal(guest_mem_uffd_disarm(&dst, uffd), 0);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 10;
		if (pthread_timedjoin_np(th, NULL, &until)) {
			struct uffdio_range r = { (uint64_t)(uintptr_t)t.ram, 64 * PAGE };

			stuck = run + 1;
			/* Let it go, so the process can end and say which run. */
			ioctl(uffd, UFFDIO_WAKE, &r);
			pthread_join(th, NULL);
		}
		assert_int_equal(t.sum, 0);
		guest_mem_destroy(&dst);
	}
	close(uffd);
	if (stuck)
		fail_msg("run %u: a fault racing the disarm slept on, never woken", stuck);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_disarm_wakes_racing_fault),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
