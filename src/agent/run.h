/*
 * The agent's life: its listening sockets made from addresses
 * ("vsock:PORT", "tcp:HOST:PORT", "unix:PATH"), then the loop until
 * SIGTERM or SIGINT. main.c's, and the tests' (which fork and serve a
 * socket of their own).
 */
#ifndef HEARTH_AGENT_RUN_H
#define HEARTH_AGENT_RUN_H

#include "agent/agent.h"
#include "util/err.h"

/* A listening socket for addr (non-blocking, close-on-exec): the fd, or -errno with e. */
int run_listen(const char *addr, struct err *e);
/* Serves the n listening fds until SIGTERM or SIGINT: 0, or -errno with e. */
int run_agent(const struct agent_cfg *cfg, const int *fds, unsigned int n, struct err *e);

#endif
