/* A library loaded when asked for (dlib.h). */
#include "util/dlib.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

int dlib_load(const char *so, const struct dlib_sym *syms, size_t n, void *table, char *why,
	      size_t why_len)
{
	void *h;

	return dlib_load_handle(so, syms, n, table, why, why_len, &h);
}

void dlib_unload(void **handle, void *table, size_t size)
{
	if (*handle)
		dlclose(*handle);
	*handle = NULL;
	memset(table, 0, size);
}

int dlib_load_handle(const char *so, const struct dlib_sym *syms, size_t n, void *table,
		     char *why, size_t why_len, void **handle)
{
	void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);

	*handle = h;

	if (!h) {
		snprintf(why, why_len, "%s", dlerror());
		return -ELIBACC;
	}
	for (size_t i = 0; i < n; i++) {
		void *f = dlsym(h, syms[i].name);

		if (!f) {
			snprintf(why, why_len, "%s has no %s", so, syms[i].name);
			/* Kept loaded: nothing in it ran, and a half table is never read. */
			return -ELIBACC;
		}
		*(void **)((char *)table + syms[i].off) = f;
	}
	return 0;
}
