/* Listening Unix sockets that Hearth owns (the API socket, hybrid vsock). */
#ifndef HEARTH_UTIL_UDS_H
#define HEARTH_UTIL_UDS_H

#include <stddef.h>

/*
 * Binds and listens on path (non-blocking, close-on-exec). A socket there
 * that nobody accepts on is left over from a process that died and is
 * replaced; anything else (a file, a live socket) is someone's and is
 * refused. Returns the fd, or -errno with "WHAT PATH: reason" in err:
 * -EEXIST for something in the way, -EINVAL for a path of the wrong size.
 */
int uds_listen(const char *what, const char *path, int backlog, char *err, size_t errlen);

#endif
