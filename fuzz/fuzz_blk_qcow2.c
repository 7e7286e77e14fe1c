/*
 * libFuzzer target for virtio-blk on a qcow2 image (src/virtio/blk/qio.c,
 * qdisk.c under engine.c): the hostile driver program of fuzz_blk
 * (fz_drv.h) against a disk on an 8 MiB qcow2 overlay of 4 KiB clusters,
 * over a qcow2 base with data in its first half, both made by the engine
 * (qcow2_create), the chain named as a request names it. Its fast path on
 * a real io_uring, the rest by the engine on this thread; requests of
 * every kind in one kick, so discards and write-zeroes wait behind I/O on
 * the ring and what comes after them waits too.
 *
 * Device step (opcode 5): 0 flips the disk between read-only and
 * writable for the next requests, 1 runs completions now.
 *
 * Checked besides ASan/UBSan: nothing is left in flight (on the ring,
 * posted or waiting) after the input and its reset; the overlay reopens
 * as qcow2 (its metadata whole) and holds no more than the disk and its
 * tables; the base is never written.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/eventloop.h"
#include "disk/qcow2.h"
#include "fz_drv.h"
#include "util/log.h"
#include "virtio/blk.h"
#include "virtio/blk/priv.h"
#include "virtio/blk/qdisk.h"

#define DISK_BYTES (8u << 20)

static struct fz_drv drv;
static struct virtio_blk *blk;
static struct eventloop loop;
static int top_fd = -1, base_fd = -1;
static struct stat base_st;

static void blk_settle(struct fz_drv *d)
{
	(void)d;
	/* What the I/O thread does on the completion eventfd, until nothing is left. */
	while (blk->disk.inflight) {
		struct blk_qdisk *q = blk->disk.img.qd;
		struct io_uring_cqe *cqe;

		blk_disk_kick(&blk->disk);
		/* Nothing posted: only the ring can bring what is left (none there: a leak, checked). */
		if (!q->nposted && (!q->fast || io_uring_wait_cqe(blk->disk.ring, &cqe)))
			break;
		blk_disk_on_event(&blk->disk, 0);
	}
}

static void blk_step(struct fz_drv *d, struct fz *in)
{
	if (fz_u8(in) & 1)
		blk->readonly = !blk->readonly;
	else
		blk_settle(d);
}

/* An image the engine makes at path, over backing (NULL: none); its fd. */
static int make(const char *path, const char *backing)
{
	struct qcow2_create_opts o = { .size = DISK_BYTES, .cluster_bits = 12,
				       .backing_file = backing,
				       .backing_fmt = backing ? "qcow2" : NULL };
	struct err err = ERR_INIT;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	CHECK(fd >= 0 && qcow2_create(fd, &o, &err) == 0);
	return fd;
}

static void setup(void)
{
	struct virtio_env env = { .loop = &loop, .mem = &drv.gm };
	char dir[] = "/tmp/hearth-fuzz-bq-XXXXXX", top[64], base[64], spec[200];
	struct qcow2_opts rw = { .writable = true };
	struct err err = ERR_INIT;
	struct blk_config cfg;
	struct virtio_dev *dev;
	struct qcow2 *q;
	uint8_t data[4096];

	log_set_level(LOG_ERR);
	fz_drv_ram(&drv);
	CHECK(eventloop_init(&loop) == 0);
	CHECK(mkdtemp(dir) != NULL);
	snprintf(base, sizeof(base), "%s/base.qcow2", dir);
	snprintf(top, sizeof(top), "%s/top.qcow2", dir);
	base_fd = make(base, NULL);
	CHECK(qcow2_open(base_fd, &rw, &q, &err) == 0);
	for (unsigned int i = 0; i < DISK_BYTES / 2; i += sizeof(data)) {
		memset(data, (int)(i >> 12), sizeof(data));
		CHECK(qcow2_write(q, i, data, sizeof(data), &err) == 0);
	}
	qcow2_close(q);
	CHECK(fstat(base_fd, &base_st) == 0);
	close(make(top, "base.qcow2"));
	snprintf(spec, sizeof(spec), "path=%s,id=fuzz,queues=2,format=qcow2,backing=%s", top, base);
	CHECK(virtio_blk_parse(spec, &cfg, &err) == 0);
	CHECK(virtio_blk_open(&cfg, &err) == 0);
	CHECK(virtio_blk_create(&env, &cfg, &dev, &err) == 0);
	virtio_blk_config_release(&cfg);
	top_fd = open(top, O_RDONLY | O_CLOEXEC);
	CHECK(top_fd >= 0);
	unlink(top);
	unlink(base);
	rmdir(dir);
	blk = virtio_blk_from_dev(dev);
	drv.dev_step = blk_step;
	drv.settle = blk_settle;
	fz_drv_attach(&drv, dev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qcow2_opts ro = { .writable = false };
	struct err err = ERR_INIT;
	struct fz in = { data, size };
	struct qcow2 *q = NULL;
	struct stat st;

	if (!blk)
		setup();
	blk->readonly = false;
	fz_drv_run(&drv, &in);
	fz_wr(&drv, 0x070, 0);
	CHECK(blk->disk.inflight == 0);
	CHECK(!blk->disk.img.qd->nposted && !blk->disk.img.qd->ndeferred &&
	      !blk->disk.img.qd->fast);
	/* Whole metadata: the engine's own reader takes the overlay as it is now. */
	CHECK(qcow2_open(top_fd, &ro, &q, &err) == 0);
	qcow2_close(q);
	/* Data, L2 tables and refcounts for 8 MiB of 4 KiB clusters stay well under 16 MiB. */
	CHECK(fstat(top_fd, &st) == 0 && st.st_size < 2 * DISK_BYTES);
	CHECK(fstat(base_fd, &st) == 0 && st.st_size == base_st.st_size &&
	      st.st_mtim.tv_sec == base_st.st_mtim.tv_sec &&
	      st.st_mtim.tv_nsec == base_st.st_mtim.tv_nsec);
	return 0;
}
