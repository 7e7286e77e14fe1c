/*
 * filesystem.EntryInfo for a path, as envd fills it: the entry itself
 * (lstat), a symlink's type and mode taken from what it points to and
 * its target resolved, permissions in Go's FileMode words
 * ("-rw-r--r--", "drwxr-xr-x", "Lrwxrwxrwx"), size as an int64 string,
 * owner and group by name, the modification time, and the user.e2b.*
 * extended attributes as metadata. Read with the caller's credentials.
 */
#ifndef HEARTH_AGENT_ENTRY_H
#define HEARTH_AGENT_ENTRY_H

#include <jansson.h>
#include <sys/stat.h>

#include "agent/rpc.h"

/* path's EntryInfo into *out; shown is the path it reports (NULL: path). 0, or -1 with e. */
int entry_info(const char *path, const char *shown, json_t **out, struct rpc_err *e);
/* Go's FileMode.String() of a st_mode into out (at least 16 bytes). */
void entry_mode_string(mode_t m, char *out);

#endif
