/* Templates: loaded, booted once, forked (template.h). */
#include "sandboxd/template.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "sandboxd/agent.h"
#include "sandboxd/hclient.h"
#include "util/log.h"

#define TPL_JSON_MAX (64u << 10)
#define TPL_DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=1 quiet"

bool sbx_tpl_id_ok(const char *id)
{
	size_t n = strlen(id);

	if (!n || n > SBX_TPL_ID_MAX || id[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
		      (id[i] >= '0' && id[i] <= '9') || id[i] == '.' || id[i] == '_' || id[i] == '-'))
			return false;
	return true;
}

static void tpl_free(struct sbx_tpl *t)
{
	free(t->kernel);
	free(t->initrd);
	free(t->rootfs);
	free(t->cmdline);
	free(t->user);
	free(t->workdir);
	free(t);
}

/* dir/name of template.json's key, or NULL when absent; -EINVAL in e when not a string. */
static int tpl_path(json_t *o, const char *key, const char *dir, bool need, char **out,
		    struct err *e)
{
	json_t *v = json_object_get(o, key);
	const char *s = json_string_value(v);

	*out = NULL;
	if (!v && !need)
		return 0;
	if (!s || !*s)
		return err_set(e, false, -EINVAL, "%s/template.json: \"%s\" must be a file name",
			       dir, key);
	if (asprintf(out, "%s%s%s", s[0] == '/' ? "" : dir, s[0] == '/' ? "" : "/", s) < 0) {
		*out = NULL;
		return -ENOMEM;
	}
	if (access(*out, R_OK))
		return err_set(e, false, -errno, "%s/template.json: %s %s: %s", dir, key, *out,
			       strerror(errno));
	return 0;
}

static int tpl_uint(json_t *o, const char *key, unsigned int dflt, unsigned int min,
		    unsigned int max, unsigned int *out, const char *dir, struct err *e)
{
	json_t *v = json_object_get(o, key);

	*out = dflt;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return err_set(e, false, -EINVAL, "%s/template.json: \"%s\" must be %u to %u", dir,
			       key, min, max);
	*out = (unsigned int)json_integer_value(v);
	return 0;
}

static int tpl_load(struct sbx *s, const char *id, struct sbx_tpl **out, struct err *e)
{
	char dir[PATH_MAX + 80], file[PATH_MAX + 100];
	struct sbx_tpl *t;
	json_error_t je;
	struct stat st;
	json_t *o;
	int ret;

	snprintf(dir, sizeof(dir), "%s/%s", s->templates, id);
	snprintf(file, sizeof(file), "%s/template.json", dir);
	if (stat(file, &st))
		return err_set(e, true, -ENOENT, "template '%s' not found", id);
	o = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(o)) {
		json_decref(o);
		return err_set(e, false, -EINVAL, "%s: %s", file, o ? "not an object" : je.text);
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		json_decref(o);
		return -ENOMEM;
	}
	snprintf(t->id, sizeof(t->id), "%s", id);
	t->kind = SBX_TPL_BOOT;
	t->vm.pidfd = -1;
	ret = tpl_path(o, "kernel", dir, true, &t->kernel, e);
	if (!ret)
		ret = tpl_path(o, "initrd", dir, false, &t->initrd, e);
	if (!ret)
		ret = tpl_path(o, "rootfs", dir, true, &t->rootfs, e);
	if (!ret)
		ret = tpl_uint(o, "vcpus", 1, 1, 32, &t->vcpus, dir, e);
	if (!ret)
		ret = tpl_uint(o, "memoryMB", 256, 64, 65536, &t->mem_mib, dir, e);
	if (!ret) {
		const char *c = json_string_value(json_object_get(o, "cmdline"));
		const char *u = json_string_value(json_object_get(o, "user"));
		const char *w = json_string_value(json_object_get(o, "workdir"));

		t->cmdline = strdup(c ? c : TPL_DEFAULT_CMDLINE);
		t->user = strdup(u ? u : "user");
		t->workdir = w ? strdup(w) : NULL;
		if (!t->cmdline || !t->user || (w && !t->workdir))
			ret = -ENOMEM;
	}
	if (!ret && !stat(t->rootfs, &st))
		t->disk_bytes = (uint64_t)st.st_size;
	json_decref(o);
	if (ret) {
		tpl_free(t);
		return ret == -ENOMEM ? err_set(e, false, ret, "out of memory") : ret;
	}
	*out = t;
	return 0;
}

int sbx_tpl_find(struct sbx *s, const char *id, struct sbx_tpl **out, struct err *e)
{
	struct sbx_tpl *t;
	int ret;

	for (t = s->tpls; t; t = t->next)
		if (!strcmp(t->id, id)) {
			*out = t;
			return 0;
		}
	if (!sbx_tpl_id_ok(id))
		return err_set(e, true, -ENOENT, "template '%.80s' not found", id);
	ret = tpl_load(s, id, &t, e);
	if (ret)
		return ret;
	t->index = s->ntpls++;
	t->next = s->tpls;
	s->tpls = t;
	*out = t;
	return 0;
}

/*
 * Jailed, the kernel and initrd are placed in the VM's directory (the jail
 * shows it nothing else); unjailed, they are named where they are.
 */
static int place_boot(struct sbx *s, const struct sbx_tpl *t, char *kernel, char *initrd,
		      struct err *e)
{
	int ret = 0;

	snprintf(kernel, SBX_PATH + 16, "%s", t->kernel);
	snprintf(initrd, SBX_PATH + 16, "%s", t->initrd ? t->initrd : "");
	if (!s->jail.on)
		return 0;
	snprintf(kernel, SBX_PATH + 16, "%s/vmlinuz", t->vm.dir);
	ret = sbx_jail_place(s, t->kernel, kernel, e);
	if (!ret && t->initrd) {
		snprintf(initrd, SBX_PATH + 16, "%s/initrd.img", t->vm.dir);
		ret = sbx_jail_place(s, t->initrd, initrd, e);
	}
	return ret;
}

static int write_config(struct sbx *s, const struct sbx_tpl *t, struct err *e)
{
	char path[SBX_PATH + 16], kernel[SBX_PATH + 16], initrd[SBX_PATH + 16];
	const struct sbx_vm *vm = &t->vm;
	json_t *boot, *cfg;
	int ret = place_boot(s, t, kernel, initrd, e);

	if (ret)
		return ret;
	boot = json_pack("{s:s, s:s}", "kernel_image_path", sbx_vm_in(vm, kernel), "boot_args",
			 t->cmdline);
	if (boot && initrd[0])
		json_object_set_new(boot, "initrd_path", json_string(sbx_vm_in(vm, initrd)));
	cfg = json_pack("{s:o?, s:[{s:s, s:s, s:b, s:b}], s:{s:i, s:i}, s:{s:i, s:s}}",
			"boot-source", boot, "drives", "drive_id", "rootfs", "path_on_host",
			sbx_vm_in(vm, t->rootfs_link), "is_root_device", 1, "is_read_only", 1,
			"machine-config", "vcpu_count", (int)t->vcpus, "mem_size_mib",
			(int)t->mem_mib, "vsock", "guest_cid", 3, "uds_path",
			sbx_vm_in(vm, vm->vsock));
	if (!cfg)
		return err_set(e, false, -ENOMEM, "out of memory");
	snprintf(path, sizeof(path), "%s/config.json", vm->dir);
	ret = json_dump_file(cfg, path, JSON_INDENT(1));
	json_decref(cfg);
	if (ret)
		return err_set(e, false, -EIO, "cannot write %s", path);
	return sbx_jail_own(s, vm, path, e);
}

/* Boots t into its directory, waits for its agent, pauses it (lock not held). */
static int tpl_boot(struct sbx *s, struct sbx_tpl *t, struct err *e)
{
	const char *args[] = { "--config-file", "config.json", "--fork-dir", NULL, NULL };
	char config[SBX_PATH + 16];
	struct timespec t0, t1;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = sbx_vm_dir(s, "t", &t->vm, e);
	if (ret)
		goto err_kill;
	/* Jailed, Hearth chroots before it reads its config: the path is the jail's. */
	snprintf(config, sizeof(config), "%s/config.json", t->vm.dir);
	args[1] = sbx_vm_in(&t->vm, config);
	args[3] = sbx_vm_in(&t->vm, t->vm.dir);
	if (snprintf(t->rootfs_link, sizeof(t->rootfs_link), "%s/rootfs.img", t->vm.dir) >=
		    (int)sizeof(t->rootfs_link) ||
	    snprintf(t->vm.vsock, sizeof(t->vm.vsock), "%s/tpl.vsock", t->vm.dir) >=
		    (int)sizeof(t->vm.vsock)) {
		ret = err_set(e, false, -ENAMETOOLONG, "%s: path too long", t->vm.dir);
		goto err_kill;
	}
	ret = sbx_jail_place(s, t->rootfs, t->rootfs_link, e);
	if (!ret)
		ret = write_config(s, t, e);
	if (!ret)
		ret = sbx_vm_spawn(s, &t->vm, args, e);
	if (!ret)
		ret = sbx_agent_wait(s, &t->vm, s->cfg.boot_timeout_s * 1000, e);
	if (!ret)
		ret = hc_call(t->vm.api_sock, "PATCH", "/vm", "{\"state\": \"Paused\"}",
			      (int)s->cfg.op_timeout_s * 1000, NULL, e);
	if (ret)
		goto err_kill;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_info("sandboxes: template %s booted and paused in %ld ms (%s)", t->id,
		 (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000),
		 t->vm.dir);
	return 0;
err_kill:
	/* Its process, its directory and its uid: none outlives a failed boot. */
	sbx_vm_kill(&t->vm);
	return err_prefix(e, ret, "template %s: ", t->id);
}

int sbx_tpl_ready(struct sbx *s, struct sbx_tpl *t, struct err *e)
{
	int ret;

	for (;;) {
		switch (t->state) {
		case SBX_TPL_READY:
			return 0;
		case SBX_TPL_FAILED:
			return err_set(e, false, -EIO, "%s", t->why);
		case SBX_TPL_BOOTING:
			/* The booting thread gives up when the server stops: so do its waiters. */
			if (s->stopping)
				return err_set(e, false, -ECANCELED, "template %s: the server is "
					       "stopping", t->id);
			pthread_cond_wait(&s->cond, &s->lock);
			continue;
		case SBX_TPL_COLD:
			break;
		}
		t->state = SBX_TPL_BOOTING;
		pthread_mutex_unlock(&s->lock);
		ret = tpl_boot(s, t, e);
		pthread_mutex_lock(&s->lock);
		/* No uid of --jail-uids free: the next create tries again; other faults stay. */
		t->state = ret == -EAGAIN ? SBX_TPL_COLD : ret ? SBX_TPL_FAILED : SBX_TPL_READY;
		if (ret)
			snprintf(t->why, sizeof(t->why), "%s", e->msg);
		pthread_cond_broadcast(&s->cond);
		return ret;
	}
}

int sbx_tpl_fork(struct sbx *s, struct sbx_tpl *t, const char *id, struct sbx_vm *vm,
		 struct err *e)
{
	char sock[SBX_ID_LEN + 8], vs[SBX_ID_LEN + 8], out[SBX_ID_LEN + 8];
	struct hc_reply r;
	json_t *body, *ans;
	char *js;
	int ret;

	snprintf(sock, sizeof(sock), "%s.sock", id);
	snprintf(vs, sizeof(vs), "%s.vsock", id);
	snprintf(out, sizeof(out), "%s.log", id);
	body = json_pack("{s:i, s:s, s:{s:s, s:s, s:[{s:s, s:s, s:b}], s:{s:s}}}", "count", 1,
			 "template", "Paused", "clone", "api_sock", sock, "serial_out", out,
			 "drive_overrides", "drive_id", "rootfs", "path_on_host", "rootfs.img",
			 "is_read_only", 1, "vsock_override", "uds_path", vs);
	js = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!js)
		return err_set(e, false, -ENOMEM, "out of memory");
	ret = hc_call(t->vm.api_sock, "PUT", "/fork", js, (int)s->cfg.op_timeout_s * 1000, &r, e);
	free(js);
	if (ret)
		return err_prefix(e, ret, "template %s: ", t->id);
	ans = json_loadb(r.body, r.len, 0, NULL);
	hc_reply_free(&r);
	json_int_t pid = json_integer_value(json_object_get(json_array_get(
		json_object_get(ans, "clones"), 0), "pid"));
	json_decref(ans);
	if (pid <= 0)
		return err_set(e, false, -EPROTO, "template %s: PUT /fork named no clone", t->id);
	/* The template's fork: in its jail, as its user (t->vm.jail keeps the uid). */
	*vm = (struct sbx_vm){ .pidfd = -1, .uid = t->vm.uid };
	snprintf(vm->dir, sizeof(vm->dir), "%s", t->vm.dir);
	snprintf(vm->root, sizeof(vm->root), "%s", t->vm.root);
	snprintf(vm->snap_dir, sizeof(vm->snap_dir), "%s", t->vm.snap_dir);
	if (snprintf(vm->api_sock, sizeof(vm->api_sock), "%s/%s", t->vm.dir, sock) >=
		    (int)sizeof(vm->api_sock) ||
	    snprintf(vm->vsock, sizeof(vm->vsock), "%s/%s", t->vm.dir, vs) >=
		    (int)sizeof(vm->vsock) ||
	    snprintf(vm->log, sizeof(vm->log), "%s/%s", t->vm.dir, out) >= (int)sizeof(vm->log))
		return err_set(e, false, -ENAMETOOLONG, "%s: path too long", t->vm.dir);
	ret = sbx_vm_adopt(vm, (pid_t)pid, e);
	if (ret) {
		unlink(vm->api_sock);
		unlink(vm->vsock);
		unlink(vm->log);
	}
	return ret;
}

int sbx_tpl_add_snap(struct sbx *s, const char *id, const struct sbx_tpl *from,
		     struct sbx_snap *snap, struct sbx_tpl **out)
{
	struct sbx_tpl *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	snprintf(t->id, sizeof(t->id), "%s", id);
	t->kind = SBX_TPL_SNAP;
	t->state = SBX_TPL_READY;
	t->vm.pidfd = -1;
	t->kernel = from->kernel ? strdup(from->kernel) : NULL;
	t->rootfs = strdup(from->rootfs_link[0] ? from->rootfs_link : from->rootfs);
	t->cmdline = strdup(from->cmdline ? from->cmdline : "");
	t->user = strdup(from->user ? from->user : "user");
	t->workdir = from->workdir ? strdup(from->workdir) : NULL;
	if (!t->rootfs || !t->cmdline || !t->user) {
		tpl_free(t);
		return -ENOMEM;
	}
	snprintf(t->rootfs_link, sizeof(t->rootfs_link), "%s", t->rootfs);
	t->vcpus = from->vcpus;
	t->mem_mib = from->mem_mib;
	t->disk_bytes = from->disk_bytes;
	t->snap = snap;
	t->index = s->ntpls++;
	t->next = s->tpls;
	s->tpls = t;
	*out = t;
	return 0;
}

void sbx_tpl_free_all(struct sbx *s)
{
	while (s->tpls) {
		struct sbx_tpl *t = s->tpls;

		s->tpls = t->next;
		if (t->vm.pid)
			sbx_vm_kill(&t->vm);
		if (t->snap)
			sbx_snap_put(t->snap);
		tpl_free(t);
	}
}
