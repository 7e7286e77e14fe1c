/* Paths as envd takes them (path.h). */
#include "agent/path.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

void path_clean(char *p)
{
	char *out = p;
	const char *in = p;

	/* p starts with '/'; out always ends a whole element. */
	while (*in) {
		const char *seg;
		size_t n;

		while (*in == '/')
			in++;
		seg = in;
		n = strcspn(seg, "/");
		in += n;
		if (!n || (n == 1 && seg[0] == '.'))
			continue;
		if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			while (out > p && *--out != '/')
				;
			continue;
		}
		*out++ = '/';
		memmove(out, seg, n);
		out += n;
	}
	if (out == p)
		*out++ = '/';
	*out = '\0';
}

void path_parent(const char *p, char *out)
{
	char *slash;

	snprintf(out, PATH_MAX, "%s", p);
	path_clean(out);
	slash = strrchr(out, '/');
	if (slash)
		slash[slash == out] = '\0';
}

void path_base(const char *p, char *out, size_t n)
{
	size_t end = strlen(p), start;

	/* Go's filepath.Base: trailing slashes go; nothing left is "/". */
	while (end > 1 && p[end - 1] == '/')
		end--;
	if (end == 1 && p[0] == '/') {
		snprintf(out, n, "/");
		return;
	}
	start = end;
	while (start && p[start - 1] != '/')
		start--;
	snprintf(out, n, "%.*s", (int)(end - start), p + start);
}

int path_resolve(const char *in, size_t len, const struct agent_user *u, const char *workdir,
		 char *out, struct rpc_err *e)
{
	const char *p = in;
	int n;

	if (strlen(in) != len)
		return rpc_fail(e, RPC_INVALID_ARGUMENT, "path contains a NUL byte");
	if (len >= PATH_MAX)
		return rpc_fail(e, RPC_INVALID_ARGUMENT, "path is longer than %d bytes", PATH_MAX - 1);
	if (!p[0] && workdir)
		p = workdir;
	if (p[0] == '~' && p[1] && p[1] != '/')
		return rpc_fail(e, RPC_INVALID_ARGUMENT,
				"failed to expand path '%s' for user '%s': cannot expand user-specific home dir",
				p, u->name);
	if (p[0] == '~')
		n = snprintf(out, PATH_MAX, "%s/%s", u->home, p + 1);
	else if (p[0] == '/')
		n = snprintf(out, PATH_MAX, "%s", p);
	else
		n = snprintf(out, PATH_MAX, "%s/%s", u->home, p);
	if (n < 0 || n >= PATH_MAX)
		return rpc_fail(e, RPC_INVALID_ARGUMENT, "path is longer than %d bytes", PATH_MAX - 1);
	/* Go's filepath.Join cleans what it joins; an absolute path is taken as it came. */
	if (p[0] != '/')
		path_clean(out);
	return 0;
}

int path_mkdirs(const char *dir)
{
	char p[PATH_MAX];
	struct stat st;
	size_t len;

	if (snprintf(p, sizeof(p), "%s", dir) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	path_clean(p);
	len = strlen(p);
	/* Each element from the root down: made when missing, refused when not a directory. */
	for (size_t i = 1; i <= len; i++) {
		char saved = p[i];

		if (saved && saved != '/')
			continue;
		p[i] = '\0';
		if (mkdir(p, 0755) && errno != EEXIST)
			return -errno;
		if (stat(p, &st))
			return -errno;
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
		p[i] = saved;
	}
	return 0;
}
