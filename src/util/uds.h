/* Listening Unix sockets that Hearth owns (the API socket, hybrid vsock). */
#ifndef HEARTH_UTIL_UDS_H
#define HEARTH_UTIL_UDS_H

#include <stdbool.h>
#include <sys/types.h>
#include <stddef.h>

#include "util/err.h"

/*
 * Binds and listens on path (non-blocking, close-on-exec). A socket there
 * that nobody accepts on is left over from a process that died and is
 * replaced; anything else (a file, a live socket) is someone's and is
 * refused. Returns the fd, or -errno with "WHAT PATH: reason" in err:
 * -EEXIST for something in the way, -EINVAL for a path of the wrong size.
 */
int uds_listen(const char *what, const char *path, int backlog, struct err *err);

/*
 * Makes the directory that holds path (mode 0700, one level) when it does
 * not exist yet, and remembers it: a directory Hearth made for this VM,
 * which the sandbox may keep whole once sealed (hybrid vsock's
 * uds_path_PORT sockets appear there later). An existing directory is
 * left as it is. 0, or -errno with "WHAT PATH: reason" in err.
 */
int uds_make_dir(const char *what, const char *path, struct err *err);
/* Whether uds_make_dir made path's directory in this process. */
bool uds_dir_made(const char *path);

/*
 * The socket a fatal exit must still remove though it skips all unwinding:
 * the seccomp trap's handler (sandbox/sigsys.c) ends the process from the
 * thread that trapped. One path, the API socket's: set once it is bound,
 * cleared (NULL) before its owner unlinks it the ordinary way.
 */
void uds_set_exit_unlink(const char *path);
/* Async-signal-safe: the path to unlink now, or NULL. */
const char *uds_exit_unlink(void);

#define UDS_MAX_FDS 4
/*
 * One message of len bytes with nfds (at most UDS_MAX_FDS) descriptors
 * beside it (SCM_RIGHTS), on a SOCK_SEQPACKET or stream socket. 0 or -errno.
 */
int uds_send_fds(int sock, const void *buf, size_t len, const int *fds, unsigned int nfds);
/*
 * One message into buf; up to *nfds descriptors into fds (close-on-exec;
 * any beyond them closed), *nfds set to how many. The bytes read (0: the
 * peer closed), or -errno (-EMSGSIZE: the message or its descriptors
 * did not fit, and none are kept).
 */
ssize_t uds_recv_fds(int sock, void *buf, size_t len, int *fds, unsigned int *nfds);

#endif
