/*
 * What a process set up and no longer uses, given back to the host once
 * its VM runs: each such page is a page of its own in every VM process,
 * and in every clone of a fork (docs/api.md "Fork and reset").
 */
#ifndef HEARTH_UTIL_TRIM_H
#define HEARTH_UTIL_TRIM_H

/*
 * From the calling thread, at the shallowest frame it will run from (the
 * main thread before its loop): the pages of its stack below that frame,
 * where setup's frames were (the VM's configuration parsed and copied:
 * tens of KiB each), and malloc's free pages. Never fails: a page it
 * cannot give back stays as it was.
 */
void trim_after_setup(void);

#endif
