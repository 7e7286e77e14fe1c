/*
 * The live migration stream (src/migrate): its framing against cut,
 * oversized and hostile records, the destination's image refusing records
 * out of order or outside RAM, and a round trip through a socket: a first
 * pass over all of RAM, then a pass over what the dirty log says changed
 * (pages rewritten, pages zeroed), then the state and END, after which the
 * destination's image holds exactly the source's RAM.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mem/guest_mem.h"
#include "migrate/recv.h"
#include "migrate/send.h"
#include "migrate/image.h"
#include "migrate/wire.h"
#include "util/err.h"
#include "util/file.h"

#define RAM (8ull << 20)

static void rec(uint8_t *b, uint32_t type, uint32_t reserved, uint64_t len)
{
	mig_rec_put(b, type, len);
	b[4] = (uint8_t)reserved;
}

static int check(uint32_t type, uint32_t reserved, uint64_t len, struct err *err)
{
	uint8_t b[MIG_REC_SIZE];
	struct mig_rec r;

	rec(b, type, reserved, len);
	err->msg[0] = '\0';
	return mig_rec_check(b, &r, err);
}

static void test_header(void **state)
{
	uint8_t h[MIG_HEADER_SIZE];
	struct err err = ERR_INIT;

	mig_header_put(h);
	assert_int_equal(mig_header_check(h, &err), 0);
	h[12] = 1;
	assert_int_equal(mig_header_check(h, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "reserved"));
	h[12] = 0;
	h[8] = 2;
	assert_int_equal(mig_header_check(h, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "version 2"));
	memcpy(h, "HEARTHSN", 8);
	assert_int_equal(mig_header_check(h, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "not a Hearth migration stream"));
}

/* Each type's length is bounded before a byte of it is read. */
static void test_record_bounds(void **state)
{
	struct err err = ERR_INIT;

	assert_int_equal(check(MIG_PAGES, 0, 8 + 4096, &err), 0);
	assert_int_equal(check(MIG_PAGES, 0, 8 + 256 * 4096ull, &err), 0);
	assert_int_equal(check(MIG_PAGES, 0, 8 + 257 * 4096ull, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "record PAGES of"));
	assert_int_equal(check(MIG_PAGES, 0, 8 + 4095, &err), -EPROTO);
	assert_int_equal(check(MIG_PAGES, 0, 8, &err), -EPROTO);
	assert_int_equal(check(MIG_ZERO, 0, 16, &err), 0);
	assert_int_equal(check(MIG_ZERO, 0, 24, &err), -EPROTO);
	assert_int_equal(check(MIG_STATE, 0, 64ull << 20, &err), 0);
	assert_int_equal(check(MIG_STATE, 0, (64ull << 20) + 1, &err), -EPROTO);
	assert_int_equal(check(MIG_STATE, 0, 0, &err), -EPROTO);
	assert_int_equal(check(MIG_STATE, 0, UINT64_MAX, &err), -EPROTO);
	assert_int_equal(check(MIG_LAYOUT, 0, 1u << 20, &err), 0);
	assert_int_equal(check(MIG_LAYOUT, 0, (1u << 20) + 1, &err), -EPROTO);
	assert_int_equal(check(MIG_END, 0, 0, &err), 0);
	assert_int_equal(check(MIG_END, 0, 1, &err), -EPROTO);
	assert_int_equal(check(MIG_FAIL, 0, 2000, &err), -EPROTO);
	assert_int_equal(check(MIG_END, 1, 0, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "reserved"));
	assert_int_equal(check(99, 0, 0, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "unknown type 99"));
}

struct src {
	int fd;
	struct guest_mem *gm;
	int ret;
	struct err err;
	struct mig_progress p;
};

/* The source: begin, a full pass, the writes below, a dirty pass, STATE, END. */
static void *source(void *arg)
{
	struct src *s = arg;
	uint64_t *maps[GUEST_MEM_DIRTY_MAPS] = { NULL };
	uint8_t page[4096];
	uint64_t n = 0;
	int ret;

	ret = mig_send_begin(s->fd, s->gm, 1, &s->p, &s->err);
	if (!ret)
		ret = mig_collect(s->gm, -1, maps, &n);     /* the first pass reads everything */
	if (!ret)
		ret = mig_send_pass(s->fd, s->gm, NULL, &s->p, &s->err);
	/* Behind the first pass: page 3 rewritten, page 5 zeroed, page 7 written (was zero). */
	memset(page, 0x33, sizeof(page));
	guest_mem_write(s->gm, 3 * 4096, page, sizeof(page));
	memset(page, 0, sizeof(page));
	guest_mem_write(s->gm, 5 * 4096, page, sizeof(page));
	memset(page, 0x77, sizeof(page));
	guest_mem_write(s->gm, 7 * 4096, page, sizeof(page));
	if (!ret)
		ret = mig_collect(s->gm, -1, maps, &n);
	if (!ret && n != 3)
		ret = -EINVAL;
	if (!ret)
		ret = mig_send_pass(s->fd, s->gm, maps, &s->p, &s->err);
	if (!ret)
		ret = mig_wire_send_buf(s->fd, MIG_STATE, "state", 5);
	if (!ret)
		ret = mig_wire_send_buf(s->fd, MIG_END, NULL, 0);
	mig_maps_free(maps);
	s->ret = ret;
	return NULL;
}

static void test_round_trip(void **state)
{
	struct guest_mem gm;
	struct mig_image im;
	struct mig_progress p = { 0 };
	struct err err = ERR_INIT;
	struct src s = { .err = ERR_INIT };
	uint8_t page[4096];
	pthread_t t;
	int sv[2];

	assert_int_equal(guest_mem_init(&gm, RAM), 0);
	assert_int_equal(guest_mem_dirty_enable(&gm), 0);
	/* A pattern in a few pages; the rest stays zero and is never sent. */
	for (unsigned int i = 0; i < 10; i++) {
		memset(page, 0x10 + i, sizeof(page));
		if (i != 7)
			guest_mem_write(&gm, i * 4096ull, page, sizeof(page));
	}
	memset(page, 0xee, sizeof(page));
	guest_mem_write(&gm, RAM - 4096, page, sizeof(page));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	s.fd = sv[0];
	s.gm = &gm;
	assert_int_equal(pthread_create(&t, NULL, source, &s), 0);
	mig_image_init(&im);
	assert_int_equal(mig_recv_stream(sv[1], &im, &p, &err), 0);
	pthread_join(t, NULL);
	assert_int_equal(s.ret, 0);
	assert_true(im.ended && im.have_state);
	/* 10 pages, then 3 again (one as ZERO): none of the 2038 zero ones went. */
	assert_int_equal(im.pages, 12);
	assert_int_equal(im.zero_pages, 1);
	/* Every byte counted on both sides (the test's STATE and END records are its own). */
	assert_int_equal(p.bytes, s.p.bytes + 2 * MIG_REC_SIZE + 5);
	for (uint64_t gpa = 0; gpa < RAM; gpa += 4096) {
		uint8_t got[4096];

		assert_int_equal(file_pread_full(im.fd, got, sizeof(got),
						 im.l.r[0].offset + gpa), (ssize_t)sizeof(got));
		assert_memory_equal(got, guest_mem_ptr(&gm, gpa, 4096), sizeof(got));
	}
	close(sv[0]);
	close(sv[1]);
	mig_image_release(&im);
	guest_mem_destroy(&gm);
}

/* A dirty pass alone, over a map the test made: begin, the pass, STATE, END. */
struct sparse {
	struct src s;
	uint64_t *map;
};

static void *sparse_source(void *arg)
{
	struct sparse *sp = arg;
	struct src *s = &sp->s;
	uint64_t *maps[GUEST_MEM_DIRTY_MAPS] = { sp->map };
	int ret = mig_send_begin(s->fd, s->gm, 1, &s->p, &s->err);

	if (!ret)
		ret = mig_send_pass(s->fd, s->gm, maps, &s->p, &s->err);
	if (!ret)
		ret = mig_wire_send_buf(s->fd, MIG_STATE, "state", 5);
	if (!ret)
		ret = mig_wire_send_buf(s->fd, MIG_END, NULL, 0);
	s->ret = ret;
	return NULL;
}

/*
 * A last pass skips the map's empty words whole: runs that cross a word's
 * edge (written and zero), a full word followed by an empty one, lone pages, the last page, and
 * long stretches of nothing between. Exactly the marked pages arrive,
 * each as it is in RAM; every other page stays zero.
 */
static void test_sparse_pass(void **state)
{
	static const uint64_t marked[][2] = {   /* [first, last] pages, inclusive */
		{ 62, 65 }, { 127, 128 }, { 192, 255 }, { 320, 320 }, { 1000, 1001 },
		{ RAM / 4096 - 1, RAM / 4096 - 1 },
	};
	uint64_t npages = RAM / 4096, want = 0;
	struct sparse sp = { .s = { .err = ERR_INIT } };
	struct guest_mem gm;
	struct mig_image im;
	struct mig_progress p = { 0 };
	struct err err = ERR_INIT;
	uint8_t page[4096];
	pthread_t t;
	int sv[2];

	assert_int_equal(guest_mem_init(&gm, RAM), 0);
	assert_int_equal(guest_mem_dirty_enable(&gm), 0);
	sp.map = calloc(guest_mem_dirty_words(&gm, 0), sizeof(uint64_t));
	assert_non_null(sp.map);
	/* Every page written but 127 and 128 (a zero run across a word's edge) and 1001. */
	for (uint64_t pg = 0; pg < npages; pg++) {
		memset(page, (int)(pg % 251) + 1, sizeof(page));
		if (pg != 127 && pg != 128 && pg != 1001)
			guest_mem_write(&gm, pg * 4096, page, sizeof(page));
	}
	for (unsigned int i = 0; i < sizeof(marked) / sizeof(marked[0]); i++)
		for (uint64_t pg = marked[i][0]; pg <= marked[i][1]; pg++) {
			sp.map[pg / 64] |= 1ull << (pg % 64);
			want++;
		}
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	sp.s.fd = sv[0];
	sp.s.gm = &gm;
	assert_int_equal(pthread_create(&t, NULL, sparse_source, &sp), 0);
	mig_image_init(&im);
	assert_int_equal(mig_recv_stream(sv[1], &im, &p, &err), 0);
	pthread_join(t, NULL);
	assert_int_equal(sp.s.ret, 0);
	assert_int_equal(sp.s.p.pages, want);
	assert_int_equal(im.zero_pages, 3);
	for (uint64_t pg = 0; pg < npages; pg++) {
		uint8_t got[4096], zero[4096] = { 0 };
		bool in = sp.map[pg / 64] >> (pg % 64) & 1;

		assert_int_equal(file_pread_full(im.fd, got, sizeof(got),
						 im.l.r[0].offset + pg * 4096), (ssize_t)sizeof(got));
		assert_memory_equal(got, in ? guest_mem_ptr(&gm, pg * 4096, 4096) : zero,
				    sizeof(got));
	}
	close(sv[0]);
	close(sv[1]);
	free(sp.map);
	mig_image_release(&im);
	guest_mem_destroy(&gm);
}

/*
 * When pre-copy stops: an idle guest's set, shrinking pass by pass, goes
 * on until it stops halving or is tiny; a busy guest's, never shrinking,
 * stops once it fits the budget, as the budget alone decided before.
 */
static void test_precopy_done(void **state)
{
	/* Over the budget: never, however small or steady. */
	assert_false(mig_precopy_done(21, 20, 10, 10));
	assert_false(mig_precopy_done(500, 20, 100000, 100000));
	/* After the first pass, within the budget: another pass, unless tiny. */
	assert_false(mig_precopy_done(8, 20, 2000, UINT64_MAX));
	assert_true(mig_precopy_done(0, 20, MIG_CONVERGED_PAGES, UINT64_MAX));
	assert_false(mig_precopy_done(0, 20, MIG_CONVERGED_PAGES + 1, UINT64_MAX));
	/* An idle guest: 2000, then 300 (halved: on), then 200 (not: done). */
	assert_false(mig_precopy_done(1, 20, 300, 2000));
	assert_true(mig_precopy_done(1, 20, 200, 300));
	/* Exactly half is halved; one more is not. */
	assert_false(mig_precopy_done(1, 20, 1000, 2000));
	assert_true(mig_precopy_done(1, 20, 1001, 2000));
	/* A busy guest's steady set, once it fits: done, as before. */
	assert_true(mig_precopy_done(20, 20, 4000, 4100));
	assert_true(mig_precopy_done(20, 20, 5000, 4000));
}

/* A stream of bytes into an image, through a pipe: 0 or the refusal. */
static int feed(const uint8_t *buf, size_t len, struct mig_image *im, struct err *err)
{
	struct mig_progress p = { 0 };
	int fd = memfd_create("stream", MFD_CLOEXEC), ret;

	assert_true(fd >= 0);
	assert_int_equal(file_pwrite_full(fd, buf, len, 0), 0);
	lseek(fd, 0, SEEK_SET);
	mig_image_init(im);
	ret = mig_recv_stream(fd, im, &p, err);
	close(fd);
	return ret;
}

/* Records out of order, pages outside RAM, a cut stream: each refused, named. */
static void test_hostile(void **state)
{
	uint8_t buf[64 + 4096 * 2], *b = buf;
	struct mig_image im;
	struct err err = ERR_INIT;

	mig_header_put(b);
	b += MIG_HEADER_SIZE;
	mig_rec_put(b, MIG_PAGES, 8 + 4096);
	memset(b + MIG_REC_SIZE, 0, 8 + 4096);
	b += MIG_REC_SIZE + 8 + 4096;
	assert_int_equal(feed(buf, (size_t)(b - buf), &im, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "record PAGES: before the layout"));
	mig_image_release(&im);

	b = buf + MIG_HEADER_SIZE;
	mig_rec_put(b, MIG_END, 0);
	b += MIG_REC_SIZE;
	assert_int_equal(feed(buf, (size_t)(b - buf), &im, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "record END: before the state"));
	mig_image_release(&im);

	/* Cut in the middle of a record's payload. */
	b = buf + MIG_HEADER_SIZE;
	mig_rec_put(b, MIG_STATE, 100);
	b += MIG_REC_SIZE + 10;
	assert_int_equal(feed(buf, (size_t)(b - buf), &im, &err), -EPIPE);
	assert_non_null(strstr(err.msg, "record STATE cut short"));
	mig_image_release(&im);

	/* A layout that is no ELF core. */
	b = buf + MIG_HEADER_SIZE;
	mig_rec_put(b, MIG_LAYOUT, 8 + 64);
	memset(b + MIG_REC_SIZE, 0, 8 + 64);
	b += MIG_REC_SIZE + 8 + 64;
	assert_int_equal(feed(buf, (size_t)(b - buf), &im, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "record LAYOUT: "));
	mig_image_release(&im);
}

/* A real layout (8 MiB of RAM), then a page past its end and one straddling it. */
static void test_outside_ram(void **state)
{
	struct guest_mem gm;
	struct mig_image im;
	struct mig_progress p = { 0 };
	struct err err = ERR_INIT;
	uint8_t page[8 + 4096] = { 0 };
	struct mig_rec r = { MIG_PAGES, sizeof(page) };
	int sv[2];

	assert_int_equal(guest_mem_init(&gm, RAM), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(mig_send_begin(sv[0], &gm, 1, &p, &err), 0);
	assert_int_equal(mig_wire_send_buf(sv[0], MIG_END, NULL, 0), 0);
	mig_image_init(&im);
	assert_int_equal(mig_recv_stream(sv[1], &im, &p, &err), -EPROTO);
	assert_true(im.have_layout);
	for (unsigned int i = 0; i < 8; i++)
		page[i] = (uint8_t)(RAM >> (8 * i));
	assert_int_equal(mig_image_take(&im, &r, page, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "not inside the layout's RAM"));
	for (unsigned int i = 0; i < 8; i++)
		page[i] = (uint8_t)((RAM - 2048) >> (8 * i));
	assert_int_equal(mig_image_take(&im, &r, page, &err), -EPROTO);
	r = (struct mig_rec){ MIG_ZERO, 16 };
	memset(page, 0, 16);
	page[8] = 0xff;
	page[13] = 0x10;     /* a count far past RAM */
	assert_int_equal(mig_image_take(&im, &r, page, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "record ZERO"));
	mig_image_release(&im);
	/* A destination that takes less RAM than the layout has refuses it before any page. */
	assert_int_equal(mig_send_begin(sv[0], &gm, 1, &p, &err), 0);
	mig_image_init(&im);
	im.ram_limit = RAM / 2;
	assert_int_equal(mig_recv_stream(sv[1], &im, &p, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "8 MiB of RAM, more than this destination takes (4 MiB)"));
	assert_false(im.have_layout);
	close(sv[0]);
	close(sv[1]);
	mig_image_release(&im);
	guest_mem_destroy(&gm);
}

/* PRELUDE's taker: the "VM" it builds is the guest_mem in ctx, its state's bytes checked. */
static int fake_prelude(void *ctx, int fd, struct guest_mem **gm, struct err *err)
{
	char got[8] = { 0 };

	assert_int_equal(file_pread_full(fd, got, 7, 0), 7);
	assert_string_equal(got, "prelude");
	*gm = ctx;
	return 0;
}

struct src2 {
	int fd;
	struct guest_mem *gm;
	bool prelude_late;      /* PRELUDE after the first pass's pages */
	int ret;
	struct err err;
	struct mig_progress p;
};

static void *source_prelude(void *arg)
{
	struct src2 *s = arg;
	int ret = mig_send_begin(s->fd, s->gm, 1, &s->p, &s->err);

	if (!ret && !s->prelude_late)
		ret = mig_wire_send_buf(s->fd, MIG_PRELUDE, "prelude", 7);
	if (!ret)
		ret = mig_send_pass(s->fd, s->gm, NULL, &s->p, &s->err);
	if (!ret && s->prelude_late)
		ret = mig_wire_send_buf(s->fd, MIG_PRELUDE, "prelude", 7);
	if (!ret)
		ret = mig_wire_send_buf(s->fd, MIG_STATE, "state", 5);
	if (!ret)
		ret = mig_wire_send_buf(s->fd, MIG_END, NULL, 0);
	s->ret = ret;
	return NULL;
}

/*
 * With PRELUDE the destination builds the VM first and every page lands in
 * its RAM, not in the image; a VM whose RAM is not the layout's, or a
 * prelude after pages, is refused.
 */
static void test_prelude(void **state)
{
	struct guest_mem src, dst, big;
	struct mig_image im;
	struct mig_progress p = { 0 };
	struct err err = ERR_INIT;
	struct src2 s = { .err = ERR_INIT };
	uint8_t page[4096], got[4096];
	pthread_t t;
	int sv[2];

	assert_int_equal(guest_mem_init(&src, RAM), 0);
	assert_int_equal(guest_mem_init(&dst, RAM), 0);
	assert_int_equal(guest_mem_init(&big, 2 * RAM), 0);
	for (unsigned int i = 0; i < 6; i++) {
		memset(page, 0x40 + i, sizeof(page));
		guest_mem_write(&src, i * 8192ull, page, sizeof(page));
	}
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	s.fd = sv[0];
	s.gm = &src;
	assert_int_equal(pthread_create(&t, NULL, source_prelude, &s), 0);
	mig_image_init(&im);
	im.prelude = fake_prelude;
	im.prelude_ctx = &dst;
	assert_int_equal(mig_recv_stream(sv[1], &im, &p, &err), 0);
	pthread_join(t, NULL);
	assert_int_equal(s.ret, 0);
	assert_true(im.have_prelude && im.gm == &dst && im.ended);
	assert_int_equal(im.pages, 6);
	assert_memory_equal(guest_mem_ptr(&dst, 0, RAM), guest_mem_ptr(&src, 0, RAM), RAM);
	/* The image took none of them. */
	assert_int_equal(file_pread_full(im.fd, got, sizeof(got), im.l.r[0].offset), 4096);
	for (unsigned int i = 0; i < sizeof(got); i++)
		assert_int_equal(got[i], 0);
	mig_image_release(&im);

	/* A VM of another size. */
	s.ret = -1;
	assert_int_equal(pthread_create(&t, NULL, source_prelude, &s), 0);
	mig_image_init(&im);
	im.prelude = fake_prelude;
	im.prelude_ctx = &big;
	assert_int_equal(mig_recv_stream(sv[1], &im, &p, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "does not have the layout's RAM"));
	mig_image_release(&im);
	shutdown(sv[1], SHUT_RDWR);
	pthread_join(t, NULL);
	close(sv[0]);
	close(sv[1]);

	/* A prelude after pages. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	s.fd = sv[0];
	s.prelude_late = true;
	assert_int_equal(pthread_create(&t, NULL, source_prelude, &s), 0);
	mig_image_init(&im);
	im.prelude = fake_prelude;
	im.prelude_ctx = &dst;
	assert_int_equal(mig_recv_stream(sv[1], &im, &p, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "record PRELUDE: after pages"));
	mig_image_release(&im);
	shutdown(sv[1], SHUT_RDWR);
	pthread_join(t, NULL);
	close(sv[0]);
	close(sv[1]);
	guest_mem_destroy(&src);
	guest_mem_destroy(&dst);
	guest_mem_destroy(&big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_record_bounds),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_sparse_pass),
		cmocka_unit_test(test_precopy_done),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_outside_ram),
		cmocka_unit_test(test_prelude),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
