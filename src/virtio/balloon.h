/*
 * virtio-balloon (VIRTIO 1.2, 5.5) as Firecracker 1.16 has it: the host
 * sets a target (num_pages), the guest's driver inflates toward it by
 * handing over page frame numbers, whose pages the device gives back to
 * the host (mem/guest_mem.h's guest_mem_discard), and deflates by taking
 * them back (they read as zeros when touched again). Optionally a
 * statistics queue polled every stats_polling_interval_s, free page
 * hinting (runs the host starts and stops through free_page_hint_cmd_id)
 * and free page reporting.
 *
 * Queues, in the spec's order, each only when its feature was
 * negotiated: inflateq 0, deflateq 1, then statsq, free_page_vq and
 * reporting_vq, numbered on from 2. With a driver that takes every
 * feature offered (Linux does) that is Firecracker's numbering, which
 * counts the features offered; with one that declines some it is the
 * numbering Linux's virtio_find_vqs uses.
 *
 * The functions below run on the I/O thread (vmm/vm_balloon.c hands them
 * there) and take dev->lock themselves. Their err words are Firecracker's
 * BalloonError after "Balloon: ", and usage is set: each is a refusal of
 * the request, never a host failure.
 *
 * Counters (virtio_dev_counters): Firecracker's balloon metrics
 * "inflate_count", "deflate_count" (buffers), "stats_updates_count",
 * "stats_update_fails" (unknown tags), "event_fails" (broken rings),
 * "free_page_report_count" / "_freed" / "_fails", "free_page_hint_count" /
 * "_freed" / "_fails" (ranges and bytes); and Hearth's "inflated_pages"
 * (held now), "inflate_pages" and "deflate_pages" (pages that changed
 * hands), "pfn_invalid" (outside RAM, skipped), "pfn_repeated" (inflated
 * already), "buffers_skipped" (malformed or oversized inflate or deflate
 * buffers, acknowledged unread), "discard_bytes" and "discard_fails",
 * "discard_kept_bytes" (parts of 2 MiB pages a range only partly
 * covered, left in place), "stats_requests" (buffers handed back).
 */
#ifndef HEARTH_VIRTIO_BALLOON_H
#define HEARTH_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"
#include "virtio/device.h"

#ifndef VIRTIO_ID_BALLOON
#define VIRTIO_ID_BALLOON 5
#endif

/* Feature bits (5.5.3). */
#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT 3
#define VIRTIO_BALLOON_F_REPORTING 5

/*
 * free_page_hint_cmd_id (5.5.6.4): the host starts a hinting run with
 * any other value (Firecracker: the last one + 1, from 2) and ends it
 * with DONE, after which the guest may use the hinted pages again; the
 * driver answers a run's id and sends STOP when it has no more to hint.
 */
#define VIRTIO_BALLOON_CMD_ID_STOP 0u
#define VIRTIO_BALLOON_CMD_ID_DONE 1u

/* The driver's page frame numbers count 4 KiB pages, whatever the guest's page size. */
#define BALLOON_PFN_SHIFT 12
#define BALLOON_PAGES_PER_MIB 256u

/* Firecracker's BalloonDeviceConfig. */
struct balloon_config {
	uint32_t amount_mib;               /* the target */
	bool deflate_on_oom;
	uint16_t stats_polling_interval_s; /* 0: no statistics queue */
	bool free_page_hinting;
	bool free_page_reporting;
};

/* The statistics' tags (5.5.6.3, and Linux's since 6.12), in tag order. */
enum balloon_stat {
	BALLOON_STAT_SWAP_IN,
	BALLOON_STAT_SWAP_OUT,
	BALLOON_STAT_MAJOR_FAULTS,
	BALLOON_STAT_MINOR_FAULTS,
	BALLOON_STAT_FREE_MEMORY,
	BALLOON_STAT_TOTAL_MEMORY,
	BALLOON_STAT_AVAILABLE_MEMORY,
	BALLOON_STAT_DISK_CACHES,
	BALLOON_STAT_HUGETLB_ALLOCATIONS,
	BALLOON_STAT_HUGETLB_FAILURES,
	BALLOON_STAT_OOM_KILL,
	BALLOON_STAT_ALLOC_STALL,
	BALLOON_STAT_ASYNC_SCAN,
	BALLOON_STAT_DIRECT_SCAN,
	BALLOON_STAT_ASYNC_RECLAIM,
	BALLOON_STAT_DIRECT_RECLAIM,
	BALLOON_STAT_COUNT
};

/*
 * Firecracker's BalloonStats: the target and the driver's actual, then
 * the latest value of each statistic the guest gave (val[s] only means
 * something when bit s of present is set; Firecracker leaves the others
 * out of its JSON).
 */
struct balloon_stats {
	uint32_t target_pages, actual_pages;
	uint32_t target_mib, actual_mib;
	uint32_t present;
	uint64_t val[BALLOON_STAT_COUNT];
};

/* Firecracker's field name for s ("swap_in", "major_faults", ...); NULL out of range. */
const char *virtio_balloon_stat_name(unsigned int s);

/* Firecracker's HintingStatus: guest_cmd is null until the driver sent one. */
struct balloon_hint_status {
	uint32_t host_cmd;
	bool guest_cmd_present;
	uint32_t guest_cmd;
};

/*
 * The device, no guest seeing it yet. 0, or -EINVAL when amount_mib in
 * pages does not fit in 32 bits ("Requested memory should be less than
 * 16777215MiB"), or -errno (the statistics timer, memory).
 */
int virtio_balloon_create(const struct virtio_env *env, const struct balloon_config *cfg,
			  struct virtio_dev **out, struct err *err);
void virtio_balloon_destroy(struct virtio_dev *dev);

/*
 * A new target, told the driver by a config interrupt. -EINVAL when the
 * driver has not started the device ("Device not activated yet.") or
 * amount_mib is more than the guest's RAM.
 */
int virtio_balloon_set_target(struct virtio_dev *dev, uint32_t amount_mib, struct err *err);

/*
 * The device's config as Firecracker's GET /balloon derives it (the
 * target rounded down to MiB), and the driver's actual in MiB.
 */
void virtio_balloon_get_config(struct virtio_dev *dev, struct balloon_config *out);
uint32_t virtio_balloon_actual_mib(struct virtio_dev *dev);

/*
 * A new statistics interval. Whether there is a statistics queue is
 * fixed when the device is created (its queue count and feature bits
 * depend on it): an interval of 0 cannot become another, nor another 0
 * (-EINVAL, "Statistics cannot be enabled/disabled after activation.").
 * Changing it asks the guest for fresh statistics at once, as
 * Firecracker does; the same interval is a no-op.
 */
int virtio_balloon_set_stats_interval(struct virtio_dev *dev, uint16_t interval_s,
				      struct err *err);
/* The latest statistics; -EINVAL with an interval of 0 ("Received stats query when stats are disabled."). */
int virtio_balloon_get_stats(struct virtio_dev *dev, struct balloon_stats *out,
			     struct err *err);
/*
 * What the interval's timer does: hands the guest back the statistics
 * buffer it gave, so that it fills a new one. Nothing when it holds none,
 * or while the device is not running.
 */
void virtio_balloon_stats_poll(struct virtio_dev *dev);

/*
 * Free page hinting (-EINVAL without it, "Attempting to use hinting when
 * not enabled"): start a run with a new command id (-EINVAL before the
 * driver started the device), ack_on_stop ending it by itself (DONE)
 * once the guest sends STOP; the status; stop, which sends DONE.
 */
int virtio_balloon_hint_start(struct virtio_dev *dev, bool ack_on_stop, struct err *err);
int virtio_balloon_hint_status(struct virtio_dev *dev, struct balloon_hint_status *out,
			       struct err *err);
int virtio_balloon_hint_stop(struct virtio_dev *dev, struct err *err);

#endif
