/* What the store (mmds.c) and the guest's side (mmds_respond.c) share; nothing outside them includes this. */
#ifndef HEARTH_MMDS_MMDS_PRIV_H
#define HEARTH_MMDS_MMDS_PRIV_H

#include <pthread.h>
#include <stdint.h>

#include <jansson.h>

#include "mmds/mmds.h"

/*
 * Tokens kept at once. Firecracker's are sealed (AES-GCM over the expiry)
 * and never stored; Hearth's are random and kept, so a guest that asks for
 * tokens without end costs a fixed table, not memory: the one nearest its
 * expiry makes room (docs/api.md).
 */
#define MMDS_TOKENS_MAX 1024
#define MMDS_TOKEN_BYTES 36          /* 48 base64 characters, as long as Firecracker's */
#define MMDS_TOKEN_LEN 48
#define MMDS_TOKEN_TTL_MIN 1
#define MMDS_TOKEN_TTL_MAX 21600     /* six hours, as Firecracker */

struct mmds_token {
	char text[MMDS_TOKEN_LEN + 1];   /* "" when the slot is free */
	uint64_t expiry_ns;              /* CLOCK_MONOTONIC */
};

struct mmds {
	pthread_mutex_t lock;
	size_t limit;                    /* bytes of compact JSON */
	json_t *data;                    /* NULL until the first PUT: PATCH is then refused */
	enum mmds_version version;
	bool imds_compat;
	/* MMDS_TOKENS_MAX of them from the first token on (64 KiB no VM pays before). */
	struct mmds_token *tokens;
	/* Guest GETs without a token, and with one not valid (V1 too): Firecracker's counters. */
	uint64_t rx_no_token, rx_invalid_token;
};

/* Compact, keys sorted, any value: the text Firecracker's serde_json writes. */
#define MMDS_DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)

#endif
