/* The agent's routes (server.c), as the HTTP server's callbacks; opaque is the struct agent. */
#ifndef HEARTH_AGENT_SERVER_H
#define HEARTH_AGENT_SERVER_H

#include "agent/http.h"

extern const struct http_ops agent_http_ops;

#endif
