#include "api/json_fork.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json_snapshot.h"
#include "fcjson/config_json_fields.h"

static const char *const template_states[] = { "Paused", "Resumed", NULL };

static const struct jfield fork_fields[] = {
	{ "count", J_UINT, false, NULL, "u32", NULL },
	{ "clone", J_OBJ, false, NULL, "struct CloneConfig", NULL },
	{ "clones", J_ARR, false, NULL, NULL, NULL },
	{ "template", J_ENUM, false, NULL, NULL, template_states },
	{ "resume", J_BOOL, false, NULL, NULL, NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

static const struct jfield clone_fields[] = {
	{ "api_sock", J_STR, true, NULL, "path string", NULL },
	{ "serial_out", J_STR, false, NULL, "path string", NULL },
	{ "network_overrides", J_ARR, false, NULL, NULL, NULL },
	{ "drive_overrides", J_ARR, false, NULL, NULL, NULL },
	{ "pmem_overrides", J_ARR, false, NULL, NULL, NULL },
	{ "vsock_override", J_OBJ, false, NULL, "struct VsockOverride", NULL },
	{ "firmware_override", J_OBJ, false, NULL, "struct FirmwareOverride", NULL },
	{ "mmds", J_OBJ, false, NULL, "MMDS contents", NULL },   /* its MMDS store at start */
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

/* s with every "{i}" replaced by i; NULL: out of memory. */
static char *subst(const char *s, unsigned int i)
{
	char num[16], *out, *p;
	size_t n = 0, len = strlen(s), nlen = (size_t)snprintf(num, sizeof(num), "%u", i);

	for (const char *q = strstr(s, "{i}"); q; q = strstr(q + 3, "{i}"))
		n++;
	out = malloc(len + n * nlen + 1);
	if (!out)
		return NULL;
	for (p = out; *s;) {
		if (!strncmp(s, "{i}", 3)) {
			memcpy(p, num, nlen);
			p += nlen;
			s += 3;
		} else {
			*p++ = *s++;
		}
	}
	*p = '\0';
	return out;
}

/* A deep copy of v, "{i}" replaced in every string. NULL: out of memory. */
static json_t *expand(json_t *v, unsigned int i)
{
	json_t *out, *x, *c;
	const char *k;
	size_t j;
	char *s;

	switch (json_typeof(v)) {
	case JSON_STRING:
		s = subst(json_string_value(v), i);
		out = s ? json_string(s) : NULL;
		free(s);
		return out;
	case JSON_OBJECT:
		out = json_object();
		json_object_foreach(v, k, x) {
			c = out ? expand(x, i) : NULL;
			if (!c || json_object_set_new(out, k, c)) {
				json_decref(out);
				return NULL;
			}
		}
		return out;
	case JSON_ARRAY:
		out = json_array();
		json_array_foreach(v, j, x) {
			c = out ? expand(x, i) : NULL;
			if (!c || json_array_append_new(out, c)) {
				json_decref(out);
				return NULL;
			}
		}
		return out;
	default:
		return json_incref(v);
	}
}

/* A path the zygote resolves beneath --fork-dir: relative, no "..", not empty. */
static int check_rel(const char *what, const char *field, const char *p, struct err *err)
{
	const char *q = p;

	if (!p)
		return 0;
	if (!*p || *p == '/')
		return err_set(err, true, -EINVAL, "%s: %s '%.64s': give a path relative to the "
			       "template's --fork-dir", what, field, p);
	for (; q; q = strchr(q, '/')) {
		q += *q == '/';
		if (!strncmp(q, "..", 2) && (q[2] == '/' || !q[2]))
			return err_set(err, true, -EINVAL, "%s: %s '%.64s': no '..' in a clone's "
				       "paths (they stay beneath --fork-dir)", what, field, p);
	}
	return 0;
}

static int parse_clone(json_t *spec, unsigned int i, struct fork_clone *c, struct err *err)
{
	struct snap_load_req *l = &c->load;
	char what[48];
	int ret;

	snprintf(what, sizeof(what), "fork: clone %u", i);
	if (!json_is_object(spec))
		return err_set(err, true, -EINVAL, "%s: want an object", what);
	ret = config_json_check(what, spec, clone_fields, err);
	if (ret)
		return ret;
	c->spec = spec;
	c->api_sock = json_string_value(json_object_get(spec, "api_sock"));
	c->serial_out = json_string_value(json_object_get(spec, "serial_out"));
	c->mmds = json_object_get(spec, "mmds");
	if (json_is_null(c->mmds))
		c->mmds = NULL;
	ret = json_snapshot_overrides(spec, l, what, err);
	if (!ret)
		ret = check_rel(what, "api_sock", c->api_sock, err);
	if (!ret)
		ret = check_rel(what, "serial_out", c->serial_out, err);
	for (unsigned int d = 0; !ret && d < l->n_drive_overrides; d++) {
		ret = check_rel(what, "drive_overrides path_on_host",
				l->drive_overrides[d].path_on_host, err);
		for (unsigned int b = 0; !ret && b < l->drive_overrides[d].n_backing; b++)
			ret = check_rel(what, "drive_overrides backing_files",
					l->drive_overrides[d].backing_files[b], err);
	}
	for (unsigned int d = 0; !ret && d < l->n_pmem_overrides; d++)
		ret = check_rel(what, "pmem_overrides path_on_host",
				l->pmem_overrides[d].path_on_host, err);
	if (!ret)
		ret = check_rel(what, "vsock_override uds_path", l->vsock_uds_path, err);
	if (!ret)
		ret = check_rel(what, "firmware_override firmware_path", l->firmware_path, err);
	if (!ret)
		ret = check_rel(what, "firmware_override firmware_vars_path",
				l->firmware_vars_path, err);
	return ret;
}

/* One file each device of a clone holds: its path, whether written, what it is for. */
struct named {
	const char *path, *kind;
	bool writable;
};

/* The drive images and pmem files of c, into out (room for both lists): how many. */
static unsigned int clone_files(const struct fork_clone *c, struct named *out)
{
	unsigned int n = 0;

	for (unsigned int d = 0; d < c->load.n_drive_overrides; d++)
		out[n++] = (struct named){ c->load.drive_overrides[d].path_on_host, "drive image",
					   !c->load.drive_overrides[d].is_read_only };
	for (unsigned int d = 0; d < c->load.n_pmem_overrides; d++)
		out[n++] = (struct named){ c->load.pmem_overrides[d].path_on_host, "pmem file",
					   !c->load.pmem_overrides[d].read_only };
	/* A firmware's variable store is written through: one clone's. */
	if (c->load.firmware_vars_path)
		out[n++] = (struct named){ c->load.firmware_vars_path, "firmware variable store",
					   true };
	return n;
}

/*
 * Two clones on one socket or one writable file would fight over it: a
 * writable drive image or pmem file (pmem is mapped shared: live memory
 * between tenants) is one clone's, as drive or pmem, never both; a
 * serial_out is its clone's alone and names none of those files. Here by
 * the names the request gives; the zygote checks the files themselves.
 */
static int check_distinct(const struct fork_req *f, struct err *err)
{
	struct named x[VM_MAX_DRIVES + VM_MAX_PMEM + 1], y[VM_MAX_DRIVES + VM_MAX_PMEM + 1];

	for (unsigned int a = 0; a < f->n; a++) {
		const struct fork_clone *p = &f->clones[a];
		unsigned int nx = clone_files(p, x);

		for (unsigned int b = a; b < f->n; b++) {
			const struct fork_clone *q = &f->clones[b];
			unsigned int ny = clone_files(q, y);

			if (b != a && !strcmp(p->api_sock, q->api_sock))
				return err_set(err, true, -EINVAL, "fork: clones %u and %u have one "
					       "api_sock, '%.64s'", a, b, p->api_sock);
			if (b != a && p->load.vsock_uds_path && q->load.vsock_uds_path &&
			    !strcmp(p->load.vsock_uds_path, q->load.vsock_uds_path))
				return err_set(err, true, -EINVAL, "fork: clones %u and %u have one "
					       "vsock uds_path, '%.64s'", a, b,
					       p->load.vsock_uds_path);
			if (b != a && p->serial_out && q->serial_out &&
			    !strcmp(p->serial_out, q->serial_out))
				return err_set(err, true, -EINVAL, "fork: clones %u and %u have one "
					       "serial_out, '%.64s'", a, b, p->serial_out);
			for (unsigned int d = 0; b != a && d < nx; d++)
				if (q->serial_out && !strcmp(q->serial_out, x[d].path))
					return err_set(err, true, -EINVAL, "fork: clone %u's "
						       "serial_out '%.64s' is clone %u's %s", b,
						       q->serial_out, a, x[d].kind);
			for (unsigned int e = 0; e < ny; e++) {
				if (p->serial_out && !strcmp(p->serial_out, y[e].path))
					return err_set(err, true, -EINVAL, "fork: clone %u's "
						       "serial_out '%.64s' is clone %u's %s", a,
						       p->serial_out, b, y[e].kind);
				for (unsigned int d = b == a ? e + 1 : 0; d < nx; d++) {
					if ((!x[d].writable && !y[e].writable) ||
					    strcmp(x[d].path, y[e].path))
						continue;
					if (a == b)
						return err_set(err, true, -EINVAL, "fork: clone %u "
							       "has '%.64s' as its %s and its %s, "
							       "writable", a, x[d].path, y[e].kind,
							       x[d].kind);
					if (x[d].kind == y[e].kind)
						return err_set(err, true, -EINVAL, "fork: clones %u "
							       "and %u share the %s '%.64s', "
							       "writable", a, b, x[d].kind,
							       x[d].path);
					return err_set(err, true, -EINVAL, "fork: clones %u and %u "
						       "share '%.64s', as a %s and as a %s, "
						       "writable", a, b, x[d].path, x[d].kind,
						       y[e].kind);
				}
			}
		}
	}
	return 0;
}

int json_fork_parse(json_t *o, struct fork_req *f, struct err *err)
{
	json_t *one = json_object_get(o, "clone"), *many = json_object_get(o, "clones");
	json_t *count = json_object_get(o, "count"), *v;
	int ret = config_json_check("fork", o, fork_fields, err);
	json_int_t n;

	memset(f, 0, sizeof(*f));
	if (ret)
		return ret;
	if (json_is_null(one))
		one = NULL;
	if (json_is_null(many))
		many = NULL;
	if (!one == !many)
		return err_set(err, true, -EINVAL, "fork: give clone (with count) or clones, one "
			       "of them");
	if (one && !json_is_integer(count))
		return err_set(err, true, -EINVAL, "fork: clone needs count");
	n = one ? json_integer_value(count) : (json_int_t)json_array_size(many);
	if (many && json_is_integer(count) && json_integer_value(count) != n)
		return err_set(err, true, -EINVAL, "fork: count %" JSON_INTEGER_FORMAT " is not "
			       "the %" JSON_INTEGER_FORMAT " clones listed", json_integer_value(count),
			       n);
	if (n < 1 || n > FORK_MAX_CLONES)
		return err_set(err, true, -EINVAL, "fork: %" JSON_INTEGER_FORMAT " clones: from 1 "
			       "to %d", n, FORK_MAX_CLONES);
	v = json_object_get(o, "template");
	f->template_state = json_is_string(v) ? !strcmp(json_string_value(v), "Resumed") : -1;
	f->resume = !json_is_false(json_object_get(o, "resume"));
	f->clones = calloc((size_t)n, sizeof(*f->clones));
	if (!f->clones)
		return err_set(err, false, -ENOMEM, "fork: out of memory");
	f->n = (unsigned int)n;
	for (unsigned int i = 0; i < f->n; i++) {
		json_t *spec = one ? expand(one, i) : json_incref(json_array_get(many, i));

		if (!spec) {
			ret = err_set(err, false, -ENOMEM, "fork: out of memory");
			break;
		}
		ret = parse_clone(spec, i, &f->clones[i], err);
		if (!f->clones[i].spec)
			json_decref(spec);
		if (ret)
			break;
	}
	if (!ret)
		ret = check_distinct(f, err);
	if (ret)
		json_fork_release(f);
	return ret;
}

void json_fork_release(struct fork_req *f)
{
	for (unsigned int i = 0; f->clones && i < f->n; i++)
		json_decref(f->clones[i].spec);
	free(f->clones);
	memset(f, 0, sizeof(*f));
}
