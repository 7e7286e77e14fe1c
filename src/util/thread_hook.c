#include "util/thread_hook.h"

#include <stddef.h>

/* Set before any thread starts, read after: thread creation orders the two. */
static thread_hook_fn hook;

void thread_hook_set(thread_hook_fn fn)
{
	hook = fn;
}

int thread_hook_enter(enum thread_kind kind)
{
	return hook ? hook(kind) : 0;
}
