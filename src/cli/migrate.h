/*
 * `hearth migrate` (migrate.c): the command-line twin of PUT /migrate and
 * PUT /migrate/incoming (docs/migration.md), a client of the API sockets.
 */
#ifndef HEARTH_CLI_MIGRATE_H
#define HEARTH_CLI_MIGRATE_H

#include <stdbool.h>

#include <jansson.h>

#include "util/err.h"

/*
 * argv[1] is "migrate": the flags into the API socket, the path (the
 * endpoint) and the request's body (json_decref it; NULL with --help),
 * *wait whether to follow GET /migrate to the end. 0, or -errno with one
 * line in e (usage: exit 2).
 */
int cli_migrate_parse(int argc, char **argv, const char **api_sock, const char **path,
		      json_t **body, bool *wait, bool *help, struct err *e);
int cli_migrate_main(int argc, char **argv);

#endif
