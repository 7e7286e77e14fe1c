/*
 * The one error every layer reports: a line for the user, and whether the
 * input was at fault (a flag, a file, a request: exit 2, HTTP 400) or the
 * host (exit 1). A function that can fail takes a struct err * as its last
 * argument and, when it returns -errno, has filled it; a caller that adds
 * context puts its words in front (err_prefix) rather than copying.
 */
#ifndef HEARTH_UTIL_ERR_H
#define HEARTH_UTIL_ERR_H

#include <stdbool.h>

/*
 * Room for the longest chain of prefixes: the outermost buffers this
 * replaced held 832 bytes (serve's) and 1024 (snapshot-merge's).
 */
#define ERR_MSG_MAX 1024

struct err {
	bool usage;               /* the input was at fault, not the host */
	char msg[ERR_MSG_MAX];    /* one line, no newline; "" until set */
	/*
	 * Where in a parsed input the fault is, for a caller that still has
	 * the input's text to name a line and column (vmm/config_json_fault.h):
	 * at (NULL: nowhere) and at_key name the spot, at_how what is there,
	 * and the input's own words start at msg + at_off, after the prefixes.
	 * err_set clears them; err_prefix keeps at_off pointing at the words.
	 */
	const void *at;
	const char *at_key;
	int at_how;
	unsigned int at_off;
};

#define ERR_INIT { .usage = false, .msg = "" }

/* Sets the message (cut to fit) and usage; returns ret, so `return err_set(...)` reads well. */
int err_set(struct err *e, bool usage, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Puts fmt's words before the message ("--disk 'x': " + "no such file"); usage stays; returns ret. */
int err_prefix(struct err *e, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Adds s after the message (cut to fit); returns ret. */
int err_append(struct err *e, int ret, const char *s);

#endif
