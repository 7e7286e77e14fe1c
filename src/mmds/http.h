/*
 * The MMDS's HTTP side for one NIC: util/httpd.c on a Unix socket of its
 * own, which the NIC's MMDS stack (stack.c) connects to once per guest TCP
 * connection (libslirp's slirp_add_unix), so each guest connection is its
 * own HTTP connection. Driven from the I/O thread's loop through the
 * stack's poller; nothing here blocks.
 */
#ifndef HEARTH_MMDS_HTTP_H
#define HEARTH_MMDS_HTTP_H

#include <poll.h>

#include "util/err.h"

struct mmds;
struct net_mmds_http;

/*
 * The Unix sockets the NICs' MMDS stacks connect to, which the sealed
 * sandbox must still reach: copies into paths, at most max; returns how
 * many.
 */
#define NET_MMDS_PATH_MAX 108
#define NET_MMDS_MAX_SOCKETS 8
unsigned int net_mmds_sockets(char (*paths)[NET_MMDS_PATH_MAX], unsigned int max);

/* HTTP connections served at once; more are closed as they come. */
#define NET_MMDS_HTTP_CONNS 32u
/* A connection idle this long (a request never finished) is closed. */
#define NET_MMDS_HTTP_TIMEOUT_S 10u
/* Its poll entries: the listening socket and the HTTP server's epoll fd. */
#define NET_MMDS_HTTP_NPFD 2u

/*
 * A server for m (not owned) on a new socket in the process's MMDS
 * directory (private, mode 0700; see net_mmds_sockets). 0, or
 * -errno with one line in err.
 */
int net_mmds_http_open(struct mmds *m, struct net_mmds_http **out, struct err *err);
/* Removes the socket (and the directory once the last is gone). */
void net_mmds_http_close(struct net_mmds_http *h);
const char *net_mmds_http_path(const struct net_mmds_http *h);
/* Fills pfd[0..NET_MMDS_HTTP_NPFD) and lowers *timeout_ms to its next deadline. */
void net_mmds_http_prepare(struct net_mmds_http *h, struct pollfd *pfd, int *timeout_ms);
/* After the wait: takes new connections and serves them. */
void net_mmds_http_dispatch(struct net_mmds_http *h, const struct pollfd *pfd);

#endif
