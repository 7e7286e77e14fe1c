/*
 * virtio-balloon through its virtio-mmio registers, with real rings in
 * guest RAM (balloon_fixture.h; the test plays a possibly hostile driver):
 * inflate, deflate, statistics, reporting, hinting, the target, and its
 * snapshot record, crafted ones included.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "balloon_fixture.h"

static void test_identity(void **state)
{
	struct fx *f = *state;

	start(f, &(struct balloon_config){ .amount_mib = 3, .stats_polling_interval_s = 1,
					   .free_page_reporting = true });
	assert_int_equal(rd(f, 0x008), VIRTIO_ID_BALLOON);
	wr(f, DEV_FEAT_SEL, 0);
	assert_int_equal(rd(f, DEV_FEAT) & 0xff, F(VIRTIO_BALLOON_F_STATS_VQ) |
			 F(VIRTIO_BALLOON_F_REPORTING));
	/* inflate, deflate, stats, reporting: four queues and no fifth. */
	wr(f, QSEL, 3);
	assert_int_equal(rd(f, QNUM_MAX), QSIZE);
	wr(f, QSEL, 4);
	assert_int_equal(rd(f, QNUM_MAX), 0);
	/* num_pages is the target in 4 KiB pages; the driver writes actual only. */
	assert_int_equal(rd(f, CONFIG), 3 * 256);
	wr(f, CONFIG, 7);
	wr(f, CONFIG + 4, 512);
	wr(f, CONFIG + 8, 9);
	assert_int_equal(rd(f, CONFIG), 3 * 256);
	assert_int_equal(rd(f, CONFIG + 4), 512);
	assert_int_equal(rd(f, CONFIG + 8), VIRTIO_BALLOON_CMD_ID_STOP);
	assert_int_equal(virtio_balloon_actual_mib(f->dev), 2);
}

static void test_inflate_zeroes_and_counts(void **state)
{
	struct fx *f = *state;
	/* Out of order, two runs: 1-3 and 7, plus a page in the high region. */
	uint32_t pfns[] = { PFN(PAGES) + 3, PFN(PAGES) + 1, PFN(PAGES) + 7, PFN(PAGES) + 2,
			    PFN(HIGH_GPA) + 5 };

	start(f, &(struct balloon_config){ .amount_mib = 1 });
	bring_up(f, 0, 2);
	fill(f, PAGES, 0x9000, 0xaa);
	fill(f, HIGH_GPA, HIGH, 0xbb);
	pfn_buf(f, 0, 4, BUF, pfns, 5);
	kick(f, 0);
	assert_int_equal(used_idx(f, 0), 1);
	assert_int_equal(get32(f, RING(0) + 0x2000 + 4), 4);     /* id */
	assert_int_equal(get32(f, RING(0) + 0x2000 + 8), 0);     /* len */
	assert_true(all(f, PAGES, 0x1000, 0xaa));
	assert_true(all(f, PAGES + 0x1000, 0x3000, 0));
	assert_true(all(f, PAGES + 0x4000, 0x3000, 0xaa));
	assert_true(all(f, PAGES + 0x7000, 0x1000, 0));
	assert_true(all(f, PAGES + 0x8000, 0x1000, 0xaa));
	assert_true(all(f, HIGH_GPA + 0x5000, 0x1000, 0));
	assert_true(all(f, HIGH_GPA + 0x4000, 0x1000, 0xbb));
	assert_true(all(f, HIGH_GPA + 0x6000, 0x1000, 0xbb));
	assert_int_equal(counter(f, "inflated_pages"), 5);
	assert_int_equal(counter(f, "inflate_pages"), 5);
	assert_int_equal(counter(f, "discard_bytes"), 5 * 4096);
	/* Runs, not pages: 1-3, 7 and the high one. */
	assert_int_equal(race.calls, 3);
	assert_true(rd(f, INT_STATUS) & VIRTIO_MMIO_INT_VRING);
	assert_false(needs_reset(f));
}

static void test_inflate_repeats_counted_once(void **state)
{
	struct fx *f = *state;
	uint32_t a[] = { PFN(PAGES), PFN(PAGES), PFN(PAGES) + 1, PFN(PAGES), PFN(PAGES) + 1 };
	uint32_t b[] = { PFN(PAGES) + 1, PFN(PAGES) + 2 };

	start(f, &(struct balloon_config){ 0 });
	bring_up(f, 0, 2);
	pfn_buf(f, 0, 0, BUF, a, 5);
	pfn_buf(f, 0, 1, BUF + 0x100, b, 2);
	kick(f, 0);
	assert_int_equal(used_idx(f, 0), 2);
	assert_int_equal(counter(f, "inflated_pages"), 3);
	assert_int_equal(counter(f, "pfn_repeated"), 4);
	/* The same buffer again changes nothing. */
	offer(f, 0, 0);
	kick(f, 0);
	assert_int_equal(counter(f, "inflated_pages"), 3);
	assert_int_equal(counter(f, "inflate_count"), 3);
}

static void test_inflate_outside_ram(void **state)
{
	struct fx *f = *state;
	uint32_t pfns[] = { PFN(LOW), PFN(LOW) + 1, PFN(0xc0000000), PFN(HIGH_GPA) - 1,
			    PFN(HIGH_GPA + HIGH), 0xffffffffu, PFN(LOW) - 1 };

	start(f, &(struct balloon_config){ 0 });
	bring_up(f, 0, 2);
	fill(f, LOW - 0x2000, 0x2000, 0xcc);
	fill(f, HIGH_GPA, HIGH, 0xdd);
	pfn_buf(f, 0, 0, BUF, pfns, 7);
	kick(f, 0);
	assert_int_equal(used_idx(f, 0), 1);
	assert_int_equal(counter(f, "pfn_invalid"), 6);
	assert_int_equal(counter(f, "inflated_pages"), 1);
	/* Only the last page of RAM below the hole went; everything around stayed. */
	assert_true(all(f, LOW - 0x1000, 0x1000, 0));
	assert_true(all(f, LOW - 0x2000, 0x1000, 0xcc));
	assert_true(all(f, HIGH_GPA, HIGH, 0xdd));
	assert_int_equal(race.calls, 1);
	assert_false(needs_reset(f));
}

static void test_deflate(void **state)
{
	struct fx *f = *state;
	uint32_t in[] = { PFN(PAGES), PFN(PAGES) + 1, PFN(PAGES) + 2 };
	uint32_t out[] = { PFN(PAGES) + 1, PFN(PAGES) + 1, PFN(PAGES) + 9, PFN(LOW) + 4 };

	start(f, &(struct balloon_config){ .deflate_on_oom = true });
	bring_up(f, F(VIRTIO_BALLOON_F_DEFLATE_ON_OOM), 2);
	pfn_buf(f, 0, 0, BUF, in, 3);
	kick(f, 0);
	pfn_buf(f, 1, 0, BUF + 0x100, out, 4);
	kick(f, 1);
	assert_int_equal(used_idx(f, 1), 1);
	/* Only a page in the balloon leaves it, once; the count never wraps. */
	assert_int_equal(counter(f, "inflated_pages"), 2);
	assert_int_equal(counter(f, "deflate_pages"), 1);
	assert_int_equal(counter(f, "pfn_invalid"), 1);
	/* Back to the guest, the page reads as zeros and takes writes. */
	assert_true(all(f, PAGES + 0x1000, 0x1000, 0));
	fill(f, PAGES + 0x1000, 0x1000, 0x11);
	assert_true(all(f, PAGES + 0x1000, 0x1000, 0x11));
}

/* Buffers that are not arrays of page numbers are acknowledged unread. */
static void test_bogus_buffers(void **state)
{
	struct fx *f = *state;
	uint32_t pfn = PFN(PAGES);

	start(f, &(struct balloon_config){ 0 });
	bring_up(f, 0, 2);
	fill(f, PAGES, 0x1000, 0xaa);
	memcpy(hva(f, BUF, 4), &pfn, 4);
	put_desc(f, 0, 0, BUF, 6, 0, 0);                          /* not whole numbers */
	put_desc(f, 0, 1, BUF, 4, VIRTQ_DESC_F_WRITE, 0);         /* device-writable */
	put_desc(f, 0, 2, BUF, 1u << 22, 0, 0);                   /* 2^20 page numbers */
	put_desc(f, 0, 3, BUF, 257 * 4, 0, 0);                    /* one more than Linux sends */
	for (unsigned int i = 0; i < 4; i++)
		offer(f, 0, (uint16_t)i);
	kick(f, 0);
	assert_int_equal(used_idx(f, 0), 4);
	assert_int_equal(counter(f, "buffers_skipped"), 4);
	assert_int_equal(counter(f, "inflated_pages"), 0);
	assert_int_equal(race.calls, 0);
	assert_true(all(f, PAGES, 0x1000, 0xaa));
	assert_false(needs_reset(f));
}

/* What the loop's epoll has ready now, dispatched once: one round of the I/O thread. */
static int loop_round(struct fx *f, int timeout_ms)
{
	struct epoll_event evs[8];
	int n = epoll_wait(f->loop.epfd, evs, 8, timeout_ms);

	assert_true(n >= 0);
	eventloop_batch_begin(&f->loop);
	for (int i = 0; i < n; i++) {
		struct eventloop_handler *h = evs[i].data.ptr;

		h->cb(h->opaque, evs[i].events);
	}
	eventloop_batch_end(&f->loop);
	return n;
}

static void republish(struct fx *f)
{
	offer(f, 0, 0);
}

/*
 * A guest that publishes a buffer again each time the device gives pages
 * back: every round of the I/O loop stops at the budget and asks for
 * another (kick_again), and the one page it names is counted once.
 */
static void test_racing_guest_bounded(void **state)
{
	struct fx *f = *state;
	uint32_t pfn = PFN(PAGES);
	unsigned int rounds = 0, before;

	start(f, &(struct balloon_config){ 0 });
	bring_up(f, 0, 2);
	pfn_buf(f, 0, 0, BUF, &pfn, 1);
	race = (typeof(race)){ .f = f, .act = republish, .left = 2000 };
	kick(f, 0);
	assert_int_equal(loop_round(f, 0), 1);
	assert_int_equal(race.calls, KICK_CHAINS);
	assert_int_equal(used_idx(f, 0), KICK_CHAINS);
	for (;;) {
		before = race.calls;
		if (!loop_round(f, 0))
			break;
		assert_true(race.calls - before <= KICK_CHAINS);
		assert_true(++rounds < 100);
	}
	assert_int_equal(race.left, 0);
	assert_int_equal(used_idx(f, 0), 2001);
	assert_int_equal(counter(f, "inflated_pages"), 1);
	assert_int_equal(counter(f, "pfn_repeated"), 2000);
	assert_false(needs_reset(f));
}

/* The guest rewrites a buffer the device already read: what it read is what it acts on. */
static uint32_t swapped[2];

static void rewrite(struct fx *f)
{
	memcpy(hva(f, BUF, 8), swapped, 8);
}

static void test_racing_guest_rewrites(void **state)
{
	struct fx *f = *state;
	uint32_t pfns[] = { PFN(PAGES), PFN(PAGES) + 2 };

	start(f, &(struct balloon_config){ 0 });
	bring_up(f, 0, 2);
	fill(f, PAGES, 0x8000, 0xaa);
	swapped[0] = PFN(PAGES) + 4;
	swapped[1] = PFN(PAGES) + 6;
	pfn_buf(f, 0, 0, BUF, pfns, 2);
	race = (typeof(race)){ .f = f, .act = rewrite, .left = 1 };
	kick(f, 0);
	assert_true(all(f, PAGES, 0x1000, 0));
	assert_true(all(f, PAGES + 0x2000, 0x1000, 0));
	assert_true(all(f, PAGES + 0x4000, 0x1000, 0xaa));
	assert_true(all(f, PAGES + 0x6000, 0x1000, 0xaa));
	assert_int_equal(counter(f, "inflated_pages"), 2);
}

/* The guest moves its avail index far ahead while the device works: NEEDS_RESET, nothing worse. */
static void jump(struct fx *f)
{
	uint16_t idx = (uint16_t)(f->avail_idx[0] + 1000);

	memcpy(hva(f, RING(0) + 0x1000 + 2, 2), &idx, 2);
}

static void test_racing_guest_jumps(void **state)
{
	struct fx *f = *state;
	uint32_t pfn = PFN(PAGES);

	start(f, &(struct balloon_config){ 0 });
	bring_up(f, 0, 2);
	pfn_buf(f, 0, 0, BUF, &pfn, 1);
	race = (typeof(race)){ .f = f, .act = jump, .left = 1 };
	kick(f, 0);
	assert_int_equal(used_idx(f, 0), 1);
	assert_true(needs_reset(f));
	assert_int_equal(counter(f, "event_fails"), 1);
	assert_true(rd(f, INT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
}

static void put_stat(struct fx *f, uint64_t gpa, uint16_t tag, uint64_t val)
{
	memcpy(hva(f, gpa, 2), &tag, 2);
	memcpy(hva(f, gpa + 2, 8), &val, 8);
}

/*
 * Linux primes the statistics queue and kicks it before it sets
 * DRIVER_OK (virtio_balloon's init_vqs): that first buffer is read at
 * DRIVER_OK, not lost (seen in the lab: no statistics until the first
 * poll, and none at all when the device never asks again).
 */
static void test_stats_primed_before_driver_ok(void **state)
{
	struct fx *f = *state;
	struct balloon_stats s;
	struct err err;

	start(f, &(struct balloon_config){ .stats_polling_interval_s = 5 });
	bring_up_queues(f, F(VIRTIO_BALLOON_F_STATS_VQ), 3);
	put_stat(f, BUF, BALLOON_STAT_FREE_MEMORY, 1234);
	put_desc(f, 2, 0, BUF, 10, 0, 0);
	offer(f, 2, 0);
	kick(f, 2);
	wr(f, STATUS, S_UP | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(virtio_balloon_get_stats(f->dev, &s, &err), 0);
	assert_int_equal(s.present, F(BALLOON_STAT_FREE_MEMORY));
	assert_int_equal(s.val[BALLOON_STAT_FREE_MEMORY], 1234);
	/* Held, as any statistics buffer: the next poll gives it back. */
	assert_int_equal(used_idx(f, 2), 0);
	virtio_balloon_stats_poll(f->dev);
	assert_int_equal(used_idx(f, 2), 1);
}

static void test_stats(void **state)
{
	struct fx *f = *state;
	struct balloon_stats s;
	struct err err;

	start(f, &(struct balloon_config){ .amount_mib = 2, .stats_polling_interval_s = 5 });
	bring_up(f, F(VIRTIO_BALLOON_F_STATS_VQ), 3);
	put_stat(f, BUF, BALLOON_STAT_SWAP_IN, 5);
	put_stat(f, BUF + 10, BALLOON_STAT_COUNT, 1);       /* unknown: ignored */
	put_stat(f, BUF + 20, BALLOON_STAT_DIRECT_RECLAIM, 77);
	put_stat(f, BUF + 30, BALLOON_STAT_DISK_CACHES, 8); /* cut after 7 bytes: not read */
	put_desc(f, 2, 3, BUF, 37, 0, 0);
	offer(f, 2, 3);
	kick(f, 2);
	/* Held until we want new values. */
	assert_int_equal(used_idx(f, 2), 0);
	wr(f, CONFIG + 4, 256);
	assert_int_equal(virtio_balloon_get_stats(f->dev, &s, &err), 0);
	assert_int_equal(s.present, F(BALLOON_STAT_SWAP_IN) | F(BALLOON_STAT_DIRECT_RECLAIM));
	assert_int_equal(s.val[BALLOON_STAT_SWAP_IN], 5);
	assert_int_equal(s.val[BALLOON_STAT_DIRECT_RECLAIM], 77);
	assert_int_equal(s.target_pages, 512);
	assert_int_equal(s.target_mib, 2);
	assert_int_equal(s.actual_mib, 1);
	assert_string_equal(virtio_balloon_stat_name(BALLOON_STAT_DIRECT_RECLAIM),
			    "direct_reclaim");
	assert_int_equal(counter(f, "stats_update_fails"), 1);
	virtio_balloon_stats_poll(f->dev);
	assert_int_equal(used_idx(f, 2), 1);
	assert_int_equal(get32(f, RING(2) + 0x2000 + 4), 3);
	virtio_balloon_stats_poll(f->dev);
	assert_int_equal(used_idx(f, 2), 1);
	/* Newer values replace older ones; the others stay. */
	put_stat(f, BUF, BALLOON_STAT_SWAP_IN, 6);
	put_desc(f, 2, 4, BUF, 10, 0, 0);
	offer(f, 2, 4);
	/* A second buffer while we hold one: the first goes back. */
	put_desc(f, 2, 5, BUF + 0x100, 0, 0, 0);
	offer(f, 2, 5);
	kick(f, 2);
	assert_int_equal(used_idx(f, 2), 2);
	assert_int_equal(get32(f, RING(2) + 0x2000 + 12), 4);
	assert_int_equal(virtio_balloon_get_stats(f->dev, &s, &err), 0);
	assert_int_equal(s.val[BALLOON_STAT_SWAP_IN], 6);
	assert_int_equal(s.val[BALLOON_STAT_DIRECT_RECLAIM], 77);
	/* Too large to read: held all the same. */
	put_desc(f, 2, 6, BUF, 4096, 0, 0);
	offer(f, 2, 6);
	kick(f, 2);
	assert_int_equal(used_idx(f, 2), 3);
	/* The interval: the same is fine, another asks at once, 0 is refused. */
	assert_int_equal(virtio_balloon_set_stats_interval(f->dev, 5, &err), 0);
	assert_int_equal(virtio_balloon_set_stats_interval(f->dev, 0, &err), -EINVAL);
	assert_string_equal(err.msg, "Balloon: Statistics cannot be enabled/disabled after "
			    "activation.");
	assert_int_equal(virtio_balloon_set_stats_interval(f->dev, 9, &err), 0);
	assert_int_equal(used_idx(f, 2), 4);
	assert_int_equal(get32(f, RING(2) + 0x2000 + 4 + 8 * 3), 6);
	assert_int_equal(counter(f, "stats_requests"), 4);
	assert_false(needs_reset(f));
}

static void test_stats_disabled(void **state)
{
	struct fx *f = *state;
	struct balloon_stats s;
	struct err err;

	start(f, &(struct balloon_config){ 0 });
	assert_int_equal(virtio_balloon_get_stats(f->dev, &s, &err), -EINVAL);
	assert_string_equal(err.msg, "Balloon: Received stats query when stats are disabled.");
	assert_int_equal(virtio_balloon_set_stats_interval(f->dev, 1, &err), -EINVAL);
	assert_int_equal(virtio_balloon_set_stats_interval(f->dev, 0, &err), 0);
}

/* The interval's timer hands the buffer back on its own, on the I/O loop. */
static void test_stats_timer(void **state)
{
	struct fx *f = *state;

	start(f, &(struct balloon_config){ .stats_polling_interval_s = 1 });
	bring_up(f, F(VIRTIO_BALLOON_F_STATS_VQ), 3);
	put_desc(f, 2, 0, BUF, 10, 0, 0);
	offer(f, 2, 0);
	kick(f, 2);
	assert_int_equal(loop_round(f, 0), 1);
	assert_int_equal(used_idx(f, 2), 0);
	for (int i = 0; i < 3 && !used_idx(f, 2); i++)
		loop_round(f, 1500);
	assert_int_equal(used_idx(f, 2), 1);
}

static void test_reporting(void **state)
{
	struct fx *f = *state;

	start(f, &(struct balloon_config){ .stats_polling_interval_s = 1,
					   .free_page_hinting = true,
					   .free_page_reporting = true });
	/* A driver that takes only reporting: its queue is then 2 (5.5.2). */
	bring_up(f, F(VIRTIO_BALLOON_F_REPORTING), 3);
	fill(f, PAGES, 0x10000, 0xaa);
	put_desc(f, 2, 0, PAGES, 0x2000, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, 2, 1, PAGES + 0x4000, 0x1000, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	/* Unaligned: only the whole page inside goes. */
	put_desc(f, 2, 2, PAGES + 0x6800, 0x2000, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 2, 0);
	kick(f, 2);
	assert_int_equal(used_idx(f, 2), 1);
	assert_int_equal(get32(f, RING(2) + 0x2000 + 8), 0);
	assert_true(all(f, PAGES, 0x2000, 0));
	assert_true(all(f, PAGES + 0x2000, 0x2000, 0xaa));
	assert_true(all(f, PAGES + 0x4000, 0x1000, 0));
	assert_true(all(f, PAGES + 0x5000, 0x2000, 0xaa));
	assert_true(all(f, PAGES + 0x7000, 0x1000, 0));
	assert_true(all(f, PAGES + 0x8000, 0x8000, 0xaa));
	assert_int_equal(counter(f, "free_page_report_count"), 3);
	assert_int_equal(counter(f, "free_page_report_freed"), 0x4000);
	assert_int_equal(counter(f, "inflated_pages"), 0);
	/* Queue 3 exists for a driver taking more features; this one never set it up. */
	kick(f, 3);
	assert_false(needs_reset(f));
}

/* A hinting chain: the command id, then one free page. */
static void hint(struct fx *f, unsigned int i, uint32_t cmd, uint64_t page)
{
	memcpy(hva(f, BUF + 16 * i, 4), &cmd, 4);
	put_desc(f, 2, 2 * i, BUF + 16 * i, 4, VIRTQ_DESC_F_NEXT, 2 * i + 1);
	put_desc(f, 2, 2 * i + 1, page, 0x1000, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 2, (uint16_t)(2 * i));
	kick(f, 2);
}

static void test_hinting(void **state)
{
	struct fx *f = *state;
	struct balloon_hint_status h;
	struct err err;

	start(f, &(struct balloon_config){ .free_page_hinting = true });
	assert_int_equal(virtio_balloon_hint_start(f->dev, true, &err), -EINVAL);
	assert_string_equal(err.msg, "Balloon: Device not activated yet.");
	bring_up(f, F(VIRTIO_BALLOON_F_FREE_PAGE_HINT), 3);
	fill(f, PAGES, 0x8000, 0xaa);
	/* No run started: a hint is acknowledged, the page left. */
	hint(f, 0, 5, PAGES);
	assert_true(all(f, PAGES, 0x1000, 0xaa));
	assert_int_equal(virtio_balloon_hint_start(f->dev, true, &err), 0);
	assert_int_equal(rd(f, CONFIG + 8), 2);
	assert_true(rd(f, INT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	/* An old run's id: left. This run's: given back. */
	hint(f, 1, 5, PAGES + 0x1000);
	hint(f, 2, 2, PAGES + 0x2000);
	assert_true(all(f, PAGES + 0x1000, 0x1000, 0xaa));
	assert_true(all(f, PAGES + 0x2000, 0x1000, 0));
	assert_int_equal(virtio_balloon_hint_status(f->dev, &h, &err), 0);
	assert_int_equal(h.host_cmd, 2);
	assert_true(h.guest_cmd_present);
	assert_int_equal(h.guest_cmd, 2);
	/* STOP from the guest ends the run by itself (acknowledge_on_stop). */
	hint(f, 3, VIRTIO_BALLOON_CMD_ID_STOP, PAGES + 0x3000);
	assert_int_equal(rd(f, CONFIG + 8), VIRTIO_BALLOON_CMD_ID_DONE);
	hint(f, 4, 2, PAGES + 0x4000);
	assert_true(all(f, PAGES + 0x3000, 0x2000, 0xaa));
	assert_int_equal(used_idx(f, 2), 5);
	assert_int_equal(counter(f, "free_page_hint_freed"), 0x1000);
	/* The next run has the next id; stop sends DONE. */
	assert_int_equal(virtio_balloon_hint_start(f->dev, false, &err), 0);
	assert_int_equal(rd(f, CONFIG + 8), 3);
	assert_int_equal(virtio_balloon_hint_stop(f->dev, &err), 0);
	assert_int_equal(rd(f, CONFIG + 8), VIRTIO_BALLOON_CMD_ID_DONE);
}

static void test_hinting_disabled(void **state)
{
	struct fx *f = *state;
	struct balloon_hint_status h;
	struct err err;

	start(f, &(struct balloon_config){ 0 });
	assert_int_equal(virtio_balloon_hint_status(f->dev, &h, &err), -EINVAL);
	assert_string_equal(err.msg, "Balloon: Attempting to use hinting when not enabled");
	assert_int_equal(virtio_balloon_hint_stop(f->dev, &err), -EINVAL);
}

static void test_target(void **state)
{
	struct fx *f = *state;
	struct balloon_config c;
	struct err err;

	start(f, &(struct balloon_config){ .amount_mib = 4, .deflate_on_oom = true });
	assert_int_equal(virtio_balloon_set_target(f->dev, 8, &err), -EINVAL);
	assert_string_equal(err.msg, "Balloon: Device not activated yet.");
	bring_up(f, 0, 2);
	assert_int_equal(virtio_balloon_set_target(f->dev, 19, &err), -EINVAL);
	assert_string_equal(err.msg, "Balloon: Requested memory should be less than 19MiB");
	assert_int_equal(virtio_balloon_set_target(f->dev, 18, &err), 0);
	assert_int_equal(rd(f, CONFIG), 18 * 256);
	assert_true(rd(f, INT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	virtio_balloon_get_config(f->dev, &c);
	assert_int_equal(c.amount_mib, 18);
	assert_true(c.deflate_on_oom);
	assert_false(c.free_page_reporting);
	/* Out of 32 bits of pages. */
	mmio_detach_destroy(f->dev, f->t);
	f->dev = NULL;
	f->t = NULL;
	assert_int_equal(virtio_balloon_create(&(struct virtio_env){ .mem = &f->mem },
					       &(struct balloon_config){ .amount_mib = 1u << 24 },
					       &f->dev, &err), -EINVAL);
	assert_null(f->dev);
}

static void test_save_restore(void **state)
{
	struct fx *f = *state;
	const struct balloon_config cfg = { .amount_mib = 3, .stats_polling_interval_s = 2,
					    .free_page_reporting = true };
	struct component a = { &virtio_mmio_component, NULL }, rec;
	uint32_t pfns[] = { PFN(PAGES), PFN(PAGES) + 1, PFN(HIGH_GPA) };
	struct virtio_host host = { .vm_fd = -1, .bus = &f->bus };
	struct virtio_env env = { .mem = &f->mem };
	struct virtio_dev *dev2;
	struct virtio_mmio *t2;
	struct balloon_stats s;
	uint8_t *saved, *again, *bad;
	size_t len, len2;
	struct err err;

	start(f, &cfg);
	a.obj = f->t;
	bring_up(f, F(VIRTIO_BALLOON_F_STATS_VQ) | F(VIRTIO_BALLOON_F_REPORTING), 4);
	pfn_buf(f, 0, 0, BUF, pfns, 3);
	kick(f, 0);
	wr(f, CONFIG + 4, 3);
	put_stat(f, BUF + 0x100, BALLOON_STAT_FREE_MEMORY, 1234);
	put_desc(f, 2, 7, BUF + 0x100, 10, 0, 0);
	offer(f, 2, 7);
	kick(f, 2);
	saved = state_save(&a, &len);

	/* A second device from the same config takes it whole. */
	assert_int_equal(virtio_balloon_create(&env, &cfg, &dev2, &err), 0);
	assert_int_equal(mmio_attach(dev2, &host, BASE + 0x1000, 6, &t2), 0);
	assert_int_equal(state_restore(&(struct component){ &virtio_mmio_component, t2 }, saved,
				       len), 0);
	again = state_save(&(struct component){ &virtio_mmio_component, t2 }, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(again, saved, len);
	free(again);
	assert_int_equal(virtio_balloon_get_stats(dev2, &s, &err), 0);
	assert_int_equal(s.val[BALLOON_STAT_FREE_MEMORY], 1234);
	assert_int_equal(s.actual_pages, 3);
	/* Its held buffer goes back to the guest from the restored device. */
	virtio_balloon_stats_poll(dev2);
	assert_int_equal(used_idx(f, 2), 1);
	assert_int_equal(get32(f, RING(2) + 0x2000 + 4), 7);

	/* The device's record: cut, versioned, tagged or padded wrongly, refused, nothing changed. */
	rec = (struct component){ &virtio_rec_ops, dev2 };
	free(saved);
	saved = state_save(&rec, &len);
	state_check_refusals(&rec, saved, len);
	bad = malloc(len);
	/* The map's count must match its bits. */
	memcpy(bad, saved, len);
	/* The inflated count, before has_map and the map's 4608 pages (72 words). */
	bad[len - 72 * 8 - 1 - 8]++;
	assert_int_equal(state_check(&rec, bad, len), -EINVAL);
	free(bad);
	free(saved);
	mmio_detach_destroy(dev2, t2);

	/* Another config (no reporting) is refused. */
	assert_int_equal(virtio_balloon_create(&env, &(struct balloon_config){
		.stats_polling_interval_s = 2 }, &dev2, &err), 0);
	saved = state_save(&(struct component){ &virtio_rec_ops, f->dev }, &len);
	assert_int_equal(state_check(&(struct component){ &virtio_rec_ops, dev2 }, saved, len), -EINVAL);
	dev2->ops->destroy(dev2);
	free(saved);
}

/*
 * A record holding a statistics buffer, restored where the driver took no
 * statistics queue (queue 2 is reporting's): the check cannot tell, the
 * apply drops it, and the timer returns nothing into reporting's queue.
 */
static void test_restore_held_without_statsq(void **state)
{
	struct fx *f = *state;
	struct component rec = { &virtio_rec_ops, NULL };
	uint8_t *saved;
	size_t len;

	start(f, &(struct balloon_config){ .stats_polling_interval_s = 1,
					   .free_page_reporting = true });
	rec.obj = f->dev;
	bring_up(f, F(VIRTIO_BALLOON_F_STATS_VQ) | F(VIRTIO_BALLOON_F_REPORTING), 4);
	put_desc(f, 2, 5, BUF, 10, 0, 0);
	offer(f, 2, 5);
	kick(f, 2);
	assert_true(((struct balloon *)f->dev->priv)->stats_held);
	saved = state_save(&rec, &len);
	bring_up(f, F(VIRTIO_BALLOON_F_REPORTING), 3);
	assert_int_equal(state_restore(&rec, saved, len), 0);
	assert_false(((struct balloon *)f->dev->priv)->stats_held);
	virtio_balloon_stats_poll(f->dev);
	assert_int_equal(used_idx(f, 2), 0);
	assert_int_equal(counter(f, "stats_requests"), 0);
	assert_false(needs_reset(f));
	free(saved);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TL(fn) cmocka_unit_test_setup_teardown(fn, setup_loop, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_identity), T(test_inflate_zeroes_and_counts), T(test_inflate_repeats_counted_once),
		T(test_inflate_outside_ram), T(test_deflate), T(test_bogus_buffers),
		TL(test_racing_guest_bounded), T(test_racing_guest_rewrites), T(test_racing_guest_jumps),
		T(test_stats_primed_before_driver_ok), T(test_stats), T(test_stats_disabled),
		TL(test_stats_timer), T(test_reporting),
		T(test_hinting), T(test_hinting_disabled), T(test_target), T(test_save_restore),
		T(test_restore_held_without_statsq),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
