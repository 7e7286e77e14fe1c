/*
 * What a process set up and no longer uses, given back to the host once
 * its VM runs: each such page is a page of its own in every VM process,
 * and in every clone of a fork (docs/api.md "Fork and reset").
 */
#ifndef HEARTH_UTIL_TRIM_H
#define HEARTH_UTIL_TRIM_H

#include <stddef.h>

/*
 * From the calling thread, at the shallowest frame it will run from (the
 * main thread before its loop): the pages of its stack below that frame,
 * where setup's frames were (the VM's configuration parsed and copied:
 * tens of KiB each), and malloc's free pages. Never fails: a page it
 * cannot give back stays as it was.
 */
void trim_after_setup(void);

/*
 * memset(p, 0, n) and memcpy(dst, src, n), writing only the pages of the
 * destination whose bytes change: a page of zeros left zero, or already
 * equal to its source, is read and never written. A large struct built on
 * memory fresh from the kernel (the host's, a VM's configuration of 30
 * KiB, mostly empty slots) then costs a process the pages it fills, not
 * its size. Neither is for memory another thread may be writing.
 */
void trim_zero(void *p, size_t n);
void trim_copy(void *dst, const void *src, size_t n);   /* the two do not overlap */

/*
 * A large static buffer written little or never (a path list, a path):
 * placed past every other variable (.lbss, after .bss), so the small
 * ones a process writes share a few pages rather than lying between
 * big arrays, each on a page of its own in every clone.
 */
#define TRIM_COLD __attribute__((section(".lbss.cold")))

#endif
