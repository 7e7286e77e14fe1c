/*
 * libFuzzer target for the device records a snapshot holds
 * (docs/snapshot-format.md): virtio-mmio's VMMI record with the device's
 * own record nested (src/virtio/mmio/state.c, blk/state.c, rng.c,
 * net/state.c, net/slirp.c, vsock/uds.c, vsock/event.c,
 * vsock/vhost_state.c), restored into live devices, and the memory file's
 * ELF layout (src/snapshot/memfile_layout.c). The user-mode NIC's record
 * nests libslirp's, which goes through the real libslirp; vhost-vsock
 * runs on a fake vhost that answers every ioctl and gives the used
 * index as its ring position.
 *
 * Input: a mode byte m, then by m % 4:
 *   0  mutate: device m/4 % 6 (rng, blk, net with a fake backend, hybrid
 *      vsock, net with libslirp, vhost-vsock) saves its real
 *      record; u16 cut (a length to truncate to, 0xffff: none), then
 *      (u16 offset, u8 xor) pairs are applied to it; the result is
 *      restored into the same device
 *   1  raw: the rest is a record, restored into device m/4 % 6
 *   2  memfile: u32 file size (0: the input's length), then the first
 *      bytes of a memory file of that size
 *   3  as 0, after the device's driver re-initialised it (fresh queues)
 *
 * Checked besides ASan/UBSan: a restore returns 0, -ENODATA, -EPROTO or
 * -EINVAL, never anything else; after an accepted one the device saves
 * again, and that record restores again (what we write we read); a
 * refused one changes nothing (the device's saved record is the same
 * before and after). An accepted memory-file layout has its regions in
 * order, aligned and inside the file.
 */
#include <errno.h>
#include <linux/vhost.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/eventloop.h"
#include "fz_drv.h"
#include "snapshot/memfile_layout.h"
#include "util/log.h"
#include "virtio/blk.h"
#include "virtio/blk/priv.h"
#include "virtio/net.h"
#include "virtio/rng.h"
#include "virtio/mmio.h"
#include "virtio/vsock/vhost_priv.h"
#include "virtio/vsock_uds.h"

#define NDEV 6
#define VHOST 5

static struct fz_drv drv[NDEV];
static struct eventloop loop;
static struct bus bus;
static uint8_t ram[FZ_RAM] __attribute__((aligned(4096)));
static bool ready;

static void fake_destroy(struct net_be *b)
{
	close(b->fds[0]);
	free(b);
}

static const struct net_be_ops fake_ops = { .destroy = fake_destroy };

/* vhost that did all the work it was given: its position is the used index. */
static int fake_vhost_ioctl(int fd, unsigned long req, void *arg)
{
	struct virtq *vq;

	(void)fd;
	if (req == VHOST_GET_FEATURES)
		*(uint64_t *)arg = ~0ull;
	if (req == VHOST_GET_VRING_BASE) {
		struct vhost_vring_state *st = arg;

		vq = st->index < VSOCK_VHOST_QUEUES ? &drv[VHOST].dev->vq[st->index] : NULL;
		st->num = vq && vq->enabled ? vq->used[1] : 0;
	}
	return 0;
}

static void blk_settle(struct fz_drv *d)
{
	struct virtio_blk *blk = virtio_blk_from_dev(d->dev);

	while (blk->disk.inflight) {
		struct io_uring_cqe *cqe;

		blk_disk_kick(&blk->disk);
		if (io_uring_wait_cqe(blk->disk.ring, &cqe))
			break;
		blk_disk_on_event(&blk->disk, 0);
	}
}

static void attach(unsigned int i, struct virtio_dev *dev)
{
	struct virtio_host host = { .vm_fd = -1, .bus = &bus };
	static const uint8_t init[] = { 0xff, 0xff, 0xff, 0xff, 0, 4, 4, 4, 4, 4 };
	struct fz in = { init, sizeof(init) };

	drv[i].bus = &bus;
	drv[i].ram = ram;
	drv[i].gm.regions[0] = (struct guest_region){ 0, FZ_RAM, ram };
	drv[i].gm.nregions = 1;
	drv[i].gm.ram_bytes = FZ_RAM;
	drv[i].dev = dev;
	drv[i].base = FZ_BASE + i * VIRTIO_MMIO_SIZE;
	CHECK(virtio_mmio_create(dev, &host, drv[i].base, 5 + i, &drv[i].t) == 0);
	fz_drv_init(&drv[i], &in);
}

static void setup(void)
{
	struct virtio_env env = { .loop = &loop, .mem = &drv[0].gm };
	char path[] = "/tmp/hearth-fuzz-devstate-XXXXXX", spec[64];
	struct err err;
	static const struct virtio_vsock_backend vhost = { "/dev/null", fake_vhost_ioctl };
	struct vsock_uds_config vcfg = { .cid = 3 };
	struct vsock_config vhcfg = { .cid = 4 };
	struct net_config ncfg;
	struct blk_config cfg;
	struct net_be *be;
	struct virtio_dev *dev;
	int fd, sv[2];

	log_set_level(LOG_ERR);
	bus_init(&bus);
	drv[0].gm.regions[0] = (struct guest_region){ 0, FZ_RAM, ram };
	drv[0].gm.nregions = 1;
	drv[0].gm.ram_bytes = FZ_RAM;
	CHECK(eventloop_init(&loop) == 0);
	CHECK(virtio_rng_create(&env, &dev, &err) == 0);
	attach(0, dev);

	fd = mkstemp(path);
	CHECK(fd >= 0 && ftruncate(fd, 64 * 512) == 0);
	close(fd);
	snprintf(spec, sizeof(spec), "path=%s", path);
	CHECK(virtio_blk_parse(spec, &cfg, &err) == 0);
	CHECK(virtio_blk_create(&env, &cfg, &dev, &err) == 0);
	virtio_blk_config_release(&cfg);
	unlink(path);
	drv[1].settle = blk_settle;
	attach(1, dev);

	CHECK(virtio_net_parse("user", &ncfg, &err) == 0);
	be = calloc(1, sizeof(*be));
	CHECK(be && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	*be = (struct net_be){ .ops = &fake_ops, .name = "fake", .nqueues = 1, .fds = { sv[0] } };
	CHECK(virtio_net_create_backend(&env, &ncfg, be, &dev, &err) == 0);
	attach(2, dev);

	snprintf(path, sizeof(path), "/tmp/hearth-fuzz-vs-XXXXXX");
	CHECK(mkdtemp(path));
	snprintf(spec, sizeof(spec), "%s/v.sock", path);
	vcfg.uds_path = spec;
	CHECK(virtio_vsock_uds_create(&env, &vcfg, &dev, &err) == 0);
	attach(3, dev);

	CHECK(virtio_net_create(&env, &ncfg, &dev, &err) == 0);
	attach(4, dev);

	CHECK(virtio_vsock_create_with(&env, &vhcfg, &vhost, &dev, &err) == 0);
	drv[VHOST].dev = dev; /* the fake reads its rings from the first activation */
	attach(VHOST, dev);
	ready = true;
}

/* The device's record (its transport's component) into a fresh buffer; *len its length. */
static uint8_t *save(struct fz_drv *d, size_t *len)
{
	struct bytes_out o = bytes_out_growing();
	struct err err = ERR_INIT;

	/* vhost's positions are final only once it stopped (the VM is paused for a save). */
	if (d == &drv[VHOST])
		virtio_dev_pause(d->dev);
	CHECK(virtio_mmio_component.save(d->t, &o, &err) == 0);
	CHECK(bytes_out_finish(&o, len) == 0);
	return o.buf;
}

/*
 * As a snapshot load restores it: the check, then (if it passed) the
 * apply. *applied: the check passed (the apply may still have failed).
 */
static int load(struct fz_drv *d, const uint8_t *rec, size_t len, bool *applied)
{
	struct err err = ERR_INIT;
	int ret = virtio_mmio_component.restore(d->t, rec, len, false, &err);

	*applied = !ret;
	return ret ? ret : virtio_mmio_component.restore(d->t, rec, len, true, &err);
}

static void restore(struct fz_drv *d, const uint8_t *rec, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1), *before, *after, *again;
	size_t before_len, after_len, again_len;
	bool applied;
	int ret;

	CHECK(copy);
	memcpy(copy, rec, len); /* exact size: a read past len is an ASan report */
	before = save(d, &before_len);
	ret = load(d, copy, len, &applied);
	CHECK(ret == 0 || ret == -ENODATA || ret == -EPROTO || ret == -EINVAL);
	/*
	 * The contract: an apply fails only on the host's side, and the
	 * fakes' never does. (A record that says vhost-vsock was running with
	 * rx or tx not enabled used to pass the check and fail the apply: its
	 * activate_check now refuses it in the check.)
	 */
	CHECK(!(ret && applied));
	if (ret) {
		after = save(d, &after_len);
		CHECK(after_len == before_len && !memcmp(after, before, before_len));
		free(after);
	} else {
		if (d->settle)
			d->settle(d);
		again = save(d, &again_len);
		CHECK(load(d, again, again_len, &applied) == 0);
		if (d->settle)
			d->settle(d);
		free(again);
	}
	free(before);
	free(copy);
}

static void memfile(const uint8_t *p, size_t n, uint32_t file_size)
{
	struct memfile_layout l;
	uint64_t size = file_size ? file_size : n;
	uint8_t *copy = malloc(n ? n : 1);
	struct err err;

	CHECK(copy);
	memcpy(copy, p, n);
	if (!memfile_layout_parse(copy, n, size, &l, &err)) {
		CHECK(l.nregions >= 1 && l.nregions <= MEMFILE_MAX_REGIONS);
		CHECK(l.file_size == size);
		for (unsigned int i = 0; i < l.nregions; i++) {
			CHECK(!(l.r[i].offset % MEMFILE_PAGE) && l.r[i].size);
			CHECK(l.r[i].offset + l.r[i].size <= size);
			CHECK(!i || l.r[i].offset >= l.r[i - 1].offset + l.r[i - 1].size);
		}
	} else {
		CHECK(err.msg[0]);
	}
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };
	uint8_t m, *rec;
	struct fz_drv *d;
	size_t len;
	uint16_t cut;

	if (!ready)
		setup();
	m = fz_u8(&in);
	d = &drv[(m / 4) % NDEV];
	switch (m % 4) {
	case 1:
		restore(d, in.p, in.n);
		return 0;
	case 2:
	{
		uint32_t file_size = fz_u32(&in);

		memfile(in.p, in.n, file_size);
		return 0;
	}
	case 3: {
		static const uint8_t init[] = { 0xff, 0xff, 0xff, 0xff, 0, 3, 5, 2, 4 };
		struct fz i2 = { init, sizeof(init) };

		fz_drv_init(d, &i2);
		break;
	}
	default:
		break;
	}
	rec = save(d, &len);
	cut = fz_u16(&in);
	if (cut != 0xffff && cut < len)
		len = cut;
	while (in.n >= 3) {
		uint16_t off = fz_u16(&in);
		uint8_t x = fz_u8(&in);

		if (len)
			rec[off % len] ^= x;
	}
	restore(d, rec, len);
	free(rec);
	return 0;
}
