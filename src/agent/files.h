/*
 * envd's file routes: GET /files?path=&username= (a file's bytes) and
 * POST /files?path=&username= (one file as application/octet-stream, or
 * any number as multipart/form-data parts named "file", each to the path
 * query parameter or to its filename), answering [{"name", "type":
 * "file", "path"}, ...]. Relative paths are under the user's home;
 * missing directories are made; every file is opened with the user's
 * credentials (user.h), so it is theirs and only where they may write.
 * A raw upload is written as it arrives; a multipart one is spooled to
 * an unlinked temporary file first, then read part by part. gzip
 * (Content-Encoding) is not taken.
 */
#ifndef HEARTH_AGENT_FILES_H
#define HEARTH_AGENT_FILES_H

#include <stdbool.h>

struct agent;
struct http_conn;
struct http_req;

/* GET /files. */
void files_get(struct agent *a, struct http_conn *c, struct http_req *r);
/* POST /files at its headers: the body's sink is chosen, or the answer given. */
void files_post_headers(struct agent *a, struct http_conn *c, struct http_req *r);
/* POST /files once its body is in. */
void files_post(struct agent *a, struct http_conn *c, struct http_req *r);
/* A REST error: {"code": status, "message": ...}. */
void files_error(struct http_conn *c, unsigned int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
