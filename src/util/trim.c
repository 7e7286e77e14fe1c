/*
 * Giving back setup's pages (trim.h). The stack below the caller's frame
 * holds only dead frames: MADV_DONTNEED makes those pages zero pages
 * again, read back as zeros should a later call go that deep, which is
 * what a fresh stack holds. The span stays inside the kernel's stack
 * guard gap (256 pages below a stack that grows down), where nothing
 * else is ever mapped; madvise skips the part of it that is not mapped.
 */
#include "util/trim.h"

#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define TRIM_STACK_SPAN (512u * 1024)
/* The frames the caller makes from here on (its loop, a handler's calls) keep their pages. */
#define TRIM_STACK_KEEP (4u * 1024)

/*
 * The frame's address, not a local's: under ASan's use-after-return
 * checks a local lives on its fake stack, a heap mapping whose live
 * frames the span would zero.
 */
static __attribute__((noinline)) void trim_stack(void)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t top = ((uintptr_t)__builtin_frame_address(0) - TRIM_STACK_KEEP) & ~(page - 1);

	(void)madvise((void *)(top - TRIM_STACK_SPAN), TRIM_STACK_SPAN, MADV_DONTNEED);
}

void trim_after_setup(void)
{
	trim_stack();
	malloc_trim(0);
}

/* The span from p to the next page boundary (or n, if nearer). */
static size_t trim_chunk(const void *p, size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t left = page - ((uintptr_t)p & (page - 1));

	return left < n ? left : n;
}

static bool trim_is_zero(const unsigned char *p, size_t n)
{
	return n == 0 || (p[0] == 0 && !memcmp(p, p + 1, n - 1));
}

void trim_zero(void *p, size_t n)
{
	unsigned char *b = p;

	while (n) {
		size_t c = trim_chunk(b, n);

		if (!trim_is_zero(b, c))
			memset(b, 0, c);
		b += c;
		n -= c;
	}
}

void trim_copy(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	while (n) {
		size_t c = trim_chunk(d, n);

		if (memcmp(d, s, c))
			memcpy(d, s, c);
		d += c;
		s += c;
		n -= c;
	}
}
