#include "vmm/vm_patch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "virtio/blk.h"
#include "virtio/mmio.h"
#include "virtio/net.h"
#include "virtio/pmem.h"
#include "virtio/vublk.h"
#include "vmm/devices.h"

enum patch_op { PATCH_SWAP, PATCH_REFRESH, PATCH_BLK_LIMITER, PATCH_NET_LIMITERS,
		PATCH_PMEM_LIMITER, PATCH_VUBLK_CONFIG, PATCH_HOLD, PATCH_LET_GO, PATCH_ANNOUNCE };

/* One change, run on the I/O thread. */
struct patch_call {
	enum patch_op op;
	struct virtio_dev *dev;
	const struct blk_config *bc;
	const struct rl_config *a, *b;
	struct err *err;
};

static int patch_fn(void *ctx, struct err *unused)
{
	struct patch_call *c = ctx;

	switch (c->op) {
	case PATCH_SWAP:
		return virtio_blk_swap(c->dev, c->bc, c->err);
	case PATCH_REFRESH:
		return virtio_blk_refresh(c->dev, c->err);
	case PATCH_BLK_LIMITER:
		virtio_blk_set_limiter(c->dev, c->a);
		break;
	case PATCH_NET_LIMITERS:
		virtio_net_set_limiters(c->dev, c->a, c->b);
		break;
	case PATCH_PMEM_LIMITER:
		virtio_pmem_set_limiter(c->dev, c->a);
		break;
	case PATCH_VUBLK_CONFIG:
		return virtio_vublk_refresh(c->dev, c->err);
	case PATCH_ANNOUNCE:
		return virtio_net_announce(c->dev);
	case PATCH_HOLD: case PATCH_LET_GO:
		return virtio_blk_hold(c->dev, c->op == PATCH_HOLD, c->err);
	}
	return 0;
}

/* -ESHUTDOWN, with no words, once the loop has stopped: the API says strerror's. */
static int patch_run(struct vm *vm, struct patch_call *c)
{
	return eventloop_run_on(vm->loop, patch_fn, c, NULL);
}

static struct virtio_dev *find_dev(struct vm *vm, const char *id, const char *type)
{
	struct reg_entry *e = registry_find_device(&vm->registry, type, id);

	/* The transport's component; the device is what it carries. */
	return vm_virtio_device(e);
}

/* Opens and checks the new image here, off the I/O thread; then swaps on it. */
static int patch_path(struct vm *vm, struct virtio_dev *dev, const struct vm_drive *d,
		      const char *path, struct err *err)
{
	struct patch_call c = { .op = PATCH_REFRESH, .dev = dev, .err = err };
	struct blk_config bc = { .readonly = d->is_read_only, .cache = d->cache_type };
	struct stat st;
	int ret;

	/* The image it has (grown or shrunk by the host): a new size, not a new lock. */
	if (virtio_blk_same_image(dev, path))
		return patch_run(vm, &c);
	/* A file that is not there (or not inside the sandbox): Firecracker's words. */
	if (stat(path, &st)) {
		ret = errno;
		return err_set(err, true, -EINVAL, "Unable to patch the block device: Block: Virtio "
			       "backend error: Error manipulating the backing file: %s (os error %d) "
			       "%s Please verify the request arguments.", strerror(ret), ret, path);
	}
	bc.path = strdup(path);
	if (!bc.path)
		return err_set(err, false, -ENOMEM, "out of memory");
	ret = virtio_blk_open(&bc, err);
	if (ret) {
		err_prefix(err, ret, "drive '%s': ", d->id);
		goto out;
	}
	c.op = PATCH_SWAP;
	c.bc = &bc;
	ret = patch_run(vm, &c);
out:
	virtio_blk_config_release(&bc);
	return ret;
}

int vm_patch_drive(struct vm *vm, const struct vm_drive *d, const struct vm_drive_patch *p,
		   struct err *err)
{
	struct virtio_dev *dev = find_dev(vm, p->id, "virtio-blk");
	struct patch_call c = { .op = PATCH_BLK_LIMITER, .dev = dev, .a = &p->rate_limiter };
	int ret;

	if (!dev)
		return err_set(err, true, -EINVAL, "drive '%s' is not a disk of the running VM",
			       p->id);
	/* A vhost-user drive's PATCH (nothing but its id): the backend's config, read again. */
	if (virtio_vublk_is(dev)) {
		c.op = PATCH_VUBLK_CONFIG;
		c.err = err;
		return patch_run(vm, &c);
	}
	if (p->path_on_host) {
		ret = patch_path(vm, dev, d, p->path_on_host, err);
		if (ret)
			return ret;
	}
	if (p->rate_limiter.bandwidth.set || p->rate_limiter.ops.set)
		patch_run(vm, &c);
	return 0;
}

int vm_patch_net(struct vm *vm, const struct vm_net_patch *p, struct err *err)
{
	struct virtio_dev *dev = find_dev(vm, p->id, "virtio-net");
	struct patch_call c = { .op = PATCH_NET_LIMITERS, .dev = dev, .a = &p->rx_rate_limiter,
				.b = &p->tx_rate_limiter };

	if (!dev)
		return err_set(err, true, -EINVAL, "network interface '%s' is not a NIC of the "
			       "running VM", p->id);
	patch_run(vm, &c);
	return 0;
}

int vm_patch_pmem(struct vm *vm, const struct vm_pmem_patch *p, struct err *err)
{
	struct virtio_dev *dev = find_dev(vm, p->id, "virtio-pmem");
	struct patch_call c = { .op = PATCH_PMEM_LIMITER, .dev = dev, .a = &p->rate_limiter };

	if (!dev)
		return err_set(err, true, -EINVAL, "Unable to patch the pmem device: Failed perform "
			       "action on device: Device not found Please verify the request "
			       "arguments.");
	return patch_run(vm, &c);
}

int vm_drives_hold(struct vm *vm, const struct vm_config *cfg, bool hold, struct err *err)
{
	int ret = 0;

	for (unsigned int i = 0; i < cfg->ndrives; i++) {
		struct virtio_dev *dev = cfg->drives[i].socket ? NULL :
					 find_dev(vm, cfg->drives[i].id, "virtio-blk");
		struct patch_call c = { .op = hold ? PATCH_HOLD : PATCH_LET_GO, .dev = dev,
					.err = err };
		int r;

		if (!dev)
			continue;
		r = patch_run(vm, &c);
		if (r && !hold)
			return r;
		/* Taking them back: every one tried, a failure never hidden by a later success. */
		if (r)
			ret = r;
	}
	return ret;
}

int vm_nets_announce(struct vm *vm, const struct vm_config *cfg)
{
	int ret = 0;

	for (unsigned int i = 0; i < cfg->nnets; i++) {
		struct patch_call c = { .op = PATCH_ANNOUNCE,
					.dev = find_dev(vm, cfg->nets[i].id, "virtio-net") };

		if (c.dev && patch_run(vm, &c))
			ret = -EIO;
	}
	return ret;
}
