/* envd's file routes (files.h). */
#include "agent/files.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/http.h"
#include "agent/multipart.h"
#include "agent/path.h"
#include "agent/user.h"

#define FILES_MAX_PARTS 1024u

/* A POST /files in flight: what its headers decided. */
struct upload {
	struct agent_user user;
	bool raw;
	int fd;                       /* the file (raw) or the spool (multipart) */
	char path[PATH_MAX];          /* raw: the file; multipart: the path parameter or "" */
	bool has_path;
	char boundary[MULTIPART_BOUNDARY_MAX + 1];
};

void files_error(struct http_conn *c, unsigned int status, const char *fmt, ...)
{
	char msg[PATH_MAX + 256];
	json_t *o;
	char *js;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o = json_pack("{s:s, s:i}", "message", msg, "code", (int)status);
	js = o ? json_dumps(o, JSON_COMPACT) : NULL;
	http_reply(c, status, "application/json; charset=utf-8", NULL, js ? js : "{}",
		   js ? strlen(js) : 2);
	free(js);
	json_decref(o);
}

static unsigned int status_of_errno(int err)
{
	switch (err) {
	case ENOENT:
		return 404;
	case EACCES:
	case EPERM:
	case EROFS:
		return 403;
	case ENOSPC:
	case EDQUOT:
		return 507;
	case EISDIR:
	case ENOTDIR:
	case ENAMETOOLONG:
	case EINVAL:
		return 400;
	default:
		return 500;
	}
}

/*
 * The user (username, or the default) and the path parameter resolved
 * for them (out "" when there is none and !need). 0, or -1 answered.
 */
static int files_params(struct agent *a, struct http_conn *c, struct http_req *r,
			struct agent_user *u, char *out, bool *has_path)
{
	char *username = NULL, *path = NULL;
	struct rpc_err e;
	int ret = http_query(r, "username", &username);

	if (ret == -ENOENT)
		ret = 0;
	if (!ret)
		ret = http_query(r, "path", &path);
	*has_path = !ret;
	if (ret == -ENOENT)
		ret = 0;
	if (ret) {
		files_error(c, 400, "invalid query string");
		goto err;
	}
	ret = user_lookup(username ? username : agent_default_user(a), u);
	if (ret) {
		files_error(c, 401, "error looking up user '%s': %s",
			    username ? username : agent_default_user(a),
			    ret == -ENOENT ? "unknown user" : strerror(-ret));
		goto err;
	}
	out[0] = '\0';
	if (*has_path &&
	    path_resolve(path, strlen(path), u, a->default_workdir, out, &e)) {
		files_error(c, 400, "error resolving path: %s", e.msg);
		goto err;
	}
	free(username);
	free(path);
	return 0;

err:
	free(username);
	free(path);
	return -1;
}

/* Go's mime.FormatMediaType("inline", {"filename": name}) as a header line. */
static void disposition(const char *name, char *out, size_t n)
{
	bool token = name[0], ascii = true;
	size_t o;

	for (const char *p = name; *p; p++) {
		token &= *p > 0x20 && *p < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", *p);
		ascii &= *p >= 0x20 && *p < 0x7f;
	}
	if (token) {
		snprintf(out, n, "Content-Disposition: inline; filename=%s\r\n", name);
		return;
	}
	o = (size_t)snprintf(out, n, "Content-Disposition: inline; filename%s",
			     ascii ? "=\"" : "*=utf-8''");
	for (const unsigned char *p = (const unsigned char *)name; *p && o + 8 < n; p++) {
		if (ascii && (*p == '"' || *p == '\\'))
			o += (size_t)snprintf(out + o, n - o, "\\%c", *p);
		else if (ascii || (isalnum(*p) || strchr("!#$&+-.^_`|~", *p)))
			out[o++] = (char)*p;
		else
			o += (size_t)snprintf(out + o, n - o, "%%%02X", *p);
	}
	snprintf(out + o, n - o, "%s\r\n", ascii ? "\"" : "");
}

void files_get(struct agent *a, struct http_conn *c, struct http_req *r)
{
	char path[PATH_MAX], name[NAME_MAX + 2], extra[3 * NAME_MAX + 128];
	struct agent_user *u = malloc(sizeof(*u));
	struct stat st;
	bool has_path;
	int fd, err;

	if (!u) {
		files_error(c, 500, "out of memory");
		return;
	}
	if (files_params(a, c, r, u, path, &has_path))
		goto out;
	if (!has_path)
		path_resolve("", 0, u, a->default_workdir, path, &(struct rpc_err){ 0 });
	if (a->cfg.decode_only) {
		http_reply(c, 200, "application/octet-stream", NULL, NULL, 0);
		goto out;
	}
	if ((err = -user_enter(u))) {
		files_error(c, 500, "cannot act as %s: %s", u->name, strerror(err));
		goto out;
	}
	/*
	 * Looked at before it is opened: opening a device can do things
	 * (a watchdog starts), and only regular files are served.
	 */
	fd = -1;
	err = stat(path, &st) ? errno : 0;
	if (!err && S_ISREG(st.st_mode)) {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
		err = fd < 0 ? errno : fstat(fd, &st) ? errno : 0;
	}
	user_leave();
	if (err == ENOENT)
		files_error(c, 404, "path '%s' does not exist", path);
	else if (err)
		files_error(c, status_of_errno(err), "error opening file '%s': %s", path,
			    strerror(err));
	else if (S_ISDIR(st.st_mode))
		files_error(c, 400, "path '%s' is a directory", path);
	else if (!S_ISREG(st.st_mode))
		files_error(c, 400, "path '%s' is not a regular file", path);
	if (err || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		goto out;
	}
	/* A regular file's reads never wait; O_NONBLOCK was for what it might have been instead. */
	path_base(path, name, sizeof(name));
	disposition(name, extra, sizeof(extra));
	http_reply_fd(c, 200, "application/octet-stream", extra, fd, (uint64_t)st.st_size);
out:
	free(u);
}

static void upload_free(void *opaque)
{
	struct upload *up = opaque;

	if (up->fd >= 0)
		close(up->fd);
	free(up);
}

/* An unlinked file for the body: in spool_dir, or in memory when that cannot be. */
static int spool_open(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	return fd >= 0 ? fd : memfd_create("hearth-agent-upload", MFD_CLOEXEC);
}

/* Opens path for writing as the current user, its directories made: fd or -errno. */
static int open_target(const char *path)
{
	char parent[PATH_MAX];
	struct stat st;
	int ret, fd;

	path_parent(path, parent);
	ret = path_mkdirs(parent);
	if (ret)
		return ret;
	if (!stat(path, &st) && S_ISDIR(st.st_mode))
		return -EISDIR;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0666);
	return fd < 0 ? -errno : fd;
}

void files_post_headers(struct agent *a, struct http_conn *c, struct http_req *r)
{
	const char *ct = http_header(r, "Content-Type");
	const char *enc = http_header(r, "Content-Encoding");
	struct upload *up = calloc(1, sizeof(*up));
	int ret;

	if (!up) {
		files_error(c, 500, "out of memory");
		return;
	}
	up->fd = -1;
	r->ctx = up;
	r->ctx_free = upload_free;
	if (files_params(a, c, r, &up->user, up->path, &up->has_path))
		return;
	if (enc && strcasecmp(enc, "identity")) {
		files_error(c, 400, "unsupported Content-Encoding '%s'", enc);
		return;
	}
	if (r->has_length && r->content_length > a->cfg.max_upload) {
		files_error(c, 413, "upload of %llu bytes: more than %llu", r->content_length,
			    (unsigned long long)a->cfg.max_upload);
		return;
	}
	if (ct && !strncasecmp(ct, "application/octet-stream", 24) && (!ct[24] || ct[24] == ';')) {
		up->raw = true;
		if (!up->has_path) {
			files_error(c, 400, "path query parameter is required for raw body upload");
			return;
		}
		if (a->cfg.decode_only) {
			http_body_memory(c, a->cfg.max_body);
			return;
		}
		if ((ret = user_enter(&up->user)) == 0) {
			ret = open_target(up->path);
			user_leave();
		}
		if (ret < 0) {
			files_error(c, status_of_errno(-ret), "error opening file '%s': %s", up->path,
				    strerror(-ret));
			return;
		}
		up->fd = ret;
		http_body_fd(c, up->fd, a->cfg.max_upload);
		return;
	}
	if (multipart_boundary(ct, up->boundary, sizeof(up->boundary))) {
		files_error(c, 400,
			    "unsupported content type: %s, expected multipart/form-data or application/octet-stream",
			    ct ? ct : "");
		return;
	}
	up->fd = a->cfg.decode_only ? memfd_create("hearth-agent-upload", MFD_CLOEXEC) :
				      spool_open(a->cfg.spool_dir);
	if (up->fd < 0) {
		files_error(c, 500, "cannot spool the upload: %s", strerror(errno));
		return;
	}
	http_body_fd(c, up->fd, a->cfg.max_upload);
}

/* A multipart upload's parts, written one by one. */
struct post_state {
	struct agent *a;
	struct http_conn *c;
	struct upload *up;
	json_t *written;
	unsigned int status;
	char msg[PATH_MAX + 256];
};

static int post_part(void *opaque, const struct multipart_part *p)
{
	struct post_state *ps = opaque;
	char path[PATH_MAX], name[NAME_MAX + 2];
	struct rpc_err e;
	size_t i;
	json_t *v;
	int fd, ret = 0;

	if (strcmp(p->name, "file"))
		return 0;
	if (json_array_size(ps->written) >= FILES_MAX_PARTS) {
		ps->status = 400;
		snprintf(ps->msg, sizeof(ps->msg), "more than %u files in one upload", FILES_MAX_PARTS);
		return -1;
	}
	if (ps->up->has_path) {
		snprintf(path, sizeof(path), "%s", ps->up->path);
	} else if (!p->filename) {
		ps->status = 400;
		snprintf(ps->msg, sizeof(ps->msg),
			 "error resolving path: filename not found in Content-Disposition header");
		return -1;
	} else if (path_resolve(p->filename, strlen(p->filename), &ps->up->user,
				ps->a->default_workdir, path, &e)) {
		ps->status = 400;
		snprintf(ps->msg, sizeof(ps->msg), "error resolving path: %s", e.msg);
		return -1;
	}
	json_array_foreach(ps->written, i, v)
		if (!strcmp(json_string_value(json_object_get(v, "path")), path)) {
			ps->status = 400;
			snprintf(ps->msg, sizeof(ps->msg),
				 "you cannot upload multiple files to the same path '%s' in one upload request",
				 path);
			return -1;
		}
	if (!ps->a->cfg.decode_only) {
		if ((ret = user_enter(&ps->up->user)) == 0) {
			fd = open_target(path);
			ret = fd < 0 ? fd : 0;
			for (size_t off = 0; fd >= 0 && off < p->len && !ret;) {
				ssize_t n = write(fd, p->data + off, p->len - off);

				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0)
					ret = n < 0 ? -errno : -EIO;
				else
					off += (size_t)n;
			}
			/* A full disk may say so only at close (NFS, some FUSE). */
			if (fd >= 0 && close(fd) && !ret)
				ret = -errno;
			user_leave();
		}
		if (ret < 0) {
			ps->status = status_of_errno(-ret);
			snprintf(ps->msg, sizeof(ps->msg), "error writing file '%s': %s", path,
				 strerror(-ret));
			return -1;
		}
	}
	path_base(path, name, sizeof(name));
	v = json_pack("{s:s, s:s, s:s}", "name", name, "type", "file", "path", path);
	if (!v || json_array_append_new(ps->written, v)) {
		ps->status = 500;
		snprintf(ps->msg, sizeof(ps->msg), "out of memory");
		return -1;
	}
	return 0;
}

static void reply_written(struct http_conn *c, json_t *written)
{
	char *js = json_dumps(written, JSON_COMPACT);

	if (!js) {
		files_error(c, 500, "out of memory");
		return;
	}
	http_reply(c, 200, "application/json", NULL, js, strlen(js));
	free(js);
}

void files_post(struct agent *a, struct http_conn *c, struct http_req *r)
{
	struct upload *up = r->ctx;
	struct post_state ps = { .a = a, .c = c, .up = up };
	char why[256];
	void *map = NULL;
	struct stat st;
	int ret;

	if (r->body_too_big) {
		files_error(c, 413, "upload larger than %llu bytes",
			    (unsigned long long)a->cfg.max_upload);
		return;
	}
	if (r->body_error) {
		files_error(c, status_of_errno(-r->body_error), "error writing file: %s",
			    strerror(-r->body_error));
		return;
	}
	ps.written = json_array();
	if (!ps.written) {
		files_error(c, 500, "out of memory");
		return;
	}
	if (up->raw) {
		char name[NAME_MAX + 2];

		path_base(up->path, name, sizeof(name));
		json_array_append_new(ps.written, json_pack("{s:s, s:s, s:s}", "name", name, "type",
							    "file", "path", up->path));
		reply_written(c, ps.written);
		json_decref(ps.written);
		return;
	}
	if (fstat(up->fd, &st)) {
		files_error(c, 500, "cannot read the spooled upload: %s", strerror(errno));
		goto out;
	}
	if (st.st_size) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, up->fd, 0);
		if (map == MAP_FAILED) {
			files_error(c, 500, "cannot read the spooled upload: %s", strerror(errno));
			map = NULL;
			goto out;
		}
	}
	ret = multipart_each(map ? map : "", (size_t)st.st_size, up->boundary, post_part, &ps, why,
			     sizeof(why));
	if (ret == -EINVAL)
		files_error(c, 400, "error reading form: %s", why);
	else if (ret)
		files_error(c, ps.status ? ps.status : 500, "%s", ps.msg[0] ? ps.msg : "out of memory");
	else
		reply_written(c, ps.written);
out:
	if (map)
		munmap(map, (size_t)st.st_size);
	json_decref(ps.written);
}
