/* The agent's lines (log.h). */
#include "agent/log.h"

#include <stdarg.h>
#include <stdio.h>

void agent_log(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per line, so lines from forked children never interleave inside one. */
	fprintf(stderr, "hearth-agent: %s\n", line);
}
