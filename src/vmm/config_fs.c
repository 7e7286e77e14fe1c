/*
 * The model's virtio-fs devices (config.h struct vm_fs): Hearth's
 * extension, in the shape of the other devices' PUTs. The socket is
 * connected to when the VM is built (virtio/fs.h); a tag a guest could
 * not mount by, or one given twice, is refused here.
 */
#include "vmm/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/fs.h"

static int find_fs(const struct vm_config *c, const char *id)
{
	for (unsigned int i = 0; i < c->nfs; i++)
		if (!strcmp(c->fs[i].id, id))
			return (int)i;
	return -1;
}

const char *vm_config_fs_any(const struct vm_config *c)
{
	return c->nfs ? c->fs[0].id : NULL;
}

int vm_config_put_fs(struct vm_config *c, const struct vm_fs *f, bool replace, struct err *err)
{
	struct vm_fs copy = *f;
	int at = find_fs(c, f->id);
	int ret = vm_config_check_id("fs id", f->id, err);

	if (ret)
		return ret;
	ret = virtio_fs_check_tag(f->tag, err);
	if (ret)
		return err_prefix(err, ret, "fs '%s': ", f->id);
	if (!f->socket || !*f->socket)
		return err_set(err, true, -EINVAL, "fs '%s': a virtio-fs device needs the socket "
			       "of its daemon (virtiofsd --socket-path)", f->id);
	if (strlen(f->socket) >= 108)
		return err_set(err, true, -EINVAL, "fs '%s': socket path is %zu bytes; a Unix "
			       "socket's is at most 107", f->id, strlen(f->socket));
	if (at >= 0 && !replace)
		return err_set(err, true, -EINVAL, "fs '%s' is given twice", f->id);
	if (at < 0 && c->nfs == VM_MAX_FS)
		return err_set(err, true, -EINVAL, "fs '%s': at most %u virtio-fs devices", f->id,
			       VM_MAX_FS);
	for (unsigned int i = 0; i < c->nfs; i++)
		if ((int)i != at && !strcmp(c->fs[i].tag, f->tag))
			return err_set(err, true, -EINVAL, "fs '%s': tag '%s' is fs '%s''s already; "
				       "the guest mounts by tag, so each is unique", f->id, f->tag,
				       c->fs[i].id);
	copy.socket = strdup(f->socket);
	if (!copy.socket)
		return err_set(err, false, -ENOMEM, "out of memory");
	if (at >= 0) {
		free(c->fs[at].socket);
		c->fs[at] = copy;
	} else {
		c->fs[c->nfs++] = copy;
	}
	return 0;
}

void vm_config_fs_release(struct vm_config *c)
{
	for (unsigned int i = 0; i < c->nfs; i++)
		free(c->fs[i].socket);
	c->nfs = 0;
}
