/*
 * Inside virtio-balloon (virtio/balloon.h): its state and what its files
 * share. balloon.c has the device (config, lifecycle, the queues' common
 * loop), pages.c what the guest hands over (inflate, deflate, reporting,
 * hinting), host.c the statistics and the host's requests, state.c the
 * snapshot record.
 */
#ifndef HEARTH_VIRTIO_BALLOON_PRIV_H
#define HEARTH_VIRTIO_BALLOON_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "core/eventloop.h"
#include "core/ratelimit.h"
#include "virtio/balloon.h"
#include "virtio/queue.h"

#define BALLOON_QUEUE_SIZE 256     /* Firecracker's FIRECRACKER_MAX_QUEUE_SIZE */
#define BALLOON_CONFIG_SIZE 16u    /* num_pages, actual, free_page_hint_cmd_id, poison_val */

/*
 * What the guest can make one kick cost the I/O thread. An inflate or
 * deflate buffer holds at most BALLOON_BUF_PFNS page numbers (Linux's
 * VIRTIO_BALLOON_ARRAY_PFNS_MAX; Firecracker's MAX_PAGES_IN_DESC): a
 * larger one is acknowledged unread, as Firecracker does. A kick takes
 * at most BALLOON_KICK_CHAINS buffers and BALLOON_KICK_PAGES pages' worth
 * of work (page numbers read, 4 KiB pages of ranges given back), then
 * asks for another round (kick_again) with buffers left. A reporting or
 * hinting chain gives back at most BALLOON_CHAIN_BYTES (Linux's are 64 MiB
 * and 4 MiB); the rest of a larger one is left to the guest, counted.
 */
#define BALLOON_BUF_PFNS 256u
#define BALLOON_KICK_CHAINS 256u
#define BALLOON_KICK_PAGES (64u * 1024u)
#define BALLOON_CHAIN_BYTES (256ull << 20)
/*
 * A statistics buffer is (le16 tag, le64 value) entries; more than
 * BALLOON_STATS_MAX of them (Firecracker's MAX_STATS_TAGS) is not read,
 * only held, so that the guest gets it back when asked for new ones.
 */
#define BALLOON_STAT_SIZE 10u
#define BALLOON_STATS_MAX 256u

/* What each queue index is, once the features are negotiated (balloon_layout). */
enum balloon_role {
	BALLOON_Q_NONE,
	BALLOON_Q_INFLATE,
	BALLOON_Q_DEFLATE,
	BALLOON_Q_STATS,
	BALLOON_Q_HINT,
	BALLOON_Q_REPORT,
};

/* What a chain's handler did with b->chain (balloon_drain). */
enum balloon_chain {
	BALLOON_CHAIN_DONE,   /* return it to the driver, 0 bytes written */
	BALLOON_CHAIN_HELD,   /* kept (the statistics buffer) */
};

/* The counters (balloon.h names them), in their order there; under dev.lock. */
enum balloon_counter {
	BC_INFLATE_COUNT,
	BC_DEFLATE_COUNT,
	BC_STATS_UPDATES,
	BC_STATS_FAILS,
	BC_EVENT_FAILS,
	BC_REPORT_COUNT,
	BC_REPORT_FREED,
	BC_REPORT_FAILS,
	BC_HINT_COUNT,
	BC_HINT_FREED,
	BC_HINT_FAILS,
	BC_INFLATE_PAGES,
	BC_DEFLATE_PAGES,
	BC_PFN_INVALID,
	BC_PFN_REPEATED,
	BC_BUFFERS_SKIPPED,
	BC_DISCARD_BYTES,
	BC_DISCARD_FAILS,
	BC_DISCARD_KEPT,
	BC_STATS_REQUESTS,
	BC_COUNT
};

struct balloon {
	struct virtio_dev dev;
	uint64_t offered;             /* device feature bits, fixed at creation */
	uint16_t interval_s;          /* statistics; 0: no statistics queue, for good */
	/* The config space (5.5.4), host-endian. */
	uint32_t num_pages, actual, cmd_id, poison;
	uint8_t role[VIRTIO_MAX_QUEUES];
	/*
	 * One bit per 4 KiB page of RAM, the regions one after the other,
	 * then of the hotplug region when there is one (from bit ram_pages):
	 * set while the page is in the balloon, so the count stays exact
	 * whatever the guest repeats.
	 */
	uint64_t *map;
	uint64_t map_pages, ram_pages, inflated;
	/* Statistics: the latest values, and the buffer we hold until we want new ones. */
	uint32_t stats_present;
	uint64_t stats_val[BALLOON_STAT_COUNT];
	bool stats_held;
	/* A restore applied its record: its activation leaves the queues to restored. */
	bool restoring;
	uint16_t stats_head;
	struct eventloop *loop;       /* the timer's; NULL without one */
	int timer_fd;
	/* Free page hinting: what the host asked last, what the guest said. */
	uint32_t host_cmd, last_cmd_id, guest_cmd;
	bool guest_cmd_present, ack_on_stop;
	bool hint_stop_seen;          /* in this round of the hinting queue */
	uint64_t c[BC_COUNT];
	/* Large (one iovec per segment), so kept here rather than on the stack. */
	struct virtq_chain chain;
	struct virtq_chain held;      /* only its head: returning the statistics buffer */
	uint32_t pfns[BALLOON_BUF_PFNS];
};

extern struct ratelimit balloon_rl;

/* balloon.c */
/* The device's state, or NULL when dev is some other device. */
struct balloon *balloon_from_dev(struct virtio_dev *dev);
/* Queue roles for negotiated features: inflate, deflate, then those present, in order. */
void balloon_layout(uint64_t features, unsigned int num_queues, uint8_t *role);
/* The index of the queue with role, or -1. */
int balloon_queue(const struct balloon *b, enum balloon_role role);
/* Sets free_page_hint_cmd_id (and the host's command) and tells the driver. */
void balloon_set_cmd(struct balloon *b, uint32_t cmd);
/* Returns a chain the device took earlier, by its head, with nothing written. */
int balloon_push_head(struct balloon *b, unsigned int q, uint16_t head);

/* pages.c: one chain each, b->chain; *cost grows by the pages' worth of work. */
enum balloon_chain balloon_inflate_chain(struct balloon *b, uint64_t *cost);
enum balloon_chain balloon_deflate_chain(struct balloon *b, uint64_t *cost);
enum balloon_chain balloon_report_chain(struct balloon *b, uint64_t *cost);
enum balloon_chain balloon_hint_chain(struct balloon *b, uint64_t *cost);
/*
 * Page pfn's bit in the map, or -1 when the 4 KiB page is neither all RAM
 * nor in the hotplug region (in a plugged block, unless any_block).
 */
int64_t balloon_page_bit(const struct balloon *b, uint64_t pfn, bool any_block);

/* host.c */
enum balloon_chain balloon_stats_chain(struct balloon *b, uint64_t *cost);
int balloon_timer_init(struct balloon *b, const struct virtio_env *env);
void balloon_timer_release(struct balloon *b);
/* on: armed every interval_s when there is a statistics queue; else disarmed. */
void balloon_timer_arm(struct balloon *b, bool on);
/* Hands back the held statistics buffer; dev.lock held. */
void balloon_stats_request(struct balloon *b);

/* state.c */
int balloon_save(struct virtio_dev *dev, struct bytes_out *o);
int balloon_restore(struct virtio_dev *dev, const struct virtq *vq, const void *in, size_t len,
		    bool apply);

#endif
