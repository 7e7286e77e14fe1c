/*
 * The API's transport: HTTP/1.1 (util/httpd.c, http-parser) on a Unix socket, served
 * by one thread named "api" that hands each complete request to api_route.
 */
#ifndef HEARTH_API_SERVER_H
#define HEARTH_API_SERVER_H

#include <stddef.h>

#include "control/control.h"
#include "util/err.h"

/* Firecracker's --http-api-max-payload-size default. */
#define API_DEFAULT_MAX_PAYLOAD 51200

struct api_server;

/*
 * Binds path (a stale socket there is replaced; any other file, or a
 * socket someone still serves on, is an error) and starts the "api"
 * thread. Returns 0, or -errno with one line in err (-EEXIST: the path
 * is taken).
 */
int api_server_start(struct api_server **out, const char *path, struct ctl *ctl,
		     size_t max_payload, struct err *err);
/*
 * The same in two steps: the socket bound and listening first (before the
 * sandbox's seal, which keeps no directory to make it in later), then the
 * server and its thread once ctl exists. On a serve failure the caller
 * still stops s.
 */
int api_server_listen(struct api_server **out, const char *path, size_t max_payload,
		      struct err *err);
int api_server_serve(struct api_server *s, struct ctl *ctl, struct err *err);
/*
 * Optional, between the two: the "api" thread started now, to install its
 * seccomp filter while the caller makes ctl; it serves nothing until
 * api_server_serve. Only where no fork or seal of the sandbox comes
 * before api_server_serve. 0, or -errno with one line in err (the caller
 * still stops s).
 */
int api_server_begin(struct api_server *s, struct err *err);
/* Stops and joins the thread, closes the socket and unlinks its path. NULL is a no-op. */
void api_server_stop(struct api_server *s);
/*
 * The same for a begun server whose VM failed to build after the socket
 * listened and the thread's filter was on: its thread first logs
 * Firecracker's "API server started.", as Firecracker's API thread does
 * while its VMM thread builds (a --metadata that does not fit fails
 * after that line in its log).
 */
void api_server_stop_started(struct api_server *s);

#endif
