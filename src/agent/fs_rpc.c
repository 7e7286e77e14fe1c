/*
 * filesystem.Filesystem's calls on paths: Stat, ListDir, MakeDir, Move,
 * Remove (the watchers are watch.c's). Each runs with the calling user's
 * credentials (user.h), so the kernel allows what the user may do.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/entry.h"
#include "agent/path.h"
#include "agent/pjson.h"
#include "agent/rpc.h"
#include "agent/user.h"

/* A listing's entries, at most: a bigger tree is refused rather than answered in gigabytes. */
#define FS_MAX_ENTRIES 100000u

struct fs_req {
	char *path;          /* source for Move */
	char *dest;
	uint32_t depth;
};

static void fs_free(void *req)
{
	struct fs_req *r = req;

	if (!r)
		return;
	free(r->path);
	free(r->dest);
	free(r);
}

/* A string field kept with its length (a NUL inside is refused later, with the path). */
static char *dup_field(json_t *msg, const char *name, size_t *len)
{
	json_t *v = json_object_get(msg, name);
	const char *s = json_is_string(v) ? json_string_value(v) : "";
	char *d = malloc(strlen(s) + 1);

	*len = strlen(s);
	if (d)
		memcpy(d, s, *len + 1);
	return d;
}

static int fs_decode_common(json_t *msg, void **out, const char *first, const char *second,
			    struct rpc_err *e)
{
	struct fs_req *r = calloc(1, sizeof(*r));
	const char *tmp = NULL;
	size_t len;

	*out = NULL;
	if (!r)
		return rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
	if (pjson_string(msg, first, NULL, &tmp, e) ||
	    (second && pjson_string(msg, second, NULL, &tmp, e)) ||
	    pjson_uint32(msg, "depth", NULL, &r->depth, NULL, e))
		goto err_free;
	r->path = dup_field(msg, first, &len);
	r->dest = second ? dup_field(msg, second, &len) : NULL;
	if (!r->path || (second && !r->dest)) {
		rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
		goto err_free;
	}
	*out = r;
	return 0;

err_free:
	fs_free(r);
	return -1;
}

static int fs_decode_path(json_t *msg, void **out, struct rpc_err *e)
{
	return fs_decode_common(msg, out, "path", NULL, e);
}

static int fs_decode_move(json_t *msg, void **out, struct rpc_err *e)
{
	return fs_decode_common(msg, out, "source", "destination", e);
}

/* Resolves p for the call's user and acts as them: 0, or -1 with e (nothing entered). */
static int fs_enter(struct agent *a, const struct rpc_ctx *ctx, const char *p, char *out,
		    struct rpc_err *e)
{
	int ret;

	if (rpc_need_user(ctx, e) ||
	    path_resolve(p, strlen(p), &ctx->user, a->default_workdir, out, e))
		return -1;
	ret = user_enter(&ctx->user);
	if (ret)
		return rpc_fail(e, RPC_INTERNAL, "cannot act as %s: %s", ctx->user.name,
				strerror(-ret));
	return 0;
}

static int fs_stat(struct agent *a, const struct rpc_ctx *ctx, void *req, json_t **resp,
		   struct rpc_err *e)
{
	struct fs_req *r = req;
	char path[PATH_MAX];
	json_t *entry;
	int ret;

	if (fs_enter(a, ctx, r->path, path, e))
		return -1;
	ret = entry_info(path, NULL, &entry, e);
	user_leave();
	if (ret)
		return -1;
	*resp = json_pack("{s:o}", "entry", entry);
	return *resp ? 0 : rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
}

static int name_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/*
 * Lists real/rel (rel "" at the top) into entries, in Go's WalkDir order
 * (sorted by name, each directory's entries right after it), down to
 * depth levels. A directory that cannot be read fails the listing, as
 * envd's does.
 */
static int walk(const char *real, const char *shown, const char *rel, uint32_t depth,
		uint32_t level, json_t *entries, struct rpc_err *e)
{
	char dir[PATH_MAX], child[PATH_MAX], child_shown[PATH_MAX], child_rel[PATH_MAX];
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int ret = 0;

	snprintf(dir, sizeof(dir), "%s%s%s", real, rel[0] ? "/" : "", rel);
	d = opendir(dir);
	if (!d)
		return rpc_fail(e, rpc_code_of_errno(errno) == RPC_NOT_FOUND ? RPC_INTERNAL :
				rpc_code_of_errno(errno), "error reading directory %s: %s", dir,
				strerror(errno));
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*nn));

			if (!nn)
				goto err_oom;
			names = nn;
		}
		if (!(names[n] = strdup(de->d_name)))
			goto err_oom;
		n++;
	}
	if (n)  /* an empty directory has no array (qsort's first argument must not be NULL) */
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n && !ret; i++) {
		struct stat st;
		json_t *entry;

		if (json_array_size(entries) >= FS_MAX_ENTRIES) {
			ret = rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "more than %u entries",
				       FS_MAX_ENTRIES);
			break;
		}
		if (snprintf(child_rel, sizeof(child_rel), "%s%s%s", rel, rel[0] ? "/" : "",
			     names[i]) >= (int)sizeof(child_rel) ||
		    snprintf(child, sizeof(child), "%s/%s", real, child_rel) >= (int)sizeof(child) ||
		    snprintf(child_shown, sizeof(child_shown), "%s/%s", shown, child_rel) >=
			    (int)sizeof(child_shown))
			continue;
		path_clean(child_shown);
		/* Gone since it was read: left out, as envd does. */
		if (entry_info(child, child_shown, &entry, e)) {
			if (e->code == RPC_NOT_FOUND)
				continue;
			ret = -1;
			break;
		}
		json_array_append_new(entries, entry);
		if (level < depth && !lstat(child, &st) && S_ISDIR(st.st_mode))
			ret = walk(real, shown, child_rel, depth, level + 1, entries, e);
	}
	goto out;

err_oom:
	ret = rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return ret;
}

static int fs_list(struct agent *a, const struct rpc_ctx *ctx, void *req, json_t **resp,
		   struct rpc_err *e)
{
	struct fs_req *r = req;
	char path[PATH_MAX], *real;
	struct stat st;
	json_t *entries;
	int ret = -1;

	if (fs_enter(a, ctx, r->path, path, e))
		return -1;
	entries = json_array();
	real = realpath(path, NULL);
	if (!entries) {
		rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
	} else if (!real) {
		rpc_fail(e, errno == ENOENT ? RPC_NOT_FOUND : rpc_code_of_errno(errno),
			 "path not found: %s: %s", path, strerror(errno));
	} else if (stat(real, &st)) {
		rpc_fail(e, rpc_code_of_errno(errno), "error getting file info: %s", strerror(errno));
	} else if (!S_ISDIR(st.st_mode)) {
		rpc_fail(e, RPC_INVALID_ARGUMENT, "path is not a directory: %s", path);
	} else {
		ret = walk(real, path, "", r->depth ? r->depth : 1, 1, entries, e);
	}
	user_leave();
	free(real);
	if (!ret && !(*resp = json_pack("{s:O}", "entries", entries)))
		ret = rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
	json_decref(entries);
	return ret;
}

static int fs_mkdir(struct agent *a, const struct rpc_ctx *ctx, void *req, json_t **resp,
		    struct rpc_err *e)
{
	struct fs_req *r = req;
	char path[PATH_MAX];
	struct stat st;
	json_t *entry = NULL;
	int ret = -1;

	if (fs_enter(a, ctx, r->path, path, e))
		return -1;
	if (!stat(path, &st)) {
		if (S_ISDIR(st.st_mode))
			rpc_fail(e, RPC_ALREADY_EXISTS, "directory already exists: %s", path);
		else
			rpc_fail(e, RPC_INVALID_ARGUMENT,
				 "path already exists but it is not a directory: %s", path);
	} else if (errno != ENOENT) {
		rpc_fail(e, rpc_code_of_errno(errno), "error getting file info: %s", strerror(errno));
	} else if ((ret = path_mkdirs(path))) {
		rpc_fail(e, rpc_code_of_errno(ret), "error creating directory %s: %s", path,
			 strerror(-ret));
		ret = -1;
	} else {
		ret = entry_info(path, NULL, &entry, e);
	}
	user_leave();
	if (!ret && !(*resp = json_pack("{s:o}", "entry", entry)))
		ret = rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
	return ret;
}

static int fs_move(struct agent *a, const struct rpc_ctx *ctx, void *req, json_t **resp,
		   struct rpc_err *e)
{
	struct fs_req *r = req;
	char src[PATH_MAX], dst[PATH_MAX], parent[PATH_MAX];
	json_t *entry = NULL;
	int ret = -1;

	if (rpc_need_user(ctx, e) ||
	    path_resolve(r->dest, strlen(r->dest), &ctx->user, a->default_workdir, dst, e) ||
	    fs_enter(a, ctx, r->path, src, e))
		return -1;
	path_parent(dst, parent);
	if ((ret = path_mkdirs(parent))) {
		rpc_fail(e, rpc_code_of_errno(ret), "error creating directory %s: %s", parent,
			 strerror(-ret));
		ret = -1;
	} else if (rename(src, dst)) {
		rpc_fail(e, rpc_code_of_errno(errno), "%s: rename %s %s: %s",
			 errno == ENOENT ? "source file not found" : "error renaming", src, dst,
			 strerror(errno));
	} else {
		ret = entry_info(dst, NULL, &entry, e);
	}
	user_leave();
	if (!ret && !(*resp = json_pack("{s:o}", "entry", entry)))
		ret = rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
	return ret;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return (flag == FTW_DP ? rmdir(p) : unlink(p)) && errno != ENOENT ? -1 : 0;
}

static int fs_remove(struct agent *a, const struct rpc_ctx *ctx, void *req, json_t **resp,
		     struct rpc_err *e)
{
	struct fs_req *r = req;
	char path[PATH_MAX];
	struct stat st;
	int ret = 0;

	if (fs_enter(a, ctx, r->path, path, e))
		return -1;
	/* Go's os.RemoveAll: what is not there is removed already; links are not followed. */
	if (lstat(path, &st)) {
		if (errno != ENOENT)
			ret = rpc_fail(e, rpc_code_of_errno(errno), "error removing %s: %s", path,
				       strerror(errno));
	} else if (!S_ISDIR(st.st_mode) ? unlink(path) && errno != ENOENT :
					  nftw(path, rm_one, 64, FTW_DEPTH | FTW_PHYS)) {
		ret = rpc_fail(e, rpc_code_of_errno(errno),
			       "error removing file or directory %s: %s", path, strerror(errno));
	}
	user_leave();
	if (!ret && !(*resp = json_object()))
		ret = rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
	return ret;
}

const struct rpc_method fs_methods[] = {
	{ .path = "/filesystem.Filesystem/Stat", .decode = fs_decode_path, .free_req = fs_free,
	  .unary = fs_stat },
	{ .path = "/filesystem.Filesystem/ListDir", .decode = fs_decode_path, .free_req = fs_free,
	  .unary = fs_list },
	{ .path = "/filesystem.Filesystem/MakeDir", .decode = fs_decode_path, .free_req = fs_free,
	  .unary = fs_mkdir },
	{ .path = "/filesystem.Filesystem/Move", .decode = fs_decode_move, .free_req = fs_free,
	  .unary = fs_move },
	{ .path = "/filesystem.Filesystem/Remove", .decode = fs_decode_path, .free_req = fs_free,
	  .unary = fs_remove },
	{ .path = NULL },
};
