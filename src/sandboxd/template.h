/*
 * Templates (docs/sandboxes.md "Templates"): a directory under
 * --templates per template, named by its id, whose template.json names
 * a kernel, an initrd and a root file system image (paths relative to
 * it) and the VM's size. On its first sandbox a template is booted once
 * (`hearth serve --config-file ... --fork-dir ...`), its agent asked
 * /health until it answers, and it is paused: a fork template, whose
 * clones are the sandboxes. A snapshot (POST /sandboxes/{id}/snapshots)
 * is a template too, whose sandboxes are restores of its files.
 */
#ifndef HEARTH_SANDBOXD_TEMPLATE_H
#define HEARTH_SANDBOXD_TEMPLATE_H

#include "sandboxd/priv.h"

/* Whether id may name a template: [A-Za-z0-9._-], 1 to 64, not starting with '.'. */
bool sbx_tpl_id_ok(const char *id);
/*
 * The template id names (lock held): known, or loaded from its
 * template.json. -ENOENT when there is none (e says "template 'id' not
 * found"), -EINVAL when its template.json is bad (e->usage false: the
 * server's files).
 */
int sbx_tpl_find(struct sbx *s, const char *id, struct sbx_tpl **out, struct err *e);
/*
 * Once t is READY (lock held; dropped while it boots or waits): COLD is
 * booted by this thread, BOOTING waited for. 0, or -errno with e (the
 * boot's error, kept for every later caller until a restart).
 */
int sbx_tpl_ready(struct sbx *s, struct sbx_tpl *t, struct err *e);
/* One clone of READY boot template t for sandbox id (lock not held): vm filled. */
int sbx_tpl_fork(struct sbx *s, struct sbx_tpl *t, const char *id, struct sbx_vm *vm,
		 struct err *e);
/* A snapshot template of snap's files, its sandboxes t's (lock held); the snap's reference is taken. */
int sbx_tpl_add_snap(struct sbx *s, const char *id, const struct sbx_tpl *from,
		     struct sbx_snap *snap, struct sbx_tpl **out);
/* Every template's VM ended, every template freed (the server's end). */
void sbx_tpl_free_all(struct sbx *s);

#endif
