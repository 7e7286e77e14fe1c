/*
 * The body of PUT /fork (Hearth's extension, docs/api.md "Fork and
 * reset"): how many clones, each one's host resources (as a restore's
 * overrides) and API socket, and what the template does afterwards. Read
 * by the template, which checks it before it pauses, and again by the
 * zygote, which trusts nothing the template hands it.
 *
 *   {"count": 3, "clone": {"api_sock": "c{i}.sock", ...}}   every clone
 *       from one spec, "{i}" in its strings replaced by the clone's index
 *   {"clones": [{"api_sock": "a.sock", ...}, ...]}          one spec each
 *
 * and "template": "Paused" or "Resumed" (default: as it was), "resume":
 * false to leave the clones paused (default true). A spec's "mmds" (an
 * object, "{i}" replaced in its strings too) is the clone's MMDS store:
 * its identity (address, MAC, keys), read by its guest once VMGenID says
 * it was forked.
 */
#ifndef HEARTH_API_JSON_FORK_H
#define HEARTH_API_JSON_FORK_H

#include <stdbool.h>

#include <jansson.h>

#include "snapshot/request.h"
#include "util/err.h"

#define FORK_MAX_CLONES 1000

struct fork_clone {
	json_t *spec;                 /* its own spec (owns the strings below) */
	const char *api_sock;
	const char *serial_out;       /* NULL: the zygote's stdout */
	json_t *mmds;                 /* its MMDS store's contents (borrowed from spec); NULL: empty */
	struct snap_load_req load;    /* the overrides only */
};

struct fork_req {
	unsigned int n;
	int template_state;           /* -1: as it was; 0: Paused; 1: Resumed */
	bool resume;
	struct fork_clone *clones;    /* n of them, calloc'ed */
};

/* 0 with f filled (json_fork_release it), or -errno with one line in err. */
int json_fork_parse(json_t *o, struct fork_req *f, struct err *err);
void json_fork_release(struct fork_req *f);

#endif
