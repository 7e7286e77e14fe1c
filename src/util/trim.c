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
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#define TRIM_STACK_SPAN (512u * 1024)
/* The frames the caller makes from here on (its loop, a handler's calls) keep their pages. */
#define TRIM_STACK_KEEP (16u * 1024)

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
