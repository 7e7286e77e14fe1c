/* filesystem.EntryInfo (entry.h). */
#include "agent/entry.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "agent/path.h"
#include "agent/pjson.h"
#include "agent/user.h"

#define XATTR_PREFIX "user.e2b."
#define ENTRY_XATTR_LIST (64u << 10)

void entry_mode_string(mode_t m, char *out)
{
	size_t n = 0;
	static const char rwx[] = "rwxrwxrwx";

	/* Go's letters, in its bits' order: "dalTLDpSugct?". */
	if (S_ISDIR(m))
		out[n++] = 'd';
	if (S_ISLNK(m))
		out[n++] = 'L';
	if (S_ISBLK(m) || S_ISCHR(m))
		out[n++] = 'D';
	if (S_ISFIFO(m))
		out[n++] = 'p';
	if (S_ISSOCK(m))
		out[n++] = 'S';
	if (m & S_ISUID)
		out[n++] = 'u';
	if (m & S_ISGID)
		out[n++] = 'g';
	if (S_ISCHR(m))
		out[n++] = 'c';
	if (m & S_ISVTX)
		out[n++] = 't';
	if (!n)
		out[n++] = '-';
	for (int i = 0; i < 9; i++)
		out[n++] = m & (1u << (8 - i)) ? rwx[i] : '-';
	out[n] = '\0';
}

static const char *type_name(mode_t m)
{
	if (S_ISREG(m))
		return "FILE_TYPE_FILE";
	if (S_ISDIR(m))
		return "FILE_TYPE_DIRECTORY";
	return "FILE_TYPE_UNSPECIFIED";
}

/* The user.e2b.* attributes, prefix taken off; NULL when there are none. */
static json_t *entry_metadata(const char *path)
{
	char *names = malloc(ENTRY_XATTR_LIST);
	ssize_t len = names ? listxattr(path, names, ENTRY_XATTR_LIST) : -1;
	json_t *md = NULL;

	for (ssize_t off = 0; len > 0 && off < len; off += (ssize_t)strlen(names + off) + 1) {
		const char *name = names + off;
		char val[4096];
		ssize_t vlen;

		if (strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)))
			continue;
		vlen = getxattr(path, name, val, sizeof(val) - 1);
		if (vlen < 0)
			continue;
		val[vlen] = '\0';
		if (!md)
			md = json_object();
		/* A value that is not text (someone else's attribute) is left out. */
		if (md && strlen(val) == (size_t)vlen)
			json_object_set_new(md, name + strlen(XATTR_PREFIX), json_string(val));
	}
	free(names);
	return md;
}

int entry_info(const char *path, const char *shown, json_t **out, struct rpc_err *e)
{
	struct stat st, target;
	char perms[16], owner[64], group[64], name[NAME_MAX + 2];
	char *resolved = NULL;
	mode_t type_mode, perm;
	json_t *o, *md;

	*out = NULL;
	if (lstat(path, &st)) {
		int err = errno;

		if (err == ENOENT)
			return rpc_fail(e, RPC_NOT_FOUND, "file not found: lstat %s: %s", path,
					strerror(err));
		return rpc_fail(e, rpc_code_of_errno(err), "error getting file info: lstat %s: %s",
				path, strerror(err));
	}
	type_mode = st.st_mode;
	perm = st.st_mode & 0777;
	if (S_ISLNK(st.st_mode)) {
		resolved = realpath(path, NULL);
		if (resolved && !stat(resolved, &target)) {
			type_mode = target.st_mode;
			perm = target.st_mode & 0777;
		} else {
			/* A dangling link: its type unknown, as envd says. */
			type_mode = 0;
			perm = 0;
		}
	}
	entry_mode_string(st.st_mode, perms);
	user_name_of(st.st_uid, owner, sizeof(owner));
	group_name_of(st.st_gid, group, sizeof(group));
	path_base(path, name, sizeof(name));
	o = json_pack("{s:s, s:s, s:s, s:o, s:I, s:s, s:s, s:s, s:o}", "name", name, "type",
		      type_name(type_mode), "path", shown ? shown : path, "size",
		      pjson_int64(st.st_size), "mode", (json_int_t)perm, "permissions", perms, "owner",
		      owner, "group", group, "modifiedTime", pjson_timestamp(&st.st_mtim));
	if (o && S_ISLNK(st.st_mode))
		json_object_set_new(o, "symlinkTarget", json_string(resolved ? resolved : path));
	free(resolved);
	md = o ? entry_metadata(path) : NULL;
	if (md)
		json_object_set_new(o, "metadata", md);
	if (!o)
		return rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
	*out = o;
	return 0;
}
