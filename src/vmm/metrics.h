/*
 * Firecracker's metrics: one JSON object per line, written to the
 * metrics file when the VM starts (InstanceStart, a snapshot load), every
 * METRICS_INTERVAL_MS from then by a timer on the io loop, on demand
 * (FlushMetrics), and once at exit.
 *
 * A line is Firecracker 1.16's, group for group and field for field
 * (vmm/metrics_schema.h): {"utc_timestamp_ms": T, "api_server": {...},
 * "balloon": {...}, "block_<id>": {...}, "block": {...}, ...}, every field
 * there, 0 where Hearth counts nothing of the kind. Under the name
 * `hearth` a last key, "hearth", holds Hearth's own counters under their
 * own names (metrics_keep_own); Firecracker's schema allows no other key,
 * so under the name `firecracker` there is none.
 *
 * Counters are deltas, as Firecracker's: each line counts what happened
 * since the previous line (the first, since the start), so a reader sums
 * lines for totals. Gauges (startup times, latencies) are the value itself.
 *
 * Where the counters come from is the owner's business: its collect
 * callback adds the cumulative totals of every group it knows to the
 * counters tree it is given, Firecracker's groups at its top, per-device
 * groups under METRICS_DEVICES, Hearth's own under METRICS_HEARTH;
 * metrics_collect_vm is the VM's part of that.
 */
#ifndef HEARTH_VMM_METRICS_H
#define HEARTH_VMM_METRICS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/eventloop.h"
#include "util/err.h"

#define METRICS_INTERVAL_MS 60000u

/* The counters tree's per-device groups: {"block": {"<drive_id>": {"read_count": N}}}. */
#define METRICS_DEVICES "devices"
/* Hearth's own groups: {"uart_com1": {"out_bytes": N}, "vcpu": {"exit_hlt": N}, ...}. */
#define METRICS_HEARTH "hearth"

struct vm;

/* counters and gauges are trees of objects whose leaves are integers, to add to. */
typedef void (*metrics_collect_fn)(void *ctx, json_t *counters, json_t *gauges);

struct metrics {
	pthread_mutex_t lock;      /* one flush at a time; the collector runs under it */
	int fd;                    /* -1: not configured */
	bool fifo;                 /* fd is a pipe (file_write_line) */
	json_t *last;              /* the counters' totals at the previous line */
	uint64_t missed;           /* lines the file did not take whole */
	metrics_collect_fn collect;
	void *ctx;
	struct eventloop *loop;
	int timer_fd;              /* -1: no periodic flush */
	unsigned int interval_ms;  /* the timer's period, from metrics_started on */
	json_t *labels;            /* "id" and "properties" for every line (metrics_set_labels) */
	bool own;                  /* lines carry METRICS_HEARTH (metrics_keep_own) */
};

void metrics_init(struct metrics *m, metrics_collect_fn collect, void *ctx);
/*
 * Firecracker's emit_id and properties: each line from now on starts
 * with "id": id (NULL: none) and "properties": the JSON object
 * properties holds (NULL: none). 0, -EINVAL (properties is no JSON
 * object) or -ENOMEM.
 */
int metrics_set_labels(struct metrics *m, const char *id, const char *properties);
/*
 * Whether lines end with Hearth's own counters (METRICS_HEARTH), which
 * Firecracker's schema refuses: on from metrics_init, off under the name
 * `firecracker`. Before the first line.
 */
void metrics_keep_own(struct metrics *m, bool on);
/* Closes the file and removes the timer (on the loop's thread, or with the loop stopped). */
void metrics_destroy(struct metrics *m);

/*
 * Opens path for the lines with file_open_sink (util/file.h): created if
 * missing, O_APPEND, O_NONBLOCK; a FIFO needs no reader yet, and a full
 * one costs whole lines, never a stall. -EBUSY when a file is already open
 * (Firecracker configures metrics once). 0, or -errno with one line in err.
 */
int metrics_open(struct metrics *m, const char *path, struct err *err);
bool metrics_configured(struct metrics *m);
/*
 * A timerfd on loop that will flush every interval_ms once the VM starts
 * (metrics_started), as Firecracker's periodic write, which begins with
 * the microVM; made now, before the sandbox seals (its filter keeps
 * timerfd_settime, not timerfd_create). On the loop's thread.
 */
int metrics_start_timer(struct metrics *m, struct eventloop *loop, unsigned int interval_ms);
/*
 * The VM started: a line now and, with the timer, one every interval
 * from now on. On the loop's thread; metrics_flush's return (-ENOENT
 * when not configured).
 */
int metrics_started(struct metrics *m);

/*
 * Collects and writes one line, on the io thread (a line longer than
 * PIPE_BUF to a FIFO asks the pipe for room first: file_write_line).
 * -ENOENT when not configured; -EAGAIN or another -errno when the file did
 * not take the line whole (it is counted in missed and its deltas are
 * gone, as in Firecracker, but for the "logger" group's: those losses are
 * owed to the next line that gets through).
 */
int metrics_flush(struct metrics *m);

/*
 * The line for these totals at utc_ms, with its trailing newline (malloc'd;
 * NULL on ENOMEM), and the totals remembered for the next one. Takes the
 * lock; metrics_flush is this plus the write.
 */
char *metrics_line(struct metrics *m, json_t *counters, json_t *gauges, uint64_t utc_ms);

/* Adds value to counters[group][name] (creating both); 0 or -ENOMEM. */
int metrics_add(json_t *counters, const char *group, const char *name, uint64_t value);
/* parent[name], an object, made when missing; NULL on ENOMEM (or parent NULL). */
json_t *metrics_group(json_t *parent, const char *name);

/*
 * The VM's counters (metrics_vm.c), on the loop's thread (or once the
 * loop stopped: the registry is the loop's). Firecracker's groups from
 * what each device counts: a counter named as a field of its device's
 * Firecracker group is that field, and a table renames the others that
 * mean one (a disk's "read_requests" is "read_count"). Per device for
 * disks, NICs and pmem ("block" by drive id ...), a vhost-user disk as
 * vhost_user's "block_<drive_id>", the one group for the others (COM1
 * is "uart", the vCPUs' exits add up in "vcpu"). Under METRICS_HEARTH,
 * every device with counters as "<kind>_<id>" ("block_rootfs",
 * "uart_com1"; just "<kind>" when the id is the kind: "entropy"), all of
 * its counters under their own names, and "vcpu" with the exits of all
 * vCPUs by kind.
 */
void metrics_collect_vm(json_t *counters, struct vm *vm);

#endif
