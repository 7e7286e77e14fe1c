/*
 * Firecracker's checks at PUT time, behind the model (ctl_vm_ops.check_*,
 * host.h): the kernel and initrd, a drive's image or backend, a NIC's TAP,
 * a static CPU template against this host, and a device to pass through.
 */
#include "host/host.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pci/vfio.h"
#include "sandbox/confine.h"
#include "virtio/blk.h"
#include "virtio/net/tap.h"
#include "virtio/vublk.h"
#include "vmm/devices.h"

/*
 * Firecracker's checks at PUT time, in its words: each file or TAP is
 * opened as the VM will open it, then closed again (the VM opens its own
 * at InstanceStart). They run on the loop's thread, which builds the VM:
 * before boot it holds what InstanceStart will (capabilities, no filter
 * yet), where the api thread has dropped them, so a check never refuses
 * what the boot would take.
 */
static int open_ro(const char *path)
{
	/* Not blocking: a FIFO with no writer would hang open(); InstanceStart refuses it. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int boot_source_fn(void *ctx, struct err *err)
{
	const struct vm_boot_source *b = ctx;
	int ret = open_ro(b->kernel_image_path);

	if (ret)
		return err_set(err, true, -EINVAL, "The kernel file cannot be opened: %s (os error "
			       "%d)", strerror(-ret), -ret);
	ret = b->initrd_path ? open_ro(b->initrd_path) : 0;
	if (ret)
		return err_set(err, true, -EINVAL, "The initrd file cannot be opened due to invalid "
			       "path or invalid permissions. %s (os error %d)", strerror(-ret),
			       -ret);
	return 0;
}

static int drive_fn(void *ctx, struct err *err)
{
	const struct vm_drive *d = ctx;
	struct blk_config bc;
	int fd, ret;

	/* As Firecracker: the backend must be there at the PUT. */
	if (d->socket) {
		ret = virtio_vublk_probe(d->socket, err);
		return ret ? err_prefix(err, ret == -ENOMEM ? ret : -EINVAL, "Unable to create the "
					"virtio block device: Vhost-user error: ") : 0;
	}
	fd = open(d->path_on_host, (d->is_read_only ? O_RDONLY : O_RDWR) | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ret = errno;
		err_set(err, true, -EINVAL, "Unable to create the virtio block device: Virtio "
			"backend error: Error manipulating the backing file: %s (os error %d) %s",
			strerror(ret), ret, d->path_on_host);
		/* A drive plugged in after the seal: say where the sandbox lets one be. */
		if ((ret == ENOENT || ret == EACCES || ret == EROFS) && sandbox_fs_sealed())
			err_append(err, -EINVAL, " (the sandbox is sealed: a drive plugged in after "
				   "the start is a file inside --snapshot-dir, or run without the "
				   "sandbox)");
		return -EINVAL;
	}
	close(fd);
	/*
	 * Then as at boot: a regular file or block device, not locked by
	 * another VM, and a qcow2 image's chain as the trust rule opens it.
	 */
	ret = vm_drive_blk_config(d, &bc, err);
	bc.path = ret ? NULL : strdup(d->path_on_host);
	if (!bc.path) {
		virtio_blk_config_release(&bc);
		return err_set(err, false, -ENOMEM, "out of memory");
	}
	ret = virtio_blk_open(&bc, err);
	virtio_blk_config_release(&bc);
	if (ret)
		return err_prefix(err, ret == -ENOMEM ? ret : -EINVAL, "Unable to create the virtio "
				  "block device: Virtio backend error: ");
	return 0;
}

struct net_check {
	const struct vm_net *n;
	bool fc;                  /* as `firecracker`: its one-queue open */
};

static int net_fn(void *ctx, struct err *err)
{
	const struct net_check *c = ctx;
	const struct vm_net *n = c->n;
	struct net_be *be = NULL;
	/* Two pairs: a multi-queue TAP is then opened as such, a single-queue one as that. */
	int ret = net_tap_open_as(n->dev.ifname, 2, c->fc, &be, err);

	if (ret) {
		err->usage = ret != -ENOMEM;
		return err_prefix(err, ret == -ENOMEM ? ret : -EINVAL, "Could not create the network "
				  "device: Open tap device failed: ");
	}
	be->ops->destroy(be);
	return 0;
}

static int host_check(struct host *h, int (*fn)(void *, struct err *), const void *what,
		      struct err *err)
{
	int ret;

	err->msg[0] = '\0';
	ret = eventloop_run_on(&h->run.loop, fn, (void *)what, err);

	/* The loop has stopped (a signal): the request fails, in words. */
	if (ret && !err->msg[0])
		err_set(err, false, ret, "%s", strerror(-ret));
	return ret;
}

int host_check_boot_source(void *ctx, const struct vm_boot_source *b, struct err *err)
{
	return host_check(ctx, boot_source_fn, b, err);
}

int host_check_drive(void *ctx, const struct vm_drive *d, struct err *err)
{
	struct host *h = ctx;

	/*
	 * Once the VM runs (a drive being plugged in), an image is checked
	 * here: the io thread's filter has no flock. A backend's socket still
	 * is on the io thread, whose filter has connect and this one's not.
	 */
	if (__atomic_load_n(&h->run.have_vm, __ATOMIC_ACQUIRE) && !d->socket) {
		/*
		 * A qcow2 chain is opened, and zlib mapped, before the sandbox
		 * seals; a drive plugged in later could reach neither.
		 */
		if (d->format == BLK_FORMAT_QCOW2)
			return err_set(err, true, -EINVAL, "drive '%s': a qcow2 drive is not plugged "
				       "into a running VM: its backing files are opened, and zlib "
				       "loaded, before the sandbox seals (give it at boot)", d->id);
		err->msg[0] = '\0';
		return drive_fn((void *)d, err);
	}
	return host_check(ctx, drive_fn, d, err);
}

/*
 * The CPUID instruction's vendor and model are the host's KVM passes
 * through. At the PUT under Hearth's name; under Firecracker's, as
 * Firecracker, only at InstanceStart (its tests PUT a template of the
 * other vendor and expect 204), where the boot's own check refuses it.
 */
int host_check_cpu_template(void *ctx, enum cpu_template_id id, struct err *err)
{
	struct host *h = ctx;
	int ret;

	if (h && ctl_config(&h->ctl)->fc_rules)
		return 0;
	ret = cpu_template_check_this_host(id, err);
	return ret ? err_prefix(err, ret, "Failed to get CPU template: ") : 0;
}

int host_check_net(void *ctx, const struct vm_net *n, struct err *err)
{
	struct host *h = ctx;
	struct net_check c = { .n = n, .fc = ctl_config(&h->ctl)->fc_rules };

	/*
	 * Once the VM runs (a NIC being plugged in) the io thread's filter has
	 * no TUN attach of its own but the plug's: the plug opens the TAP
	 * once, and its failure is the PUT's.
	 */
	if (__atomic_load_n(&h->run.have_vm, __ATOMIC_ACQUIRE))
		return 0;
	/* Firecracker has no queues: its interfaces have one pair each, and so they do here. */
	if (c.fc && n->dev.backend == NET_TAP && n->dev.queues > 1)
		return err_set(err, true, -EINVAL, "Could not create the network device: network "
			       "interface '%s': queues=%u: as `firecracker` a TAP has one queue pair, "
			       "as in Firecracker", n->id, n->dev.queues);
	return host_check(ctx, net_fn, &c, err);
}

/* As vfio_host_open will at InstanceStart: the device is there, bound to vfio-pci. */
static int vfio_fn(void *ctx, struct err *err)
{
	const struct vm_vfio *v = ctx;
	char name[VFIO_NAME_MAX];

	return vfio_host_check(v->path, name, NULL, err);
}

int host_check_vfio(void *ctx, const struct vm_vfio *v, struct err *err)
{
	return host_check(ctx, vfio_fn, v, err);
}
