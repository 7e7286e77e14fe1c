/* What pflash's parts share (pflash.c: the device and its commands; pflash_state.c: the record). */
#ifndef HEARTH_DEVICES_PFLASH_PRIV_H
#define HEARTH_DEVICES_PFLASH_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/pflash.h"
#include "util/log.h"

#define PFLASH_CFI_LEN 0x52

/* The commands (cmd holds the one the reads answer to; 0x00 is array mode, as QEMU's). */
#define PFLASH_CMD_ARRAY 0x00
#define PFLASH_CMD_PROGRAM 0x10
#define PFLASH_CMD_ERASE 0x20
#define PFLASH_CMD_PROGRAM_ALT 0x40
#define PFLASH_CMD_CLEAR_STATUS 0x50
#define PFLASH_CMD_LOCK 0x60
#define PFLASH_CMD_STATUS 0x70
#define PFLASH_CMD_ID 0x90
#define PFLASH_CMD_CFI 0x98
#define PFLASH_CMD_CONFIRM 0xd0
#define PFLASH_CMD_BUFFER 0xe8
#define PFLASH_CMD_AMD_PROBE 0xf0
#define PFLASH_CMD_READ_ARRAY 0xff

#define PFLASH_SR_READY 0x80
#define PFLASH_SR_ERASE_ERR 0x20
#define PFLASH_SR_PROGRAM_ERR 0x10
#define PFLASH_SR_SEQUENCE_ERR (PFLASH_SR_ERASE_ERR | PFLASH_SR_PROGRAM_ERR)

struct pflash {
	/* vCPUs write commands concurrently; the flush reads sectors from the io thread. */
	pthread_mutex_t lock;
	uint8_t *mem;              /* the array, size bytes (mmap'ed) */
	uint64_t size;
	uint32_t nsectors;
	uint8_t width;
	bool ro;
	void (*set_array)(void *opaque, bool array);
	void *opaque;
	bool array;                /* array mode, as set_array last heard */
	/* The command state: QEMU's wcycle, cmd and status. */
	uint8_t wcycle, cmd, status;
	uint32_t counter;          /* write to buffer: data writes still to come, less one */
	uint64_t wb_base;          /* its block */
	uint32_t wb_size;          /* bytes in a write buffer: 2^cfi[0x2a] */
	uint8_t wb[PFLASH_WB_MAX]; /* the block's bytes as they will be at the confirm */
	uint8_t cfi[PFLASH_CFI_LEN];
	/* Write-through: sectors changed and not yet in the file. */
	uint64_t *dirty;           /* one bit per sector, under lock */
	int fd;                    /* our duplicate of the image's fd; -1: read-only */
	int efd;                   /* the loop's wake-up; -1: flush at once (no loop) */
	struct eventloop *loop;
	pthread_mutex_t flush_lock; /* one flush at a time: it owns bounce */
	uint8_t *bounce;           /* a sector on its way to the file */
	struct ratelimit flush_rl;
	/* A read-only flash's refused programs and erases (its counter), logged at a limited rate. */
	uint64_t refused;
	struct ratelimit refused_rl;
};

/* Puts the device in array mode or takes it out, telling set_array; p->lock held. */
void pflash_sync_array(struct pflash *p);
/* Marks [off, off+len) dirty and gets it to the file (now, or on the loop); p->lock held. */
void pflash_mark_dirty(struct pflash *p, uint64_t off, uint64_t len);
/* Asks for a flush: the loop's eventfd, or nothing without a loop (the caller flushes). */
void pflash_kick(struct pflash *p);

int pflash_save(void *obj, struct bytes_out *o, struct err *err);
int pflash_restore(void *obj, const void *in, size_t len, bool apply, struct err *err);

#endif
