/*
 * libFuzzer target for the vhost-user front end (src/virtio/vhost_user.c)
 * and the vhost-user-blk and virtio-fs devices built on it
 * (src/virtio/vhost_user/): the input
 * is everything a backend says, written at once into the socket by a
 * backend thread, whatever Hearth asks. The device is then made from it
 * and, when that succeeds, driven through its host-side events: a start
 * with one ring, a pause and a resume, a PATCH's config refresh, a reset
 * and its destruction; then a virtio-fs device is made from the same
 * input over a second connection and driven the same way. The raw input
 * also goes through the pure reply check.
 *
 * Checked besides ASan/UBSan: a refused device says why in err; a made
 * disk has 1 to 16 queues and offers only virtio-blk bits, a file
 * system 2 queues, no device bit and its own tag; no call blocks
 * (the backend's end is closed after the input, so a missing answer is
 * -EPIPE, never the timeout).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fz.h"
#include "mem/guest_mem.h"
#include "util/log.h"
#include "virtio/vhost_user.h"
#include "virtio/vublk.h"
#include "virtio/fs.h"

#define FZ_MAX_INPUT 16384

static char sock_path[108];
static int lsock = -1;
static struct guest_mem gm;

struct fz_backend {
	const uint8_t *data;
	size_t size;
};

static void *backend(void *arg)
{
	struct fz_backend *b = arg;
	int s = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
	char sink[4096];

	if (s < 0)
		return NULL;
	if (b->size && write(s, b->data, b->size) < 0)
		perror("fuzz backend write");
	shutdown(s, SHUT_WR);
	/* Hearth's requests, read and dropped until it hangs up. */
	while (read(s, sink, sizeof(sink)) > 0)
		;
	close(s);
	return NULL;
}

static void setup(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	log_set_level(LOG_ERR);
	snprintf(sock_path, sizeof(sock_path), "/tmp/hearth-fuzz-vu-%d.sock", (int)getpid());
	unlink(sock_path);
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(lsock >= 0);
	CHECK(bind(lsock, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(listen(lsock, 4) == 0);
	CHECK(guest_mem_init_shared(&gm, 1u << 20) == 0);
}

/* The host-side events of a made device, in the order a VM's life gives them. */
static void drive(struct virtio_dev *dev)
{
	struct err e = ERR_INIT;
	struct virtq *vq = &dev->vq[0];

	CHECK(dev->num_queues >= 1 && dev->num_queues <= VIRTIO_MAX_QUEUES);
	if (virtio_fs_is(dev)) {
		uint8_t tag[4];

		dev->ops->read_config(dev, 0, tag, 4);
		CHECK(dev->num_queues == 2 && !dev->ops->get_features(dev));
		CHECK(!memcmp(tag, "fz\0\0", 4));
	}
	CHECK(!(dev->ops->get_features(dev) & ~0x7676ull));
	dev->features = (1ull << 32) | (1ull << 29) | (dev->ops->get_features(dev) & 0x7fff);
	vq->size = 8;
	vq->desc_gpa = 0x1000;
	vq->avail_gpa = 0x2000;
	vq->used_gpa = 0x3000;
	memset(gm.regions[0].hva + 0x2000, 0, 0x2000);
	CHECK(virtq_enable(vq, &gm) == VIRTQ_OK);
	dev->activated = true;
	dev->status = 0xf;
	pthread_mutex_lock(&dev->lock);
	if (!dev->ops->activate(dev)) {
		dev->ops->pause(dev);
		dev->ops->resume(dev);
	}
	pthread_mutex_unlock(&dev->lock);
	if (virtio_vublk_is(dev) && virtio_vublk_refresh(dev, &e))
		CHECK(e.msg[0]);
	pthread_mutex_lock(&dev->lock);
	dev->ops->reset(dev);
	pthread_mutex_unlock(&dev->lock);
}

/* One device made from the input (fs: virtio-fs, else a disk) and driven; then freed. */
static void one(struct fz_backend *b, bool fs)
{
	struct virtio_env env = { .loop = NULL, .mem = &gm };
	struct vublk_config vc = { sock_path, BLK_CACHE_WRITEBACK };
	struct virtio_fs_config fc = { sock_path, "fz" };
	struct virtio_dev *dev = NULL;
	struct err e = ERR_INIT;
	pthread_t t;
	int ret;

	CHECK(pthread_create(&t, NULL, backend, b) == 0);
	ret = fs ? virtio_fs_create(&env, &fc, &dev, &e) : virtio_vublk_create(&env, &vc, &dev, &e);
	if (ret)
		CHECK(e.msg[0]);
	else
		drive(dev);
	if (dev)
		dev->ops->destroy(dev);
	pthread_join(t, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_backend b = { data, size };
	uint8_t out[VHOST_USER_MAX_PAYLOAD];
	size_t len;

	if (size > FZ_MAX_INPUT)
		return 0;
	if (lsock < 0)
		setup();
	if (!vhost_user_check_reply(data, size, size ? data[0] & 0x1f : 0, 0, out,
				    sizeof(out), &len))
		CHECK(len + VHOST_USER_HDR_SIZE == size);
	one(&b, false);
	one(&b, true);
	return 0;
}
