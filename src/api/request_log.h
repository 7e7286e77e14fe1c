/*
 * Firecracker's line for each API request, which its tooling reads in the
 * log file: `The API server received a Put request on "/drives/rootfs"
 * with body "{...}".` The method as Firecracker names it, the path and
 * the body quoted as Rust's Debug quotes a string. No body for a GET, for
 * /mmds (the guest's metadata stays out of the log) or, below Debug, for
 * /cpu-config (Firecracker's words say why instead).
 */
#ifndef HEARTH_API_REQUEST_LOG_H
#define HEARTH_API_REQUEST_LOG_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The line's words after "The API server received a " and before the
 * final ".", into out (cap bytes, always terminated, cut short if it must
 * be). body may be NULL; debug: the log is at Debug or finer.
 */
void api_request_describe(char *out, size_t cap, const char *method, const char *path,
			  const char *body, size_t len, bool debug);

#endif
