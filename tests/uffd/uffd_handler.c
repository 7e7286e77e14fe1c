/*
 * A small page-fault handler for the Uffd memory backend (docs/snapshots.md,
 * "The Uffd backend"), for tests and benches:
 *
 *   uffd_handler SOCKET MEMFILE [--count-file PATH] [--batch PAGES]
 *
 * Listens on SOCKET (it appears only once it listens), takes one
 * connection, receives the region mappings with the userfaultfd (one
 * message, SCM_RIGHTS), maps MEMFILE read-only and serves every
 * missing-page fault with UFFDIO_COPY of the page at the region's offset
 * plus the fault's distance into it. Every address is checked against
 * the mappings and every mapping against the file; a bad message or a
 * fault outside them is one line on stderr and exit 1, never a crash. A
 * UFFD_EVENT_REMOVE (a range given back) makes the next faults there zero
 * pages. With --batch PAGES (a power of two up to 512; default 1) a fault
 * fills the PAGES-aligned group of pages around it that are still missing,
 * as a prefetching handler would: a guest that touches all of a range (a
 * driver zeroing memory it takes) then costs one round trip per group,
 * not per page. It exits 0 when Hearth is done: its end of the connection
 * closes (Hearth keeps it as long as the RAM), or a copy finds its memory
 * gone (ESRCH). At exit it prints "uffd_handler: served N faults (Z zero
 * pages)" on stderr, and N to --count-file.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot/uffd_msg.h"
#include "util/uds.h"

#define ACCEPT_TIMEOUT_MS 60000

struct region {
	struct uffd_mapping m;
	uint8_t *removed;          /* one byte per page: given back, zero on its next fault */
};

struct handler {
	int sock, uffd;
	const uint8_t *file;
	uint64_t file_size;
	struct region r[UFFD_MSG_MAX_REGIONS];
	unsigned int n;
	uint64_t batch;            /* pages a fault fills at most */
	unsigned long served, zeroed;
	uint64_t placed;           /* pages filled, prefetched ones included */
};

static int fail(const char *fmt, const char *arg)
{
	fprintf(stderr, "uffd_handler: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return -1;
}

/* One message with one fd: anything else is refused. */
static int receive(struct handler *h, char *buf, size_t cap, size_t *len)
{
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} c;
	struct iovec iov = { buf, cap };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.b,
			     .msg_controllen = sizeof(c.b) };
	struct cmsghdr *cm;
	struct pollfd p = { h->sock, POLLIN, 0 };
	ssize_t n;

	if (poll(&p, 1, ACCEPT_TIMEOUT_MS) != 1)
		return fail("no mapping message within %s", "60 s");
	n = recvmsg(h->sock, &mh, MSG_CMSG_CLOEXEC);
	if (n <= 0)
		return fail("the connection closed before the mapping message%s", "");
	cm = CMSG_FIRSTHDR(&mh);
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || !cm || cm->cmsg_level != SOL_SOCKET ||
	    cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(int)))
		return fail("the mapping message is too long or carries no single fd%s", "");
	memcpy(&h->uffd, CMSG_DATA(cm), sizeof(int));
	*len = (size_t)n;
	return 0;
}

static int setup(struct handler *h, const char *buf, size_t len)
{
	struct uffd_mapping m[UFFD_MSG_MAX_REGIONS];
	struct err e = ERR_INIT;
	unsigned int n;

	if (uffd_msg_parse(buf, len, m, UFFD_MSG_MAX_REGIONS, &n, &e))
		return fail("%s", e.msg);
	for (unsigned int i = 0; i < n; i++) {
		if (m[i].offset > h->file_size || m[i].size > h->file_size - m[i].offset)
			return fail("a region lies past the end of the memory file%s", "");
		h->r[i].m = m[i];
		h->r[i].removed = calloc(m[i].size / m[i].page_size, 1);
		if (!h->r[i].removed)
			return fail("out of memory%s", "");
	}
	h->n = n;
	return 0;
}

static struct region *find(struct handler *h, uint64_t addr)
{
	for (unsigned int i = 0; i < h->n; i++)
		if (addr >= h->r[i].m.base_host_virt_addr &&
		    addr - h->r[i].m.base_host_virt_addr < h->r[i].m.size)
			return &h->r[i];
	return NULL;
}

/*
 * Fills pages [idx, idx + n) of r, all removed or all not: zero pages or
 * the file's bytes. A page already there (EEXIST: the guest's own, or one
 * served meanwhile) is stepped over. 1: done, 0: Hearth's memory is gone,
 * -1: an error. A prefetch stops quietly where it cannot fill (a range
 * Hearth took out of the userfaultfd, as it does with unplugged memory).
 */
static int fill(struct handler *h, struct region *r, uint64_t idx, uint64_t n, bool prefetch)
{
	uint64_t ps = r->m.page_size;

	while (n) {
		uint64_t dst = r->m.base_host_virt_addr + idx * ps, done;
		int ret;

		if (r->removed[idx]) {
			struct uffdio_zeropage z = { .range = { dst, n * ps } };

			ret = ioctl(h->uffd, UFFDIO_ZEROPAGE, &z);
			done = ret ? (z.zeropage > 0 ? (uint64_t)z.zeropage : 0) : n * ps;
		} else {
			struct uffdio_copy c = {
				.dst = dst, .len = n * ps,
				.src = (uint64_t)(uintptr_t)(h->file + r->m.offset + idx * ps),
			};

			ret = ioctl(h->uffd, UFFDIO_COPY, &c);
			done = ret ? (c.copy > 0 ? (uint64_t)c.copy : 0) : n * ps;
		}
		if (ret && errno == ESRCH)
			return 0;
		if (ret && errno != EEXIST && errno != EAGAIN)
			return prefetch ? 1 : fail("UFFDIO_COPY: %s", strerror(errno));
		done = done / ps > n ? n : done / ps;
		h->placed += done;
		if (ret && errno == EEXIST && done < n)
			done++;        /* the page that is there already */
		for (uint64_t k = idx; k < idx + done; k++)
			r->removed[k] = 0;
		idx += done;
		n -= done;
	}
	return 1;
}

/* 1: served (or already there), 0: Hearth's memory is gone, -1: an error. */
static int serve(struct handler *h, uint64_t addr)
{
	struct region *r = find(h, addr);
	uint64_t idx, first, last, pages, before = h->placed;
	bool zero;
	int ret = 1;

	if (!r)
		return fail("a fault outside every region (%s)", "refused");
	pages = r->m.size / r->m.page_size;
	idx = (addr - r->m.base_host_virt_addr) / r->m.page_size;
	zero = r->removed[idx];
	/* The faulting page first, then the rest of its group in runs of one kind. */
	ret = fill(h, r, idx, 1, false);
	if (ret <= 0)
		return ret;
	if (h->placed > before) {
		h->served++;
		h->zeroed += zero;
	}
	first = idx & ~(h->batch - 1);
	last = first + h->batch > pages ? pages : first + h->batch;
	for (uint64_t k = first; k < last && ret > 0;) {
		uint64_t e = k + 1;

		while (e < last && r->removed[e] == r->removed[k])
			e++;
		if (k <= idx && idx < e) {
			/* Done above; the run's two sides apart. */
			if (k < idx)
				ret = fill(h, r, k, idx - k, true);
			if (ret > 0 && idx + 1 < e)
				ret = fill(h, r, idx + 1, e - idx - 1, true);
		} else {
			ret = fill(h, r, k, e - k, true);
		}
		k = e;
	}
	return ret;
}

static void removed(struct handler *h, uint64_t start, uint64_t end)
{
	for (unsigned int i = 0; i < h->n; i++) {
		struct region *r = &h->r[i];
		uint64_t b = r->m.base_host_virt_addr, e = b + r->m.size;
		uint64_t lo = start > b ? start : b, hi = end < e ? end : e;

		for (uint64_t a = lo & ~(r->m.page_size - 1); a < hi; a += r->m.page_size)
			r->removed[(a - b) / r->m.page_size] = 1;
	}
}

/* Until Hearth is done: 0, or -1 on an error. */
static int run(struct handler *h)
{
	for (;;) {
		struct pollfd p[2] = { { h->uffd, POLLIN, 0 }, { h->sock, POLLIN | POLLRDHUP, 0 } };
		struct uffd_msg msg;
		ssize_t n;
		int ret;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return fail("poll: %s", strerror(errno));
		}
		if (p[0].revents & POLLIN) {
			n = read(h->uffd, &msg, sizeof(msg));
			if (n < 0 && errno == EAGAIN)
				continue;
			if (n != sizeof(msg))
				return fail("reading the userfaultfd: %s",
					    n < 0 ? strerror(errno) : "short read");
			if (msg.event == UFFD_EVENT_PAGEFAULT) {
				ret = serve(h, msg.arg.pagefault.address);
				if (ret <= 0)
					return ret;
			} else if (msg.event == UFFD_EVENT_REMOVE) {
				removed(h, msg.arg.remove.start, msg.arg.remove.end);
			}
			continue;
		}
		if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL))
			return fail("the userfaultfd failed%s", "");
		/* Hearth's end closed: its RAM is gone, or going. */
		if (p[1].revents)
			return 0;
	}
}

int main(int argc, char **argv)
{
	struct handler h = { .sock = -1, .uffd = -1 };
	const char *count_file = NULL;
	char buf[UFFD_MSG_MAX];
	struct err e = ERR_INIT;
	struct stat st;
	size_t len = 0;
	int lfd, mfd, ret;

	h.batch = 1;
	for (int i = 3; i < argc; i += 2) {
		char *end = NULL;

		if (i + 1 < argc && !strcmp(argv[i], "--count-file")) {
			count_file = argv[i + 1];
			continue;
		}
		if (i + 1 < argc && !strcmp(argv[i], "--batch")) {
			h.batch = strtoull(argv[i + 1], &end, 10);
			if (*end || !h.batch || h.batch > 512 || (h.batch & (h.batch - 1)))
				argc = 0; /* usage below */
			continue;
		}
		argc = 0;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: uffd_handler SOCKET MEMFILE [--count-file PATH] "
			"[--batch PAGES (1, 2, 4 ... 512)]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	mfd = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (mfd < 0 || fstat(mfd, &st) < 0 || !S_ISREG(st.st_mode) || !st.st_size)
		return fail("memory file %s: not a readable, non-empty file", argv[2]), 1;
	h.file_size = (uint64_t)st.st_size;
	h.file = mmap(NULL, h.file_size, PROT_READ, MAP_PRIVATE, mfd, 0);
	if (h.file == MAP_FAILED)
		return fail("mmap: %s", strerror(errno)), 1;
	close(mfd);
	lfd = uds_listen("uffd_handler socket", argv[1], 1, &e);
	if (lfd < 0)
		return fail("%s", e.msg), 1;
	{
		struct pollfd p = { lfd, POLLIN, 0 };

		if (poll(&p, 1, ACCEPT_TIMEOUT_MS) != 1)
			return fail("no connection within %s", "60 s"), 1;
	}
	h.sock = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	close(lfd);
	unlink(argv[1]);
	if (h.sock < 0)
		return fail("accept: %s", strerror(errno)), 1;
	ret = receive(&h, buf, sizeof(buf), &len);
	if (!ret)
		ret = setup(&h, buf, len);
	if (!ret)
		ret = run(&h);
	fprintf(stderr, "uffd_handler: served %lu faults (%lu zero pages)\n", h.served, h.zeroed);
	if (count_file) {
		FILE *f = fopen(count_file, "w");

		if (f) {
			fprintf(f, "%lu\n", h.served);
			fclose(f);
		}
	}
	for (unsigned int i = 0; i < UFFD_MSG_MAX_REGIONS; i++)
		free(h.r[i].removed);
	return ret ? 1 : 0;
}
