/*
 * The flash's command state machine (pflash.h), after QEMU's
 * pflash_write and pflash_read with a bank of 1 or 4 bytes and no device
 * width given (QEMU's x86 flash): status reads give the status, a
 * 4-byte one twice over (bits 0-7 and 16-23); ID reads give QEMU's zero
 * IDs; CFI reads give the table byte at the offset's low byte (over the
 * bank width). Each write's offset and width are checked against the
 * array, and the write buffer's data against its block, before a byte
 * moves.
 */
#include "devices/pflash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/eventloop.h"
#include "devices/pflash_priv.h"

/* QEMU's x86 flashes have no IDs (pc_sysfw.c: id0 to id3 all 0). */
#define PFLASH_ID_MANUFACTURER 0x0000
#define PFLASH_ID_DEVICE 0x0000

static unsigned int width_shift(const struct pflash *p)
{
	return p->width == 4 ? 2 : 0;
}

/* QEMU's pflash_cfi01_fill_cfi_table for one device across the bank. */
static void cfi_fill(struct pflash *p)
{
	static const uint8_t head[] = {
		'Q', 'R', 'Y', 0x01, 0x00, 0x31, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x45, 0x55, 0x00, 0x00, 0x07, 0x07, 0x0a, 0x00, 0x04, 0x04, 0x04, 0x00,
	};
	uint32_t blocks = p->nsectors - 1;

	memset(p->cfi, 0, sizeof(p->cfi));
	memcpy(p->cfi + 0x10, head, sizeof(head));
	/* The size as a power of two: QEMU's ctz32, which a 3.5 MiB image makes 16 KiB. */
	p->cfi[0x27] = (uint8_t)__builtin_ctzll(p->size);
	p->cfi[0x28] = 0x02;                          /* x8 and x16 interface */
	p->cfi[0x2a] = p->width == 1 ? 0x08 : 0x0b;   /* the write buffer, 2^n bytes */
	p->cfi[0x2c] = 0x01;                          /* one erase block region */
	p->cfi[0x2d] = (uint8_t)blocks;
	p->cfi[0x2e] = (uint8_t)(blocks >> 8);
	p->cfi[0x2f] = (uint8_t)(PFLASH_SECTOR >> 8);
	p->cfi[0x30] = (uint8_t)(PFLASH_SECTOR >> 16);
	memcpy(p->cfi + 0x31, "PRI10", 5);            /* the primary extended table */
	p->cfi[0x3f] = 0x01;                          /* protection fields */
	p->wb_size = 1u << p->cfi[0x2a];
}

void pflash_sync_array(struct pflash *p)
{
	bool want = p->wcycle == 0 && p->cmd == PFLASH_CMD_ARRAY;

	if (want == p->array)
		return;
	p->array = want;
	if (p->set_array)
		p->set_array(p->opaque, want);
}

void pflash_mark_dirty(struct pflash *p, uint64_t off, uint64_t len)
{
	for (uint64_t s = off / PFLASH_SECTOR; len && s <= (off + len - 1) / PFLASH_SECTOR; s++)
		p->dirty[s / 64] |= 1ull << (s % 64);
}

void pflash_kick(struct pflash *p)
{
	uint64_t one = 1;

	/* A full counter (2^64 - 2 kicks) already wakes the loop: EAGAIN loses nothing. */
	if (p->efd >= 0 && write(p->efd, &one, sizeof(one)) < 0)
		return;
}

static void read_array(struct pflash *p)
{
	p->wcycle = 0;
	p->cmd = PFLASH_CMD_ARRAY;
}

/* A sequence the flash does not take: its error in the status, and back to array mode. */
static void sequence_error(struct pflash *p)
{
	p->status |= PFLASH_SR_SEQUENCE_ERR;
	read_array(p);
}

/* The first cycle: a command. */
static void write_command(struct pflash *p, uint64_t off, uint8_t cmd)
{
	switch (cmd) {
	case PFLASH_CMD_ARRAY:
	case PFLASH_CMD_READ_ARRAY:
	case PFLASH_CMD_AMD_PROBE:
		read_array(p);
		return;
	case PFLASH_CMD_CLEAR_STATUS:
		p->status = 0;
		read_array(p);
		return;
	case PFLASH_CMD_STATUS:
	case PFLASH_CMD_ID:
	case PFLASH_CMD_CFI:
		/* Read modes: the next write is a command again. */
		p->cmd = cmd;
		return;
	case PFLASH_CMD_BUFFER:
		p->wb_base = off & ~(uint64_t)(p->wb_size - 1);
		/* The buffer is free at once: its status reads "ready". */
		p->status |= PFLASH_SR_READY;
		/* fall through */
	case PFLASH_CMD_PROGRAM:
	case PFLASH_CMD_PROGRAM_ALT:
	case PFLASH_CMD_ERASE:
	case PFLASH_CMD_LOCK:
		p->cmd = cmd;
		p->wcycle = 1;
		return;
	default:
		/* Suspend, resume and the rest are not ours: ignored, as QEMU does. */
		read_array(p);
		return;
	}
}

/* A program or erase a read-only flash refuses: counted, and said at a limited rate. */
static void refuse(struct pflash *p, const char *what, uint64_t off)
{
	p->refused++;
	log_ratelimited(&p->refused_rl, LOG_WARN, "pflash: a guest %s of its read-only code at "
			"+0x%llx refused (%llu so far)", what, (unsigned long long)off,
			(unsigned long long)p->refused);
}

/* Program's data: w bytes of value at off. Returns whether the array changed. */
static bool program(struct pflash *p, uint64_t off, uint32_t value, unsigned int w)
{
	bool ok = !p->ro && off < p->size && w <= p->size - off;

	p->status |= PFLASH_SR_READY | (ok ? 0 : PFLASH_SR_PROGRAM_ERR);
	p->wcycle = 0;
	if (!ok && p->ro)
		refuse(p, "program", off);
	if (!ok)
		return false;
	for (unsigned int i = 0; i < w; i++)
		p->mem[off + i] = (uint8_t)(value >> (8 * i));
	pflash_mark_dirty(p, off, w);
	return true;
}

static bool erase(struct pflash *p, uint64_t off, uint8_t cmd)
{
	uint64_t base = off & ~(uint64_t)(PFLASH_SECTOR - 1);

	if (cmd == PFLASH_CMD_READ_ARRAY) {
		read_array(p);
		return false;
	}
	if (cmd != PFLASH_CMD_CONFIRM) {
		sequence_error(p);
		return false;
	}
	p->wcycle = 0;
	p->status |= PFLASH_SR_READY | (p->ro ? PFLASH_SR_ERASE_ERR : 0);
	if (p->ro) {
		refuse(p, "erase", base);
		return false;
	}
	memset(p->mem + base, 0xff, PFLASH_SECTOR);
	pflash_mark_dirty(p, base, PFLASH_SECTOR);
	return true;
}

/* Write to buffer, its count: the data writes to come, less one, in bank-width words. */
static void buffer_count(struct pflash *p, uint32_t value)
{
	uint32_t count = p->width == 1 ? value & 0xff : value;

	if (((uint64_t)count + 1) << width_shift(p) > p->wb_size) {
		sequence_error(p);
		return;
	}
	p->counter = count;
	memcpy(p->wb, p->mem + p->wb_base, p->wb_size);
	p->wcycle = 2;
}

static void buffer_data(struct pflash *p, uint64_t off, uint32_t value, unsigned int w)
{
	if (off < p->wb_base || off - p->wb_base + w > p->wb_size) {
		sequence_error(p);
		return;
	}
	for (unsigned int i = 0; i < w; i++)
		p->wb[off - p->wb_base + i] = (uint8_t)(value >> (8 * i));
	p->status |= PFLASH_SR_READY;
	if (p->counter)
		p->counter--;
	else
		p->wcycle = 3;
}

/* The confirm: only now does the buffer reach the array. */
static bool buffer_confirm(struct pflash *p, uint8_t cmd)
{
	if (cmd != PFLASH_CMD_CONFIRM) {
		sequence_error(p);
		return false;
	}
	p->wcycle = 0;
	p->status |= PFLASH_SR_READY | (p->ro ? PFLASH_SR_PROGRAM_ERR : 0);
	if (p->ro) {
		refuse(p, "buffered program", p->wb_base);
		return false;
	}
	memcpy(p->mem + p->wb_base, p->wb, p->wb_size);
	pflash_mark_dirty(p, p->wb_base, p->wb_size);
	return true;
}

/* The second cycle: the data, the confirm or the count of what the first one began. */
static bool write_second(struct pflash *p, uint64_t off, uint32_t value, unsigned int w)
{
	uint8_t cmd = (uint8_t)value;

	switch (p->cmd) {
	case PFLASH_CMD_PROGRAM:
	case PFLASH_CMD_PROGRAM_ALT:
		return program(p, off, value, w);
	case PFLASH_CMD_ERASE:
		return erase(p, off, cmd);
	case PFLASH_CMD_BUFFER:
		buffer_count(p, value);
		return false;
	default:
		break;
	}
	/* Lock, unlock or lock-down: taken, and nothing is locked. */
	if (cmd == PFLASH_CMD_CONFIRM || cmd == 0x01 || cmd == 0x2f) {
		p->wcycle = 0;
		p->status |= PFLASH_SR_READY;
	} else {
		read_array(p);
	}
	return false;
}

/* One write of w bytes (1, 2 or 4); p->lock held. Returns whether the array changed. */
static bool write_one(struct pflash *p, uint64_t off, uint32_t value, unsigned int w)
{
	if (p->wcycle == 0) {
		write_command(p, off, (uint8_t)value);
		return false;
	}
	if (p->wcycle == 1)
		return write_second(p, off, value, w);
	if (p->wcycle == 2) {
		buffer_data(p, off, value, w);
		return false;
	}
	return buffer_confirm(p, (uint8_t)value);
}

static void pflash_mmio_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
	struct pflash *p = opaque;
	bool changed;

	pthread_mutex_lock(&p->lock);
	/* Eight bytes are two 4-byte writes, low first, as QEMU splits them. */
	if (len == 8) {
		changed = write_one(p, offset, (uint32_t)bus_data_get(data, 4), 4);
		changed |= write_one(p, offset + 4, (uint32_t)bus_data_get(data + 4, 4), 4);
	} else {
		changed = write_one(p, offset, (uint32_t)bus_data_get(data, len), len);
	}
	pflash_sync_array(p);
	pthread_mutex_unlock(&p->lock);
	if (!changed)
		return;
	if (p->efd >= 0)
		pflash_kick(p);
	else
		(void)pflash_flush(p);
}

/* One read of w bytes (at most 4); p->lock held. */
static uint32_t read_one(struct pflash *p, uint64_t off, unsigned int w)
{
	uint64_t boff = (off & 0xff) >> width_shift(p);
	uint32_t v = 0;

	switch (p->cmd) {
	case PFLASH_CMD_ARRAY:
		for (unsigned int i = 0; i < w; i++)
			v |= (uint32_t)(off + i < p->size ? p->mem[off + i] : 0xff) << (8 * i);
		return v;
	case PFLASH_CMD_ID:
		return boff == 0 ? PFLASH_ID_MANUFACTURER : boff == 1 ? PFLASH_ID_DEVICE : 0;
	case PFLASH_CMD_CFI:
		return boff < PFLASH_CFI_LEN ? p->cfi[boff] : 0;
	default:
		return w > 2 ? (uint32_t)p->status | (uint32_t)p->status << 16 : p->status;
	}
}

static void pflash_mmio_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	struct pflash *p = opaque;

	pthread_mutex_lock(&p->lock);
	if (len == 8) {
		bus_data_put(data, 4, read_one(p, offset, 4));
		bus_data_put(data + 4, 4, read_one(p, offset + 4, 4));
	} else {
		bus_data_put(data, len, read_one(p, offset, len));
	}
	pthread_mutex_unlock(&p->lock);
}

static const struct bus_region_ops pflash_ops = {
	.read = pflash_mmio_read,
	.write = pflash_mmio_write,
};

int pflash_flush(struct pflash *p)
{
	int ret = 0;

	if (p->fd < 0 || !p->dirty || !p->bounce)
		return 0;
	pthread_mutex_lock(&p->flush_lock);
	for (uint32_t s = 0; s < p->nsectors; s++) {
		uint64_t bit = 1ull << (s % 64);
		ssize_t n;

		pthread_mutex_lock(&p->lock);
		if (!(p->dirty[s / 64] & bit)) {
			pthread_mutex_unlock(&p->lock);
			continue;
		}
		p->dirty[s / 64] &= ~bit;
		memcpy(p->bounce, p->mem + (uint64_t)s * PFLASH_SECTOR, PFLASH_SECTOR);
		pthread_mutex_unlock(&p->lock);
		n = pwrite(p->fd, p->bounce, PFLASH_SECTOR, (off_t)s * PFLASH_SECTOR);
		if (n == PFLASH_SECTOR)
			continue;
		ret = n < 0 ? -errno : -EIO;
		/* Dirty again: the next change, or pause, tries once more. */
		pthread_mutex_lock(&p->lock);
		p->dirty[s / 64] |= bit;
		pthread_mutex_unlock(&p->lock);
		log_ratelimited(&p->flush_rl, LOG_ERR, "pflash: writing the varstore failed: %s",
				strerror(-ret));
		break;
	}
	pthread_mutex_unlock(&p->flush_lock);
	return ret;
}

static void pflash_on_kick(void *opaque, uint32_t events)
{
	struct pflash *p = opaque;
	uint64_t n;

	(void)events;
	if (read(p->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	(void)pflash_flush(p);
}

uint8_t *pflash_array(struct pflash *p)
{
	return p->mem;
}

bool pflash_in_array_mode(struct pflash *p)
{
	bool a;

	pthread_mutex_lock(&p->lock);
	a = p->array;
	pthread_mutex_unlock(&p->lock);
	return a;
}

static int pflash_pause(void *obj)
{
	return pflash_flush(obj);
}

static void pflash_destroy(void *obj)
{
	struct pflash *p = obj;

	(void)pflash_flush(p);
	if (p->efd >= 0) {
		if (p->loop)
			(void)eventloop_remove(p->loop, p->efd);
		close(p->efd);
	}
	if (p->fd >= 0)
		close(p->fd);
	if (p->mem)
		munmap(p->mem, p->size);
	free(p->dirty);
	free(p->bounce);
	pthread_mutex_destroy(&p->flush_lock);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* A read-only flash's one counter: the guest's writes it refused. */
static unsigned int pflash_counters(void *obj, struct dev_counter *out, unsigned int max)
{
	struct pflash *p = obj;

	if (!max || !p->ro)
		return 0;
	pthread_mutex_lock(&p->lock);
	out[0] = (struct dev_counter){ "code_writes_refused", p->refused };
	pthread_mutex_unlock(&p->lock);
	return 1;
}

static const struct component_ops pflash_component = {
	.counters = pflash_counters,
	.pause = pflash_pause,
	.save = pflash_save,
	.restore = pflash_restore,
	.destroy = pflash_destroy,
};

static int check_config(const struct dev_resources *res, const struct pflash_config *cfg,
			struct err *err)
{
	struct stat st;

	if (!cfg->size || cfg->size % PFLASH_SECTOR || cfg->size > PFLASH_SIZE_MAX)
		return err_set(err, true, -EINVAL,
			       "pflash: %llu bytes: not a multiple of %u up to %u",
			       (unsigned long long)cfg->size, PFLASH_SECTOR, PFLASH_SIZE_MAX);
	if (res->mmio_size != cfg->size)
		return err_set(err, false, -EINVAL, "pflash: a window of %u bytes for %llu",
			       res->mmio_size, (unsigned long long)cfg->size);
	if (cfg->width != 1 && cfg->width != 4)
		return err_set(err, false, -EINVAL, "pflash: a bank of %u bytes, not 1 or 4",
			       cfg->width);
	if (fstat(cfg->fd, &st) < 0)
		return err_set(err, true, -errno, "pflash: the image: %s", strerror(errno));
	if ((uint64_t)st.st_size < cfg->size)
		return err_set(err, true, -EIO, "pflash: the image has %lld bytes, not %llu",
			       (long long)st.st_size, (unsigned long long)cfg->size);
	return 0;
}

/* The array: the file itself for a read-only device, a copy of it for a writable one. */
static int map_image(struct pflash *p, const struct pflash_config *cfg, struct err *err)
{
	uint64_t done = 0;

	if (p->ro) {
		p->mem = mmap(NULL, p->size, PROT_READ, MAP_PRIVATE, cfg->fd, 0);
		if (p->mem == MAP_FAILED) {
			p->mem = NULL;
			return err_set(err, false, -errno, "pflash: mapping the image: %s",
				       strerror(errno));
		}
		return 0;
	}
	p->mem = mmap(NULL, p->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p->mem == MAP_FAILED) {
		p->mem = NULL;
		return err_set(err, false, -ENOMEM, "out of memory");
	}
	while (done < p->size) {
		ssize_t n = pread(cfg->fd, p->mem + done, p->size - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return err_set(err, true, n < 0 ? -errno : -EIO,
				       "pflash: reading the image: %s",
				       n < 0 ? strerror(errno) : "it ends early");
		done += (uint64_t)n;
	}
	p->fd = fcntl(cfg->fd, F_DUPFD_CLOEXEC, 0);
	if (p->fd < 0)
		return err_set(err, false, -errno, "pflash: %s", strerror(errno));
	return 0;
}

static int writer_init(struct pflash *p, const struct dev_env *env, struct err *err)
{
	p->dirty = calloc((p->nsectors + 63) / 64, sizeof(*p->dirty));
	p->bounce = malloc(PFLASH_SECTOR);
	if (!p->dirty || !p->bounce)
		return err_set(err, false, -ENOMEM, "out of memory");
	if (p->ro || !env->loop)
		return 0;
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->efd < 0)
		return err_set(err, false, -errno, "pflash: eventfd: %s", strerror(errno));
	if (eventloop_add(env->loop, p->efd, EPOLLIN, pflash_on_kick, p) < 0) {
		close(p->efd);
		p->efd = -1;
		return err_set(err, false, -EMFILE, "pflash: the I/O loop is full");
	}
	p->loop = env->loop;
	return 0;
}

int pflash_create(const struct dev_env *env, const struct dev_resources *res,
		  const struct pflash_config *cfg, struct component *out, struct err *err)
{
	struct pflash *p;
	int ret = check_config(res, cfg, err);

	if (ret)
		return ret;
	p = calloc(1, sizeof(*p));
	if (!p)
		return err_set(err, false, -ENOMEM, "out of memory");
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->flush_lock, NULL);
	p->fd = p->efd = -1;
	p->size = cfg->size;
	p->nsectors = (uint32_t)(cfg->size / PFLASH_SECTOR);
	p->width = cfg->width;
	p->ro = cfg->readonly;
	p->set_array = cfg->set_array;
	p->opaque = cfg->opaque;
	p->flush_rl = (struct ratelimit)RATELIMIT_INIT(4);
	p->refused_rl = (struct ratelimit)RATELIMIT_INIT(5);
	/* QEMU's reset state: array mode, the state machine ready. */
	p->cmd = PFLASH_CMD_ARRAY;
	p->status = PFLASH_SR_READY;
	p->array = true;
	cfi_fill(p);
	ret = map_image(p, cfg, err);
	if (!ret)
		ret = writer_init(p, env, err);
	if (!ret)
		ret = dev_claim(env, BUS_MMIO, res->mmio_base, p->size, &pflash_ops, p, "pflash",
				err);
	if (ret) {
		pflash_destroy(p);
		return ret;
	}
	*out = (struct component){ &pflash_component, p };
	return 0;
}
