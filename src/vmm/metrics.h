/*
 * Firecracker's metrics: one JSON object per line, written to the
 * metrics file on demand (FlushMetrics), every METRICS_INTERVAL_MS by a
 * timer on the io loop, and once at exit.
 *
 * A line is {"utc_timestamp_ms": T, "<group>": {"<name>": N, ...}, ...}.
 * Counters are deltas, as Firecracker's: each line counts what happened
 * since the previous line (the first, since the start), so a reader sums
 * lines for totals. Gauges (startup times) are the value itself.
 *
 * Where the counters come from is the owner's business: its collect
 * callback adds the cumulative totals of every group it knows to the two
 * objects it is given; metrics_collect_vm is the VM's part of that.
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

struct vm;

/* counters and gauges are {"group": {"name": integer}} objects to add to. */
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
	json_t *labels;            /* "id" and "properties" for every line (metrics_set_labels) */
};

void metrics_init(struct metrics *m, metrics_collect_fn collect, void *ctx);
/*
 * Firecracker's emit_id and properties: each line from now on starts
 * with "id": id (NULL: none) and "properties": the JSON object
 * properties holds (NULL: none). 0, -EINVAL (properties is no JSON
 * object) or -ENOMEM.
 */
int metrics_set_labels(struct metrics *m, const char *id, const char *properties);
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
/* A timerfd on loop that flushes every interval_ms; call on the loop's thread. */
int metrics_start_timer(struct metrics *m, struct eventloop *loop, unsigned int interval_ms);

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

/*
 * The VM's counters: every device in its registry that has any, as
 * "<kind>_<id>" ("block_rootfs", "net_eth0", "uart_com1"; just "<kind>"
 * when the id is the kind: "entropy", "vsock"), and "vcpu" with the
 * KVM_RUN exits of all vCPUs by kind. On the loop's thread (or once the
 * loop stopped): the registry is the loop's.
 */
void metrics_collect_vm(json_t *counters, struct vm *vm);

#endif
