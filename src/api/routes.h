/*
 * Firecracker's API paths: method + path + body into an action on the
 * control surface (control/control.h), and its answer into status +
 * JSON. No HTTP here (server.c is the transport), so unit tests call
 * api_route directly.
 */
#ifndef HEARTH_API_ROUTES_H
#define HEARTH_API_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "control/control.h"

struct api_reply {
	unsigned int status;  /* 200, 204, 400, 413, 500 */
	char *body;           /* malloc'd JSON; NULL for 204 */
	/* The request used a deprecated field: "Deprecation: true", as Firecracker sends. */
	bool deprecated;
};

/* Fills r (free r->body), and counts the request on ctl. */
void api_route(struct ctl *ctl, const char *method, const char *path, const char *body,
	       size_t len, struct api_reply *r);
/* A 400 (or other) with {"fault_message": msg}. */
void api_reply_fault(struct api_reply *r, unsigned int status, const char *msg);

#endif
