/*
 * libFuzzer target for virtio-blk requests (src/virtio/blk/blk.c,
 * engine.c, disk.c): a hostile driver program (fz_drv.h) against a disk on
 * an 8 MiB sparse image (room for segments over size_max, 128 KiB), its
 * I/O on a real io_uring. REINIT's feature bits decide whether the driver
 * negotiated SIZE_MAX and SEG_MAX. After every kick the
 * target waits for the disk's I/O and runs its completions, as the I/O
 * thread would.
 *
 * The disk has two request queues (VIRTIO_BLK_F_MQ).
 *
 * Device step (opcode 5): 0 flips the image between read-only and
 * writable for the next requests, 1 runs completions now.
 *
 * Checked besides ASan/UBSan: the image never grows (requests stay
 * inside the disk), nothing is left in flight after a reset, and no read
 * or write the engine took is over its limits (seg_max, size_max, their
 * product).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/eventloop.h"
#include "fz_drv.h"
#include "util/log.h"
#include "virtio/blk.h"
#include "virtio/blk/priv.h"

#define IMG_SECTORS 16384u

static struct fz_drv drv;
static struct virtio_blk *blk;
static struct eventloop loop;
static int img_fd = -1;

/* Every read or write the engine took (total set) is within the limits it advertises. */
static void check_limits(void)
{
	for (unsigned int i = 0; i < BLK_INFLIGHT; i++) {
		const struct blk_req *r = &blk->reqs[i];

		if (!r->total || (r->type != VIRTIO_BLK_T_IN && r->type != VIRTIO_BLK_T_OUT))
			continue;
		CHECK(r->total <= BLK_REQ_MAX_BYTES && r->niov <= BLK_SEG_MAX);
		for (unsigned int j = 0; j < r->niov; j++)
			CHECK(r->iov[j].iov_len <= BLK_SIZE_MAX);
	}
}

static void blk_settle(struct fz_drv *d)
{
	(void)d;
	check_limits();
	/* What the I/O thread does on the completion eventfd, until nothing is left. */
	while (blk->disk.inflight) {
		struct io_uring_cqe *cqe;

		blk_disk_kick(&blk->disk);
		if (io_uring_wait_cqe(blk->disk.ring, &cqe))
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

static void setup(void)
{
	struct virtio_env env = { .loop = &loop, .mem = &drv.gm };
	char path[] = "/tmp/hearth-fuzz-blk-XXXXXX";
	struct err err;
	struct blk_config cfg;
	struct virtio_dev *dev;
	char spec[64];
	int fd;

	log_set_level(LOG_ERR);
	fz_drv_ram(&drv);
	CHECK(eventloop_init(&loop) == 0);
	fd = mkstemp(path);
	CHECK(fd >= 0 && ftruncate(fd, IMG_SECTORS * 512) == 0);
	close(fd);
	/* Two queues: requests on either, completions into their own (multiqueue). */
	snprintf(spec, sizeof(spec), "path=%s,id=fuzz,queues=2", path);
	CHECK(virtio_blk_parse(spec, &cfg, &err) == 0);
	CHECK(virtio_blk_create(&env, &cfg, &dev, &err) == 0);
	virtio_blk_config_release(&cfg);
	img_fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(img_fd >= 0);
	unlink(path);
	blk = virtio_blk_from_dev(dev);
	drv.dev_step = blk_step;
	drv.settle = blk_settle;
	fz_drv_attach(&drv, dev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };
	struct stat st;

	if (!blk)
		setup();
	blk->readonly = false;
	fz_drv_run(&drv, &in);
	fz_wr(&drv, 0x070, 0);
	CHECK(blk->disk.inflight == 0);
	CHECK(fstat(img_fd, &st) == 0 && st.st_size == IMG_SECTORS * 512);
	return 0;
}
