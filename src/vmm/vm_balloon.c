/*
 * The running balloon's actions (vm_balloon.h): found in the registry,
 * then run on the I/O thread, which owns the device, between two of its
 * requests. Called from the API's thread.
 */
#include "vmm/vm_balloon.h"

#include <errno.h>

#include "virtio/balloon.h"
#include "virtio/mmio.h"
#include "vmm/devices.h"

struct balloon_call {
	const struct vm_balloon_req *req;
	struct virtio_dev *dev;
	struct vm_balloon_answer *ans;
	struct err *err;
};

static int balloon_fn(void *ctx, struct err *unused)
{
	struct balloon_call *c = ctx;

	switch (c->req->op) {
	case VM_BALLOON_TARGET:
		return virtio_balloon_set_target(c->dev, c->req->amount_mib, c->err);
	case VM_BALLOON_STATS_INTERVAL:
		return virtio_balloon_set_stats_interval(c->dev, c->req->interval_s, c->err);
	case VM_BALLOON_STATS:
		return virtio_balloon_get_stats(c->dev, &c->ans->stats, c->err);
	case VM_BALLOON_HINT_START:
		return virtio_balloon_hint_start(c->dev, c->req->ack_on_stop, c->err);
	case VM_BALLOON_HINT_STATUS:
		return virtio_balloon_hint_status(c->dev, &c->ans->hint, c->err);
	case VM_BALLOON_HINT_STOP:
		return virtio_balloon_hint_stop(c->dev, c->err);
	}
	return err_set(c->err, false, -EINVAL, "balloon action %d unknown", (int)c->req->op);
}

int vm_balloon_do(struct vm *vm, const struct vm_balloon_req *req, struct vm_balloon_answer *ans,
		  struct err *err)
{
	struct reg_entry *e = registry_find_device(&vm->registry, "virtio-balloon", "balloon");
	struct balloon_call c = { .req = req, .ans = ans, .err = err };

	if (!e)
		return err_set(err, true, -ENODEV, "Failed perform action on device: Device not "
			       "found");
	c.dev = vm_virtio_device(e);
	/* -ESHUTDOWN, with no words, once the loop has stopped: the caller says strerror's. */
	return eventloop_run_on(vm->loop, balloon_fn, &c, NULL);
}
