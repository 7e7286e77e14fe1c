/* Directory watchers on inotify (watch.h) and their RPCs. */
#include "agent/watch.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/entry.h"
#include "agent/loop.h"
#include "agent/path.h"
#include "agent/pjson.h"
#include "agent/rpc.h"
#include "agent/user.h"

#define WATCH_MAX 1024u
#define WATCH_MAX_DIRS 65536u
#define WATCH_MAX_QUEUED 65536u
#define WATCH_MASK (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_MOVE_SELF | IN_ATTRIB | \
		    IN_MODIFY | IN_DELETE | IN_DELETE_SELF)

struct watch_dir {
	int wd;
	char *rel;           /* "" for the watched directory itself */
};

struct watcher {
	struct agent *a;
	struct watcher *prev, *next;
	int ifd;
	struct loop_fd w;
	char root[PATH_MAX];
	bool recursive, include_entry;
	struct agent_user user;
	struct watch_dir *dirs;
	size_t ndirs, cap;
	struct rpc_stream *stream;   /* WatchDir's, or NULL */
	char id[33];                 /* CreateWatcher's */
	json_t *queued;              /* CreateWatcher's events until asked for */
	bool failed;
	struct rpc_err err;
};

struct watch_table {
	struct watcher *list;
	unsigned int n;
};

struct watch_req {
	char *path;
	bool recursive, include_entry, allow_network;
	const char *id;
	json_t *msg;         /* holds id's string */
};

int watch_table_create(struct watch_table **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

static void watcher_free(void *opaque)
{
	struct watcher *w = opaque;

	for (size_t i = 0; i < w->ndirs; i++)
		free(w->dirs[i].rel);
	free(w->dirs);
	json_decref(w->queued);
	free(w);
}

/* Stops w and forgets it; its stream, if any, is the caller's to end or already gone. */
static void watcher_destroy(struct watcher *w)
{
	struct watch_table *t = w->a->watches;

	loop_fd_del(w->a->loop, &w->w);
	close(w->ifd);
	if (w->prev)
		w->prev->next = w->next;
	else
		t->list = w->next;
	if (w->next)
		w->next->prev = w->prev;
	t->n--;
	if (loop_defer(w->a->loop, watcher_free, w))
		watcher_free(w);
}

void watch_table_destroy(struct agent *a, struct watch_table *t)
{
	if (!t)
		return;
	while (t->list) {
		struct watcher *w = t->list;
		struct rpc_stream *s = w->stream;

		w->stream = NULL;
		watcher_destroy(w);
		if (s) {
			s->ops = NULL;
			rpc_stream_finish(s, NULL);
		}
	}
	free(t);
}

/* Watches root/rel and, when recursive, every directory under it (as w's user). */
static int watch_add(struct watcher *w, const char *rel)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int wd;

	if (snprintf(path, sizeof(path), "%s%s%s", w->root, rel[0] ? "/" : "", rel) >=
	    (int)sizeof(path))
		return 0;
	wd = inotify_add_watch(w->ifd, path, WATCH_MASK | IN_ONLYDIR | IN_DONT_FOLLOW);
	if (wd < 0)
		return -errno;
	if (w->ndirs == WATCH_MAX_DIRS)
		return -ENOSPC;
	if (w->ndirs == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 16;
		struct watch_dir *nd = realloc(w->dirs, cap * sizeof(*nd));

		if (!nd)
			return -ENOMEM;
		w->dirs = nd;
		w->cap = cap;
	}
	w->dirs[w->ndirs].wd = wd;
	w->dirs[w->ndirs].rel = strdup(rel);
	if (!w->dirs[w->ndirs].rel)
		return -ENOMEM;
	w->ndirs++;
	if (!w->recursive)
		return 0;
	d = opendir(path);
	while (d && (de = readdir(d))) {
		char sub[PATH_MAX];
		int ret;

		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name) >=
		    (int)sizeof(sub))
			continue;
		ret = watch_add(w, sub);
		/* A subdirectory the user cannot read, or one gone since, is not watched. */
		if (ret && ret != -EACCES && ret != -ENOENT && ret != -ENOTDIR) {
			closedir(d);
			return ret;
		}
	}
	if (d)
		closedir(d);
	return 0;
}

static struct watch_dir *dir_of(struct watcher *w, int wd)
{
	for (size_t i = 0; i < w->ndirs; i++)
		if (w->dirs[i].wd == wd)
			return &w->dirs[i];
	return NULL;
}

static void dir_forget(struct watcher *w, int wd)
{
	struct watch_dir *d = dir_of(w, wd);

	if (!d)
		return;
	free(d->rel);
	*d = w->dirs[--w->ndirs];
}

/* The watcher cannot go on: a stream ends with e, a queue keeps it for the next poll. */
static void watcher_fail(struct watcher *w, const struct rpc_err *e)
{
	struct rpc_stream *s = w->stream;

	if (s) {
		w->stream = NULL;
		watcher_destroy(w);
		s->ops = NULL;
		rpc_stream_finish(s, e);
		return;
	}
	w->failed = true;
	w->err = *e;
	loop_fd_del(w->a->loop, &w->w);
}

/* One FilesystemEvent to w's client; false once w is gone. */
static bool deliver(struct watcher *w, const char *name, const char *type, bool entry_ok)
{
	json_t *ev = json_pack("{s:s, s:s}", "name", name, "type", type), *entry;
	struct rpc_err e;

	if (ev && w->include_entry && entry_ok) {
		char path[PATH_MAX];

		/* A path too long to name is an event without its entry. */
		if (snprintf(path, sizeof(path), "%s/%s", w->root, name) < (int)sizeof(path) &&
		    !user_enter(&w->user)) {
			if (!entry_info(path, NULL, &entry, &e))
				json_object_set_new(ev, "entry", entry);
			user_leave();
		}
	}
	if (!ev) {
		rpc_fail(&e, RPC_RESOURCE_EXHAUSTED, "out of memory");
		watcher_fail(w, &e);
		return false;
	}
	if (w->stream) {
		rpc_stream_send(w->stream, json_pack("{s:o}", "filesystem", ev));
		return true;
	}
	if (json_array_size(w->queued) >= WATCH_MAX_QUEUED) {
		json_decref(ev);
		rpc_fail(&e, RPC_RESOURCE_EXHAUSTED, "watcher error: more than %u events unread",
			 WATCH_MAX_QUEUED);
		watcher_fail(w, &e);
		return false;
	}
	json_array_append_new(w->queued, ev);
	return true;
}

/* One inotify event: false once w is gone. */
static bool watch_event(struct watcher *w, const struct inotify_event *ev)
{
	struct watch_dir *d = dir_of(w, ev->wd);
	char name[PATH_MAX];
	struct rpc_err e;

	if (ev->mask & IN_Q_OVERFLOW) {
		rpc_fail(&e, RPC_INTERNAL, "watcher error: fsnotify: queue or buffer overflow");
		watcher_fail(w, &e);
		return false;
	}
	if (ev->mask & IN_IGNORED) {
		dir_forget(w, ev->wd);
		return true;
	}
	if (!d)
		return true;
	if (ev->len)
		snprintf(name, sizeof(name), "%s%s%s", d->rel, d->rel[0] ? "/" : "", ev->name);
	else if (!d->rel[0])
		snprintf(name, sizeof(name), ".");
	else
		/* A subdirectory's own removal: its parent's watch told it already. */
		return true;
	if (w->recursive && (ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)) &&
	    !user_enter(&w->user)) {
		watch_add(w, name);
		user_leave();
	}
	if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && !deliver(w, name, "EVENT_TYPE_CREATE", true))
		return false;
	if ((ev->mask & (IN_MOVED_FROM | IN_MOVE_SELF)) &&
	    !deliver(w, name, "EVENT_TYPE_RENAME", false))
		return false;
	if ((ev->mask & IN_ATTRIB) && !deliver(w, name, "EVENT_TYPE_CHMOD", true))
		return false;
	if ((ev->mask & IN_MODIFY) && !deliver(w, name, "EVENT_TYPE_WRITE", true))
		return false;
	if ((ev->mask & (IN_DELETE | IN_DELETE_SELF)) &&
	    !deliver(w, name, "EVENT_TYPE_REMOVE", false))
		return false;
	return true;
}

static void watch_readable(void *opaque, uint32_t events)
{
	struct watcher *w = opaque;
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n = read(w->ifd, buf, sizeof(buf));

	for (ssize_t off = 0; n > 0 && off < n;) {
		const struct inotify_event *ev = (const struct inotify_event *)(buf + off);

		off += (ssize_t)sizeof(*ev) + ev->len;
		if (!watch_event(w, ev))
			return;
	}
	/* A client that does not read pauses the watcher (the kernel queues, then overflows). */
	if (w->stream && rpc_stream_full(w->stream))
		loop_fd_mod(w->a->loop, &w->w, 0);
}

static void watch_req_free(void *req)
{
	struct watch_req *r = req;

	if (!r)
		return;
	free(r->path);
	json_decref(r->msg);
	free(r);
}

static int watch_decode(json_t *msg, void **out, struct rpc_err *e)
{
	struct watch_req *r = calloc(1, sizeof(*r));
	const char *path = "";

	*out = NULL;
	if (!r)
		return rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
	r->msg = json_incref(msg);
	if (pjson_string(msg, "path", NULL, &path, e) ||
	    pjson_bool(msg, "recursive", NULL, &r->recursive, NULL, e) ||
	    pjson_bool(msg, "includeEntry", "include_entry", &r->include_entry, NULL, e) ||
	    pjson_bool(msg, "allowNetworkMounts", "allow_network_mounts", &r->allow_network, NULL,
		       e) ||
	    pjson_string(msg, "watcherId", "watcher_id", &r->id, e))
		goto err_free;
	r->path = strdup(path);
	if (!r->path) {
		rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
		goto err_free;
	}
	*out = r;
	return 0;

err_free:
	watch_req_free(r);
	return -1;
}

/* Network file systems whose events may never come: watched only when asked for. */
static bool on_network_mount(const char *path)
{
	struct statfs fs;

	if (statfs(path, &fs))
		return false;
	switch ((unsigned long)fs.f_type) {
	case 0x6969:       /* NFS */
	case 0xFF534D42:   /* CIFS */
	case 0x517B:       /* SMB */
	case 0xFE534D42:   /* SMB2 */
	case 0x65735546:   /* FUSE */
		return true;
	default:
		return false;
	}
}

/* A watcher for r (not yet fed to a client): 0, or -1 with e. */
static int watcher_create(struct agent *a, const struct rpc_ctx *ctx, const struct watch_req *r,
			  struct watcher **out, struct rpc_err *e)
{
	struct watcher *w;
	struct stat st;
	int ret;

	*out = NULL;
	if (rpc_need_user(ctx, e))
		return -1;
	if (a->watches->n >= WATCH_MAX)
		return rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "more than %u watchers", WATCH_MAX);
	w = calloc(1, sizeof(*w));
	if (!w)
		return rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
	w->a = a;
	w->w.fd = -1;
	w->user = ctx->user;
	w->recursive = r->recursive;
	w->include_entry = r->include_entry;
	w->ifd = -1;
	if (path_resolve(r->path, strlen(r->path), &ctx->user, a->default_workdir, w->root, e))
		goto err_free;
	ret = user_enter(&w->user);
	if (ret) {
		rpc_fail(e, RPC_INTERNAL, "cannot act as %s: %s", w->user.name, strerror(-ret));
		goto err_free;
	}
	if (stat(w->root, &st)) {
		rpc_fail(e, errno == ENOENT ? RPC_NOT_FOUND : rpc_code_of_errno(errno),
			 "path %s not found: %s", w->root, strerror(errno));
		goto err_leave;
	}
	if (!S_ISDIR(st.st_mode)) {
		rpc_fail(e, RPC_INVALID_ARGUMENT, "path %s not a directory", w->root);
		goto err_leave;
	}
	if (!r->allow_network && on_network_mount(w->root)) {
		rpc_fail(e, RPC_INVALID_ARGUMENT, "cannot watch path on network filesystem: %s",
			 w->root);
		goto err_leave;
	}
	w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	ret = w->ifd < 0 ? -errno : watch_add(w, "");
	if (ret) {
		rpc_fail(e, rpc_code_of_errno(ret), "error adding path %s to watcher: %s", w->root,
			 strerror(-ret));
		goto err_leave;
	}
	user_leave();
	ret = loop_fd_add(a->loop, &w->w, w->ifd, EPOLLIN, watch_readable, w);
	if (ret) {
		rpc_fail(e, RPC_INTERNAL, "error creating watcher: %s", strerror(-ret));
		goto err_free;
	}
	w->next = a->watches->list;
	if (w->next)
		w->next->prev = w;
	a->watches->list = w;
	a->watches->n++;
	*out = w;
	return 0;

err_leave:
	user_leave();
err_free:
	if (w->ifd >= 0)
		close(w->ifd);
	watcher_free(w);
	return -1;
}

static void watch_detach(struct rpc_stream *s, bool deadline)
{
	struct watcher *w = s->owner;

	w->stream = NULL;
	watcher_destroy(w);
}

static void watch_drained(struct rpc_stream *s)
{
	struct watcher *w = s->owner;

	loop_fd_mod(w->a->loop, &w->w, EPOLLIN);
}

static const struct rpc_stream_ops watch_stream_ops = {
	.keepalive_json = "{\"keepalive\":{}}",
	.detach = watch_detach,
	.drained = watch_drained,
};

static int watch_dir(struct agent *a, const struct rpc_ctx *ctx, void *req, struct rpc_stream *s,
		     struct rpc_err *e)
{
	struct watcher *w;

	if (watcher_create(a, ctx, req, &w, e))
		return -1;
	w->stream = s;
	s->ops = &watch_stream_ops;
	s->owner = w;
	rpc_stream_send(s, json_pack("{s:{}}", "start"));
	return 0;
}

static struct watcher *watcher_find(struct agent *a, const char *id)
{
	for (struct watcher *w = a->watches->list; w && id; w = w->next)
		if (!w->stream && !strcmp(w->id, id))
			return w;
	return NULL;
}

static int watch_create(struct agent *a, const struct rpc_ctx *ctx, void *req, json_t **resp,
			struct rpc_err *e)
{
	uint8_t rnd[16];
	struct watcher *w;

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return rpc_fail(e, RPC_INTERNAL, "no randomness for an id: %s", strerror(errno));
	if (watcher_create(a, ctx, req, &w, e))
		return -1;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(w->id + 2 * i, 3, "%02x", rnd[i]);
	w->queued = json_array();
	*resp = w->queued ? json_pack("{s:s}", "watcherId", w->id) : NULL;
	if (!*resp) {
		watcher_destroy(w);
		return rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
	}
	return 0;
}

static int watch_events(struct agent *a, const struct rpc_ctx *ctx, void *req, json_t **resp,
			struct rpc_err *e)
{
	struct watch_req *r = req;
	struct watcher *w = watcher_find(a, r->id);

	if (!w)
		return rpc_fail(e, RPC_NOT_FOUND, "watcher with id %s not found", r->id ? r->id : "");
	if (w->failed) {
		*e = w->err;
		return -1;
	}
	*resp = json_pack("{s:o}", "events", w->queued);
	w->queued = json_array();
	if (!*resp || !w->queued)
		return rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
	return 0;
}

static int watch_remove(struct agent *a, const struct rpc_ctx *ctx, void *req, json_t **resp,
			struct rpc_err *e)
{
	struct watch_req *r = req;
	struct watcher *w = watcher_find(a, r->id);

	if (!w)
		return rpc_fail(e, RPC_NOT_FOUND, "watcher with id %s not found", r->id ? r->id : "");
	watcher_destroy(w);
	*resp = json_object();
	return *resp ? 0 : rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
}

const struct rpc_method watch_methods[] = {
	{ .path = "/filesystem.Filesystem/WatchDir", .server_stream = true,
	  .decode = watch_decode, .free_req = watch_req_free, .stream = watch_dir },
	{ .path = "/filesystem.Filesystem/CreateWatcher", .decode = watch_decode,
	  .free_req = watch_req_free, .unary = watch_create },
	{ .path = "/filesystem.Filesystem/GetWatcherEvents", .decode = watch_decode,
	  .free_req = watch_req_free, .unary = watch_events },
	{ .path = "/filesystem.Filesystem/RemoveWatcher", .decode = watch_decode,
	  .free_req = watch_req_free, .unary = watch_remove },
	{ .path = NULL },
};
