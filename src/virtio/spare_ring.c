/* Rings made ahead for devices plugged in later (spare_ring.h). */
#include "virtio/spare_ring.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

int spare_rings_make(struct spare_rings *p, unsigned int n, spare_ring_make_fn make)
{
	int ret = 0;

	p->r = NULL;
	p->n = 0;
	p->asked = n;
	p->why = 0;
	if (!n)
		return 0;
	p->r = calloc(n, sizeof(*p->r));
	if (!p->r) {
		p->why = -ENOMEM;
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < n; i++) {
		p->r[i].efd = -1;
		ret = make(&p->r[i]);
		if (ret)
			goto err_free;
		p->n = i + 1;
	}
	return 0;
err_free:
	spare_rings_free(p);
	p->asked = n;
	p->why = ret;
	return ret;
}

struct spare_ring *spare_rings_find(struct spare_rings *p)
{
	for (unsigned int i = 0; i < p->n; i++)
		if (p->r[i].efd >= 0 && !p->r[i].in_use)
			return &p->r[i];
	return NULL;
}

unsigned int spare_rings_live(const struct spare_rings *p)
{
	unsigned int live = 0;

	for (unsigned int i = 0; i < p->n; i++)
		live += p->r[i].efd >= 0;
	return live;
}

void spare_ring_retire(struct spare_ring *s)
{
	if (s->efd < 0)
		return;
	io_uring_queue_exit(&s->ring);
	close(s->efd);
	s->efd = -1;
	s->in_use = false;
}

void spare_rings_free(struct spare_rings *p)
{
	for (unsigned int i = 0; i < p->n; i++)
		spare_ring_retire(&p->r[i]);
	free(p->r);
	p->r = NULL;
	p->n = 0;
}

void spare_ring_let_go(struct spare_ring *s, bool quiet)
{
	uint64_t v;

	/* An SQE left queued would go in with the next device's first submit, tag and all. */
	if (!quiet || io_uring_sq_ready(&s->ring)) {
		spare_ring_retire(s);
		return;
	}
	/* A drain's cancel reports on itself, perhaps after the last I/O: not the next device's. */
	io_uring_cq_advance(&s->ring, io_uring_cq_ready(&s->ring));
	if (read(s->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing was signalled. */
	}
	s->in_use = false;
}
