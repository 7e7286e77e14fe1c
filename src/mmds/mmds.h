/*
 * Firecracker's MMDS (microVM metadata service): a JSON document the host
 * sets through the API (PUT/PATCH/GET /mmds) and the guest reads over HTTP
 * at a link-local address. This module is the store, the V2 session
 * tokens and the answer to one already-parsed guest request; carrying the
 * request from the guest's NIC (a TCP/IP stack and an HTTP parser) is
 * someone else's job, so nothing here knows of packets or sockets.
 *
 * Every call is thread-safe: the API thread writes the store while the
 * network path answers the guest, each under the store's own mutex, held
 * only for in-memory work bounded by the size limit.
 */
#ifndef HEARTH_MMDS_MMDS_H
#define HEARTH_MMDS_MMDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct mmds;                                   /* store + tokens; every call is thread-safe (own mutex) */

enum mmds_version { MMDS_V1 = 1, MMDS_V2 = 2 };

/* An empty store ({}) holding at most size_limit bytes of compact JSON, version V1. 0 / -errno. */
int mmds_new(size_t size_limit, struct mmds **out);
void mmds_free(struct mmds *m);

/* Setting the version drops every token issued so far, as Firecracker's does. */
void mmds_set_version(struct mmds *m, enum mmds_version v, bool imds_compat);
enum mmds_version mmds_get_version(struct mmds *m);

/*
 * PUT /mmds: the document becomes json (any JSON value's text). PATCH
 * /mmds: json is merged in as RFC 7396 says. -EINVAL (usage) for text that
 * is not JSON, -EFBIG (usage) when the result would pass the size limit;
 * the store is unchanged on every error.
 */
int mmds_put(struct mmds *m, const char *json, size_t len, struct err *err);   /* PUT /mmds */
int mmds_patch(struct mmds *m, const char *json, size_t len, struct err *err); /* PATCH /mmds (RFC 7396 merge) */
char *mmds_get(struct mmds *m);                /* GET /mmds: compact JSON, malloc'd; NULL on ENOMEM */

/* One guest HTTP request, as the HTTP library parsed it (headers NULL when absent). */
struct mmds_request {
	const char *method, *path;             /* path may include a query; responder ignores it */
	const char *accept;                    /* Accept */
	const char *token;                     /* X-metadata-token (or the AWS header alias Firecracker accepts) */
	const char *ttl;                       /* X-metadata-token-ttl-seconds (or alias) */
	bool forwarded;                        /* an X-Forwarded-For header was present */
	size_t body_len;
};

struct mmds_response {
	unsigned int status;
	const char *content_type;              /* static string */
	char *body;                            /* malloc'd, caller frees; may be NULL for an empty body */
	size_t body_len;
};

/*
 * The guest's GETs so far without a session token, and with one that is
 * not valid (counted under V1 too, which answers them): Firecracker's
 * mmds.rx_no_token and rx_invalid_token, as totals.
 */
void mmds_token_counts(struct mmds *m, uint64_t *no_token, uint64_t *invalid_token);

/* now_ns: CLOCK_MONOTONIC, so tests can drive token expiry. Never fails: errors are HTTP answers. */
void mmds_respond(struct mmds *m, const struct mmds_request *req, uint64_t now_ns,
		  struct mmds_response *resp);

#endif
