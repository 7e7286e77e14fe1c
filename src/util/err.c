#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_set(struct err *e, bool usage, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	e->usage = usage;
	e->at = NULL;
	e->at_key = NULL;
	e->at_how = 0;
	e->at_off = 0;
	return ret;
}

int err_prefix(struct err *e, int ret, const char *fmt, ...)
{
	char rest[sizeof(e->msg)];
	va_list ap;
	int n;

	snprintf(rest, sizeof(rest), "%s", e->msg);
	va_start(ap, fmt);
	n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(e->msg))
		snprintf(e->msg + n, sizeof(e->msg) - (size_t)n, "%s", rest);
	/* The words moved right by the prefix; cut off, they are nowhere. */
	if (e->at && n >= 0 && (size_t)n + e->at_off < sizeof(e->msg) - 1)
		e->at_off += (unsigned int)n;
	else
		e->at = NULL;
	return ret;
}

int err_append(struct err *e, int ret, const char *s)
{
	size_t n = strnlen(e->msg, sizeof(e->msg));

	snprintf(e->msg + n, sizeof(e->msg) - n, "%s", s);
	return ret;
}
