/*
 * The front end of the vhost-user protocol (QEMU's docs/interop/
 * vhost-user.rst): a device whose rings another process serves, reached
 * over a Unix socket. Hearth sends requests; the backend answers the few
 * that have answers, and with REPLY_ACK negotiated every other one too,
 * so a refused request is seen where it was made.
 *
 * Every message is a 12-byte header (request, flags, payload size, all
 * little-endian, as the host) and a payload; file descriptors travel
 * beside it (SCM_RIGHTS). The backend is another process, trusted no more
 * than a guest: a reply is checked against the request it answers
 * (its number, the REPLY flag, its size), descriptors that arrive with
 * one are closed, and every wait is bounded (VHOST_USER_TIMEOUT_MS). A
 * connection that breaks framing (a short, oversized or foreign reply) is
 * dead from then on: every call returns -EPIPE.
 */
#ifndef HEARTH_VIRTIO_VHOST_USER_H
#define HEARTH_VIRTIO_VHOST_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

enum vhost_user_request {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_SET_CONFIG = 25,
};

#define VHOST_USER_VERSION 0x1u
#define VHOST_USER_FLAG_REPLY (1u << 2)
#define VHOST_USER_FLAG_NEED_REPLY (1u << 3)
#define VHOST_USER_HDR_SIZE 12u

/* In the virtio feature word: the backend speaks protocol features. */
#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define VHOST_USER_PROTOCOL_F_MQ 0
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VHOST_USER_PROTOCOL_F_CONFIG 9

#define VHOST_USER_MAX_REGIONS 8
#define VHOST_USER_MAX_CONFIG 256
#define VHOST_USER_MAX_FDS VHOST_USER_MAX_REGIONS
/* A kick or call message without a descriptor: polling, which Hearth never asks for. */
#define VHOST_USER_VRING_NOFD (1ull << 8)
/* How long one request may wait for its send or its answer. */
#define VHOST_USER_TIMEOUT_MS 5000
/*
 * How long one whole operation (vhost_user_op_begin to _end: a start, a
 * stop, a refresh, the first handshake) may wait for the backend in all:
 * without it, a backend answering each of a start's dozens of requests
 * just inside VHOST_USER_TIMEOUT_MS would hold the thread for minutes.
 */
#define VHOST_USER_OP_BUDGET_MS 10000

struct vhost_user_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t user_addr;
	uint64_t mmap_offset;
};

struct vhost_user_memory {
	uint32_t nregions;
	uint32_t padding;
	struct vhost_user_region regions[VHOST_USER_MAX_REGIONS];
};

struct vhost_user_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
};

struct vhost_user_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t payload[VHOST_USER_MAX_CONFIG];
};

/* The largest payload either side sends (the memory table). */
#define VHOST_USER_MAX_PAYLOAD sizeof(struct vhost_user_memory)

struct vhost_user {
	int sock;                 /* -1: closed */
	bool dead;                /* framing broken or the backend gone */
	int timeout_ms;
	int op_budget_ms;         /* VHOST_USER_OP_BUDGET_MS (tests shorten both) */
	unsigned int op_depth;    /* operations begun and not ended (they nest) */
	int64_t op_deadline;      /* CLOCK_MONOTONIC ms the outermost one must end by; 0: none */
	uint64_t features;        /* the backend's, from GET_FEATURES */
	uint64_t protocol;        /* negotiated protocol features */
};

/*
 * Checks one reply (buf, len: header and payload as received) to request
 * req: version 1, REPLY set, the same request, a payload of exactly
 * want bytes when want is nonzero, else of at most max. Copies the
 * payload to out (max bytes) and its length to *out_len. 0 or -EPROTO.
 * Pure: the fuzz target's entry.
 */
int vhost_user_check_reply(const uint8_t *buf, size_t len, uint32_t req, size_t want,
			   void *out, size_t max, size_t *out_len);

/*
 * Brackets one operation of several requests: every wait inside ends by
 * the budget's end too, and a request past it fails -ETIMEDOUT, which
 * leaves the connection dead (as any request that timed out does).
 */
void vhost_user_op_begin(struct vhost_user *vu);
void vhost_user_op_end(struct vhost_user *vu);

/* Connects to the backend's socket. 0, or -errno with err naming path. */
int vhost_user_connect(struct vhost_user *vu, const char *path, struct err *err);
/* Takes an already connected socket (tests). */
void vhost_user_adopt(struct vhost_user *vu, int sock);
void vhost_user_close(struct vhost_user *vu);

/*
 * One request with payload (len bytes) and up to VHOST_USER_MAX_FDS
 * descriptors. Its answer, for the requests that have one, lands in out
 * (exactly out_len bytes); for the others, with REPLY_ACK negotiated,
 * the backend's u64 status is awaited and a nonzero one is -EIO.
 * 0 or -errno (-EPIPE once dead, -ETIMEDOUT, -EPROTO).
 */
int vhost_user_call(struct vhost_user *vu, uint32_t req, const void *payload, size_t len,
		    const int *fds, unsigned int nfds, void *out, size_t out_len);

/* The handshake's shorthands. */
int vhost_user_get_u64(struct vhost_user *vu, uint32_t req, uint64_t *v);
int vhost_user_set_u64(struct vhost_user *vu, uint32_t req, uint64_t v);
int vhost_user_set_state(struct vhost_user *vu, uint32_t req, uint32_t index, uint32_t num);
int vhost_user_set_vring_fd(struct vhost_user *vu, uint32_t req, uint32_t index, int fd);
/* GET_VRING_BASE: stops ring index and gives back where it stopped. */
int vhost_user_get_vring_base(struct vhost_user *vu, uint32_t index, uint16_t *base);
/* GET_CONFIG of [offset, offset+size) into out. */
int vhost_user_get_config(struct vhost_user *vu, uint32_t offset, uint32_t size, uint8_t *out);
int vhost_user_set_config(struct vhost_user *vu, uint32_t offset, const uint8_t *data,
			  uint32_t size);

/* A readable name for a request, for errors. */
const char *vhost_user_request_name(uint32_t req);

#endif
