/*
 * A client of a running Hearth's API socket, for the commands that are
 * one (`hearth snapshot`, `hearth fork`, `hearth reset`): libcurl over
 * the Unix socket, loaded when first used (client.c says why).
 */
#ifndef HEARTH_CLI_CLIENT_H
#define HEARTH_CLI_CLIENT_H

#include <jansson.h>

struct cli_client;

/* who names the command in messages. 0, or -errno with the reason on stderr. */
int cli_client_open(struct cli_client **c, const char *who);
/*
 * One request, body taken over (NULL, as a failed json_pack gives: refused
 * here, "out of memory"). 0 on a 2xx, with the
 * answer's JSON in *answer when answer is not NULL (an empty body: {};
 * NULL when it is not JSON); else 1 with the server's fault_message, or
 * the transport's error, on stderr.
 */
int cli_client_request(struct cli_client *c, const char *sock, const char *method,
		       const char *path, json_t *body, json_t **answer);
void cli_client_close(struct cli_client *c);

#endif
