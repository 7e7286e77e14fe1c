/*
 * The agent's lines on stderr, "hearth-agent: ..." (the guest's service
 * manager keeps them). Nothing a request sends is logged whole.
 */
#ifndef HEARTH_AGENT_LOG_H
#define HEARTH_AGENT_LOG_H

void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
