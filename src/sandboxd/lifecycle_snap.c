/*
 * The operations made of snapshots (lifecycle.h): pause, connect, fork
 * and snapshots. A clone has no zygote of its own, so it cannot be a fork
 * template itself: a fork is a Full snapshot of the running sandbox
 * (paused for it, then resumed) restored once per new sandbox, and a
 * paused sandbox is its snapshot, restored by connect. Snapshot files are
 * moved out of the VM's --snapshot-dir as soon as they are written (a
 * clone shares its template's with its siblings) into a directory of the
 * server's own, and kept while any VM maps them.
 */
#include "sandboxd/lifecycle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandboxd/agent.h"
#include "sandboxd/api_json.h"
#include "sandboxd/hclient.h"
#include "sandboxd/template.h"
#include "util/log.h"

#define FORK_MAX 16

static int tmo_ms(const struct sbx *s)
{
	return (int)s->cfg.op_timeout_s * 1000;
}

int sbx_restore_vm(struct sbx *s, const struct sbx_box *b, struct sbx_snap *snap,
		   struct sbx_vm *vm, struct err *e)
{
	char path[SBX_PATH + 16], mem[SBX_PATH + 16], rootfs[SBX_PATH + 16];
	json_t *body;
	char *js;
	int ret;

	*vm = (struct sbx_vm){ .pidfd = -1 };
	ret = sbx_vm_dir(s, "r", vm, e);
	if (!ret && snprintf(vm->vsock, sizeof(vm->vsock), "%s/v.sock", vm->dir) >=
			    (int)sizeof(vm->vsock))
		ret = err_set(e, false, -ENAMETOOLONG, "%s: path too long", vm->dir);
	snprintf(path, sizeof(path), "%s/vm.snap", snap->dir);
	snprintf(mem, sizeof(mem), "%s/vm.mem", snap->dir);
	snprintf(rootfs, sizeof(rootfs), "%s", b->tpl->rootfs_link);
	if (!ret && s->jail.on) {
		/* Links into its jail: the snapshot's files are sealed (take_snapshot). */
		static const char *const names[] = { "vm.snap", "vm.mem", "rootfs.img" };
		char *const paths[] = { path, mem, rootfs };

		for (unsigned int i = 0; !ret && i < 3; i++) {
			char to[SBX_PATH + 16];

			snprintf(to, sizeof(to), "%s/%s", vm->dir, names[i]);
			ret = sbx_jail_place(s, paths[i], to, e);
			snprintf(paths[i], SBX_PATH + 16, "%s", to);
		}
	}
	if (!ret)
		ret = sbx_vm_spawn(s, vm, NULL, e);
	if (ret) {
		sbx_vm_kill(vm);
		return err_prefix(e, ret, "restore: ");
	}
	body = json_pack("{s:s, s:{s:s, s:s}, s:b, s:{s:s}, s:[{s:s, s:s, s:b}]}", "snapshot_path",
			 sbx_vm_in(vm, path), "mem_backend", "backend_type", "File",
			 "backend_path", sbx_vm_in(vm, mem), "resume_vm", 1, "vsock_override",
			 "uds_path", sbx_vm_in(vm, vm->vsock), "drive_overrides", "drive_id",
			 "rootfs", "path_on_host", sbx_vm_in(vm, rootfs), "is_read_only", 1);
	js = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	ret = js ? hc_call(vm->api_sock, "PUT", "/snapshot/load", js, tmo_ms(s), NULL, e)
		 : err_set(e, false, -ENOMEM, "out of memory");
	free(js);
	if (ret) {
		sbx_vm_kill(vm);
		return err_prefix(e, ret, "restore: ");
	}
	sbx_snap_get(snap);
	vm->base = snap;
	return 0;
}

/*
 * The two files (name[0] the state, name[1] the memory) from the VM's
 * --snapshot-dir to to/vm.snap and to/vm.mem. Jailed, the VM's user wrote
 * them in a directory of its own: nothing there is followed, and each is
 * sealed (sbx_jail_seal) before another jail may link it.
 */
static int move_files(struct sbx *s, const char *from, const char *to,
		      char name[2][SBX_ID_LEN + 24], struct err *e)
{
	static const char *const dest[] = { "vm.snap", "vm.mem" };
	int src = open(from, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int dst = open(to, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int ret = 0;

	if (src < 0 || dst < 0)
		ret = err_set(e, false, -errno, "%s: %s", src < 0 ? from : to, strerror(errno));
	for (unsigned int i = 0; !ret && i < 2; i++) {
		if (renameat(src, name[i], dst, dest[i]))
			ret = err_set(e, false, -errno, "rename %s/%s: %s", from, name[i],
				      strerror(errno));
		else
			ret = sbx_jail_seal(s, dst, dest[i], e);
	}
	if (src >= 0)
		close(src);
	if (dst >= 0)
		close(dst);
	return ret;
}

/* What a failed snapshot left in the VM's --snapshot-dir, nothing followed. */
static void drop_files(const char *from, char name[2][SBX_ID_LEN + 24])
{
	int src = open(from, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (src < 0)
		return;
	unlinkat(src, name[0], 0);
	unlinkat(src, name[1], 0);
	close(src);
}

/* Paused; a Full snapshot into its --snapshot-dir, moved to a new directory; resumed if asked. */
static int take_snapshot(struct sbx *s, const struct sbx_box *b, bool resume,
			 struct sbx_snap **out, struct err *e)
{
	char snap[SBX_PATH + 48], mem[SBX_PATH + 48], name[2][SBX_ID_LEN + 24];
	struct sbx_snap *sn = calloc(1, sizeof(*sn));
	json_t *body;
	char *js = NULL;
	int ret;

	if (!sn)
		return err_set(e, false, -ENOMEM, "out of memory");
	sn->refs = 1;
	memcpy(sn->token, b->token, sizeof(sn->token));
	snprintf(name[0], sizeof(name[0]), "%s-%u.snap", b->id, b->gen);
	snprintf(name[1], sizeof(name[1]), "%s-%u.mem", b->id, b->gen);
	snprintf(snap, sizeof(snap), "%s/%s", b->vm.snap_dir, name[0]);
	snprintf(mem, sizeof(mem), "%s/%s", b->vm.snap_dir, name[1]);
	ret = hc_call(b->vm.api_sock, "PATCH", "/vm", "{\"state\": \"Paused\"}", tmo_ms(s), NULL,
		      e);
	if (!ret) {
		body = json_pack("{s:s, s:s, s:s}", "snapshot_type", "Full", "snapshot_path",
				 sbx_vm_in(&b->vm, snap), "mem_file_path", sbx_vm_in(&b->vm, mem));
		js = body ? json_dumps(body, JSON_COMPACT) : NULL;
		json_decref(body);
		ret = js ? hc_call(b->vm.api_sock, "PUT", "/snapshot/create", js, tmo_ms(s), NULL, e)
			 : err_set(e, false, -ENOMEM, "out of memory");
		free(js);
	}
	if (resume) {
		struct err e2 = ERR_INIT;
		int r2 = hc_call(b->vm.api_sock, "PATCH", "/vm", "{\"state\": \"Resumed\"}",
				 tmo_ms(s), NULL, &e2);

		if (!ret && r2) {
			ret = r2;
			*e = e2;
		}
	}
	if (!ret) {
		ret = sbx_new_dir(s, "s", sn->dir, sizeof(sn->dir));
		if (ret)
			err_set(e, false, ret, "snapshot: its directory: %s", strerror(-ret));
	}
	if (!ret)
		ret = move_files(s, b->vm.snap_dir, sn->dir, name, e);
	drop_files(b->vm.snap_dir, name);
	if (ret) {
		if (sn->dir[0])
			sbx_snap_put(sn);
		else
			free(sn);
		return err_prefix(e, ret, "snapshot of %s: ", b->id);
	}
	*out = sn;
	return 0;
}

int sbx_pause_claimed(struct sbx *s, struct sbx_box *b, struct err *e)
{
	struct sbx_snap *sn;
	int ret = take_snapshot(s, b, false, &sn, e);

	if (ret) {
		/* The snapshot failed: the VM runs on, as it was, still claimed by the caller. */
		hc_call(b->vm.api_sock, "PATCH", "/vm", "{\"state\": \"Resumed\"}", tmo_ms(s), NULL,
			&(struct err)ERR_INIT);
		return ret;
	}
	sbx_vm_kill(&b->vm);
	pthread_mutex_lock(&s->lock);
	b->paused = sn;
	b->state = SBX_PAUSED;
	b->gen++;
	sbx_box_release(s, b);
	pthread_mutex_unlock(&s->lock);
	log_info("sandboxes: %s paused (%s)", b->id, sn->dir);
	return 0;
}

/* The sandbox id names, made busy (lock not held). */
static int claim(struct sbx *s, const char *id, struct sbx_box **out, struct err *e)
{
	int ret;

	pthread_mutex_lock(&s->lock);
	ret = sbx_box_claim(s, id, out);
	pthread_mutex_unlock(&s->lock);
	if (ret == -ENOENT)
		return err_set(e, true, ret, "sandbox \"%.64s\" doesn't exist or you don't have "
			       "access to it", id);
	return ret ? err_set(e, false, ret, "sandbox \"%.64s\" stayed busy", id) : 0;
}

static void release(struct sbx *s, struct sbx_box *b)
{
	pthread_mutex_lock(&s->lock);
	sbx_box_release(s, b);
	pthread_mutex_unlock(&s->lock);
}

int sbx_op_pause(struct sbx *s, const char *id, struct err *e)
{
	struct sbx_box *b;
	int ret = claim(s, id, &b, e);

	if (ret)
		return ret;
	if (b->state == SBX_PAUSED) {
		release(s, b);
		return err_set(e, true, -EALREADY, "sandbox \"%s\" is already paused", id);
	}
	ret = sbx_pause_claimed(s, b, e);
	if (ret)
		release(s, b);
	return ret;
}

int sbx_op_connect(struct sbx *s, const char *id, unsigned int timeout_s, json_t **out,
		   bool *resumed, struct err *e)
{
	int64_t end = sbx_now_ms() + (int64_t)timeout_s * 1000;
	struct sbx_box *b;
	struct sbx_vm vm;
	int ret = claim(s, id, &b, e);

	if (ret)
		return ret;
	*resumed = b->state == SBX_PAUSED;
	if (*resumed) {
		ret = sbx_restore_vm(s, b, b->paused, &vm, e);
		if (!ret) {
			ret = sbx_agent_init(s, b, &vm, b->paused->token, e);
			if (ret)
				sbx_vm_kill(&vm);
		}
	}
	pthread_mutex_lock(&s->lock);
	if (!ret && *resumed) {
		sbx_snap_put(b->paused);
		b->paused = NULL;
		b->vm = vm;
		b->state = SBX_RUNNING;
		log_info("sandboxes: %s resumed (pid %d)", b->id, (int)vm.pid);
	}
	/* E2B's connect only ever extends the timeout. */
	if (!ret && (end > b->end_ms || *resumed))
		b->end_ms = end;
	*out = ret ? NULL : sbx_json_sandbox(b);
	sbx_box_release(s, b);
	pthread_mutex_unlock(&s->lock);
	if (!ret && !*out)
		ret = err_set(e, false, -ENOMEM, "out of memory");
	return ret ? err_prefix(e, ret, "connect %s: ", id) : 0;
}

/* One fork of src from its snapshot: a new sandbox, or an E2B Error entry. */
static json_t *fork_one(struct sbx *s, const struct sbx_box *src, struct sbx_snap *sn,
			unsigned int timeout_s)
{
	struct err e = ERR_INIT;
	struct sbx_box *b;
	struct sbx_vm vm;
	json_t *ans = NULL;
	int ret;

	pthread_mutex_lock(&s->lock);
	ret = sbx_box_add(s, src->tpl, &b);
	if (!ret) {
		b->metadata = json_deep_copy(src->metadata);
		b->envs = json_deep_copy(src->envs);
		b->auto_pause = src->auto_pause;
	}
	pthread_mutex_unlock(&s->lock);
	if (ret)
		return json_pack("{s:{s:i, s:s}}", "error", "code", ret == -EAGAIN ? 429 : 500,
				 "message", ret == -EAGAIN ? "the server runs its most sandboxes"
							   : strerror(-ret));
	ret = sbx_restore_vm(s, b, sn, &vm, &e);
	if (!ret) {
		ret = sbx_agent_init(s, b, &vm, sn->token, &e);
		if (ret)
			sbx_vm_kill(&vm);
	}
	pthread_mutex_lock(&s->lock);
	if (ret) {
		sbx_box_remove(s, b);
		pthread_mutex_unlock(&s->lock);
		/* No uid of --jail-uids free is E2B's 429, as a full server is. */
		return json_pack("{s:{s:i, s:s}}", "error", "code", ret == -EAGAIN ? 429 : 500,
				 "message", e.msg);
	}
	b->vm = vm;
	b->state = SBX_RUNNING;
	b->started_ms = sbx_now_ms();
	b->end_ms = b->started_ms + (int64_t)timeout_s * 1000;
	ans = json_pack("{s:o}", "sandbox", sbx_json_sandbox(b));
	sbx_box_release(s, b);
	pthread_mutex_unlock(&s->lock);
	log_info("sandboxes: %s forked from %s (pid %d)", b->id, src->id, (int)vm.pid);
	return ans;
}

int sbx_op_fork(struct sbx *s, const char *id, unsigned int count, unsigned int timeout_s,
		json_t **out, struct err *e)
{
	struct sbx_box *b;
	struct sbx_snap *sn;
	json_t *list;
	int ret = claim(s, id, &b, e);

	if (ret)
		return ret;
	if (b->state != SBX_RUNNING) {
		release(s, b);
		return err_set(e, true, -EALREADY, "sandbox \"%s\" is paused: connect to it first",
			       id);
	}
	ret = take_snapshot(s, b, true, &sn, e);
	if (ret) {
		release(s, b);
		return ret;
	}
	b->gen++;
	/* b stays busy while its forks are made: they read its template, metadata and env vars. */
	list = json_array();
	for (unsigned int i = 0; list && i < count && i < FORK_MAX; i++) {
		json_t *one = fork_one(s, b, sn, timeout_s);

		if (!one || json_array_append_new(list, one)) {
			json_decref(list);
			list = NULL;
		}
	}
	release(s, b);
	/* The forks map the files; the server's own reference ends here. */
	sbx_snap_put(sn);
	*out = list;
	return list ? 0 : err_set(e, false, -ENOMEM, "out of memory");
}

int sbx_op_snapshot(struct sbx *s, const char *id, const char *name, json_t **out,
		    struct err *e)
{
	char made[SBX_TPL_ID_MAX + 1];
	struct sbx_tpl *t = NULL, *old;
	struct sbx_box *b;
	struct sbx_snap *sn;
	int ret;

	if (name && !sbx_tpl_id_ok(name))
		return err_set(e, true, -EINVAL, "name '%.80s': want 1 to %d of [A-Za-z0-9._-], not "
			       "starting with '.'", name, SBX_TPL_ID_MAX);
	ret = claim(s, id, &b, e);
	if (ret)
		return ret;
	if (b->state != SBX_RUNNING) {
		release(s, b);
		return err_set(e, true, -EALREADY, "sandbox \"%s\" is paused: connect to it first",
			       id);
	}
	ret = take_snapshot(s, b, true, &sn, e);
	pthread_mutex_lock(&s->lock);
	if (!ret) {
		b->gen++;
		snprintf(made, sizeof(made), "%s", name ? name : "");
		if (!name)
			snprintf(made, sizeof(made), "%s-snapshot-%u", b->id, s->seq++);
		if (!sbx_tpl_find(s, made, &old, &(struct err)ERR_INIT))
			ret = err_set(e, true, -EALREADY, "a template named '%s' exists", made);
		else if ((ret = sbx_tpl_add_snap(s, made, b->tpl, sn, &t)))
			err_set(e, false, ret, "out of memory");
		if (ret)
			sbx_snap_put(sn);
	}
	if (!ret) {
		*out = json_pack("{s:s, s:[s]}", "snapshotID", t->id, "names", t->id);
		if (!*out)
			ret = err_set(e, false, -ENOMEM, "out of memory");
	}
	sbx_box_release(s, b);
	pthread_mutex_unlock(&s->lock);
	if (!ret)
		log_info("sandboxes: snapshot %s of %s", t->id, id);
	return ret;
}
