/* The source's RAM passes (send.h). */
#include "migrate/send.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "migrate/wire.h"
#include "snapshot/memcore.h"

static void add(uint64_t *v, uint64_t n)
{
	__atomic_fetch_add(v, n, __ATOMIC_RELAXED);
}

int mig_send_begin(int fd, const struct guest_mem *gm, unsigned int nvcpus,
		   struct mig_progress *p, struct err *err)
{
	struct memcore_vcpu *regs = calloc(nvcpus ? nvcpus : 1, sizeof(*regs));
	struct memcore_layout l;
	uint8_t hdr[MIG_HEADER_SIZE], size[8];
	uint8_t *elf = NULL;
	size_t len = 0;
	int ret = regs ? memcore_plan(gm, nvcpus, &l) : -ENOMEM;

	/* The notes' registers are the memory file's for gdb; the state carries the real ones. */
	if (!ret)
		ret = memcore_header(&l, regs, nvcpus, &elf, &len);
	free(regs);
	if (ret)
		return err_set(err, false, ret, "laying out RAM: %s", strerror(-ret));
	for (unsigned int i = 0; i < 8; i++)
		size[i] = (uint8_t)(l.file_size >> (8 * i));
	mig_header_put(hdr);
	struct iovec v[2] = { { size, 8 }, { elf, len } };

	/* The header alone is no record: written raw, then LAYOUT. */
	ret = mig_wire_write(fd, hdr, sizeof(hdr));
	if (!ret)
		ret = mig_wire_send(fd, MIG_LAYOUT, v, 2, 8 + len);
	free(elf);
	if (ret)
		return err_set(err, false, ret, "sending the layout: %s", strerror(-ret));
	add(&p->bytes, sizeof(hdr) + MIG_REC_SIZE + 8 + len);
	return 0;
}

/* A run of n non-zero pages from gpa (host address hva) as one PAGES record. */
static int send_run(int fd, uint64_t gpa, uint8_t *hva, unsigned int n, struct mig_progress *p)
{
	struct iovec v[1 + MIG_PAGES_MAX];
	uint8_t g[8];
	int ret;

	for (unsigned int i = 0; i < 8; i++)
		g[i] = (uint8_t)(gpa >> (8 * i));
	v[0] = (struct iovec){ g, 8 };
	for (unsigned int i = 0; i < n; i++)
		v[1 + i] = (struct iovec){ hva + (size_t)i * MIG_PAGE, MIG_PAGE };
	ret = mig_wire_send(fd, MIG_PAGES, v, 1 + n, 8 + (uint64_t)n * MIG_PAGE);
	if (!ret) {
		add(&p->bytes, MIG_REC_SIZE + 8 + (uint64_t)n * MIG_PAGE);
		add(&p->pages, n);
	}
	return ret;
}

static int send_zero(int fd, uint64_t gpa, uint64_t n, struct mig_progress *p)
{
	uint8_t b[16];
	int ret;

	for (unsigned int i = 0; i < 8; i++) {
		b[i] = (uint8_t)(gpa >> (8 * i));
		b[8 + i] = (uint8_t)(n >> (8 * i));
	}
	ret = mig_wire_send_buf(fd, MIG_ZERO, b, sizeof(b));
	if (!ret) {
		add(&p->bytes, MIG_REC_SIZE + sizeof(b));
		add(&p->pages, n);
	}
	return ret;
}

/*
 * Region r's pages [from, to), all or those set in map: runs of non-zero pages as
 * PAGES (at most MIG_PAGES_MAX - 1, the GPA taking an iovec), runs of
 * zero ones as ZERO when map says they were written (else skipped).
 */
int mig_send_range(int fd, const struct guest_region *r, const uint64_t *map, uint64_t from,
		   uint64_t to, struct mig_progress *p)
{
	uint64_t npages = to, run_start = 0, zero_start = 0;
	unsigned int run = 0;
	uint64_t zeros = 0;
	int ret = 0;

	for (uint64_t pg = from; pg <= npages && !ret; pg++) {
		/*
		 * A word of the map with nothing to send, and no run open, is
		 * passed whole: a last pass walks a few pages of millions, and
		 * page by page the walk alone was most of the source's share
		 * of the downtime.
		 */
		if (map && !run && !zeros && pg % 64 == 0 && pg + 64 <= npages && !map[pg / 64]) {
			pg += 63;
			continue;
		}
		bool want = pg < npages && (!map || (map[pg / 64] >> (pg % 64) & 1));
		bool zero = want && mig_page_zero(r->hva + pg * MIG_PAGE);

		if (run && (!want || zero || run == MIG_PAGES_MAX - 1)) {
			ret = send_run(fd, r->gpa + run_start * MIG_PAGE,
				       r->hva + run_start * MIG_PAGE, run, p);
			run = 0;
		}
		if (zeros && (!want || !zero)) {
			if (map && !ret)
				ret = send_zero(fd, r->gpa + zero_start * MIG_PAGE, zeros, p);
			zeros = 0;
		}
		if (want && zero && !zeros++)
			zero_start = pg;
		else if (want && !zero && !run++)
			run_start = pg;
	}
	return ret;
}

int mig_send_pass(int fd, const struct guest_mem *gm, uint64_t *const *maps,
		  struct mig_progress *p, struct err *err)
{
	for (unsigned int i = 0; i < gm->nregions; i++) {
		int ret = mig_send_range(fd, &gm->regions[i], maps ? maps[i] : NULL, 0,
					 gm->regions[i].size / MIG_PAGE, p);

		if (ret)
			return err_set(err, false, ret, "sending RAM: %s", ret == -EPIPE ?
				       "the destination closed the connection" : ret == -ETIMEDOUT ?
				       "the destination read nothing for 30 s" : strerror(-ret));
	}
	return 0;
}

bool mig_precopy_done(uint64_t expect_ms, uint32_t budget_ms, uint64_t n, uint64_t prev)
{
	return expect_ms <= budget_ms && (n <= MIG_CONVERGED_PAGES || n > prev / 2);
}

int mig_collect(struct guest_mem *gm, int vm_fd, uint64_t **maps, uint64_t *n)
{
	*n = 0;
	for (unsigned int i = 0; i < gm->nregions; i++) {
		size_t words = guest_mem_dirty_words(gm, i);
		int ret;

		if (!maps[i]) {
			maps[i] = calloc(words, sizeof(uint64_t));
			if (!maps[i])
				return -ENOMEM;
		}
		ret = guest_mem_dirty_collect(gm, vm_fd, i, maps[i]);
		if (ret)
			return ret;
		for (size_t w = 0; w < words; w++)
			*n += (uint64_t)__builtin_popcountll(maps[i][w]);
	}
	return 0;
}

void mig_maps_free(uint64_t **maps)
{
	for (unsigned int i = 0; i < GUEST_MEM_DIRTY_MAPS; i++) {
		free(maps[i]);
		maps[i] = NULL;
	}
}

void mig_mark_all(const struct guest_mem *gm)
{
	for (unsigned int i = 0; i < gm->nregions; i++)
		guest_mem_dirty_mark(gm, gm->regions[i].gpa, gm->regions[i].size);
}
